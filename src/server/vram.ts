// gpu-policy vram-only: what a model needs on the GPUs, from its GGUF header, against what they have free. Pure.
//
// The estimate, per the way llama.cpp v0.5.0 allocates:
// - weights: the model's file size (tensor data dominates; all layers go to the GPUs under this policy);
// - KV cache: llama-server's --ctx-size is the KV pool of all slots together (each of the --parallel slots gets
//   ctx-size / parallel; measured: -c 1024 -np 4 reports "256 cells, 4/4 seqs" and 1024 cells in all), so
//   cells = ctx-size (the model's training context when empty) × layers × KV heads × (K + V head size) × the
//   cache type's size (f16 by default; -ctk/-ctv in server-args change it);
// - compute buffers: n_ubatch (512) × (vocabulary + 4 × embedding) × 4 bytes, for logits and activations;
// - a fixed 384 MiB per GPU for the CUDA context, cuBLAS workspace and allocator slack.
import type { GpuInfo } from '../handoff.js'
import type { GgufInfo } from '../model/gguf.js'

const MiB = 2 ** 20
export const PER_GPU_OVERHEAD_BYTES = 384 * MiB
const UBATCH = 512

/** Bytes per element of llama.cpp's KV cache types (block types: block size / elements per block). */
export const KV_TYPE_BYTES: Record<string, number> = {
  f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_1: 20 / 32, q5_0: 22 / 32, q5_1: 24 / 32, iq4_nl: 18 / 32,
}

export interface VramEstimate {
  weightsBytes: number
  kvBytes: number
  computeBytes: number
  overheadBytes: number
  totalBytes: number
  kvCells: number
  kvTypes: string
}

export interface EstimateInput {
  model: Pick<GgufInfo, 'blockCount' | 'embeddingLength' | 'headCount' | 'headCountKv' | 'keyLength' | 'valueLength' | 'vocabSize' | 'contextLength'>
  modelBytes: number
  ctxSize: number | undefined
  cacheTypeK: string
  cacheTypeV: string
  gpuCount: number
}

export function estimateVram(input: EstimateInput): VramEstimate {
  const m = input.model
  const embd = m.embeddingLength ?? 0
  const heads = m.headCount || 1
  const headsKv = m.headCountKv ?? heads
  const headK = m.keyLength ?? embd / heads
  const headV = m.valueLength ?? embd / heads
  const kvCells = input.ctxSize ?? m.contextLength ?? 4096
  const kvBytes = kvCells * (m.blockCount ?? 0) * headsKv * (headK * (KV_TYPE_BYTES[input.cacheTypeK] ?? 2) + headV * (KV_TYPE_BYTES[input.cacheTypeV] ?? 2))
  const computeBytes = UBATCH * ((m.vocabSize ?? 0) + 4 * embd) * 4
  const overheadBytes = PER_GPU_OVERHEAD_BYTES * Math.max(1, input.gpuCount)
  const weightsBytes = input.modelBytes
  return {
    weightsBytes,
    kvBytes: Math.ceil(kvBytes),
    computeBytes,
    overheadBytes,
    totalBytes: Math.ceil(weightsBytes + kvBytes + computeBytes + overheadBytes),
    kvCells,
    kvTypes: input.cacheTypeK === input.cacheTypeV ? input.cacheTypeK : `K ${input.cacheTypeK}, V ${input.cacheTypeV}`,
  }
}

/** The KV cache types that server-args set (-ctk/--cache-type-k, -ctv/--cache-type-v), f16 otherwise. */
export function cacheTypes(serverArgs: string[]): { k: string; v: string } {
  const value = (names: string[]) => {
    let found = 'f16'
    serverArgs.forEach((arg, i) => {
      const [flag, inline] = arg.split('=', 2) as [string, string | undefined]
      if (names.includes(flag)) found = (inline ?? serverArgs[i + 1] ?? found).toLowerCase()
    })
    return found
  }
  return { k: value(['-ctk', '--cache-type-k']), v: value(['-ctv', '--cache-type-v']) }
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`

/** Undefined when the estimate fits in the free memory of `gpus`; else the POOL_UNAVAILABLE message. */
export function vramShortfall(estimate: VramEstimate, gpus: GpuInfo[]): string | undefined {
  const free = gpus.reduce((sum, g) => sum + g.memoryFreeMib * MiB, 0)
  if (gpus.length && estimate.totalBytes <= free) return undefined
  const perGpu = gpus.length
    ? gpus.map((g) => `GPU ${g.index} (${g.name}): ${gib(g.memoryFreeMib * MiB)} free of ${gib(g.memoryTotalMib * MiB)}`).join('; ')
    : 'no GPU was found'
  return (
    `POOL_UNAVAILABLE: the model needs about ${gib(estimate.totalBytes)} of VRAM (weights ${gib(estimate.weightsBytes)}, ` +
    `KV cache ${gib(estimate.kvBytes)} for ${estimate.kvCells} tokens in ${estimate.kvTypes}, compute buffers ${gib(estimate.computeBytes)}, ` +
    `overhead ${gib(estimate.overheadBytes)}), but the selected GPUs have ${gib(free)} free: ${perGpu}. ` +
    `Lower ctx-size, select other devices, or set gpu-policy: allow-offload to let llama.cpp keep layers in system memory.`
  )
}
