// GPU hosts shared by several jobs, through the runner harness: placement by free memory, GPU leases across jobs,
// memory given back. nvidia-smi is a TEST DOUBLE (test/support/fake-nvidia-smi.ts: no GPU here) whose GPUs lose
// the memory that live processes "allocate" on them; so is the engine (test/fixtures/engine), which allocates
// there with --fixture-vram-mib, and so is llama-fit-params (a script, below). Every job of a test is on the same
// host: the same nvidia-smi and the same GPU lease directory.
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { addComputeProcess, fakeGpuHost, type FakeGpu, type FakeGpuHost } from '../support/fake-nvidia-smi.js'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { newJobDirs, runMain, runPost, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const L4 = (index: number, freeMib: number): FakeGpu => ({ index, name: 'NVIDIA L4', totalMib: 23034, freeMib, computeCap: '8.9' })
const MiB = 2 ** 20

interface Host {
  gpus: FakeGpuHost
  leases: string
}

function newHost(gpus: FakeGpu[]): Host {
  return { gpus: fakeGpuHost(gpus), leases: mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-')) }
}

/**
 * One job on `host`: the model has llama-2-7B's shape (a 2 GiB KV cache at its 4096 context; with compute buffers
 * and overhead the estimate is about 2.45 GiB), and the engine double allocates `vramMib` on each GPU it gets.
 */
async function job(host: Host, name: string, inputs: Record<string, string> = {}, vramMib = 2500, serverPath = fakeServer): Promise<MainRun> {
  const dirs = newJobDirs()
  mkdirSync(path.join(dirs.workspace, 'models'))
  writeHeaderOnlyModel(path.join(dirs.workspace, 'models', '7b-shape.gguf'), {
    contextLength: 4096, blockCount: 32, embeddingLength: 4096, headCount: 32, headCountKv: 32, vocabSize: 32000,
  })
  return await runMain({
    dirs,
    inputs: { model: 'models/7b-shape.gguf', 'llama-server-path': serverPath, 'server-args': `--fixture-vram-mib ${vramMib}`, ...inputs },
    env: { ...host.gpus.env, SETUP_LLAMA_SERVER_GPU_LEASES: host.leases, GITHUB_REPOSITORY: 'octo/app', GITHUB_RUN_ID: '7', GITHUB_JOB: name },
    timeoutMs: 120_000,
  })
}

const handoffOf = (run: MainRun) => JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
const leaseFiles = (host: Host) => readdirSync(host.leases).filter((n) => n.endsWith('.lease'))

const spawned: number[] = []
afterEach(() => {
  for (const pid of spawned.splice(0)) process.kill(pid, 'SIGKILL')
})

/** A process that the action did not start, holding `mib` on GPU `index` as nvidia-smi will list it. */
async function foreignProcess(host: Host, index: number, mib: number): Promise<ChildProcess> {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' })
  await once(child, 'spawn')
  spawned.push(child.pid as number)
  addComputeProcess(host.gpus, child.pid as number, index, mib)
  return child
}

describe('placement on a host of several GPUs', () => {
  it('takes the freest GPU that holds the model, leases it while the server lives, and checks its memory came back', async () => {
    const host = newHost([L4(0, 5000), L4(1, 20000), L4(2, 10000)])
    const run = await job(host, 'a')
    expect(run.errors).toEqual([])
    const handoff = handoffOf(run)
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff.device_mask).toBe('1')
    expect(handoff.gpus.map((g: { uuid: string }) => g.uuid)).toEqual([host.gpus.gpus[1]?.uuid])
    expect(readFileSync(run.outputs['log-path'] as string, 'utf8')).toContain(`CUDA_VISIBLE_DEVICES: ${host.gpus.gpus[1]?.uuid}`)
    expect(handoff.vram_estimate.reserved).toEqual([{ index: 1, bytes: handoff.vram_estimate.total_bytes }])
    // What llama-server's log says it allocated, against what was reserved.
    expect(run.stdout).toMatch(/llama-server allocated on GPU 1 \(NVIDIA L4\): 2500 MiB allocated \(model 1875 MiB, context 313 MiB, compute 313 MiB\), \d+ MiB reserved/)
    expect(leaseFiles(host)).toHaveLength(1)
    const post = await runPost(run)
    expect(post.errors).toEqual([])
    expect(post.stdout).toContain("llama-server's GPU memory was given back (nvidia-smi lists no process of it on GPU 1).")
    expect(post.stdout).toMatch(/llama-server had allocated on GPU 1 \(NVIDIA L4\): 2500 MiB allocated/)
    expect(post.stdout).not.toContain('::warning::')
    expect(leaseFiles(host)).toEqual([])
  })

  it('splits the model over two GPUs by their free memory when neither holds it alone', async () => {
    const host = newHost([L4(0, 1600), L4(1, 1700), L4(2, 900)])
    const run = await job(host, 'a', {}, 800)
    expect(run.errors).toEqual([])
    const handoff = handoffOf(run)
    expect(handoff.device_mask).toBe('0,1')
    const split = handoff.tensor_split as number[]
    expect(split).toHaveLength(2)
    expect(split[1]).toBeGreaterThan(split[0] as number) // GPU 1 has more room
    const flags = (handoff.flags as string[]).join(' ')
    expect(flags).toContain(`--fit off --split-mode layer --tensor-split ${split.join(',')}`)
    expect(handoff.vram_estimate.reserved.map((r: { index: number }) => r.index)).toEqual([0, 1])
    await runPost(run)
  })
})

describe('jobs at the same time on two GPUs', () => {
  it('two jobs take one GPU each; a third waits, saying who holds what, and gets the GPU the first gives back', async () => {
    const host = newHost([L4(0, 3000), L4(1, 3000)])
    const done: MainRun[] = []
    const jobs = ['a', 'b', 'c'].map((name) => job(host, name).then((run) => (done.push(run), run)))
    const failed = Promise.all(jobs).then(() => false, () => true)
    while (done.length < 2 && !(await Promise.race([failed, sleep(100, false)]))) continue
    await sleep(3000) // the third is waiting: it cannot fit while both servers hold their GPUs
    expect(done).toHaveLength(2)
    const [first, second] = done as [MainRun, MainRun]
    expect([first.errors, second.errors]).toEqual([[], []])
    const masks = [handoffOf(first).device_mask, handoffOf(second).device_mask]
    expect(masks.sort()).toEqual(['0', '1'])
    const post = await runPost(first)
    expect(post.errors).toEqual([])
    const third = (await Promise.all(jobs)).find((run) => run !== first && run !== second) as MainRun
    expect(third.errors).toEqual([])
    expect(handoffOf(third).device_mask).toBe(handoffOf(first).device_mask)
    // Its log named the two holders, each with its GPU and reservation, loading or running.
    const waiting = third.stdout.split('\n').filter((l) => l.startsWith('Waiting up to 300 s (gpu-wait-timeout) for GPU memory. Held by: '))
    expect(waiting.length).toBeGreaterThan(0)
    for (const holder of [first, second]) {
      const gpu = handoffOf(holder).device_mask
      expect(waiting.at(-1)).toMatch(new RegExp(`octo/app run 7 job ${holder.env.GITHUB_JOB}: 2\\.\\d\\d GiB on GPU ${gpu} \\(NVIDIA L4\\), llama-server pid ${holder.outputs.pid} running, since `))
    }
    await runPost(second)
    await runPost(third)
    expect(leaseFiles(host)).toEqual([])
  })
})

describe('a holder that dies, and a wait that ends', () => {
  it('fails with POOL_UNAVAILABLE naming the holder after gpu-wait-timeout; a holder killed with SIGKILL gives its GPU back', async () => {
    const host = newHost([L4(0, 3000)])
    const holder = await job(host, 'holder')
    expect(holder.errors).toEqual([])
    const pid = Number(holder.outputs.pid)

    const refused = await job(host, 'refused', { 'gpu-wait-timeout': '2' })
    expect(refused.exitCode).toBe(1)
    expect(refused.errors).toHaveLength(1)
    expect(refused.errors[0]).toMatch(/^POOL_UNAVAILABLE: the model needs about 2\.\d\d GiB of VRAM .*, but the selected GPUs have 0\.\d\d GiB free: GPU 0 \(NVIDIA L4\): 0\.\d\d GiB free of 22\.49 GiB\. /)
    expect(refused.errors[0]).toContain(`After waiting 2 s (gpu-wait-timeout), these GPUs are held by: octo/app run 7 job holder: 2.`)
    expect(refused.errors[0]).toContain(`on GPU 0 (NVIDIA L4), llama-server pid ${pid} running`)
    expect(refused.stdout).toContain('Waiting up to 2 s (gpu-wait-timeout) for GPU memory. Held by: octo/app run 7 job holder')

    process.kill(pid, 'SIGKILL')
    while (existsSync(`/proc/${pid}`) && !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) await sleep(50)
    const next = await job(host, 'next', { 'gpu-wait-timeout': '0' })
    expect(next.errors).toEqual([])
    expect(handoffOf(next).device_mask).toBe('0')
    // The dead holder's lease is gone; only the new job's is left.
    expect(leaseFiles(host)).toHaveLength(1)
    await runPost(holder)
    await runPost(next)
  })
})

describe('post', () => {
  it('reports a process it did not start that holds memory on its GPU, and leaves it running', async () => {
    const host = newHost([L4(0, 20000)])
    const orphan = await foreignProcess(host, 0, 1500)
    const run = await job(host, 'a')
    expect(run.errors).toEqual([])
    const post = await runPost(run)
    expect(post.errors).toEqual([])
    expect(post.stdout).toContain(`::warning::pid ${orphan.pid} (sleep) holds 1500 MiB on GPU 0, a GPU this job used, and no job on this host has leased it`)
    expect(post.stdout).toContain('It was not stopped')
    expect(orphan.exitCode).toBeNull()
    expect(existsSync(`/proc/${orphan.pid}`)).toBe(true)
  })
})

describe('post where nvidia-smi does not show the server', () => {
  it('says it cannot tell whether the memory came back (as in a container without the host PID namespace), and warns about nothing', async () => {
    const host = newHost([L4(0, 20000)])
    await foreignProcess(host, 0, 1500)
    const run = await job(host, 'a', {}, 0) // the engine double registers nothing: nvidia-smi never lists it
    expect(run.errors).toEqual([])
    const post = await runPost(run)
    expect(post.stdout).toContain('nvidia-smi did not list llama-server under its pid')
    expect(post.stdout).not.toContain('::warning::')
    expect(leaseFiles(host)).toEqual([])
  })
})

describe("llama.cpp's own memory numbers", () => {
  /** A copy of the engine double with a llama-fit-params TEST DOUBLE beside it, printing `projection`. */
  function engineWithFitParams(projection: string, exitCode = 0): { server: string; record: string } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'engine-with-fit-params-'))
    const server = path.join(dir, 'llama-server')
    copyFileSync(fakeServer, server)
    chmodSync(server, 0o755)
    const record = path.join(dir, 'fit-params-call')
    const script = path.join(dir, 'llama-fit-params')
    writeFileSync(script, `#!/bin/sh\n# TEST DOUBLE of llama-fit-params: records how it was called, prints a projection\nprintf '%s\\n' "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES $*" > '${record}'\nprintf '${projection}'\nexit ${exitCode}\n`)
    chmodSync(script, 0o755)
    return { server, record }
  }

  it("prefers llama-fit-params' projection where the engine has it, run on the freest GPU", async () => {
    const host = newHost([L4(0, 8000), L4(1, 20000)])
    const engine = engineWithFitParams('CUDA0 1000 200 100 \\nHost 10 0 5 \\n')
    const run = await job(host, 'a', { 'ctx-size': '2048', parallel: '2' }, 1200, engine.server)
    expect(run.errors).toEqual([])
    expect(readFileSync(engine.record, 'utf8')).toMatch(new RegExp(`^CUDA_VISIBLE_DEVICES=${host.gpus.gpus[1]?.uuid} --fit-print on --model \\S+7b-shape\\.gguf --ctx-size 2048 --parallel 2 --n-gpu-layers all `))
    const estimate = handoffOf(run).vram_estimate
    expect(estimate).toMatchObject({ source: 'llama-fit-params', weights_bytes: 1000 * MiB, kv_bytes: 200 * MiB, compute_bytes_per_gpu: 100 * MiB, kv_cells: 2048 })
    expect(run.summary).toContain('(from llama-fit-params)')
    await runPost(run)
  })

  it('falls back on the formula when the projection fails, saying why', async () => {
    const host = newHost([L4(0, 20000)])
    const engine = engineWithFitParams('', 1)
    const run = await job(host, 'a', {}, 1200, engine.server)
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('llama-fit-params gave no projection (exit code 1); using the formula instead.')
    expect(handoffOf(run).vram_estimate.source).toBe('formula')
    await runPost(run)
  })

  it("allow-offload leaves fitting to llama.cpp and says in log and summary what it decided", async () => {
    const host = newHost([L4(0, 1000)])
    const run = await job(host, 'a', { 'gpu-policy': 'allow-offload' }, 800)
    expect(run.errors).toEqual([])
    const flags = handoffOf(run).flags as string[]
    expect(flags).not.toContain('--fit')
    expect(flags).not.toContain('--n-gpu-layers')
    expect(run.stdout).toContain("llama.cpp's fit decided (gpu-policy allow-offload): a context of 4096 tokens, 33 of 33 layers on the GPUs, in GPU memory CUDA0: model 600 MiB, context 100 MiB, compute 100 MiB")
    expect(run.summary).toContain("llama.cpp's fit decided")
    await runPost(run)
  })
})
