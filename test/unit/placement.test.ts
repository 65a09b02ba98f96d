// gpu-policy, devices and the VRAM estimate. The GPUs are test doubles of what nvidia-smi reports (no GPU here).
import { describe, expect, it } from 'vitest'
import { ServerError } from '../../src/errors.js'
import type { GpuInfo } from '../../src/handoff.js'
import type { GgufInfo } from '../../src/model/gguf.js'
import { planPlacement, type PlacementInput } from '../../src/server/placement.js'
import { cacheTypes, estimateVram, PER_GPU_OVERHEAD_BYTES, vramShortfall } from '../../src/server/vram.js'

const GiB = 2 ** 30

// Header facts of well-known shapes.
const llama2_7b = { blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 32, keyLength: null, valueLength: null, vocabSize: 32000, contextLength: 4096 }
const llama3_8b = { blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 8, keyLength: null, valueLength: null, vocabSize: 128256, contextLength: 8192 }
const gemma_like = { blockCount: 28, embeddingLength: 3072, headCount: 16, headCountKv: 16, keyLength: 256, valueLength: 256, vocabSize: 256000, contextLength: 8192 }

describe('estimateVram', () => {
  const base = { modelBytes: 4 * GiB, ctxSize: undefined, cacheTypeK: 'f16', cacheTypeV: 'f16', gpuCount: 1 }
  it('llama-2-7B at its 4096 context: the well-known 2 GiB of f16 KV cache', () => {
    const e = estimateVram({ ...base, model: llama2_7b })
    expect(e.kvBytes).toBe(2 * GiB)
    expect(e.kvCells).toBe(4096)
    expect(e.computeBytes).toBe(512 * (32000 + 4 * 4096) * 4)
    expect(e.totalBytes).toBe(4 * GiB + 2 * GiB + e.computeBytes + PER_GPU_OVERHEAD_BYTES)
  })
  it('llama-3-8B with grouped-query attention: 8 KV heads, 1 GiB at 8192', () => {
    expect(estimateVram({ ...base, model: llama3_8b }).kvBytes).toBe(1 * GiB)
  })
  it('ctx-size sets the KV pool of all slots together', () => {
    expect(estimateVram({ ...base, model: llama3_8b, ctxSize: 2048 }).kvBytes).toBe(GiB / 4)
  })
  it('explicit key and value lengths (head size 256 with 3072-wide embeddings)', () => {
    expect(estimateVram({ ...base, model: gemma_like, ctxSize: 1024 }).kvBytes).toBe(1024 * 28 * 16 * (256 * 2 + 256 * 2))
  })
  it('a quantized KV cache is smaller: q8_0 is 34 bytes per 32 elements', () => {
    const e = estimateVram({ ...base, model: llama2_7b, cacheTypeK: 'q8_0', cacheTypeV: 'q8_0' })
    expect(e.kvBytes).toBe(Math.ceil(2 * GiB * (34 / 32 / 2)))
    expect(e.kvTypes).toBe('q8_0')
  })
  it('adds the overhead of each GPU', () => {
    expect(estimateVram({ ...base, model: llama2_7b, gpuCount: 2 }).overheadBytes).toBe(2 * PER_GPU_OVERHEAD_BYTES)
  })
  it('reads -ctk/-ctv and their long forms from server-args', () => {
    expect(cacheTypes(['--threads', '2'])).toEqual({ k: 'f16', v: 'f16' })
    expect(cacheTypes(['-ctk', 'q8_0', '--cache-type-v=q4_0'])).toEqual({ k: 'q8_0', v: 'q4_0' })
  })
})

const gpu = (index: number, freeGiB: number, totalGiB = 24, name = 'NVIDIA L4'): GpuInfo => ({
  index, name, memoryTotalMib: totalGiB * 1024, memoryFreeMib: freeGiB * 1024, computeCap: '8.9',
})

describe('vramShortfall', () => {
  const e = estimateVram({ model: llama2_7b, modelBytes: 4 * GiB, ctxSize: undefined, cacheTypeK: 'f16', cacheTypeV: 'f16', gpuCount: 1 })
  it('nothing when it fits', () => expect(vramShortfall(e, [gpu(0, 20)])).toBeUndefined())
  it('POOL_UNAVAILABLE with the numbers, per GPU', () => {
    const message = vramShortfall(e, [gpu(0, 3), gpu(1, 2.5)])
    expect(message).toMatch(/^POOL_UNAVAILABLE: the model needs about 6\.\d\d GiB of VRAM \(weights 4\.00 GiB, KV cache 2\.00 GiB for 4096 tokens in f16, compute buffers 0\.09 GiB, overhead 0\.38 GiB\), but the selected GPUs have 5\.50 GiB free: GPU 0 \(NVIDIA L4\): 3\.00 GiB free of 24\.00 GiB; GPU 1 \(NVIDIA L4\): 2\.50 GiB free of 24\.00 GiB\. /)
    expect(message).toContain('gpu-policy: allow-offload')
  })
  it('POOL_UNAVAILABLE when there is no GPU at all', () => {
    expect(vramShortfall(e, [])).toMatch(/^POOL_UNAVAILABLE: .* 0\.00 GiB free: no GPU was found/)
  })
})

describe('planPlacement', () => {
  const model = { gguf: { ...llama2_7b } as unknown as GgufInfo, sizeBytes: 4 * GiB }
  const inputs = { devices: undefined, gpuPolicy: 'vram-only' as const, gpuLayers: undefined, ctxSize: undefined, serverArgs: [] }
  const plan = (over: Omit<Partial<PlacementInput>, 'inputs'> & { inputs?: Partial<PlacementInput['inputs']> }) =>
    planPlacement({ backend: 'cuda', provisioningMode: 'source', gpus: [gpu(0, 20), gpu(1, 20)], model, ...over, inputs: { ...inputs, ...over.inputs } })

  it('vram-only that fits: all layers on the GPUs, all GPUs listed, the estimate kept', () => {
    const p = plan({})
    expect(p.gpuLayers).toBe('all')
    expect(p.gpus.map((g) => g.index)).toEqual([0, 1])
    expect(p.estimate?.totalBytes).toBeGreaterThan(6 * GiB)
    expect(p.env).toEqual({})
  })
  it('devices selects GPUs and becomes CUDA_VISIBLE_DEVICES; the check uses only their free memory', () => {
    const p = plan({ gpus: [gpu(0, 1), gpu(1, 20)], inputs: { devices: [1] } })
    expect(p.gpus.map((g) => g.index)).toEqual([1])
    expect(p.env).toEqual({ CUDA_VISIBLE_DEVICES: '1' })
    expect(() => plan({ gpus: [gpu(0, 20), gpu(1, 1)], inputs: { devices: [1] } })).toThrow(/^POOL_UNAVAILABLE: .*GPU 1 \(NVIDIA L4\): 1\.00 GiB free/)
  })
  it('several small GPUs together can hold what one cannot', () => {
    expect(() => plan({ gpus: [gpu(0, 4)] })).toThrow(ServerError)
    expect(plan({ gpus: [gpu(0, 4), gpu(1, 4)] }).gpus).toHaveLength(2)
  })
  it('an unknown device is named', () => {
    expect(() => plan({ inputs: { devices: [0, 3] } })).toThrow("Input 'devices' is 0,3: this machine has no GPU 3 (nvidia-smi lists 0, 1)")
  })
  it('vram-only refuses partial offload; allow-offload passes it and checks nothing', () => {
    expect(() => plan({ inputs: { gpuLayers: 10 } })).toThrow(/Input 'gpu-layers' is 10: partial offload is refused under gpu-policy: vram-only \(the model has 33 layers\)/)
    expect(plan({ inputs: { gpuLayers: 33 } }).gpuLayers).toBe('all')
    const offload = plan({ gpus: [gpu(0, 1)], inputs: { gpuPolicy: 'allow-offload', gpuLayers: 10 } })
    expect(offload.gpuLayers).toBe(10)
    expect(offload.estimate).toBeUndefined()
    expect(plan({ gpus: [gpu(0, 1)], inputs: { gpuPolicy: 'allow-offload' } }).gpuLayers).toBe('all')
  })
  it('hip and vulkan get their own device variables; their free memory is not read here', () => {
    const p = plan({ backend: 'hip', gpus: [], inputs: { devices: [0] } })
    expect(p.env).toEqual({ HIP_VISIBLE_DEVICES: '0' })
    expect(p.notes).toEqual(['gpu-policy vram-only: free VRAM cannot be read for hip here, so it is not checked'])
    expect(plan({ backend: 'vulkan', gpus: [], inputs: { devices: [1] } }).env).toEqual({ GGML_VK_VISIBLE_DEVICES: '1' })
  })
  it('cpu: no GPU, no check; a given binary gets --n-gpu-layers 0, our cpu build nothing', () => {
    expect(plan({ backend: 'cpu', gpus: [] })).toMatchObject({ gpus: [], gpuLayers: undefined, estimate: undefined })
    expect(plan({ backend: 'cpu', provisioningMode: 'binary' }).gpuLayers).toBe(0)
    expect(plan({ backend: 'cpu', inputs: { devices: [0] } }).notes).toEqual(["'devices' is ignored on the cpu backend"])
  })
})
