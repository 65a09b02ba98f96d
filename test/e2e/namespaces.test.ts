// Jobs in a container beside jobs on the host, sharing one cache-dir and one kernel: a real PID namespace
// (`unshare --pid --fork --mount-proc`) whose pid 1 is `sleep`, which never reaps, as many containers' pid 1. A
// job's steps run inside it through `nsenter`. Its leases must hold as seen from the host, where its pids mean
// nothing, and end with kill -9; a server killed there stays a zombie, and post must take it for stopped. A
// download in progress into a shared Hugging Face cache must survive a job in the container that cleans up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, inject, it, type TestContext } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { RawFileServer } from '../support/raw-http-server.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()

/** The container: its `unshare` process and, as the host sees it, the pid of its pid 1. */
let container: { unshare: ChildProcess; init: number } | undefined
let whyNot = ''
let files: RawFileServer

beforeAll(async () => {
  files = await RawFileServer.start({ protocol: 'HTTP/1.1' })
  const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8' })
  if (probe.status !== 0) {
    whyNot = `unshare --pid --fork --mount-proc is not permitted here (${(probe.error?.message ?? probe.stderr).trim()})`
    return
  }
  const unshare = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'sleep', '1000000'], { stdio: 'ignore', detached: true })
  for (let i = 0; i < 100 && container === undefined; i++) {
    const children = readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim()
    if (children) container = { unshare, init: Number(children.split(' ')[0]) }
    else await sleep(20)
  }
  if (!container) whyNot = 'the namespace did not come up'
})
afterAll(async () => {
  // Its pid 1 gone, the kernel ends every process in the namespace.
  if (container) process.kill(container.init, 'SIGKILL')
  await files.stop()
})

function skipWithoutNamespaces(ctx: TestContext): void {
  if (!whyNot) return
  console.log(`SKIPPED: ${whyNot}; the PID namespace tests need root`)
  ctx.skip(whyNot)
}

/** Runs a job's steps inside the container. */
const inContainer = () => ['nsenter', '--target', String(container?.init), '--pid', '--mount', '--']

let modelCount = 0
function newModel(): { url: string; digest: string; entry: string } {
  const body = ggufWithPayload(200 * 1024)
  const name = `/ns-${++modelCount}.gguf`
  files.files.set(name, { body })
  return { url: files.url(name), digest: `sha256:${sha256(body)}`, entry: `sha256-${sha256(body)}` }
}

async function job(dirs: JobDirs, cacheDir: string, model: { url: string; digest: string }, extra: Record<string, string>, launcher?: string[]): Promise<MainRun> {
  return await runMain({ dirs, launcher, inputs: { model: model.url, 'model-digest': model.digest, 'llama-server-path': fakeServer, 'cache-dir': cacheDir, ...extra } })
}

function entries(cacheDir: string): string[] {
  const dir = path.join(cacheDir, 'models', 'entries')
  return existsSync(dir) ? readdirSync(dir) : []
}

/** The pids of a process in each PID namespace it is in, outermost first (from /proc/<pid>/status). */
function nsPids(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:')) ?? ''
  return line.split(/\s+/).slice(1).map(Number)
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  } catch {
    return undefined
  }
}

describe('a lease held from another PID namespace', () => {
  it.for<[string, string]>([
    ['a server started there (start: true)', 'true'],
    ['the lease keeper of start: false there', 'false'],
  ])('%s: cache-max-size on the host keeps its model; after kill -9 of the holder it is evicted', async ([, start], ctx) => {
    skipWithoutNamespaces(ctx)
    const dirs = newJobDirs()
    const cacheDir = path.join(dirs.root, 'cache')
    const held = newModel()
    const inside = await job(dirs, cacheDir, held, { start }, inContainer())
    expect(inside.errors).toEqual([])
    // The holder lives in the container: the host sees it under another pid than the container does.
    const holders = processesWithTrackingId(inside.trackingId)
    expect(holders).toHaveLength(1)
    const holder = holders[0] as number
    const [hostPid, containerPid] = nsPids(holder)
    expect(hostPid).toBe(holder)
    expect(containerPid).not.toBe(holder)
    if (start === 'true') expect(inside.outputs.pid).toBe(String(containerPid))

    // A job on the host, with a limit far below what is stored: it evicts what is not in use, not the held model.
    const other = newModel()
    const host = await job(dirs, cacheDir, other, { start: 'false', 'cache-max-size': '1K' })
    expect(host.errors).toEqual([])
    expect(entries(cacheDir)).toContain(held.entry)
    await runPost(host)

    process.kill(holder, 'SIGKILL')
    // pid 1 of the container never reaps: the holder stays a zombie, which holds no lock.
    for (let i = 0; i < 100 && processState(holder) !== 'Z'; i++) await sleep(20)
    expect(processState(holder)).toBe('Z')
    const after = await job(dirs, cacheDir, newModel(), { start: 'false', 'cache-max-size': '1K' })
    expect(after.errors).toEqual([])
    expect(after.stdout).toMatch(new RegExp(`cache-max-size 1\\.0 KiB: removed ${held.entry} `))
    expect(entries(cacheDir)).not.toContain(held.entry)
    await runPost(after)
  })
})

describe('post, when the server is a zombie', () => {
  it('takes a server that exited but was not reaped for stopped, and does not wait for it to stop', async (ctx) => {
    skipWithoutNamespaces(ctx)
    const dirs = newJobDirs()
    const run = await job(dirs, path.join(dirs.root, 'cache'), newModel(), { start: 'true' }, inContainer())
    expect(run.errors).toEqual([])
    const [server] = processesWithTrackingId(run.trackingId)
    expect(server).toBeDefined()
    process.kill(server as number, 'SIGKILL')
    for (let i = 0; i < 100 && processState(server as number) !== 'Z'; i++) await sleep(20)
    expect(processState(server as number)).toBe('Z')
    const post = await runPost(run)
    expect(post.errors).toEqual([])
    expect(post.exitCode).toBe(0)
    // Stopped at once: no wait for it to end after SIGTERM, and no SIGKILL after the grace period.
    expect(post.stdout).toMatch(new RegExp(`^llama-server \\(pid ${run.outputs.pid}\\) had already exited\\.$`, 'm'))
    expect(post.stdout).not.toMatch(/did not stop within/)
  })
})

describe('a download into the Hugging Face cache, seen from another PID namespace', () => {
  it('is not removed by a job in the container that cleans up the temporary files of the repository', async (ctx) => {
    skipWithoutNamespaces(ctx)
    const [a, b] = [ggufWithPayload(2 * 2 ** 20), ggufWithPayload(64 * 1024)]
    hub().addRepo('org/shared', { 'a.gguf': a, 'b.gguf': b })
    // The host's job downloads slowly; its pid means nothing in the container, where no such process exists.
    hub().blobFaults.push({ kind: 'slow', bytesPerSecond: 256 * 1024 })
    const env = { HF_HOME: path.join(newJobDirs().root, 'shared-hf-home') }
    const repo = path.join(env.HF_HOME, 'hub', 'models--org--shared')
    const blobs = path.join(repo, 'blobs')
    const fetch = (model: string, launcher?: string[]) =>
      runMain({ dirs: newJobDirs(), launcher, env, inputs: { model, 'hf-endpoint': hub().endpoint, 'llama-server-path': fakeServer, start: 'false' } })
    const onHost = fetch('hf:org/shared/a.gguf')
    const downloading = () => (existsSync(blobs) ? readdirSync(blobs).filter((n) => n.endsWith('.incomplete')) : [])
    for (let i = 0; i < 500 && downloading().length === 0; i++) await sleep(20)
    const [temp] = downloading()
    expect(temp).toMatch(new RegExp(`^${sha256(a)}\\.`))
    const inside = await fetch('hf:org/shared/b.gguf', inContainer())
    expect(inside.errors).toEqual([])
    const host = await onHost
    expect(host.errors).toEqual([])
    expect(readFileSync(path.join(blobs, sha256(a))).equals(a)).toBe(true)
    expect(readdirSync(blobs).sort()).toEqual([sha256(a), sha256(b)].sort())
    expect(readdirSync(path.join(env.HF_HOME, 'hub', '.locks', 'models--org--shared')).sort()).toEqual([`${sha256(a)}.lock`, `${sha256(b)}.lock`].sort())
  })
})
