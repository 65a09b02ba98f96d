// What the GPU code reads from other programs: nvidia-smi's CSV, llama-fit-params' projection, llama-server's help
// and log. The texts are test doubles of those programs' output (no GPU here), written after the formats in their
// sources (llama.cpp v0.5.0: common/fit.cpp common_fit_print, src/llama-model.cpp, src/llama-context.cpp,
// src/llama-kv-cache.cpp).
import { describe, expect, it } from 'vitest'
import { memoryArgs } from '../../src/gpu/estimate.js'
import { fitParamsArgv, parseFitPrint } from '../../src/gpu/fit-params.js'
import { cudaVersionOfDriver, parseComputeApps, parseDriverCudaVersion, parseGpus } from '../../src/gpu/nvidia-smi.js'
import { allocatedPerGpu, describeFit, parseServerLog } from '../../src/gpu/server-log.js'
import { helpListsFlag } from '../../src/server/features.js'

describe('nvidia-smi', () => {
  it('parses every GPU, with its UUID; a name may hold a comma', () => {
    const csv = '0, GPU-9f1c0b4e-2a1d-4e0a-8d6b-0c1e5a7b3f21, NVIDIA H100 80GB HBM3, 81559, 80523, 9.0\n1, GPU-3b7e6d2a-5c4f-4b1e-9a8d-7f6e5d4c3b2a, Odd, Name, 23034, 22563, 8.9\n'
    expect(parseGpus(csv)).toEqual([
      { index: 0, uuid: 'GPU-9f1c0b4e-2a1d-4e0a-8d6b-0c1e5a7b3f21', name: 'NVIDIA H100 80GB HBM3', memoryTotalMib: 81559, memoryFreeMib: 80523, computeCap: '9.0' },
      { index: 1, uuid: 'GPU-3b7e6d2a-5c4f-4b1e-9a8d-7f6e5d4c3b2a', name: 'Odd, Name', memoryTotalMib: 23034, memoryFreeMib: 22563, computeCap: '8.9' },
    ])
  })
  it('keeps what it cannot read as unknown rather than inventing it', () => {
    expect(parseGpus('0, [N/A], NVIDIA L4, [N/A], [N/A], [N/A]\ngarbage\n')).toEqual([
      { index: 0, uuid: null, name: 'NVIDIA L4', memoryTotalMib: 0, memoryFreeMib: 0, computeCap: null },
    ])
  })
  it("reads the CUDA version the driver runs: from the table's header, else from the driver's version", () => {
    const header = [
      'Sat Nov 22 16:40:12 2026       ',
      '+-----------------------------------------------------------------------------------------+',
      '| NVIDIA-SMI 580.95.05              Driver Version: 580.95.05      CUDA Version: 13.0     |',
      '|-----------------------------------------+------------------------+----------------------+',
    ].join('\n')
    expect(parseDriverCudaVersion(header)).toBe('13.0')
    expect(parseDriverCudaVersion('| NVIDIA-SMI 410.48                 Driver Version: 410.48                    |')).toBeUndefined()
    // NVIDIA's table of the oldest Linux driver of each CUDA release.
    expect(cudaVersionOfDriver('570.86.10')).toBe('12.8')
    expect(cudaVersionOfDriver('570.26')).toBe('12.8')
    expect(cudaVersionOfDriver('570.25.99')).toBe('12.6')
    expect(cudaVersionOfDriver('535.104.05')).toBe('12.2')
    expect(cudaVersionOfDriver('595.10')).toBe('13.0')
    expect(cudaVersionOfDriver('470.256.02')).toBeUndefined()
    expect(cudaVersionOfDriver('[N/A]')).toBeUndefined()
  })
  it('parses compute processes; memory the driver does not report is null', () => {
    const csv = 'GPU-9f1c0b4e-2a1d-4e0a-8d6b-0c1e5a7b3f21, 4242, /usr/bin/python3, 3000\nGPU-3b7e6d2a-5c4f-4b1e-9a8d-7f6e5d4c3b2a, 77, /opt/llama-server, [N/A]\n'
    expect(parseComputeApps(csv)).toEqual([
      { gpuUuid: 'GPU-9f1c0b4e-2a1d-4e0a-8d6b-0c1e5a7b3f21', pid: 4242, processName: '/usr/bin/python3', usedMib: 3000 },
      { gpuUuid: 'GPU-3b7e6d2a-5c4f-4b1e-9a8d-7f6e5d4c3b2a', pid: 77, processName: '/opt/llama-server', usedMib: null },
    ])
    expect(parseComputeApps('')).toEqual([])
  })
})

describe('llama-fit-params', () => {
  it('reads the device lines of --fit-print on (MiB of model, context, compute), not the host line', () => {
    // common_fit_print: printf("%s ", name) then "%zu " three times, then a newline, per device and for the host.
    expect(parseFitPrint('CUDA0 3745 512 296 \nCUDA1 3700 512 104 \nHost 250 0 12 \n')).toEqual([
      { device: 'CUDA0', modelMib: 3745, contextMib: 512, computeMib: 296 },
      { device: 'CUDA1', modelMib: 3700, contextMib: 512, computeMib: 104 },
    ])
    expect(parseFitPrint('Host 4000 512 300 \n')).toEqual([])
  })
  it('is given what llama-server gets that decides memory, every layer on the GPU', () => {
    expect(fitParamsArgv({ modelPath: '/m.gguf', ctxSize: 8192, parallel: 4, args: memoryArgs(['-ctk', 'q8_0', '-fa', 'on', '-kvu']) })).toEqual([
      '--fit-print', 'on', '--model', '/m.gguf', '--ctx-size', '8192', '--parallel', '4', '--n-gpu-layers', 'all',
      '--cache-type-k', 'q8_0', '--cache-type-v', 'f16', '--flash-attn', 'on', '--ubatch-size', '512', '--batch-size', '2048', '--kv-unified',
    ])
    expect(fitParamsArgv({ modelPath: '/m.gguf', ctxSize: undefined, parallel: 1, args: memoryArgs([]) })).not.toContain('--ctx-size')
  })
})

describe("llama-server's help", () => {
  it('lists --fit in v0.5.0, and not in builds before it', () => {
    const v050 = "-fit,   --fit [on|off]                  whether to adjust unset arguments to fit in device memory ('on' or 'off', default: 'on')\n-fitt,  --fit-target MiB0,MiB1,MiB2,..."
    expect(helpListsFlag(v050, '--fit')).toBe(true)
    expect(helpListsFlag('-fitt,  --fit-target MiB0\n--fitness', '--fit')).toBe(false)
  })
})

// The lines of a two-GPU load with llama.cpp v0.5.0's formats, among lines that must not count.
const LOG = [
  'load_tensors: offloading output layer to GPU',
  'load_tensors: offloading 31 repeating layers to GPU',
  'load_tensors: offloaded 33/33 layers to GPU',
  'load_tensors:   CPU_Mapped model buffer size =   250.00 MiB',
  'load_tensors:        CUDA0 model buffer size =  1900.50 MiB',
  'load_tensors:        CUDA1 model buffer size =  1845.25 MiB',
  'llama_context: n_ctx                 = 8192',
  'llama_context: n_ctx_seq             = 2048',
  'llama_context:  CUDA_Host  output buffer size =     0.49 MiB',
  'llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB',
  'llama_kv_cache:      CUDA1 KV buffer size =   512.00 MiB',
  'llama_kv_cache: size = 1024.00 MiB (  8192 cells,  32 layers,  4/4 seqs), K (f16):  512.00 MiB, V (f16):  512.00 MiB',
  'sched_reserve:      CUDA0 compute buffer size =   296.00 MiB',
  'sched_reserve:      CUDA1 compute buffer size =   304.00 MiB',
  'sched_reserve:  CUDA_Host compute buffer size =    24.01 MiB',
].join('\n')

describe("llama-server's log", () => {
  it('gives the buffers per device, the context and the layers on the GPUs', () => {
    const a = parseServerLog(LOG)
    expect(a.ctx).toBe(8192)
    expect(a.layers).toEqual({ onGpu: 33, of: 33 })
    expect(a.buffers).toEqual([
      { buffer: 'CPU_Mapped', modelMib: 250, contextMib: 0, computeMib: 0 },
      { buffer: 'CUDA0', modelMib: 1900.5, contextMib: 512, computeMib: 296 },
      { buffer: 'CUDA1', modelMib: 1845.25, contextMib: 512, computeMib: 304 },
      { buffer: 'CUDA_Host', modelMib: 0, contextMib: 0, computeMib: 24.01 },
    ])
  })
  it('names each CUDA device by the GPU it is (the order of CUDA_VISIBLE_DEVICES), against what was reserved', () => {
    expect(allocatedPerGpu(parseServerLog(LOG), [{ index: 2, name: 'NVIDIA L4', reservedBytes: 3000 * 2 ** 20 }, { index: 5, name: 'NVIDIA L4' }])).toEqual([
      'GPU 2 (NVIDIA L4): 2709 MiB allocated (model 1901 MiB, context 512 MiB, compute 296 MiB), 3000 MiB reserved',
      'GPU 5 (NVIDIA L4): 2661 MiB allocated (model 1845 MiB, context 512 MiB, compute 304 MiB)',
    ])
  })
  it("says what llama.cpp's fit decided: context, layers, weights left in system memory", () => {
    const fitted = 'load_tensors: offloaded 20/33 layers to GPU\nload_tensors:          CPU model buffer size =  1500.00 MiB\nload_tensors:        CUDA0 model buffer size =  2000.00 MiB\nllama_context: n_ctx                 = 4096\n'
    expect(describeFit(parseServerLog(fitted))).toBe('a context of 4096 tokens, 20 of 33 layers on the GPUs, 1500 MiB of weights in system memory, in GPU memory CUDA0: model 2000 MiB, context 0 MiB, compute 0 MiB')
    expect(describeFit(parseServerLog('nothing here'))).toBe('nothing about its memory (no buffer lines in the log)')
  })
})
