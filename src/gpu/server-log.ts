// What llama-server says it allocated, and what llama.cpp's fit decided, from its log (parsed by pure functions;
// readServerAllocation reads the log's start). The lines, as
// llama.cpp v0.5.0 prints them at its default verbosity:
//   load_tensors: offloaded 33/33 layers to GPU                      (src/llama-model.cpp)
//   load_tensors:        CUDA0 model buffer size =  3745.02 MiB      (one per buffer: CUDA0, CPU_Mapped, …)
//   llama_context: n_ctx                 = 4096                      (src/llama-context.cpp)
//   llama_kv_cache:        CUDA0 KV buffer size =   512.00 MiB       (src/llama-kv-cache.cpp; RS for recurrent)
//   sched_reserve:        CUDA0 compute buffer size =   296.00 MiB   (src/llama-context.cpp)
// --fit's own lines are trace level in this release, not printed by default: its decisions show in these.
import { promises as fs } from 'node:fs'

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

export function parseServerLog(text: string): ServerAllocation {
  const buffers = new Map<string, BufferUse>()
  const add = (buffer: string, part: 'modelMib' | 'contextMib' | 'computeMib', mib: number) => {
    const use = buffers.get(buffer) ?? { buffer, modelMib: 0, contextMib: 0, computeMib: 0 }
    use[part] += mib
    buffers.set(buffer, use)
  }
  let ctx: number | undefined
  let layers: ServerAllocation['layers']
  for (const line of text.split('\n')) {
    const buffer = /(\S+)\s+(model|KV|RS|compute) buffer size =\s*([\d.]+) MiB/.exec(line)
    if (buffer) {
      const part = buffer[2] === 'model' ? 'modelMib' : buffer[2] === 'compute' ? 'computeMib' : 'contextMib'
      add(buffer[1] as string, part, Number(buffer[3]))
      continue
    }
    const n = /\bn_ctx\s+=\s*(\d+)/.exec(line)
    if (n) ctx = Number(n[1])
    const offloaded = /offloaded (\d+)\/(\d+) layers to GPU/.exec(line)
    if (offloaded) layers = { onGpu: Number(offloaded[1]), of: Number(offloaded[2]) }
  }
  return { buffers: [...buffers.values()], ctx, layers }
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
