// What the GPU code reads from other programs: nvidia-smi's CSV, llama-fit-params' projection, llama-server's help
// and log. llama.cpp's own outputs are read twice: as a real cpu build of v0.5.0 printed them (test/fixtures/
// llama-cpp-v0.5.0, see its README for the commands), and in their CUDA forms, which no GPU here can print: those
// are test doubles written from the format strings of v0.5.0's source (common/fit.cpp common_fit_print,
// src/llama-model.cpp, src/llama-context.cpp, src/llama-kv-cache.cpp, common/log.cpp's prefix). nvidia-smi's CSV is
// a test double too.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { memoryArgs } from '../../src/gpu/estimate.js'
import { fitParamsArgv, parseFitPrint } from '../../src/gpu/fit-params.js'
import { cudaVersionOfDriver, parseComputeApps, parseDriverCudaVersion, parseGpus } from '../../src/gpu/nvidia-smi.js'
import { allocatedPerGpu, describeFit, parseServerLog } from '../../src/gpu/server-log.js'
import { helpListsFlag } from '../../src/server/features.js'
import { ROOT } from '../support/runner.js'

const real = (file: string) => readFileSync(path.join(ROOT, 'test', 'fixtures', 'llama-cpp-v0.5.0', file), 'utf8')

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
    // The real output of a cpu build: the host's line alone, with the trailing space of printf("%zu ").
    expect(real('llama-fit-params-cpu.txt')).toBe('Host 15 0 63 \n')
    expect(parseFitPrint(real('llama-fit-params-cpu.txt'))).toEqual([])
    // CUDA devices, from common_fit_print's format: printf("%s ", ggml_backend_dev_name) then "%zu " three times.
    expect(parseFitPrint('CUDA0 3745 512 296 \nCUDA1 3700 512 104 \nHost 250 0 12 \n')).toEqual([
      { device: 'CUDA0', modelMib: 3745, contextMib: 512, computeMib: 296 },
      { device: 'CUDA1', modelMib: 3700, contextMib: 512, computeMib: 104 },
    ])
  })
  it('skips what is not a device line: other text, numbers out of bounds, names out of shape, endless lines', () => {
    const hostile = ['CUDA0 1e9 0 0 ', 'CUDA0 -1 0 0 ', 'CUDA0 99999999999 0 0 ', 'CUDA 0 1 2 3 ', 'a b 1 2 3', `${'X'.repeat(100_000)} 1 2 3 `, 'CUDA0 1 2 3 4 ']
    expect(parseFitPrint(hostile.join('\n'))).toEqual([])
    const many = Array.from({ length: 1000 }, (_, i) => `CUDA${i} 1 1 1 `).join('\n')
    expect(parseFitPrint(many)).toHaveLength(64)
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
  it('lists --log-verbosity in v0.5.0 (the line of the real build)', () => {
    expect(helpListsFlag('-lv,   --verbosity, --log-verbosity N   Set the verbosity threshold. Messages with a higher verbosity will be', '--log-verbosity')).toBe(true)
  })
})

describe("llama-server's log, as a real cpu build wrote it", () => {
  it('at its default verbosity, says nothing of its memory: llama.cpp logs that at trace level', () => {
    expect(real('llama-server-cpu.txt')).toContain('I srv    load_model: initializing, n_slots = 2, n_ctx_slot = 256')
    expect(parseServerLog(real('llama-server-cpu.txt'))).toEqual({ buffers: [], ctx: undefined, layers: undefined })
  })
  it('with --log-verbosity 4: the context and its buffers in system memory; a cpu build offloads no layer', () => {
    const log = real('llama-server-cpu-lv4.txt')
    expect(log).toContain('I llama_kv_cache:        CPU KV buffer size =     0.12 MiB\n')
    expect(parseServerLog(log)).toEqual({
      buffers: [
        { buffer: 'CPU_Mapped', modelMib: 15.91, contextMib: 0, computeMib: 0 },
        { buffer: 'CPU', modelMib: 0, contextMib: 0.12, computeMib: 1.26 },
      ],
      ctx: 512,
      layers: undefined,
    })
    expect(allocatedPerGpu(parseServerLog(log), [{ index: 0, name: 'NVIDIA L4' }])).toEqual([])
    expect(describeFit(parseServerLog(log))).toBe('a context of 512 tokens, 16 MiB of weights in system memory')
  })
})

// A two-GPU load in v0.5.0's formats (common/log.cpp's prefix, then src/llama-model.cpp's, src/llama-context.cpp's
// and src/llama-kv-cache.cpp's format strings with CUDA buffer names), among lines that must not count.
const at = (level: string, text: string) => `0.00.445.450 ${level} ${text}`
const LOG = [
  at('I', 'load_tensors: offloading output layer to GPU'),
  at('I', 'load_tensors: offloading 31 repeating layers to GPU'),
  at('I', 'load_tensors: offloaded 33/33 layers to GPU'),
  at('I', 'load_tensors:   CPU_Mapped model buffer size =   250.00 MiB'),
  at('I', 'load_tensors:        CUDA0 model buffer size =  1900.50 MiB'),
  at('I', 'load_tensors:        CUDA1 model buffer size =  1845.25 MiB'),
  at('I', 'llama_context: constructing llama_context'),
  at('I', 'llama_context: n_seq_max             = 4'),
  at('I', 'llama_context: n_ctx                 = 8192'),
  at('I', 'llama_context: n_ctx_seq             = 2048'),
  at('I', 'llama_context:  CUDA_Host  output buffer size =     0.49 MiB'),
  at('I', 'llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB'),
  at('I', 'llama_kv_cache:      CUDA1 KV buffer size =   512.00 MiB'),
  at('I', 'llama_kv_cache: size = 1024.00 MiB (  8192 cells,  32 layers,  4/4 seqs), K (f16):  512.00 MiB, V (f16):  512.00 MiB'),
  at('I', 'sched_reserve: reserving ...'),
  at('I', 'sched_reserve:      CUDA0 compute buffer size =   296.00 MiB'),
  at('I', 'sched_reserve:      CUDA1 compute buffer size =   304.00 MiB'),
  at('I', 'sched_reserve:  CUDA_Host compute buffer size =    24.01 MiB'),
  at('I', 'common_memory_breakdown_print: |   - CUDA0 (H100 80GB HBM3) | 81559 = 76000 + ( 2708 =  1900 +     512 +     296) +    2851 |'),
  at('I', 'srv    load_model: initializing, n_slots = 4, n_ctx_slot = 2048, kv_unified = \'false\''),
  at('I', 'srv  llama_server: model loaded'),
].join('\n')

describe("llama-server's log in its CUDA forms (test doubles from the format strings)", () => {
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
    // Without the prefix (--no-log-prefix) the lines read the same.
    expect(parseServerLog(LOG.replaceAll('0.00.445.450 I ', ''))).toEqual(a)
  })
  it('counts a re-reserved compute buffer once, adds a draft context, and stops at the end of the load', () => {
    const more = [
      at('I', 'sched_reserve:      CUDA0 compute buffer size =   320.00 MiB'), // the same context again: replaces 296
      at('I', 'llama_context: constructing llama_context'), // a draft model's context: its buffers add up
      at('I', 'llama_context: n_ctx                 = 4096'),
      at('I', 'sched_reserve:      CUDA0 compute buffer size =    10.00 MiB'),
    ]
    const withDraft = LOG.replace(at('I', 'common_memory_breakdown_print'), `${more.join('\n')}\n${at('I', 'common_memory_breakdown_print')}`)
    const a = parseServerLog(withDraft)
    expect(a.ctx).toBe(8192)
    expect(a.buffers.find((b) => b.buffer === 'CUDA0')?.computeMib).toBe(330)
    // A reload after the server slept comes after "model loaded": not more memory.
    expect(parseServerLog(`${LOG}\n${LOG}`)).toEqual(parseServerLog(LOG))
  })
  it("skips --fit's trial loads, logged at debug level (D, shown with -v)", () => {
    const trial = [at('D', 'load_tensors:        CUDA0 model buffer size =  9999.00 MiB'), at('D', 'llama_context: n_ctx                 = 131072')].join('\n')
    expect(parseServerLog(`${trial}\n${LOG}`)).toEqual(parseServerLog(LOG))
  })
  it('names each CUDA device by the GPU it is (the order of CUDA_VISIBLE_DEVICES), against what was reserved', () => {
    expect(allocatedPerGpu(parseServerLog(LOG), [{ index: 2, name: 'NVIDIA L4', reservedBytes: 3000 * 2 ** 20 }, { index: 5, name: 'NVIDIA L4' }])).toEqual([
      'GPU 2 (NVIDIA L4): 2709 MiB allocated (model 1901 MiB, context 512 MiB, compute 296 MiB), 3000 MiB reserved',
      'GPU 5 (NVIDIA L4): 2661 MiB allocated (model 1845 MiB, context 512 MiB, compute 304 MiB)',
    ])
  })
  it("says what llama.cpp's fit decided: context, layers, weights left in system memory", () => {
    const fitted = [
      at('I', 'load_tensors: offloaded 20/33 layers to GPU'),
      at('I', 'load_tensors:          CPU model buffer size =  1500.00 MiB'),
      at('I', 'load_tensors:        CUDA0 model buffer size =  2000.00 MiB'),
      at('I', 'llama_context: n_ctx                 = 4096'),
    ].join('\n')
    expect(describeFit(parseServerLog(fitted))).toBe('a context of 4096 tokens, 20 of 33 layers on the GPUs, 1500 MiB of weights in system memory, in GPU memory CUDA0: model 2000 MiB, context 0 MiB, compute 0 MiB')
    expect(describeFit(parseServerLog('nothing here'))).toBe('nothing about its memory (no buffer lines in the log)')
  })
  it('reads hostile text without trusting it: bounded names, numbers and lines, at most 64 buffers', () => {
    const hostile = [
      at('I', `load_tensors: ${'A'.repeat(100)} model buffer size =     1.00 MiB`),
      at('I', 'load_tensors:        CUDA0 model buffer size = 99999999999999.00 MiB'),
      at('I', 'load_tensors:        CUDA0 model buffer size =     1e9 MiB'),
      at('I', 'load_tensors: offloaded 40/33 layers to GPU'),
      at('I', 'llama_context: n_ctx                 = 0'),
      at('I', `llama_context: n_ctx                 = ${'9'.repeat(400)}`),
      `${' '.repeat(100_000)}CUDA0 model buffer size = 1.00 MiB`,
      ...Array.from({ length: 200 }, (_, i) => at('I', `load_tensors:        CUDA${i} model buffer size =     1.00 MiB`)),
    ].join('\n')
    const a = parseServerLog(hostile)
    expect(a.ctx).toBeUndefined()
    expect(a.layers).toBeUndefined()
    expect(a.buffers).toHaveLength(64)
    expect(a.buffers.every((b) => b.modelMib === 1 && /^CUDA\d+$/.test(b.buffer))).toBe(true)
  })
})
