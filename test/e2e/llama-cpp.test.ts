// The whole path with the real thing: llama.cpp v0.5.0 (the release node-llama-cpp bundles, the action's default
// llama-cpp-ref) built for cpu from a local git repository, a tiny real model served by the Hub-protocol test
// server, a real llama-server answering /completion. Then a warm run that builds and downloads nothing, and one
// after cache-dir was moved. The same build then shows the Hugging Face cache shared both ways: llama-server -hf
// --offline loads what the action fetched, and the action uses what llama.cpp's own downloader fetched.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { engineHelp } from '../../src/engine/provision.js'
import { estimateVram, memoryArgs } from '../../src/gpu/estimate.js'
import { fitParamsArgv, parseFitPrint } from '../../src/gpu/fit-params.js'
import { ALLOCATION_LOG_ARGS, LOG_VERBOSITY_FLAG, parseServerLog } from '../../src/gpu/server-log.js'
import { readGgufInfo } from '../../src/model/gguf.js'
import { serverKnownFlags } from '../../src/server/features.js'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { HubServer, sha256 } from '../support/hub-server.js'
import { llamaCppSource } from '../support/llama-source.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type MainRun } from '../support/runner.js'
import { TINY, tinyModelBytes } from '../support/tiny-model.js'

let hub: HubServer
let source: { repo: string; commit: string }
let model: { ref: string; digest: string; commit: string; size: number }
const dirs = newJobDirs()

beforeAll(async () => {
  hub = await HubServer.start()
  source = llamaCppSource()
  const body = await tinyModelBytes()
  const commit = hub.addRepo('test-org/tiny-llama', { 'tiny-f32.gguf': body })
  model = { ref: 'hf:test-org/tiny-llama/tiny-f32.gguf', digest: `sha256:${sha256(body)}`, commit, size: body.length }
})
afterAll(async () => {
  await hub.stop()
})

async function serve(cacheDir: string, inputs: Record<string, string> = {}): Promise<MainRun> {
  // llama-cpp-ref is left at its default: the tests build what users get.
  const run = await runMain({
    dirs,
    inputs: { model: model.ref, 'hf-endpoint': hub.endpoint, 'llama-cpp-repo': source.repo, 'cache-dir': cacheDir, 'remote-cache': 'none', 'ctx-size': '512', ...inputs },
    timeoutMs: 40 * 60_000,
  })
  return run
}

async function complete(url: string, nPredict: number): Promise<{ tokens_predicted: number; content: string }> {
  const response = await fetch(`${url}/completion`, { method: 'POST', body: JSON.stringify({ prompt: 'Hello, world', n_predict: nPredict, ignore_eos: true }) })
  expect(response.status).toBe(200)
  return (await response.json()) as { tokens_predicted: number; content: string }
}

const built = (run: MainRun) => run.stdout.includes('::group::Build: cmake --build')

describe('real llama.cpp, built for cpu', () => {
  const cacheDir = path.join(dirs.root, 'cache')
  const movedCacheDir = path.join(dirs.root, 'moved', 'cache')

  it('cold: builds llama-server, fetches the model, serves completions, and post stops it', async () => {
    const run = await serve(cacheDir)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(true)
    expect(run.stdout).toMatch(/::group::Build llama-fit-params: cmake --build .* --target llama-fit-params/)
    expect(run.outputs).toMatchObject({ 'engine-commit': source.commit, 'engine-cache-hit': 'false', 'model-cache-hit': 'false', 'model-digest': model.digest })
    expect(run.outputs['engine-version']).toMatch(/^0\.5\.0-dev \(build \d+, commit de3ff81\)$/)
    expect(run.stdout).toContain('Backend: auto chose cpu: nvidia-smi lists no NVIDIA GPU')
    const result = await complete(run.outputs.url as string, 12)
    expect(result.tokens_predicted).toBe(12)
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff).toMatchObject({
      engine_commit: source.commit,
      provisioning_mode: 'source',
      backend: 'cpu',
      model: { id: `hf:test-org/tiny-llama@${model.commit}/tiny-f32.gguf`, digest: model.digest, size_bytes: model.size, architecture: 'llama', ctx_max: TINY.ctx },
      flags: ['--model', run.outputs['model-path'], '--host', '127.0.0.1', '--port', run.outputs.port, '--ctx-size', '512', '--parallel', '1'],
    })
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(/::group::llama-server log(.|\n)*llama_server: model loaded/)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 40 * 60_000)

  it('warm: the same cache-dir builds nothing and downloads nothing', async () => {
    const downloads = hub.blobGets().length
    const run = await serve(cacheDir)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(false)
    expect(run.outputs['engine-cache-hit']).toBe('true')
    expect(run.outputs['model-cache-hit']).toBe('true')
    expect(hub.blobGets().length).toBe(downloads)
    expect((await complete(run.outputs.url as string, 4)).tokens_predicted).toBe(4)
    await runPost(run)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 5 * 60_000)

  it('moved: cache-dir somewhere else still serves both, without the build tree', async () => {
    mkdirSync(path.dirname(movedCacheDir), { recursive: true })
    renameSync(cacheDir, movedCacheDir)
    const run = await serve(movedCacheDir)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(false)
    expect(run.outputs['engine-path']?.startsWith(movedCacheDir)).toBe(true)
    // The hf: model lives in the job's Hugging Face cache (runner.ts: HF_HOME=<root>/hf-home), not in cache-dir.
    expect(run.outputs['model-path']?.startsWith(path.join(dirs.root, 'hf-home', 'hub'))).toBe(true)
    expect(run.outputs['model-cache-hit']).toBe('true')
    expect((await complete(run.outputs.url as string, 4)).tokens_predicted).toBe(4)
    await runPost(run)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 5 * 60_000)
})

describe('the server lifecycle, with the real llama-server built above', () => {
  const cacheDir = path.join(dirs.root, 'moved', 'cache')

  it('api-key: the server requires it, and it is in no argv, file, output or log', async () => {
    const key = 'sk-real-llama-key-4242'
    const run = await serve(cacheDir, { 'api-key': key, parallel: '2' })
    expect(run.errors).toEqual([])
    const url = run.outputs.url as string
    const ask = (headers: Record<string, string>) =>
      fetch(`${url}/completion`, { method: 'POST', headers, body: JSON.stringify({ prompt: 'Hi', n_predict: 2 }) })
    expect((await ask({})).status).toBe(401)
    expect((await ask({ Authorization: `Bearer ${key}` })).status).toBe(200)
    const handoffText = readFileSync(run.outputs['handoff-path'] as string, 'utf8')
    expect(JSON.parse(handoffText).slots_total).toBe(2)
    const post = await runPost(run)
    const logText = readFileSync(run.outputs['log-path'] as string, 'utf8')
    expect(run.stdout.split('\n')[0]).toBe(`::add-mask::${key}`)
    for (const text of [handoffText, logText, run.stdout.split('\n').slice(1).join('\n'), post.stdout, JSON.stringify(run.outputs), JSON.stringify(run.state)]) {
      expect(text).not.toContain(key)
    }
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 5 * 60_000)

  it("llama-fit-params ships beside llama-server, and llama.cpp's own outputs read as the GPU code expects", async () => {
    // With the log level the action asks for where it reads the log (on GPUs; a cpu server's log is not read):
    // llama.cpp v0.5.0 writes its buffer and n_ctx lines at trace level only.
    const run = await serve(cacheDir, { parallel: '2', 'server-args': ALLOCATION_LOG_ARGS.join(' ') })
    expect(run.errors).toEqual([])
    // The flags main looks for in the real build's --help, read as main reads it (remembered beside the engines).
    const help = () => engineHelp(run.outputs['engine-path'] as string, { cacheDir, verify: 'quick' })
    expect([...(await serverKnownFlags(help, ['--fit', LOG_VERBOSITY_FLAG, '--no-such-flag']))].sort()).toEqual(['--fit', LOG_VERBOSITY_FLAG].sort())
    const modelPath = run.outputs['model-path'] as string
    const fitParams = path.join(path.dirname(run.outputs['engine-path'] as string), 'llama-fit-params')
    // A cpu build projects onto the host alone: one `Host <model> <context> <compute>` line (MiB), no GPU line.
    const projection = execFileSync(fitParams, fitParamsArgv({ modelPath, ctxSize: 512, parallel: 2, args: memoryArgs([]) }), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    expect(projection).toMatch(/^Host \d+ \d+ \d+ $/m)
    expect(parseFitPrint(projection)).toEqual([])
    // The server's log gives the context and its buffers; its KV cache is what the formula says, to the hundredth of a MiB it prints.
    const allocation = parseServerLog(readFileSync(run.outputs['log-path'] as string, 'utf8'))
    expect(allocation.ctx).toBe(512)
    const kvMib = allocation.buffers.reduce((sum, b) => sum + b.contextMib, 0)
    expect(kvMib).toBeGreaterThan(0)
    const formula = estimateVram({ model: await readGgufInfo(modelPath), modelBytes: model.size, ctxSize: 512, parallel: 2, args: memoryArgs([]) })
    expect(Math.abs(formula.kvBytes / 2 ** 20 - kvMib)).toBeLessThan(0.01)
    expect(allocation.buffers.some((b) => b.computeMib > 0)).toBe(true)
    await runPost(run)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 5 * 60_000)

  it('an explicit port that is taken fails, saying so, and starts nothing', async () => {
    const blocker = net.createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const run = await serve(cacheDir, { port: String(port) })
      expect(run.errors).toEqual([`Input 'port' is ${port}: that port is already in use on 127.0.0.1; choose another, or 0 for any free port`])
      expect(run.state.server).toBeUndefined()
    } finally {
      blocker.close()
    }
  }, 5 * 60_000)

  it('a model llama.cpp cannot load: the step fails with the server\'s own last lines, and nothing is left', async () => {
    // A valid GGUF header without a single tensor passes the action's checks; llama.cpp then fails to load it.
    writeHeaderOnlyModel(path.join(dirs.workspace, 'no-tensors.gguf'))
    const run = await serve(cacheDir, { model: 'no-tensors.gguf' })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/^llama-server exited with code \d+ before it was ready\. Last lines of .*\.log:\n/)
    expect(run.errors[0]).toMatch(/failed to load model|missing tensor|error loading model/)
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  }, 5 * 60_000)
})

/** A port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as net.AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

/** llama-server started by hand, as a later step of a workflow would, until /health answers 200. */
async function llamaServer(engine: string, args: string[], env: Record<string, string>): Promise<{ url: string; log: () => string; stop: () => Promise<void> }> {
  const port = await freePort()
  const logFile = path.join(dirs.root, `llama-server-${port}.log`)
  const out = openSync(logFile, 'w')
  const child = spawn(engine, [...args, '--host', '127.0.0.1', '--port', String(port), '--ctx-size', '512'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', out, out] })
  const url = `http://127.0.0.1:${port}`
  const log = () => readFileSync(logFile, 'utf8')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  }
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) throw new Error(`llama-server exited with ${child.exitCode}:\n${log()}`)
    const status = await fetch(`${url}/health`).then((r) => r.status, () => 0)
    if (status === 200) return { url, log, stop }
    if (waited > 120_000) {
      await stop()
      throw new Error(`llama-server was not healthy within 120 s:\n${log()}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('the Hugging Face cache, shared with the real llama-server built above', () => {
  const cacheDir = path.join(dirs.root, 'moved', 'cache')
  const hfHome = path.join(dirs.root, 'hf-home')

  it("llama-server -hf … --offline loads the model the action fetched into the cache, with no request to any Hub", async () => {
    const run = await serve(cacheDir, { start: 'false' })
    expect(run.errors).toEqual([])
    const snapshot = path.join(hfHome, 'hub', 'models--test-org--tiny-llama', 'snapshots', model.commit, 'tiny-f32.gguf')
    expect(run.outputs['model-path']).toBe(snapshot)
    const requests = hub.requests.length
    // MODEL_ENDPOINT points nowhere: were llama.cpp to ask a Hub, it would fail.
    const server = await llamaServer(run.outputs['engine-path'] as string, ['-hf', 'test-org/tiny-llama', '-hff', 'tiny-f32.gguf', '--offline'], { HF_HOME: hfHome, MODEL_ENDPOINT: 'http://127.0.0.1:9/' })
    try {
      expect((await complete(server.url, 4)).tokens_predicted).toBe(4)
      // It found the model by its Hub name, at the action's snapshot path.
      expect(((await (await fetch(`${server.url}/props`)).json()) as { model_path: string }).model_path).toBe(snapshot)
    } finally {
      await server.stop()
    }
    expect(hub.requests.length).toBe(requests)
  }, 5 * 60_000)

  it("the action uses, with no request for its bytes, a model llama.cpp's own downloader fetched from the test Hub", async () => {
    const body = await tinyModelBytes()
    const commit = hub.addRepo('test-org/tiny-llama-dl', { 'tiny-f32.gguf': body })
    const llamaHome = path.join(dirs.root, 'llama-home')
    const engine = (await serve(cacheDir, { start: 'false' })).outputs['engine-path'] as string
    // llama.cpp's downloader (common/hf-cache.cpp, common/download.cpp) reaches a local Hub through MODEL_ENDPOINT.
    const server = await llamaServer(engine, ['-hf', 'test-org/tiny-llama-dl', '-hff', 'tiny-f32.gguf'], { HF_HOME: llamaHome, MODEL_ENDPOINT: hub.endpoint })
    await server.stop()
    const repo = path.join(llamaHome, 'hub', 'models--test-org--tiny-llama-dl')
    const snapshot = path.join(repo, 'snapshots', commit, 'tiny-f32.gguf')
    // The layout llama.cpp wrote is the one the action reads.
    expect(readlinkSync(snapshot)).toBe(`../../blobs/${sha256(body)}`)
    expect(readFileSync(path.join(repo, 'refs', 'main'), 'utf8').trim()).toBe(commit)
    const gets = hub.blobGets().length
    const run = await runMain({
      dirs,
      inputs: { model: 'hf:test-org/tiny-llama-dl/tiny-f32.gguf', 'hf-endpoint': hub.endpoint, 'llama-cpp-repo': source.repo, 'cache-dir': cacheDir, 'remote-cache': 'none', start: 'false' },
      env: { HF_HOME: llamaHome },
      timeoutMs: 5 * 60_000,
    })
    expect(run.errors).toEqual([])
    expect(run.outputs).toMatchObject({ 'model-path': snapshot, 'model-cache-hit': 'true', 'model-digest': `sha256:${sha256(body)}` })
    expect(hub.blobGets().length).toBe(gets)
    // Offline too: refs/main, which llama.cpp wrote, names the commit.
    const offline = await runMain({
      dirs,
      inputs: { model: 'hf:test-org/tiny-llama-dl/tiny-f32.gguf', 'hf-endpoint': hub.endpoint, 'llama-cpp-repo': source.repo, 'cache-dir': cacheDir, 'remote-cache': 'none', start: 'false' },
      env: { HF_HOME: llamaHome, HF_HUB_OFFLINE: '1' },
      timeoutMs: 5 * 60_000,
    })
    expect(offline.errors).toEqual([])
    expect(offline.outputs['model-path']).toBe(snapshot)
    expect(existsSync(path.join(llamaHome, 'hub', '.locks'))).toBe(false)
  }, 5 * 60_000)
})
