// What llama-server says it allocated, and what llama.cpp's fit decided, from its log (parsed by pure functions;
// readServerAllocation reads the log's start). The lines, as llama.cpp v0.5.0 writes them (a timestamp and a
// level letter first; the format strings' sources in brackets):
//   0.00.441.187 I load_tensors: offloaded 33/33 layers to GPU                       [src/llama-model.cpp]
//   0.00.444.811 I load_tensors:        CUDA0 model buffer size =  3745.02 MiB       [same; CPU_Mapped, CUDA_Host…]
//   0.00.445.370 I llama_context: constructing llama_context                         [src/llama-context.cpp]
//   0.00.445.388 I llama_context: n_ctx                 = 4096                       [same]
//   0.00.445.450 I llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB          [src/llama-kv-cache.cpp; RS:
//                                                                                     src/llama-memory-recurrent.cpp]
//   0.00.446.655 I sched_reserve:      CUDA0 compute buffer size =   296.00 MiB      [src/llama-context.cpp]
//   0.01.816.305 I srv  llama_server: model loaded                                   [tools/server/server.cpp]
// llama.cpp logs them at its INFO level, which v0.5.0's common/log.cpp shows only from verbosity 4 (trace) up:
// at llama-server's default (3) none is written, so the action passes ALLOCATION_LOG_ARGS where it reads them.
// --fit's trial loads log the same lines at debug level (`D`, shown only with -v): they are not allocations.
import { promises as fs } from 'node:fs'

/** What makes llama-server v0.5.0 write the lines above (`-lv 4`: trace, the lowest level that shows them). */
export const LOG_VERBOSITY_FLAG = '--log-verbosity'
export const ALLOCATION_LOG_ARGS = [LOG_VERBOSITY_FLAG, '4']

export interface BufferUse {
  /** llama.cpp's buffer name: CUDA0, ROCm1, Vulkan0 on GPUs; CPU, CPU_Mapped, CUDA_Host… in system memory. */
  buffer: string
  modelMib: number
  contextMib: number
  computeMib: number
}

export interface ServerAllocation {
  buffers: BufferUse[]
  ctx: number | undefined
  layers: { onGpu: number; of: number } | undefined
}

const GPU_BUFFER = /^(CUDA|ROCm|Vulkan|MUSA|SYCL)\d+$/

export function isGpuBuffer(name: string): boolean {
  return GPU_BUFFER.test(name)
}

// Each pattern is anchored and linear; lines longer than any of these formats are skipped unread.
const LONGEST_LINE = 512
const MOST_BUFFERS = 64
/** `0.00.445.450 I ` (common/log.cpp: minutes.seconds.ms.us, then the level), absent with --no-log-prefix. */
const PREFIX = /^(?:\d{1,9}\.\d\d\.\d{3}\.\d{3} )?(?:([DIWE]) )?/
const BUFFER = /^\w{1,32}: +([\w.:[\]-]{1,64}) (model|KV|RS|compute) buffer size = +(\d{1,12}\.\d\d) MiB$/
const N_CTX = /^llama_context: n_ctx += (\d{1,10})$/
const OFFLOADED = /^load_tensors: offloaded (\d{1,6})\/(\d{1,6}) layers to GPU$/
const NEW_CONTEXT = 'llama_context: constructing llama_context'
const LOADED = /: model loaded$/

export function parseServerLog(text: string): ServerAllocation {
  const held = new Map<string, Omit<BufferUse, 'buffer'>>()
  // A context reserves its compute buffers anew (the old ones freed) when its graph changes: per context the last
  // size counts, and the contexts (a draft model's too) add up.
  const compute = new Map<string, number>()
  let context = 0
  let ctx: number | undefined
  let layers: ServerAllocation['layers']
  for (const raw of text.split('\n')) {
    if (raw.length > LONGEST_LINE) continue
    const prefix = PREFIX.exec(raw) as RegExpExecArray
    if (prefix[1] === 'D') continue
    const line = raw.slice(prefix[0].length).trimEnd()
    // The end of the load: what follows (a reload after --sleep-idle-seconds, say) is not more memory.
    if (LOADED.test(line)) break
    if (line === NEW_CONTEXT) context++
    const buffer = BUFFER.exec(line)
    if (buffer) {
      const [, name, kind, value] = buffer as unknown as [string, string, string, string]
      const mib = Number(value)
      if (!held.has(name)) {
        if (held.size >= MOST_BUFFERS) continue
        held.set(name, { modelMib: 0, contextMib: 0, computeMib: 0 })
      }
      if (kind === 'compute') {
        compute.set(`${context} ${name}`, mib)
      } else {
        const use = held.get(name) as Omit<BufferUse, 'buffer'>
        use[kind === 'model' ? 'modelMib' : 'contextMib'] += mib
      }
      continue
    }
    const n = N_CTX.exec(line)
    // The first context is the model's own; a draft model's comes after it.
    if (n && ctx === undefined && Number(n[1]) > 0) ctx = Number(n[1])
    const offloaded = OFFLOADED.exec(line)
    if (offloaded && layers === undefined) {
      const onGpu = Number(offloaded[1])
      const of = Number(offloaded[2])
      if (onGpu <= of) layers = { onGpu, of }
    }
  }
  for (const [key, mib] of compute) {
    const use = held.get(key.slice(key.indexOf(' ') + 1)) as Omit<BufferUse, 'buffer'>
    use.computeMib += mib
  }
  return { buffers: [...held].map(([buffer, use]) => ({ buffer, ...use })), ctx, layers }
}

const mib = (n: number) => `${Math.round(n)} MiB`

/** `CUDA0: model 3745 MiB, context 512 MiB, compute 296 MiB`, per GPU buffer. */
export function describeGpuBuffers(allocation: ServerAllocation): string[] {
  return allocation.buffers
    .filter((b) => isGpuBuffer(b.buffer))
    .map((b) => `${b.buffer}: model ${mib(b.modelMib)}, context ${mib(b.contextMib)}, compute ${mib(b.computeMib)}`)
}

/** What llama.cpp decided, in one sentence (allow-offload: its fit chose context and layers). */
export function describeFit(allocation: ServerAllocation): string {
  const parts: string[] = []
  if (allocation.ctx !== undefined) parts.push(`a context of ${allocation.ctx} tokens`)
  if (allocation.layers) parts.push(`${allocation.layers.onGpu} of ${allocation.layers.of} layers on the GPUs`)
  const hostModel = allocation.buffers.filter((b) => !isGpuBuffer(b.buffer)).reduce((s, b) => s + b.modelMib, 0)
  if (hostModel > 0) parts.push(`${mib(hostModel)} of weights in system memory`)
  const gpu = describeGpuBuffers(allocation)
  if (gpu.length) parts.push(`in GPU memory ${gpu.join('; ')}`)
  return parts.length ? parts.join(', ') : 'nothing about its memory (no buffer lines in the log)'
}

/** Allocations are logged while the model loads: the start of the log is enough, however long it has grown. */
const READ_BYTES = 8 * 2 ** 20

export async function readServerAllocation(logPath: string): Promise<ServerAllocation> {
  const handle = await fs.open(logPath, 'r').catch(() => undefined)
  if (!handle) return { buffers: [], ctx: undefined, layers: undefined }
  try {
    const buffer = Buffer.alloc(READ_BYTES)
    const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, 0)
    return parseServerLog(buffer.subarray(0, bytesRead).toString('utf8'))
  } finally {
    await handle.close()
  }
}

/**
 * `GPU 0 (NVIDIA L4): 4551 MiB allocated (model 3745, context 512, compute 296), 4800 MiB reserved`: llama.cpp
 * numbers its devices CUDA0, CUDA1… in the order of CUDA_VISIBLE_DEVICES, which is the order of `gpus`.
 */
export function allocatedPerGpu(allocation: ServerAllocation, gpus: { index: number; name: string; reservedBytes?: number }[]): string[] {
  const devices = allocation.buffers.filter((b) => isGpuBuffer(b.buffer))
  return devices.map((b) => {
    const position = Number(/\d+$/.exec(b.buffer)?.[0])
    const gpu = gpus[position]
    const total = b.modelMib + b.contextMib + b.computeMib
    const reserved = gpu?.reservedBytes ? `, ${Math.ceil(gpu.reservedBytes / 2 ** 20)} MiB reserved` : ''
    const where = gpu ? `GPU ${gpu.index} (${gpu.name})` : b.buffer
    return `${where}: ${mib(total)} allocated (model ${mib(b.modelMib)}, context ${mib(b.contextMib)}, compute ${mib(b.computeMib)})${reserved}`
  })
}
