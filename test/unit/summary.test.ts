import { describe, expect, it } from 'vitest'
import type { ProvisionedEngine } from '../../src/engine/provisioned.js'
import type { ProvisionedModel } from '../../src/model/provisioned.js'
import { estimateVram, memoryArgs } from '../../src/gpu/estimate.js'
import { parseServerLog } from '../../src/gpu/server-log.js'
import { summaryRows } from '../../src/summary.js'

const model = {
  id: 'hf:org/repo@abc/m.gguf', path: '/c/m.gguf', parts: ['/c/m.gguf'], digest: `sha256:${'a'.repeat(64)}`, sizeBytes: 3 * 2 ** 30,
  gguf: {} as ProvisionedModel['gguf'], cacheHit: true, stored: true,
} satisfies ProvisionedModel
const engine = {
  path: '/c/engines/k/bin/llama-server', version: '0.5.0-dev', commit: 'd'.repeat(40), provisioningMode: 'source', backend: 'cuda', cacheHit: false, cacheKey: 'llama-server-cuda-k',
} satisfies ProvisionedEngine

describe('summaryRows', () => {
  it('tells model, engine, server with GPUs and the VRAM estimate, and the time of each phase', () => {
    const gpus = [{ index: 0, uuid: 'GPU-0a', name: 'NVIDIA L4', memoryTotalMib: 23034, memoryFreeMib: 22000, computeCap: '8.9' }]
    const estimate = estimateVram({ model: { blockCount: 2, embeddingLength: 64, headCount: 4, headCountKv: 2, keyLength: null, valueLength: null, feedForwardLength: null, vocabSize: 32000, contextLength: 2048 }, modelBytes: 2 ** 30, ctxSize: 512, parallel: 1, args: memoryArgs([]) })
    const placement = { gpus, env: {}, deviceMask: '0', gpuLayers: 'all' as const, args: ['--fit', 'off', '--log-verbosity', '4'], llamaFits: false, weightsOnGpus: true, tensorSplit: undefined, estimate, reservations: [{ gpu: gpus[0] as (typeof gpus)[0], bytes: 1.5 * 2 ** 30 }], selection: 'chosen' as const, notes: [] }
    const rows = summaryRows({
      model,
      engine,
      server: { pid: 42, host: '127.0.0.1', port: 8080, url: 'http://127.0.0.1:8080', argv: [], logPath: '/l', startedAt: '', readyAfterMs: 1500 },
      placement,
      allocation: parseServerLog('load_tensors:        CUDA0 model buffer size =  1024.00 MiB\nllama_kv_cache:      CUDA0 KV buffer size =     2.00 MiB\nsched_reserve:      CUDA0 compute buffer size =    70.00 MiB\n'),
      phases: [{ name: 'engine (resolve + build)', ms: 61_000 }, { name: 'load (until /health answered 200)', ms: 1500 }],
    })
    expect(rows).toContainEqual(['Model', 'cache hit', 'true'])
    expect(rows).toContainEqual(['Engine', 'cache key', 'llama-server-cuda-k'])
    expect(rows).toContainEqual(['Server', 'GPUs', '0: NVIDIA L4'])
    expect(rows).toContainEqual(['Server', 'VRAM estimate vs free', '1.5 GiB of 21.5 GiB (from the GGUF header)'])
    expect(rows).toContainEqual(['Server', 'allocated (its log)', 'GPU 0 (NVIDIA L4): 1096 MiB allocated (model 1024 MiB, context 2 MiB, compute 70 MiB), 1536 MiB reserved'])
    expect(rows.find((r) => r[1] === "llama.cpp's fit decided")).toBeUndefined()
    expect(rows).toContainEqual(['Time', 'engine (resolve + build)', '61.00 s'])
    expect(rows).toContainEqual(['Time', 'load (until /health answered 200)', '1.50 s'])
  })
  it("under allow-offload, says what llama.cpp's fit decided", () => {
    const placement = { gpus: [], env: {}, deviceMask: null, gpuLayers: undefined, args: ['--log-verbosity', '4'], llamaFits: true, weightsOnGpus: false, tensorSplit: undefined, estimate: undefined, reservations: [], selection: 'chosen' as const, notes: [] }
    const server = { pid: 42, host: '127.0.0.1', port: 8080, url: 'http://127.0.0.1:8080', argv: [], logPath: '/l', startedAt: '', readyAfterMs: 1500 }
    const rows = summaryRows({ model, engine, server, placement, allocation: parseServerLog('load_tensors: offloaded 20/33 layers to GPU\nllama_context: n_ctx                 = 4096\n'), phases: [] })
    expect(rows).toContainEqual(['Server', "llama.cpp's fit decided", 'a context of 4096 tokens, 20 of 33 layers on the GPUs'])
  })
  it('says when no server was started', () => {
    expect(summaryRows({ model, engine, server: undefined, placement: undefined, phases: [] })).toContainEqual(['Server', 'started', 'no (start: false)'])
  })
})
