// Placement: devices, the fewest and freest GPUs, the split, what other jobs reserved, and gpu-policy. The GPUs are
// test doubles of what nvidia-smi reports (no GPU here).
import { describe, expect, it } from 'vitest'
import { ServerError } from '../../src/errors.js'
import { bytesNeeded, estimateVram, layerBytes, memoryArgs, perGpuBytes, splitBytes } from '../../src/gpu/estimate.js'
import type { GpuInfo } from '../../src/gpu/nvidia-smi.js'
import { isShortfall, planPlacement, type Placement, type PlacementInput, type Shortfall } from '../../src/gpu/placement.js'
import type { GgufInfo } from '../../src/model/gguf.js'

const MiB = 2 ** 20
const GiB = 2 ** 30

const llama2_7b = { blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 32, keyLength: null, valueLength: null, feedForwardLength: 11008, vocabSize: 32000, contextLength: 4096 }
const estimate = estimateVram({ model: llama2_7b, modelBytes: 4 * GiB, ctxSize: undefined, parallel: 1, args: memoryArgs([]) })
const needOne = bytesNeeded(estimate, 1) // about 6.4 GiB

const uuid = (index: number) => `GPU-0000000${index}-aaaa-bbbb-cccc-dddddddddddd`
const gpu = (index: number, freeGiB: number, totalGiB = 24, name = 'NVIDIA L4'): GpuInfo => ({
  index, uuid: uuid(index), name, memoryTotalMib: totalGiB * 1024, memoryFreeMib: freeGiB * 1024, computeCap: '8.9',
})
const room = (g: GpuInfo, reservedGiB = 0) => ({ gpu: g, reservedByOthers: reservedGiB * GiB })

const model = { gguf: { ...llama2_7b } as unknown as GgufInfo }
const inputs = { devices: undefined, gpuPolicy: 'vram-only' as const, gpuLayers: undefined, serverArgs: [] }
type Over = Omit<Partial<PlacementInput>, 'inputs'> & { inputs?: Partial<PlacementInput['inputs']> }
const plan = (over: Over) =>
  planPlacement({ backend: 'cuda', provisioningMode: 'source', rooms: [room(gpu(0, 20)), room(gpu(1, 20))], model, estimate, serverFits: true, serverVerbosity: true, ...over, inputs: { ...inputs, ...over.inputs } })
const placed = (over: Over): Placement => {
  const p = plan(over)
  if (isShortfall(p)) throw new Error(`expected a placement, got: ${p.message}`)
  return p
}
const short = (over: Over): Shortfall => {
  const p = plan(over)
  if (!isShortfall(p)) throw new Error(`expected a shortfall, got GPUs ${p.gpus.map((g) => g.index)}`)
  return p
}

describe('devices empty: the fewest GPUs that hold the estimate, freest first', () => {
  it('one GPU: the freest, named by UUID for CUDA (whose own order may differ from nvidia-smi’s)', () => {
    const p = placed({ rooms: [room(gpu(0, 8)), room(gpu(1, 20)), room(gpu(2, 12))] })
    expect(p.gpus.map((g) => g.index)).toEqual([1])
    expect(p.selection).toBe('chosen')
    expect(p.env).toEqual({ CUDA_VISIBLE_DEVICES: uuid(1) })
    expect(p.deviceMask).toBe('1')
    expect(p.tensorSplit).toBeUndefined()
    expect(p.args).toEqual(['--fit', 'off', '--log-verbosity', '4'])
    expect(p.reservations).toEqual([{ gpu: gpu(1, 20), bytes: needOne }])
  })
  it('what other jobs reserved and have not allocated counts as taken', () => {
    const p = placed({ rooms: [room(gpu(0, 20), 15), room(gpu(1, 10))] })
    expect(p.gpus.map((g) => g.index)).toEqual([1])
  })
  it('two GPUs when none holds it alone: split by the room each has left, in layers (--split-mode layer)', () => {
    const p = placed({ rooms: [room(gpu(0, 3.5)), room(gpu(1, 5)), room(gpu(2, 4))] })
    expect(p.gpus.map((g) => g.index)).toEqual([1, 2]) // the two freest, in index order
    const fixed = perGpuBytes(estimate) + layerBytes(estimate)
    const room1 = 5 * GiB - fixed
    const room2 = 4 * GiB - fixed
    expect(p.tensorSplit).toEqual([Math.floor((splitBytes(estimate) * room1) / (room1 + room2) / MiB), Math.floor((splitBytes(estimate) * room2) / (room1 + room2) / MiB)])
    expect(p.args).toEqual(['--fit', 'off', '--split-mode', 'layer', '--tensor-split', (p.tensorSplit as number[]).join(','), '--log-verbosity', '4'])
    expect(p.env).toEqual({ CUDA_VISIBLE_DEVICES: `${uuid(1)},${uuid(2)}` })
    // Each GPU's reservation is its share plus what it holds in full; together, what two GPUs need.
    const reserved = p.reservations.map((r) => r.bytes)
    expect(reserved.reduce((s, b) => s + b, 0)).toBeGreaterThanOrEqual(bytesNeeded(estimate, 2))
    expect(reserved.reduce((s, b) => s + b, 0)).toBeLessThanOrEqual(bytesNeeded(estimate, 2) + 2)
    expect(reserved[0]).toBeLessThanOrEqual(5 * GiB)
    expect(reserved[1]).toBeLessThanOrEqual(4 * GiB)
  })
  it('nothing fits: a shortfall that says so per GPU, and whether waiting could help', () => {
    const s = short({ rooms: [room(gpu(0, 3)), room(gpu(1, 2.5, 24), 1)] })
    expect(s.message).toMatch(/^POOL_UNAVAILABLE: the model needs about 6\.\d\d GiB of VRAM \(weights 4\.00 GiB, KV cache 2\.00 GiB for 4096 tokens in f16, compute buffers 0\.07 GiB and overhead 0\.38 GiB per GPU; estimated from the GGUF header\), but the selected GPUs have 4\.50 GiB free: GPU 0 \(NVIDIA L4\): 3\.00 GiB free of 24\.00 GiB; GPU 1 \(NVIDIA L4\): 2\.50 GiB free of 24\.00 GiB, of which 1\.00 GiB reserved by other jobs\. /)
    expect(s.message).toContain('gpu-policy: allow-offload')
    expect(s.couldFit).toBe(true)
    expect(short({ rooms: [room(gpu(0, 3, 3)), room(gpu(1, 2, 3))] }).couldFit).toBe(false)
  })
})

describe('devices given', () => {
  it('by index: only those, their free memory checked', () => {
    const p = placed({ rooms: [room(gpu(0, 1)), room(gpu(1, 20))], inputs: { devices: [1] } })
    expect(p.gpus.map((g) => g.index)).toEqual([1])
    expect(p.selection).toBe('given')
    expect(short({ rooms: [room(gpu(0, 20)), room(gpu(1, 1))], inputs: { devices: [1] } }).message).toMatch(/GPU 1 \(NVIDIA L4\): 1\.00 GiB free/)
  })
  it('by UUID', () => {
    expect(placed({ inputs: { devices: [uuid(1)] } }).gpus.map((g) => g.index)).toEqual([1])
  })
  it("'all': every GPU, split, even where one would do", () => {
    const p = placed({ inputs: { devices: 'all' } })
    expect(p.gpus.map((g) => g.index)).toEqual([0, 1])
    expect(p.selection).toBe('all')
    expect(p.tensorSplit).toHaveLength(2)
    expect(p.tensorSplit?.[0]).toBe(p.tensorSplit?.[1])
  })
  it('an unknown device is named with what nvidia-smi lists', () => {
    expect(() => plan({ inputs: { devices: [0, 3] } })).toThrow(`Input 'devices' is 0,3: this machine has no GPU 3 (nvidia-smi lists 0 (${uuid(0)}), 1 (${uuid(1)}))`)
    expect(() => plan({ inputs: { devices: ['GPU-ffffffff-0000'] } })).toThrow(/no GPU GPU-ffffffff-0000/)
  })
})

describe('gpu-policy', () => {
  it('vram-only refuses partial offload and turns llama.cpp’s fit off, where the server has it', () => {
    expect(() => plan({ inputs: { gpuLayers: 10 } })).toThrow(/Input 'gpu-layers' is 10: partial offload is refused under gpu-policy: vram-only \(the model has 33 layers\)/)
    expect(placed({ inputs: { gpuLayers: 33 } }).gpuLayers).toBe('all')
    expect(placed({ serverFits: false }).args).toEqual(['--log-verbosity', '4'])
    expect(() => plan({ inputs: { serverArgs: ['--fit', 'on'] } })).toThrow(`Input 'server-args' has --fit: under gpu-policy: vram-only the action checks the fit itself and turns llama.cpp's off; set gpu-policy: allow-offload to let llama.cpp fit`)
    expect(placed({ inputs: { gpuPolicy: 'allow-offload', serverArgs: ['-fit', 'on', '--fit-target', '2048'] } }).args).toEqual(['--log-verbosity', '4'])
  })
  // llama.cpp v0.5.0's flags (common/arg.cpp) that put weights in system memory or on devices of their own.
  it.each([
    ['-ot', 'exps=CPU'], ['--override-tensor', 'blk\\.1\\.=CUDA0'], ['-cmoe'], ['--cpu-moe'], ['-ncmoe', '10'], ['--n-cpu-moe', '10'],
    ['-ncffn', '4'], ['--n-cpu-ffn', '4'], ['-otd', 'exps=CPU'], ['--override-tensor-draft', 'exps=CPU'], ['--spec-draft-override-tensor', 'exps=CPU'],
    ['-cmoed'], ['--cpu-moe-draft'], ['--spec-draft-cpu-moe'], ['-ncmoed', '2'], ['--n-cpu-moe-draft', '2'], ['--spec-draft-n-cpu-moe', '2'], ['--spec-draft-ncmoe', '2'],
  ])('vram-only refuses %s in server-args (it places weights itself); allow-offload and cpu pass it on', (...serverArgs) => {
    const flag = serverArgs[0] as string
    const refusal = `Input 'server-args' has ${flag}, which places weights itself (in system memory, or on devices the action did not choose): under gpu-policy: vram-only every weight goes to the GPUs the action chose and checked; set gpu-policy: allow-offload to place them yourself`
    expect(() => plan({ inputs: { serverArgs: ['--threads', '2', ...serverArgs] } })).toThrow(refusal)
    expect(() => plan({ backend: 'vulkan', rooms: [], inputs: { serverArgs } })).toThrow(refusal)
    expect(placed({ inputs: { gpuPolicy: 'allow-offload', serverArgs } }).weightsOnGpus).toBe(false)
    expect(placed({ backend: 'cpu', inputs: { serverArgs } }).weightsOnGpus).toBe(false)
  })
  it('vram-only refuses the --flag=value form too, and says which flag', () => {
    expect(() => plan({ inputs: { serverArgs: ['--override-tensor=exps=CPU'] } })).toThrow(/^Input 'server-args' has --override-tensor, which places weights itself/)
    expect(placed({ inputs: { serverArgs: ['--no-mmap', '-t', '4'] } }).weightsOnGpus).toBe(true)
  })
  it('allow-offload: llama.cpp fits (no --fit off, no split of ours, no -ngl unless asked); nothing fits → every GPU', () => {
    const p = placed({ rooms: [room(gpu(0, 1)), room(gpu(1, 2))], inputs: { gpuPolicy: 'allow-offload' } })
    expect(p.gpus.map((g) => g.index)).toEqual([0, 1])
    expect(p.args).toEqual(['--log-verbosity', '4'])
    expect(p.tensorSplit).toBeUndefined()
    expect(p.gpuLayers).toBeUndefined()
    expect(p.llamaFits).toBe(true)
    expect(p.notes).toEqual(["No set of GPUs holds the estimate now; llama.cpp's fit keeps what does not fit in system memory"])
    // It reserves no more than is free: the rest goes to system memory.
    expect(p.reservations.map((r) => r.bytes)).toEqual([1 * GiB, 2 * GiB])
    expect(placed({ inputs: { gpuPolicy: 'allow-offload', gpuLayers: 10 } }).gpuLayers).toBe(10)
    // A server without --fit gets every layer, as before llama.cpp could fit.
    expect(placed({ serverFits: false, inputs: { gpuPolicy: 'allow-offload' } }).gpuLayers).toBe('all')
  })
  it("asks for the log level that shows llama.cpp v0.5.0's allocation lines wherever the job reports them", () => {
    // Its buffer lines are trace level (-lv 4); the job reads them for the GPUs it leased and for what fit decided.
    expect(placed({ serverVerbosity: false }).args).toEqual(['--fit', 'off'])
    expect(placed({ backend: 'hip', rooms: [], inputs: { devices: [0] } }).args).toEqual(['--fit', 'off'])
    expect(placed({ backend: 'vulkan', rooms: [], inputs: { gpuPolicy: 'allow-offload' } }).args).toEqual(['--log-verbosity', '4'])
    expect(placed({ backend: 'vulkan', rooms: [], serverFits: false, inputs: { gpuPolicy: 'allow-offload' } }).args).toEqual([])
    expect(placed({ backend: 'cpu' }).args).toEqual([])
  })
  it('allow-offload still takes the fewest GPUs that hold it', () => {
    expect(placed({ inputs: { gpuPolicy: 'allow-offload' } }).gpus).toHaveLength(1)
  })
})

describe('other backends', () => {
  it('hip and vulkan: their own device variables, by index; free memory is not read', () => {
    const p = placed({ backend: 'hip', rooms: [], inputs: { devices: [0] } })
    expect(p.env).toEqual({ HIP_VISIBLE_DEVICES: '0' })
    expect(p.deviceMask).toBe('0')
    expect(p.notes).toEqual(['gpu-policy vram-only: free VRAM cannot be read for hip here, so it is not checked'])
    expect(placed({ backend: 'vulkan', rooms: [], inputs: { devices: [1] } }).env).toEqual({ GGML_VK_VISIBLE_DEVICES: '1' })
    expect(() => plan({ backend: 'vulkan', rooms: [], inputs: { devices: [uuid(0)] } })).toThrow(ServerError)
  })
  it('cuda where nvidia-smi lists no GPU: POOL_UNAVAILABLE under vram-only', () => {
    expect(short({ rooms: [] }).message).toMatch(/^POOL_UNAVAILABLE: .* 0\.00 GiB free: no GPU was found/)
  })
  it('cpu: no GPU, no check; a given binary gets --n-gpu-layers 0, our cpu build nothing', () => {
    expect(placed({ backend: 'cpu' })).toMatchObject({ gpus: [], gpuLayers: undefined, estimate: undefined, reservations: [], deviceMask: null })
    expect(placed({ backend: 'cpu', provisioningMode: 'binary' }).gpuLayers).toBe(0)
    expect(placed({ backend: 'cpu', inputs: { devices: [0] } }).notes).toEqual(["'devices' is ignored on the cpu backend"])
  })
})
