// One download against each fault a real server or disk can throw at it, through the runner harness: a file that
// changes between two attempts (the result is the new version whole, or a clear failure, never a splice), a
// server without HEAD or Content-Length, a filesystem that fills up mid-download (a real tmpfs), and a server that
// stalls. The servers are real TCP servers (test/support/raw-http-server.ts).
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { sha256 } from '../support/hub-server.js'
import { RawFileServer, type RawServerOptions, type ServedFile } from '../support/raw-http-server.js'
import { newJobDirs, runMain, type JobDirs, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')

let server: RawFileServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

async function serve(options: RawServerOptions, files: Record<string, ServedFile>): Promise<RawFileServer> {
  server = await RawFileServer.start(options)
  for (const [p, f] of Object.entries(files)) server.files.set(p, f)
  return server
}

/** Provisions only (start: false), with the engine test double. */
async function fetchModel(inputs: Record<string, string>, dirs: JobDirs = newJobDirs()): Promise<MainRun> {
  return await runMain({ dirs, inputs: { 'llama-server-path': fakeServer, start: 'false', ...inputs } })
}

function modelDir(run: MainRun, cacheDir?: string): string {
  return path.join(cacheDir ?? path.join(run.dirs.toolCache, 'setup-llama-server'), 'models')
}

function storedEntries(run: MainRun, cacheDir?: string): string[] {
  try {
    return readdirSync(path.join(modelDir(run, cacheDir), 'entries'))
  } catch {
    return []
  }
}

const digestOf = (body: Buffer) => `sha256:${sha256(body)}`

describe('a file that changes on the server between two attempts', () => {
  // Same size, so that only the content tells a splice of the two from either.
  const v1 = ggufWithPayload(512 * 1024)
  const v2 = ggufWithPayload(512 * 1024)
  const CUT = 200_000

  /** v1 is cut off after CUT bytes, and from then on the server has v2. */
  async function changingServer(options: RawServerOptions, first: Omit<ServedFile, 'body'>, second: Omit<ServedFile, 'body'>) {
    const s = await serve(options, { '/m.gguf': { body: v1, ...first } })
    s.cut = (r) => (r.range === undefined && s.gets().length === 1 ? { kind: 'close', bytes: CUT } : undefined)
    s.afterAnswer = () => s.files.set('/m.gguf', { body: v2, ...second })
    return s
  }

  function expectNewVersionWhole(run: MainRun): void {
    expect(run.errors).toEqual([])
    expect(run.outputs['model-digest']).toBe(digestOf(v2))
    expect(readFileSync(run.outputs['model-path'] as string).equals(v2)).toBe(true)
  }

  it('with ETags: the resume is conditional, the server sends the new version whole, and that is stored', async () => {
    const s = await changingServer({}, { etag: '"v1"' }, { etag: '"v2"' })
    const run = await fetchModel({ model: s.url('/m.gguf') })
    expectNewVersionWhole(run)
    const [first, second] = s.gets()
    expect(first).toMatchObject({ range: undefined, status: 200, sent: CUT, cut: 'close' })
    expect(second).toMatchObject({ range: `bytes=${CUT}-`, ifRange: '"v1"', status: 200 })
    expect(run.stdout).toContain('m.gguf: the server sent the whole file; starting over')
    // The cache knows what it holds as the version it got ("v2"), not the one HEAD named before the change.
    const again = await fetchModel({ model: s.url('/m.gguf') }, run.dirs)
    expect(again.outputs['model-cache-hit']).toBe('true')
    expect(s.gets()).toHaveLength(2)
    // And should the server go back to v1, that is not taken for the v2 it holds.
    s.files.set('/m.gguf', { body: v1, etag: '"v1"' })
    const back = await fetchModel({ model: s.url('/m.gguf') }, run.dirs)
    expect(back.outputs['model-digest']).toBe(digestOf(v1))
    expect(readFileSync(back.outputs['model-path'] as string).equals(v1)).toBe(true)
  })

  it('with Last-Modified only: the same, with the date as the condition', async () => {
    const s = await changingServer({}, { lastModified: 'Mon, 02 Jan 2006 15:04:05 GMT' }, { lastModified: 'Tue, 03 Jan 2006 15:04:05 GMT' })
    const run = await fetchModel({ model: s.url('/m.gguf') })
    expectNewVersionWhole(run)
    expect(s.gets()[1]).toMatchObject({ range: `bytes=${CUT}-`, ifRange: 'Mon, 02 Jan 2006 15:04:05 GMT', status: 200 })
  })

  it('from a server that ignores If-Range: the answer names another version, so it starts over', async () => {
    const s = await changingServer({ ignoreIfRange: true }, { etag: '"v1"' }, { etag: '"v2"' })
    const run = await fetchModel({ model: s.url('/m.gguf') })
    expectNewVersionWhole(run)
    // The 206 of v2 was refused; the whole of v2 was asked for again.
    expect(s.gets().map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      [`bytes=${CUT}-`, 206],
      [undefined, 200],
    ])
    expect(run.stdout).toContain('m.gguf: the file changed on the server since the download began; starting over')
  })

  it('from a server without ETag or Last-Modified: nothing proves the file unchanged, so it starts over', async () => {
    const s = await changingServer({}, {}, {})
    const run = await fetchModel({ model: s.url('/m.gguf') })
    expectNewVersionWhole(run)
    expect(s.gets().map((r) => r.range)).toEqual([undefined, undefined])
    expect(run.stdout).toContain('m.gguf: the server gave no ETag or Last-Modified to prove the file unchanged; starting over')
  })

  it('with model-digest of the old version: a clear failure, and nothing stored', async () => {
    const s = await changingServer({}, { etag: '"v1"' }, { etag: '"v2"' })
    const run = await fetchModel({ model: s.url('/m.gguf'), 'model-digest': digestOf(v1) })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([`m.gguf from ${s.url('/m.gguf')} has ${digestOf(v2)}, expected ${digestOf(v1)}; the download was deleted`])
    expect(storedEntries(run)).toEqual([])
  })
})

describe('a server without HEAD and without Content-Length', () => {
  const body = ggufWithPayload(300 * 1024)

  it.each([405, 501])('HEAD answered %d, the body ended by closing the connection: fetched whole, HEAD not retried', async (status) => {
    const s = await serve({ protocol: 'HTTP/1.0', headStatus: status, contentLength: false }, { '/m.gguf': { body } })
    const run = await fetchModel({ model: s.url('/m.gguf') })
    expect(run.errors).toEqual([])
    expect(run.outputs['model-digest']).toBe(digestOf(body))
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
    expect(s.requests.map((r) => [r.method, r.status])).toEqual([
      ['HEAD', status],
      ['GET', 200],
    ])
    expect(run.stdout).toContain("the cache keys it by URL and nothing else (the server sends no ETag or Last-Modified)")
  })

  it('a connection reset mid-body is resumed with a conditional Range request', async () => {
    // With a Content-Length: undici takes a reset of a body without one (delimited by the connection's end) for its
    // end, as it does a FIN, so there the cut cannot be told from a whole body (the next test: model-digest catches it).
    const s = await serve({ headStatus: 405, contentLength: true }, { '/m.gguf': { body, etag: '"e1"' } })
    s.cut = (r) => (r.range === undefined ? { kind: 'reset', bytes: 100_000 } : undefined)
    const run = await fetchModel({ model: s.url('/m.gguf'), 'model-digest': digestOf(body) })
    expect(run.errors).toEqual([])
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
    expect(s.gets().map((r) => [r.range, r.ifRange, r.status])).toEqual([
      [undefined, undefined, 200],
      [expect.stringMatching(/^bytes=\d+-$/), '"e1"', 206],
    ])
  })

  it('a body cut short by a FIN cannot be told from a whole one: model-digest catches it, clearly, and nothing is stored', async () => {
    const s = await serve({ headStatus: 405, contentLength: false }, { '/m.gguf': { body, etag: '"e1"' } })
    s.cut = () => ({ kind: 'close', bytes: 100_000 })
    const run = await fetchModel({ model: s.url('/m.gguf'), 'model-digest': digestOf(body) })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(new RegExp(`^m\\.gguf from .* has sha256:[0-9a-f]{64}, expected ${digestOf(body)}; the download was deleted$`))
    expect(storedEntries(run)).toEqual([])
  })
})

describe('a filesystem that fills up mid-download', () => {
  it('fails at once, naming the file and the free space; nothing retried, nothing left behind', async (ctx) => {
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'sls-small-fs-'))
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', cacheDir], { stdio: 'pipe' })
    } catch (error) {
      rmSync(cacheDir, { recursive: true, force: true })
      const why = `SKIPPED: cannot mount an 8 MiB tmpfs here (${(error as Error).message.split('\n')[0]}); the full-disk test needs root and mount(8)`
      console.log(why)
      return ctx.skip(why)
    }
    try {
      // 12 MiB, and neither HEAD nor Content-Length says so: no check before the download can see it coming.
      const body = ggufWithPayload(12 * 1024 * 1024)
      const s = await serve({ headStatus: 405, contentLength: false }, { '/big.gguf': { body, etag: '"big"' } })
      const run = await fetchModel({ model: s.url('/big.gguf'), 'cache-dir': cacheDir })
      expect(run.exitCode).toBe(1)
      const tmp = path.join(cacheDir, 'models', 'tmp')
      expect(run.errors).toHaveLength(1)
      expect(run.errors[0]).toMatch(
        new RegExp(`^Could not write ${tmp}/[^/]+/parts/big\\.gguf \\(ENOSPC; [\\d.]+ (B|KiB|MiB) free there\\): free space on that filesystem or choose another cache-dir$`),
      )
      expect(s.gets()).toHaveLength(1)
      expect(run.stdout).not.toContain('retrying')
      expect(storedEntries(run, cacheDir)).toEqual([])
      // The partial file went with its work directory: the space is free again.
      expect(readdirSync(tmp)).toEqual([])
    } finally {
      execFileSync('umount', [cacheDir])
      rmSync(cacheDir, { recursive: true, force: true })
    }
  })
})

describe('a server that stalls', () => {
  const body = ggufWithPayload(400 * 1024)

  it('mid-body: with network-timeout 1 the attempt is given up after a second and resumed', async () => {
    const s = await serve({}, { '/m.gguf': { body, etag: '"s1"' } })
    s.cut = (r) => (r.range === undefined ? { kind: 'stall', bytes: 150_000 } : undefined)
    const run = await fetchModel({ model: s.url('/m.gguf'), 'network-timeout': '1', 'model-digest': digestOf(body) })
    expect(run.errors).toEqual([])
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
    expect(s.gets().map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      ['bytes=150000-', 206],
    ])
    expect(run.stdout).toMatch(/the connection dropped or stalled after 150000 bytes \(.*[Tt]imeout.*\); retrying in 1\.0 s/)
  })

  it('before its answer: the request is given up after a second and asked again', async () => {
    const s = await serve({}, { '/m.gguf': { body, etag: '"s1"' } })
    s.unanswered = 1
    const run = await fetchModel({ model: s.url('/m.gguf'), 'network-timeout': '1', 'model-digest': digestOf(body) })
    expect(run.errors).toEqual([])
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
    expect(s.requests.map((r) => [r.method, r.status])).toEqual([
      ['HEAD', 0],
      ['HEAD', 200],
      ['GET', 200],
    ])
    expect(run.stdout).toMatch(/could not reach .*m\.gguf \(.*[Tt]imeout.*\); retrying in 1\.0 s/)
  })
})
