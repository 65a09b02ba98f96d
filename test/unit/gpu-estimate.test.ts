// The formula that estimates a model's GPU memory where llama-fit-params is not there to project it. Each
// expectation is derived in the test from llama.cpp v0.5.0's sizing rules (src/llama-context.cpp,
// src/llama-kv-cache.cpp), not copied from the code's output.
import { describe, expect, it } from 'vitest'
import { bytesNeeded, estimateVram, kvCells, layerBytes, memoryArgs, PER_GPU_OVERHEAD_BYTES, type EstimateInput } from '../../src/gpu/estimate.js'

const MiB = 2 ** 20
const GiB = 2 ** 30

// Header facts of well-known shapes.
const llama2_7b = { blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 32, keyLength: null, valueLength: null, feedForwardLength: 11008, vocabSize: 32000, contextLength: 4096 }
const llama3_8b = { blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 8, keyLength: null, valueLength: null, feedForwardLength: 14336, vocabSize: 128256, contextLength: 8192 }
const gemma_like = { blockCount: 28, embeddingLength: 3072, headCount: 16, headCountKv: 16, keyLength: 256, valueLength: 256, feedForwardLength: 24576, vocabSize: 256000, contextLength: 8192 }

const base: Omit<EstimateInput, 'model'> = { modelBytes: 4 * GiB, ctxSize: undefined, parallel: 1, args: memoryArgs([]) }

describe('kvCells: llama.cpp pads the context to 256 cells, then each slot stream to 256', () => {
  it.each([
    // ctx, parallel, unified, total, per stream
    [4096, 1, false, 4096, 4096],
    [1024, 4, false, 1024, 256], // what llama-server logs for -c 1024 -np 4: "256 cells, 4/4 seqs"
    [1000, 3, false, 1536, 512], // 1000 → 1024; 1024 / 3 = 341 → 512 per stream; 3 streams
    [1000, 3, true, 1024, 1024],
  ])('ctx %i, parallel %i, unified %s → %i cells (%i per stream)', (ctx, parallel, unified, total, perStream) => {
    expect(kvCells(ctx, parallel, unified)).toEqual({ total, perStream })
  })
})

describe('estimateVram', () => {
  it('llama-2-7B at its 4096 context: the well-known 2 GiB of f16 KV cache', () => {
    const e = estimateVram({ ...base, model: llama2_7b })
    // cells × layers × KV heads × (K + V head size 128) × 2 bytes
    expect(e.kvBytes).toBe(4096 * 32 * 32 * (128 + 128) * 2)
    expect(e.kvBytes).toBe(2 * GiB)
    expect(e.kvCells).toBe(4096)
    expect(e.weightsBytes).toBe(4 * GiB)
    expect(e.layers).toBe(33)
  })
  it('llama-3-8B with grouped-query attention: 8 KV heads, 1 GiB at 8192', () => {
    expect(estimateVram({ ...base, model: llama3_8b }).kvBytes).toBe(1 * GiB)
  })
  it('ctx-size sets the KV pool of all slots together', () => {
    expect(estimateVram({ ...base, model: llama3_8b, ctxSize: 2048 }).kvBytes).toBe(GiB / 4)
    expect(estimateVram({ ...base, model: llama3_8b, ctxSize: 2048, parallel: 4 }).kvBytes).toBe(GiB / 4)
  })
  it('explicit key and value lengths (head size 256 with 3072-wide embeddings)', () => {
    expect(estimateVram({ ...base, model: gemma_like, ctxSize: 1024 }).kvBytes).toBe(1024 * 28 * 16 * (256 * 2 + 256 * 2))
  })
  it('a quantized KV cache is smaller: q8_0 is 34 bytes per 32 elements', () => {
    const e = estimateVram({ ...base, model: llama2_7b, args: memoryArgs(['-ctk', 'q8_0', '-ctv', 'q8_0']) })
    expect(e.kvBytes).toBe(Math.ceil(2 * GiB * (34 / 32 / 2)))
    expect(e.kvTypes).toBe('q8_0')
    expect(estimateVram({ ...base, model: llama2_7b, args: memoryArgs(['-ctk', 'q8_0']) }).kvTypes).toBe('K q8_0, V f16')
  })
  it('no KV cache on the GPU with -nkvo', () => {
    expect(estimateVram({ ...base, model: llama2_7b, args: memoryArgs(['-nkvo']) }).kvBytes).toBe(0)
  })

  describe('compute buffers: the largest step of the worst-case micro-batch (512 tokens)', () => {
    it('with flash attention (auto, the default) the logits dominate a large vocabulary', () => {
      const e = estimateVram({ ...base, model: llama3_8b })
      // logits: (vocabulary + one embedding row) × 512 tokens × 4 bytes
      expect(e.computeBytes).toBe((128256 + 4096) * 512 * 4)
    })
    it('the feed-forward step when it is wider than the output', () => {
      const small = { ...llama2_7b, vocabSize: 1000, feedForwardLength: 20000 }
      expect(estimateVram({ ...base, model: small }).computeBytes).toBe((2 * 20000 + 2 * 4096) * 512 * 4)
    })
    it('without flash attention the K·Q scores of the whole context: 256 MiB for llama-2-7B at 4096', () => {
      const e = estimateVram({ ...base, model: llama2_7b, args: memoryArgs(['-fa', 'off']) })
      const scores = 4096 * 512 * 32 * 4
      const activations = (32 * 128 + 2 * 32 * 128 + 32 * 128 + 4096) * 512 * 4
      expect(scores).toBe(256 * MiB)
      expect(e.computeBytes).toBe(scores + activations)
    })
    it('scores span one slot stream: 4 slots of 2048 cells cost a quarter of one of 8192', () => {
      const smallVocabulary = { ...llama3_8b, vocabSize: 1000 }
      const one = estimateVram({ ...base, model: smallVocabulary, ctxSize: 8192, args: memoryArgs(['--flash-attn=off']) })
      const four = estimateVram({ ...base, model: smallVocabulary, ctxSize: 8192, parallel: 4, args: memoryArgs(['--flash-attn=off']) })
      const activations = (32 * 128 + 2 * 8 * 128 + 32 * 128 + 4096) * 512 * 4
      expect(one.computeBytes - activations).toBe(8192 * 512 * 32 * 4)
      expect(four.computeBytes - activations).toBe(2048 * 512 * 32 * 4)
    })
    it('a smaller micro-batch (-ub) or context shrinks them', () => {
      expect(estimateVram({ ...base, model: llama3_8b, args: memoryArgs(['-ub', '128']) }).computeBytes).toBe((128256 + 4096) * 128 * 4)
      expect(estimateVram({ ...base, model: llama3_8b, ctxSize: 256 }).computeBytes).toBe((128256 + 4096) * 256 * 4)
    })
  })

  it('bytesNeeded: weights and KV cache once, compute and overhead per GPU, a layer of rounding per GPU when split', () => {
    const e = estimateVram({ ...base, model: llama2_7b })
    expect(e.overheadBytes).toBe(PER_GPU_OVERHEAD_BYTES)
    expect(bytesNeeded(e, 1)).toBe(4 * GiB + 2 * GiB + e.computeBytes + PER_GPU_OVERHEAD_BYTES)
    expect(layerBytes(e)).toBe(Math.ceil((6 * GiB) / 33))
    expect(bytesNeeded(e, 2)).toBe(6 * GiB + 2 * (e.computeBytes + PER_GPU_OVERHEAD_BYTES + layerBytes(e)))
  })
})

describe('memoryArgs', () => {
  it("llama-server's defaults when server-args say nothing", () => {
    expect(memoryArgs(['--threads', '2'])).toEqual({ cacheTypeK: 'f16', cacheTypeV: 'f16', flashAttention: 'auto', ubatch: 512, batch: 2048, kvUnified: false, kvOnHost: false })
  })
  it('reads short and long forms, inline values, and llama.cpp words for on and off', () => {
    expect(memoryArgs(['-ctk', 'Q8_0', '--cache-type-v=q4_0', '-fa', 'disabled', '--ubatch-size=256', '-b', '1024', '-kvu', '--no-kv-offload'])).toEqual({
      cacheTypeK: 'q8_0', cacheTypeV: 'q4_0', flashAttention: 'off', ubatch: 256, batch: 1024, kvUnified: true, kvOnHost: true,
    })
    expect(memoryArgs(['--flash-attn', '1']).flashAttention).toBe('on')
    expect(memoryArgs(['-kvu', '--no-kv-unified']).kvUnified).toBe(false)
  })
})
