import { describe, expect, it } from 'vitest'
import type { ProvisionedEngine } from '../../src/engine/provisioned.js'
import type { ProvisionedModel } from '../../src/model/provisioned.js'
import { estimateVram } from '../../src/server/vram.js'
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
    const gpus = [{ index: 0, name: 'NVIDIA L4', memoryTotalMib: 23034, memoryFreeMib: 22000, computeCap: '8.9' }]
    const estimate = estimateVram({ model: { blockCount: 2, embeddingLength: 64, headCount: 4, headCountKv: 2, keyLength: null, valueLength: null, vocabSize: 32000, contextLength: 2048 }, modelBytes: 2 ** 30, ctxSize: 512, cacheTypeK: 'f16', cacheTypeV: 'f16', gpuCount: 1 })
    const rows = summaryRows({
      model,
      engine,
      server: { pid: 42, host: '127.0.0.1', port: 8080, url: 'http://127.0.0.1:8080', argv: [], logPath: '/l', startedAt: '', readyAfterMs: 1500 },
      placement: { gpus, env: {}, gpuLayers: 'all', estimate, notes: [] },
      phases: [{ name: 'engine (resolve + build)', ms: 61_000 }, { name: 'load (until /health answered 200)', ms: 1500 }],
    })
    expect(rows).toContainEqual(['Model', 'cache hit', 'true'])
    expect(rows).toContainEqual(['Engine', 'cache key', 'llama-server-cuda-k'])
    expect(rows).toContainEqual(['Server', 'GPUs', '0: NVIDIA L4'])
    expect(rows).toContainEqual(['Server', 'VRAM estimate vs free', '1.4 GiB of 21.5 GiB'])
    expect(rows).toContainEqual(['Time', 'engine (resolve + build)', '61.00 s'])
    expect(rows).toContainEqual(['Time', 'load (until /health answered 200)', '1.50 s'])
  })
  it('says when no server was started', () => {
    expect(summaryRows({ model, engine, server: undefined, placement: undefined, phases: [] })).toContainEqual(['Server', 'started', 'no (start: false)'])
  })
})
