// The walking skeleton through the runner harness: a local GGUF and an existing llama-server binary (the engine
// TEST DOUBLE built from test/fixtures/engine) in, a healthy server out, stopped by post.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeAll, describe, expect, inject, it } from 'vitest'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type MainRun } from '../support/runner.js'
import { SETTLED_NS } from '../../src/model/remembered-gguf.js'
import { sha256File } from '../../src/util/hash.js'

const fakeServer = inject('fakeLlamaServer')



function jobWithModel() {
  const dirs = newJobDirs()
  mkdirSync(path.join(dirs.workspace, 'models'))
  const model = path.join(dirs.workspace, 'models', 'tiny.gguf')
  writeHeaderOnlyModel(model, { contextLength: 2048 })
  return { dirs, model }
}

describe('a local model and an existing binary', () => {
  let run: MainRun
  let model: string
  let healthWhileRunning: number
  let post: Awaited<ReturnType<typeof runPost>>

  beforeAll(async () => {
    const job = jobWithModel()
    model = job.model
    run = await runMain({ dirs: job.dirs, inputs: { model: 'file:models/tiny.gguf', 'llama-server-path': fakeServer } })
    healthWhileRunning = (await fetch(`${run.outputs.url}/health`)).status
    post = await runPost(run)
  })

  it('succeeds and sets every output of the interface', async () => {
    expect(run.errors).toEqual([])
    expect(run.exitCode).toBe(0)
    const o = run.outputs
    expect(o.url).toBe(`http://127.0.0.1:${o.port}`)
    expect(Number(o.port)).toBeGreaterThan(0)
    expect(o.host).toBe('127.0.0.1')
    expect(Number(o.pid)).toBeGreaterThan(0)
    expect(o['handoff-path']).toBe(path.join(run.dirs.workspace, '.runtime/engines/llamacpp.json'))
    expect(o['log-path']).toMatch(new RegExp(`^${run.dirs.temp}/setup-llama-server/llama-server-default-\\d+\\.log$`))
    expect(o['model-path']).toBe(model)
    expect(o['model-id']).toBe(`file:${model}`)
    expect(o['model-digest']).toBe(await sha256File(model))
    expect(o['model-cache-hit']).toBe('true')
    expect(o['engine-path']).toBe(fakeServer)
    expect(o['engine-version']).toBe('0 (fixture)')
    expect(o['engine-commit']).toBe('')
    expect(o['engine-cache-hit']).toBe('true')
  })

  it('leaves a server that answers /health with 200 at url', () => {
    expect(healthWhileRunning).toBe(200)
  })

  it('writes a handoff file that the schema accepts, with the facts of this run', async () => {
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff).toMatchObject({
      schema_version: 1,
      engine: 'llamacpp',
      engine_version: '0 (fixture)',
      engine_commit: null,
      provisioning_mode: 'binary',
      backend: 'cpu',
      url: run.outputs.url,
      host: '127.0.0.1',
      port: Number(run.outputs.port),
      pid: Number(run.outputs.pid),
      pool_id: 'default',
      replica_id: 'r0',
      model: { id: `file:${model}`, path: model, digest: await sha256File(model), size_bytes: readFileSync(model).length, architecture: 'llama', ctx_max: 2048 },
      // A given binary on cpu gets --n-gpu-layers 0: it may have been built with GPU support.
      flags: ['--model', model, '--host', '127.0.0.1', '--port', run.outputs.port, '--n-gpu-layers', '0', '--parallel', '1'],
      device_mask: null,
      slots_total: 1,
      gpus: [],
      log_path: run.outputs['log-path'],
    })
    expect(Date.now() - Date.parse(handoff.started_at)).toBeLessThan(120_000)
  })

  it('started the binary with exactly the handoff flags', () => {
    const log = readFileSync(run.outputs['log-path'] as string, 'utf8')
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(log).toContain(`argv: ${handoff.flags.join(' ')}\n`)
  })

  it('writes a job summary with the model, digest, engine and URL', () => {
    expect(run.summary).toContain(`file:${model}`)
    expect(run.summary).toContain(run.outputs['model-digest'])
    expect(run.summary).toContain(fakeServer)
    expect(run.summary).toContain(run.outputs.url)
  })

  it('post stops the server, shows its log in a group, and leaves no process', async () => {
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain(`llama-server (pid ${run.outputs.pid}) stopped with SIGTERM.`)
    expect(post.stdout).toMatch(/::group::llama-server log \(last 100 lines of .*\)\n(.|\n)*argv: --model (.|\n)*::endgroup::/)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
    await expect(fetch(`${run.outputs.url}/health`)).rejects.toThrow()
  })
})

describe('server inputs', () => {
  it('pass ctx-size, gpu-layers, parallel, server-args, an explicit port and the API key (by environment only)', async () => {
    const { dirs, model } = jobWithModel()
    const port = await freePortForTest()
    const run = await runMain({
      dirs,
      inputs: {
        model: 'models/tiny.gguf',
        'llama-server-path': fakeServer,
        port: String(port),
        'ctx-size': '1024',
        'gpu-layers': '0',
        parallel: '2',
        'server-args': '--threads 1\n--fixture-loading-ms 200',
        'api-key': 'sk-test-secret-123',
        'pool-id': 'pool-b',
      },
    })
    expect(run.errors).toEqual([])
    expect(run.outputs.port).toBe(String(port))
    const handoffPath = run.outputs['handoff-path'] as string
    expect(handoffPath).toBe(path.join(dirs.workspace, '.runtime/engines/llamacpp-pool-b.json'))
    const handoff = JSON.parse(readFileSync(handoffPath, 'utf8'))
    expect(handoff.flags).toEqual(['--model', model, '--host', '127.0.0.1', '--port', String(port), '--ctx-size', '1024', '--n-gpu-layers', '0', '--parallel', '2', '--threads', '1', '--fixture-loading-ms', '200'])
    expect(handoff.slots_total).toBe(2)
    expect(handoff.pool_id).toBe('pool-b')
    const log = readFileSync(run.outputs['log-path'] as string, 'utf8')
    expect(log).toContain('api key: set')
    // The server enforces the key it got through LLAMA_API_KEY.
    expect((await fetch(`${run.outputs.url}/version`)).status).toBe(401)
    expect((await fetch(`${run.outputs.url}/version`, { headers: { Authorization: 'Bearer sk-test-secret-123' } })).status).toBe(200)
    // Masked first thing: the runner's add-mask command is the only place the log may hold it.
    expect(run.stdout.split('\n')[0]).toBe('::add-mask::sk-test-secret-123')
    const stdoutAfterMask = run.stdout.split('\n').slice(1).join('\n')
    for (const text of [readFileSync(handoffPath, 'utf8'), log, stdoutAfterMask, JSON.stringify(run.outputs), JSON.stringify(run.state)]) {
      expect(text).not.toContain('sk-test-secret-123')
    }
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('start: false provisions only: model and engine outputs, no server, no handoff', async () => {
    const { dirs, model } = jobWithModel()
    const run = await runMain({ dirs, inputs: { model: model, 'llama-server-path': fakeServer, start: 'false' } })
    expect(run.errors).toEqual([])
    expect(run.outputs['model-path']).toBe(model)
    expect(run.outputs['engine-version']).toBe('0 (fixture)')
    expect(run.outputs.url).toBeUndefined()
    expect(run.outputs['handoff-path']).toBeUndefined()
    expect(run.state).toEqual({})
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
    const post = await runPost(run)
    expect(post.stdout).toContain('No server was started by this action: nothing to stop.')
  })
})

describe('failures', () => {
  it('a server that exits at once fails the step with its log tail and leaves nothing', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, 'server-args': '--fixture-exit-code 3' } })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toHaveLength(1)
    expect(run.errors[0]).toMatch(/^llama-server exited with code 3 before it was ready\. Last lines of .*\.log:\n/)
    expect(run.errors[0]).toContain('fixture: failing at once with exit code 3')
    expect(run.outputs.url).toBeUndefined()
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('a server that is not ready within health-timeout is stopped and the step fails', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({
      dirs,
      inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, 'health-timeout': '1', 'server-args': '--fixture-loading-ms 60000' },
    })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/^llama-server was not ready within 1 s \(last answer from .*\/health: HTTP 503\)/)
    expect(run.errors[0]).toContain('server is listening on')
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('a bad input fails the step naming the input, the value and what was expected, and starts nothing', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, port: 'eighty', parallel: '0' } })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      `Input 'port' is "eighty": expected a whole number from 0 to 65535.\nInput 'parallel' is "0": expected a whole number from 1 to 1024.`,
    ])
    expect(run.state).toEqual({})
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('a file that is not a GGUF fails with the path and the reason', async () => {
    const { dirs } = jobWithModel()
    writeFileSync(path.join(dirs.workspace, 'models', 'not.gguf'), 'this is not a model\n')
    const run = await runMain({ dirs, inputs: { model: 'models/not.gguf', 'llama-server-path': fakeServer } })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/models\/not\.gguf is not a GGUF model llama\.cpp can load \(.*magic.*\)/)
  })

  it('a missing model file fails naming the input and the path', async () => {
    const run = await runMain({ inputs: { model: 'file:/nonexistent/m.gguf', 'llama-server-path': fakeServer } })
    expect(run.errors).toEqual([`Input 'model': the model file /nonexistent/m.gguf does not exist; expected an existing GGUF file (a path relative to GITHUB_WORKSPACE, or absolute)`])
  })

  it('a model-digest that does not match fails with both digests', async () => {
    const { dirs, model } = jobWithModel()
    const wrong = `sha256:${'0'.repeat(64)}`
    const run = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'model-digest': wrong, 'llama-server-path': fakeServer } })
    expect(run.errors).toEqual([`Input 'model-digest' is ${wrong}, but ${model} has ${await sha256File(model)}`])
  })

  it('a llama-server-path that does not exist or does not run fails naming the input', async () => {
    const { dirs } = jobWithModel()
    const missing = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': '/nonexistent/llama-server' } })
    expect(missing.errors).toEqual([`Input 'llama-server-path' is "/nonexistent/llama-server": expected an existing llama-server binary`])
    const notRunnable = path.join(dirs.workspace, 'models', 'tiny.gguf')
    const notExecutable = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': notRunnable } })
    expect(notExecutable.errors).toEqual([`Input 'llama-server-path' is ${JSON.stringify(notRunnable)}: the file is not executable`])
  })
})

describe('a local model on a warm runner', () => {
  it('is hashed once; quick hashes it again when it was rewritten, even with the same size, inode and mtime', async () => {
    const { dirs, model } = jobWithModel()
    const inputs = { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, start: 'false' }
    utimesSync(model, 1_700_000_000, 1_700_000_000)
    const first = await runMain({ dirs, inputs })
    expect(first.outputs['model-digest']).toBe(await sha256File(model))
    // Unchanged: the recorded digest, with the identity it was recorded with.
    const catalog = () => JSON.parse(readFileSync(path.join(dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json'), 'utf8'))
    const recorded = catalog().local_files[model]
    expect(recorded).toMatchObject({ digest: first.outputs['model-digest'], ino: statSync(model).ino, ctime_ns: String(statSync(model, { bigint: true }).ctimeNs) })
    expect((await runMain({ dirs, inputs })).outputs['model-digest']).toBe(first.outputs['model-digest'])
    // Rewrite the last byte in place and put the mtime back: same size, inode and mtime, other content, new ctime.
    const { ino } = statSync(model)
    const bytes = readFileSync(model)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1)
    writeFileSync(model, bytes)
    utimesSync(model, 1_700_000_000, 1_700_000_000)
    expect(statSync(model)).toMatchObject({ ino, size: bytes.length, mtimeMs: recorded.mtime_ms })
    const quick = await runMain({ dirs, inputs })
    expect(quick.outputs['model-digest']).toBe(await sha256File(model))
    expect(quick.outputs['model-digest']).not.toBe(first.outputs['model-digest'])
  })

  it('is hashed again when it changed', async () => {
    const { dirs, model } = jobWithModel()
    const inputs = { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, start: 'false' }
    const first = await runMain({ dirs, inputs })
    writeHeaderOnlyModel(model, { contextLength: 1024 })
    const second = await runMain({ dirs, inputs })
    expect(second.outputs['model-digest']).toBe(await sha256File(model))
    expect(second.outputs['model-digest']).not.toBe(first.outputs['model-digest'])
  })

  it('has its GGUF header read from what the store remembered, and parsed again when the file changed, timestamps put back or not', async () => {
    const { dirs, model } = jobWithModel()
    const inputs = { model: 'models/tiny.gguf', 'llama-server-path': fakeServer }
    const ctxMax = async (run: MainRun) => {
      expect(run.errors).toEqual([])
      const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
      expect((await runPost(run)).exitCode).toBe(0)
      return handoff.model.ctx_max as number
    }
    // A header is remembered only once its file has not changed for a while (coarse filesystem clocks).
    await sleep(statSync(model).ctimeMs + Number(SETTLED_NS / 1_000_000n) + 100 - Date.now())
    expect(await ctxMax(await runMain({ dirs, inputs }))).toBe(2048)
    const memo = JSON.parse(readFileSync(path.join(dirs.toolCache, 'setup-llama-server', 'models', 'gguf-info.json'), 'utf8'))
    expect(memo[model].info.contextLength).toBe(2048)
    // The same size, inode and mtime, another header: a memo trusted by path, size or mtime would say 2048.
    const { size, mtime } = statSync(model)
    writeHeaderOnlyModel(model, { contextLength: 8192 })
    utimesSync(model, mtime, mtime)
    expect(statSync(model).size).toBe(size)
    expect(await ctxMax(await runMain({ dirs, inputs }))).toBe(8192)
  })
})

describe('port 0', () => {
  it('starts again on another port when the chosen one is taken before llama-server binds it', async () => {
    const { dirs } = jobWithModel()
    const marker = path.join(dirs.root, 'bind-failed-once')
    const run = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, 'server-args': `--fixture-bind-fail-once ${marker}` } })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/Port (\d+) was taken before llama-server could bind it; trying another/)
    const firstPort = /Port (\d+) was taken/.exec(run.stdout)?.[1]
    expect(run.outputs.port).not.toBe(firstPort)
    expect((await fetch(`${run.outputs.url}/health`)).status).toBe(200)
    await runPost(run)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })
})

describe('post stops what main started, however main ended', () => {
  it('after the job is cancelled while the model loads', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({
      dirs,
      inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, 'server-args': '--fixture-loading-ms 60000' },
      cancel: { when: /Waiting up to/, signal: 'SIGTERM' },
    })
    expect(run.signal).toBe('SIGTERM')
    expect(processesWithTrackingId(run.trackingId)).toHaveLength(1)
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(/llama-server \(pid \d+\) stopped with SIGTERM\./)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('a server that ignores SIGTERM, and a process it forked, are killed after the grace period', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({
      dirs,
      inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, 'server-args': '--fixture-ignore-sigterm --fixture-fork-child' },
    })
    expect(run.errors).toEqual([])
    expect(processesWithTrackingId(run.trackingId)).toHaveLength(2)
    const post = await runPost(run)
    expect(post.stdout).toMatch(/llama-server \(pid \d+\) did not stop within 5 s of SIGTERM and was killed\./)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('a pid that now belongs to another process is not signalled', async () => {
    const { dirs } = jobWithModel()
    const run = await runMain({ dirs, inputs: { model: 'models/tiny.gguf', 'llama-server-path': fakeServer, start: 'false' } })
    // Stand-in for a reused pid: a process of the same job, started after the state was written.
    const other = spawn('sleep', ['30'], { detached: true, stdio: 'ignore', env: { ...process.env, RUNNER_TRACKING_ID: run.trackingId } })
    other.unref()
    const stale = { ...run, state: { server: JSON.stringify({ pid: other.pid, startTime: '1', logPath: '/nonexistent.log' }) } }
    const post = await runPost(stale)
    expect(post.stdout).toContain(`::warning::pid ${other.pid} is no longer the llama-server this job started (its start time differs); not signalling it.`)
    expect(processesWithTrackingId(run.trackingId)).toEqual([other.pid])
  })
})

async function freePortForTest(): Promise<number> {
  const { findFreePort } = await import('../../src/server/port.js')
  return await findFreePort('127.0.0.1')
}
