// gpu-policy and devices through the runner harness. nvidia-smi is a TEST DOUBLE (test/support/fake-nvidia-smi.ts:
// no GPU here) and so is the engine (test/fixtures/engine), given as llama-server-path; the model is a real GGUF
// header with the shape of llama-2-7B at a few kilobytes, so that the estimate is that of a 7B model.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { fakeGpuHost, type FakeGpu, type FakeGpuHost } from '../support/fake-nvidia-smi.js'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')

const L4 = (index: number, freeMib: number): FakeGpu => ({ index, name: 'NVIDIA L4', totalMib: 23034, freeMib, computeCap: '8.9' })

async function serveOn(gpus: FakeGpu[], inputs: Record<string, string> = {}): Promise<MainRun & { host: FakeGpuHost }> {
  const dirs = newJobDirs()
  const host = fakeGpuHost(gpus)
  mkdirSync(path.join(dirs.workspace, 'models'))
  // llama-2-7B's shape: 32 blocks, 4096 wide, 32 heads, 4096 context, 32000 tokens.
  writeHeaderOnlyModel(path.join(dirs.workspace, 'models', '7b-shape.gguf'), {
    contextLength: 4096, blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 32, vocabSize: 32000,
  })
  const run = await runMain({
    dirs,
    inputs: { model: 'models/7b-shape.gguf', 'llama-server-path': fakeServer, ...inputs },
    // A host of its own: GPU leases in a directory of this test's.
    env: { ...host.env, SETUP_LLAMA_SERVER_GPU_LEASES: mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-')) },
  })
  return { ...run, host }
}

describe('gpu-policy vram-only (the default on GPU backends)', () => {
  it('a model that fits starts with all layers on the GPU that holds it, llama.cpp told not to fit, listed in the handoff', async () => {
    const run = await serveOn([L4(0, 22000), L4(1, 22000)])
    expect(run.errors).toEqual([])
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff.backend).toBe('cuda')
    expect(handoff.flags).toContain('--n-gpu-layers')
    expect(handoff.flags[handoff.flags.indexOf('--n-gpu-layers') + 1]).toBe('all')
    // The engine double's --help lists --fit, as llama-server v0.5.0's does: under vram-only it is turned off.
    expect(handoff.flags.join(' ')).toContain('--fit off')
    // It lists --log-verbosity too: the log level at which v0.5.0 writes the buffer lines the job reports.
    expect(handoff.flags.join(' ')).toContain('--log-verbosity 4')
    // One GPU holds it: the fewest, and of two equally free ones the first.
    expect(handoff.gpus).toEqual([{ index: 0, uuid: run.host.gpus[0]?.uuid, name: 'NVIDIA L4', memory_total_mib: 23034, memory_free_mib: 22000, compute_cap: '8.9' }])
    expect(handoff.device_mask).toBe('0')
    expect(handoff.tensor_split).toBeNull()
    expect(handoff.vram_estimate).toMatchObject({ source: 'formula', kv_cells: 4096, kv_types: 'f16', kv_bytes: 2 * 2 ** 30 })
    expect(run.summary).toContain('VRAM estimate vs free')
    await runPost(run)
  })

  it('a model that does not fit fails with POOL_UNAVAILABLE before any process starts', async () => {
    // The header-only file weighs nothing; its 2 GiB KV cache, buffers and overhead do not fit in 1.76 GiB.
    const run = await serveOn([L4(0, 1000), L4(1, 800)])
    expect(run.exitCode).toBe(1)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/^POOL_UNAVAILABLE: the model needs about \d+\.\d\d GiB of VRAM \(weights .*, KV cache 2\.00 GiB for 4096 tokens in f16, .*\), but the selected GPUs have 1\.76 GiB free: GPU 0 \(NVIDIA L4\): 0\.98 GiB free of 22\.49 GiB; GPU 1 \(NVIDIA L4\): 0\.78 GiB free of 22\.49 GiB\./)
    expect(run.state).toEqual({})
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
    expect(existsSync(path.join(run.dirs.temp, 'setup-llama-server')) ? readdirSync(path.join(run.dirs.temp, 'setup-llama-server')) : []).toEqual([])
  })

  it('devices selects GPUs: CUDA_VISIBLE_DEVICES for the server, only their memory counted', async () => {
    const run = await serveOn([L4(0, 500), L4(1, 22000), L4(2, 22000)], { devices: '1,2' })
    expect(run.errors).toEqual([])
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoff.device_mask).toBe('1,2')
    expect(handoff.gpus.map((g: { index: number }) => g.index)).toEqual([1, 2])
    // By UUID: CUDA's own device order need not be nvidia-smi's.
    expect(readFileSync(run.outputs['log-path'] as string, 'utf8')).toContain(`CUDA_VISIBLE_DEVICES: ${run.host.gpus[1]?.uuid},${run.host.gpus[2]?.uuid}`)
    await runPost(run)
    const tooSmall = await serveOn([L4(0, 22000), L4(1, 500)], { devices: '1' })
    expect(tooSmall.errors[0]).toMatch(/^POOL_UNAVAILABLE: .*GPU 1 \(NVIDIA L4\): 0\.49 GiB free/)
  })

  it('partial offload is refused under vram-only and passed on under allow-offload', async () => {
    const refused = await serveOn([L4(0, 22000)], { 'gpu-layers': '8' })
    expect(refused.errors).toEqual([`Input 'gpu-layers' is 8: partial offload is refused under gpu-policy: vram-only (the model has 33 layers); leave it empty, or set gpu-policy: allow-offload`])
    const offload = await serveOn([L4(0, 1000)], { 'gpu-layers': '8', 'gpu-policy': 'allow-offload' })
    expect(offload.errors).toEqual([])
    const flags = JSON.parse(readFileSync(offload.outputs['handoff-path'] as string, 'utf8')).flags as string[]
    expect(flags[flags.indexOf('--n-gpu-layers') + 1]).toBe('8')
    await runPost(offload)
  })
})
