// What a model needs in GPU memory, from its GGUF header and llama-server's arguments, sized the way llama.cpp
// v0.5.0 sizes its buffers (src/llama-context.cpp, src/llama-kv-cache.cpp). Pure. Used where the engine has no
// llama-fit-params to project it (see fit-params.ts), and for the context size either way.
//
// - weights: the model file (its tensor data; every layer is on the GPUs under vram-only);
// - KV cache: the context is padded to 256 cells and, unless the cache is unified (-kvu), split into one stream
//   per slot of ctx / parallel cells, each padded to 256 again; cells × layers × KV heads × (K + V head size) ×
//   the cache type's size (-ctk/-ctv). An empty ctx-size is the model's training context (llama-server's n_ctx 0
//   with --fit off, which vram-only passes);
// - compute buffers, per GPU: llama.cpp reserves the graph of its worst case, a micro-batch of T = min(ctx,
//   n_ubatch) tokens, and the allocator reuses memory between steps, so the buffer is the largest step: the
//   output (logits, vocabulary × T floats), the feed-forward (gate and up, 2 × n_ff × T floats), or attention —
//   with flash attention its activations only, without it also the K·Q scores, cells per stream × T × heads
//   floats. Flash attention is on unless -fa off: v0.5.0's default, auto, turns it on wherever CUDA runs it;
// - overhead, per GPU: the CUDA context, cuBLAS workspace and memory pool, which no llama.cpp buffer counts
//   (its own fit leaves 1 GiB per device for them).
import type { GgufInfo } from '../model/gguf.js'

const MiB = 2 ** 20
export const PER_GPU_OVERHEAD_BYTES = 384 * MiB
const FLOAT = 4

/** Bytes per element of llama.cpp's KV cache types (block types: block size / elements per block). */
export const KV_TYPE_BYTES: Record<string, number> = {
  f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_1: 20 / 32, q5_0: 22 / 32, q5_1: 24 / 32, iq4_nl: 18 / 32,
}

/** The llama-server arguments that change memory use, as server-args give them. */
export interface MemoryArgs {
  cacheTypeK: string
  cacheTypeV: string
  flashAttention: 'on' | 'off' | 'auto'
  ubatch: number
  batch: number
  kvUnified: boolean
  /** -nkvo: the KV cache stays in system memory. */
  kvOnHost: boolean
}

export interface VramEstimate {
  /** Where the numbers come from: llama.cpp's own projection, or the formula above. */
  source: 'llama-fit-params' | 'formula'
  /** Split across the GPUs by layer. */
  weightsBytes: number
  kvBytes: number
  /** On each GPU. */
  computeBytes: number
  overheadBytes: number
  /** Layers the weights and KV cache are split into (blocks and the output layer). */
  layers: number
  kvCells: number
  kvTypes: string
}

export interface EstimateInput {
  model: Pick<GgufInfo, 'blockCount' | 'embeddingLength' | 'headCount' | 'headCountKv' | 'keyLength' | 'valueLength' | 'feedForwardLength' | 'vocabSize' | 'contextLength'>
  modelBytes: number
  ctxSize: number | undefined
  parallel: number
  args: MemoryArgs
}

const pad = (n: number, to: number) => Math.ceil(n / to) * to

/** The KV cells llama.cpp allocates in all, and per stream (what one K·Q product spans). */
export function kvCells(ctx: number, parallel: number, unified: boolean): { total: number; perStream: number } {
  const padded = pad(Math.max(1, ctx), 256)
  if (unified) return { total: padded, perStream: padded }
  const perStream = pad(Math.floor(padded / parallel), 256)
  return { total: perStream * parallel, perStream }
}

export function estimateVram({ model: m, modelBytes, ctxSize, parallel, args }: EstimateInput): VramEstimate {
  const embd = m.embeddingLength ?? 0
  const heads = m.headCount || 1
  const headsKv = m.headCountKv ?? heads
  const headK = m.keyLength ?? embd / heads
  const headV = m.valueLength ?? embd / heads
  const blocks = m.blockCount ?? 0
  const ctx = ctxSize ?? m.contextLength ?? 4096
  const cells = kvCells(ctx, parallel, args.kvUnified)
  const kvBytes = args.kvOnHost ? 0 : cells.total * blocks * headsKv * (headK * kvTypeBytes(args.cacheTypeK) + headV * kvTypeBytes(args.cacheTypeV))
  const tokens = Math.min(cells.total, args.ubatch, args.batch)
  const ff = m.feedForwardLength ?? 4 * embd
  const output = ((m.vocabSize ?? 0) + embd) * tokens * FLOAT
  const feedForward = (2 * ff + 2 * embd) * tokens * FLOAT
  // q, k, v, the attention's output and the residual stream.
  const activations = (heads * headK + 2 * headsKv * headK + heads * headV + embd) * tokens * FLOAT
  const scores = args.flashAttention === 'off' && !args.kvOnHost ? cells.perStream * tokens * heads * FLOAT : 0
  return {
    source: 'formula',
    weightsBytes: modelBytes,
    kvBytes: Math.ceil(kvBytes),
    computeBytes: Math.ceil(Math.max(output, feedForward, activations + scores)),
    overheadBytes: PER_GPU_OVERHEAD_BYTES,
    layers: blocks + 1,
    kvCells: cells.total,
    kvTypes: args.cacheTypeK === args.cacheTypeV ? args.cacheTypeK : `K ${args.cacheTypeK}, V ${args.cacheTypeV}`,
  }
}

function kvTypeBytes(type: string): number {
  return KV_TYPE_BYTES[type] ?? 2
}

/**
 * What the estimate needs on `gpuCount` GPUs: the weights and KV cache once, the compute buffers and overhead on
 * each, and over several GPUs one layer more on each (llama.cpp gives every GPU whole layers, so a GPU's share
 * can exceed its part of the split by up to a layer).
 */
export function bytesNeeded(estimate: VramEstimate, gpuCount: number): number {
  return splitBytes(estimate) + gpuCount * perGpuBytes(estimate) + (gpuCount > 1 ? gpuCount * layerBytes(estimate) : 0)
}

/** The part that is split across GPUs. */
export function splitBytes(estimate: VramEstimate): number {
  return estimate.weightsBytes + estimate.kvBytes
}

/** The part that every GPU holds in full. */
export function perGpuBytes(estimate: VramEstimate): number {
  return estimate.computeBytes + estimate.overheadBytes
}

export function layerBytes(estimate: VramEstimate): number {
  return Math.ceil(splitBytes(estimate) / Math.max(1, estimate.layers))
}

/** The memory arguments in server-args (-ctk/-ctv, -fa, -ub, -b, -kvu, -nkvo), llama-server's defaults else. */
export function memoryArgs(serverArgs: string[]): MemoryArgs {
  const value = (names: string[]): string | undefined => {
    let found: string | undefined
    serverArgs.forEach((arg, i) => {
      const [flag, inline] = arg.split('=', 2) as [string, string | undefined]
      if (names.includes(flag)) found = inline ?? serverArgs[i + 1]
    })
    return found
  }
  const flag = (on: string[], off: string[]): boolean | undefined => {
    let found: boolean | undefined
    for (const arg of serverArgs) {
      if (on.includes(arg)) found = true
      if (off.includes(arg)) found = false
    }
    return found
  }
  const count = (v: string | undefined, fallback: number) => (v !== undefined && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : fallback)
  // llama.cpp's is_truthy / is_falsey words.
  const fa = value(['-fa', '--flash-attn'])?.toLowerCase() ?? 'auto'
  const flashAttention = ['on', 'enabled', 'true', '1'].includes(fa) ? 'on' : ['off', 'disabled', 'false', '0'].includes(fa) ? 'off' : 'auto'
  return {
    cacheTypeK: (value(['-ctk', '--cache-type-k']) ?? 'f16').toLowerCase(),
    cacheTypeV: (value(['-ctv', '--cache-type-v']) ?? 'f16').toLowerCase(),
    flashAttention,
    ubatch: count(value(['-ub', '--ubatch-size']), 512),
    batch: count(value(['-b', '--batch-size']), 2048),
    kvUnified: flag(['-kvu', '--kv-unified'], ['-no-kvu', '--no-kv-unified']) ?? false,
    kvOnHost: flag(['-nkvo', '--no-kv-offload'], ['-kvo', '--kv-offload']) ?? false,
  }
}
