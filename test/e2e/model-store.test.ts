// The model provisioner through the runner harness, against a real local HTTP server speaking the Hub's
// protocol (test/support/hub-server.ts). The engine is the test double: these tests are about the model.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()
afterEach(() => {
  hub().blobFaults.length = 0
  hub().hubFaults.length = 0
})

let repoCount = 0
/** A new repo with one model file; returns what a test needs to ask for it. */
function newModelRepo(bytes = 256 * 1024, options: { gated?: boolean; private?: boolean; file?: string } = {}) {
  const id = `org/model-${++repoCount}`
  const file = options.file ?? 'tiny-Q8_0.gguf'
  const body = ggufWithPayload(bytes)
  const commit = hub().addRepo(id, { [file]: body }, options)
  return { id, file, body, commit, ref: `hf:${id}/${file}`, digest: `sha256:${sha256(body)}` }
}

/**
 * Provisions only (start: false), with the engine test double, in `dirs` (a job with its own tool cache). These
 * tests are about cache-dir's store, so hf: models go there (`hf-cache: false`); test/e2e/hf-cache.test.ts covers
 * the Hugging Face cache.
 */
async function fetchModel(inputs: Record<string, string>, dirs: JobDirs = newJobDirs(), env: Record<string, string> = {}): Promise<MainRun> {
  const run = await runMain({ dirs, inputs: { 'llama-server-path': fakeServer, start: 'false', 'hf-endpoint': hub().endpoint, 'hf-cache': 'false', ...inputs }, env })
  return run
}

function blobGetsFor(digest: string) {
  return hub().blobGets().filter((r) => r.path.startsWith(`/blobs/${digest.replace('sha256:', '')}`))
}

function storeEntries(dirs: JobDirs): string[] {
  const entries = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'entries')
  return existsSync(entries) ? readdirSync(entries) : []
}

describe('hf: refs', () => {
  it('resolve the revision to a commit, fetch through the redirect, verify, and are reused from the store', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const first = await fetchModel({ model: m.ref }, dirs)
    expect(first.errors).toEqual([])
    expect(first.outputs['model-id']).toBe(`hf:${m.id}@${m.commit}/${m.file}`)
    expect(first.outputs['model-digest']).toBe(m.digest)
    expect(first.outputs['model-cache-hit']).toBe('false')
    const modelPath = first.outputs['model-path'] as string
    expect(path.basename(modelPath)).toBe(m.file)
    expect(readFileSync(modelPath).equals(m.body)).toBe(true)
    expect(blobGetsFor(m.digest)).toHaveLength(1)
    expect(hub().requests.some((r) => r.host === 'hub' && r.path === `/${m.id}/resolve/${m.commit}/${m.file}`)).toBe(true)

    // With start: false the lease is held until post; post gives it back.
    const leases = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'leases', `sha256-${m.digest.slice(7)}`)
    expect(readdirSync(leases)).toHaveLength(1)
    await runPost(first)
    expect(readdirSync(leases)).toEqual([])
    const second = await fetchModel({ model: m.ref }, dirs)
    expect(second.errors).toEqual([])
    expect(second.outputs['model-cache-hit']).toBe('true')
    expect(second.outputs['model-path']).toBe(modelPath)
    expect(blobGetsFor(m.digest)).toHaveLength(1)
    // Each run leases the entry, and its post gives the lease back.
    expect(readdirSync(leases)).toHaveLength(1)
    await runPost(second)
    expect(readdirSync(leases)).toEqual([])
  })

  it('end to end: an hf: model served by the engine, outputs set, post stops it', async () => {
    const m = newModelRepo()
    const run = await runMain({ inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, 'llama-server-path': fakeServer } })
    expect(run.errors).toEqual([])
    expect((await fetch(`${run.outputs.url}/health`)).status).toBe(200)
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoff.model).toMatchObject({ id: `hf:${m.id}@${m.commit}/${m.file}`, digest: m.digest, size_bytes: m.body.length, path: run.outputs['model-path'] })
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })

  it('send the token to the endpoint only, never to the blob host, and mask it', async () => {
    const m = newModelRepo(64 * 1024, { gated: true })
    hub().tokens.add('hf_test_token_abc')
    const run = await fetchModel({ model: m.ref, 'hf-token': 'hf_test_token_abc' })
    expect(run.errors).toEqual([])
    const forRepo = hub().requests.filter((r) => r.path.includes(m.id) || r.path.includes(m.digest.slice(7)))
    expect(forRepo.filter((r) => r.host === 'hub').every((r) => r.authorization === 'Bearer hf_test_token_abc')).toBe(true)
    expect(forRepo.filter((r) => r.host === 'blob')).not.toHaveLength(0)
    expect(forRepo.filter((r) => r.host === 'blob').every((r) => r.authorization === undefined)).toBe(true)
    expect(run.stdout.split('\n')[0]).toBe('::add-mask::hf_test_token_abc')
    expect(run.stdout.split('\n').slice(1).join('\n')).not.toContain('hf_test_token_abc')
    const catalog = readFileSync(path.join(run.dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json'), 'utf8')
    expect(catalog).not.toContain('hf_test_token_abc')
  })

  it('take the token from HF_TOKEN when hf-token is empty', async () => {
    const m = newModelRepo(64 * 1024, { private: true })
    hub().tokens.add('hf_from_env')
    const run = await fetchModel({ model: m.ref }, newJobDirs(), { HF_TOKEN: 'hf_from_env' })
    expect(run.errors).toEqual([])
    expect(run.stdout.split('\n')[0]).toBe('::add-mask::hf_from_env')
  })

  it.each([
    ['a gated repo without a token', { gated: true }, undefined, /is gated: accept its conditions on the Hub with your account, then set 'hf-token' to a token of that account/],
    ['a private repo without a token', { private: true }, undefined, /was not found on .*, or it is private and set 'hf-token' \(or HF_TOKEN\) to a token that has access/],
    ['a refused token', {}, 'hf_wrong', /refused access to .* \(HTTP 401\): the token in 'hf-token' \(or HF_TOKEN\) does not give access to it/],
  ])('fail clearly for %s', async (_what, options, token, message) => {
    const m = newModelRepo(1024, options)
    const run = await fetchModel({ model: m.ref, ...(token ? { 'hf-token': token } : {}) })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(message)
  })

  it('name the missing repo, revision or file', async () => {
    const m = newModelRepo(1024)
    const cases: [string, string][] = [
      [`hf:org/nope/${m.file}`, `Repository org/nope was not found on ${hub().endpoint}, or it is private and set 'hf-token' (or HF_TOKEN) to a token that has access`],
      [`hf:${m.id}@v9/${m.file}`, `Revision 'v9' was not found in ${m.id} on ${hub().endpoint}`],
      [`hf:${m.id}/other.gguf`, `File 'other.gguf' was not found in ${m.id} at revision 'main' on ${hub().endpoint}`],
    ]
    for (const [ref, message] of cases) expect((await fetchModel({ model: ref })).errors).toEqual([message])
  })

  it('resume a dropped connection with a Range request', async () => {
    const m = newModelRepo(1024 * 1024)
    hub().blobFaults.push({ kind: 'drop-after', bytes: 300_000 })
    const run = await fetchModel({ model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.outputs['model-digest']).toBe(m.digest)
    const gets = blobGetsFor(m.digest)
    expect(gets).toHaveLength(2)
    expect(gets[0]?.range).toBeUndefined()
    expect(gets[1]?.range).toMatch(/^bytes=\d+-$/)
    expect(Number(gets[1]?.range?.slice(6, -1))).toBeGreaterThan(0)
    expect(run.stdout).toMatch(/resuming at byte \d+/)
  })

  it('retry a 503, and a 429 after its Retry-After', async () => {
    const m = newModelRepo(64 * 1024)
    hub().blobFaults.push({ kind: 'status', status: 503 }, { kind: 'status', status: 429, retryAfter: '1' })
    const run = await fetchModel({ model: m.ref })
    expect(run.errors).toEqual([])
    expect(blobGetsFor(m.digest).map((r) => r.status)).toEqual([503, 429, 200])
    expect(run.stdout).toContain('HTTP 429 from')
    expect(run.stdout).toMatch(/retrying in 1\.0 s/)
  })

  it('delete a download whose bytes do not match the sha256 and store nothing', async () => {
    const m = newModelRepo(64 * 1024)
    for (let i = 0; i < 1; i++) hub().blobFaults.push({ kind: 'wrong-bytes' })
    const dirs = newJobDirs()
    const run = await fetchModel({ model: m.ref }, dirs)
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(new RegExp(`^tiny-Q8_0\\.gguf from .* has sha256:[0-9a-f]{64}, expected ${m.digest}; the download was deleted$`))
    expect(storeEntries(dirs)).toEqual([])
    expect(readdirSync(path.join(dirs.toolCache, 'setup-llama-server', 'models', 'tmp'))).toEqual([])
  })

  it('fail before downloading when model-digest disagrees with the Hub', async () => {
    const m = newModelRepo(1024)
    const wrong = `sha256:${'1'.repeat(64)}`
    const run = await fetchModel({ model: m.ref, 'model-digest': wrong })
    expect(run.errors).toEqual([`Input 'model-digest' is ${wrong}, but the Hub says hf:${m.id}@${m.commit}/${m.file} has ${m.digest}`])
    expect(blobGetsFor(m.digest)).toHaveLength(0)
  })

  it('fail before downloading when the disk has no room, with the numbers', async () => {
    const id = `org/huge-${++repoCount}`
    // The Hub says the file is 1 PiB; the disk check must stop before a byte is fetched.
    hub().addRepo(id, { 'huge.gguf': ggufWithPayload(1024) })
    hub().hubFaults.length = 0
    const original = hub().endpoint
    const lying = await lyingSizeProxy(original, 2 ** 50)
    try {
      const run = await fetchModel({ model: `hf:${id}/huge.gguf`, 'hf-endpoint': lying.url })
      expect(run.errors[0]).toMatch(/^Not enough disk space for hf:.*huge\.gguf: it needs [\d.]+ TiB \(1125899906842624 bytes and a margin\) in .*, which has .* free$/)
      expect(hub().blobGets().filter((r) => r.path.includes('huge'))).toHaveLength(0)
    } finally {
      lying.close()
    }
  })

  it('fetch every part of a split GGUF into one directory; model-path is the first part', async () => {
    const id = `org/split-${++repoCount}`
    const parts = [1, 2, 3].map(() => ggufWithPayload(32 * 1024))
    const names = [1, 2, 3].map((i) => `big/model-0000${i}-of-00003.gguf`)
    hub().addRepo(id, Object.fromEntries(names.map((n, i) => [n, parts[i] as Buffer])))
    const run = await fetchModel({ model: `hf:${id}/${names[0]}` })
    expect(run.errors).toEqual([])
    const first = run.outputs['model-path'] as string
    expect(path.basename(first)).toBe('model-00001-of-00003.gguf')
    // The parts, and the entry's own manifest (so that a damaged catalog can be rebuilt without a download).
    expect(readdirSync(path.dirname(first)).sort()).toEqual(['.entry.json', 'model-00001-of-00003.gguf', 'model-00002-of-00003.gguf', 'model-00003-of-00003.gguf'])
    for (const [i, name] of names.entries()) expect(readFileSync(path.join(path.dirname(first), path.basename(name))).equals(parts[i] as Buffer)).toBe(true)
  })

  it('refuse a file that is not a GGUF and store nothing', async () => {
    const id = `org/html-${++repoCount}`
    hub().addRepo(id, { 'page.gguf': Buffer.from('<html>not a model</html>') })
    const dirs = newJobDirs()
    const run = await fetchModel({ model: `hf:${id}/page.gguf` }, dirs)
    expect(run.errors[0]).toMatch(/page\.gguf is not a GGUF model llama\.cpp can load/)
    expect(storeEntries(dirs)).toEqual([])
  })

  it('serve a cached model with HF_HUB_OFFLINE=1 or an unreachable endpoint, and say so', async () => {
    const m = newModelRepo(1024)
    const dirs = newJobDirs()
    expect((await fetchModel({ model: m.ref }, dirs)).errors).toEqual([])
    const before = hub().requests.length
    const offline = await fetchModel({ model: m.ref }, dirs, { HF_HUB_OFFLINE: '1' })
    expect(offline.errors).toEqual([])
    expect(hub().requests.length).toBe(before)
    expect(offline.outputs['model-id']).toBe(`hf:${m.id}@${m.commit}/${m.file}`)
    expect(offline.outputs['model-cache-hit']).toBe('true')
    expect(offline.stdout).toContain(`::notice::HF_HUB_OFFLINE is set: used the cached hf:${m.id}@${m.commit}/${m.file}`)
    const unreachable = await fetchModel({ model: m.ref, 'hf-endpoint': 'http://127.0.0.1:9' }, dirs)
    expect(unreachable.errors).toEqual([])
    expect(unreachable.stdout).toMatch(/::notice::http:\/\/127\.0\.0\.1:9 cannot be reached \(.*\): used the cached/)
    const notCached = await fetchModel({ model: `hf:${m.id}/other.gguf` }, dirs, { HF_HUB_OFFLINE: '1' })
    expect(notCached.errors[0]).toMatch(/^HF_HUB_OFFLINE is set, and hf:.*other\.gguf is not in the cache at /)
  })
})

describe('the store', () => {
  it('several jobs fetching one model at once download it once and get the same verified path', async () => {
    const m = newModelRepo(2 * 1024 * 1024)
    hub().blobFaults.push({ kind: 'slow', bytesPerSecond: 4 * 1024 * 1024 })
    const dirs = newJobDirs()
    const results = await Promise.all([1, 2, 3].map(() => fetchModel({ model: m.ref }, dirs)))
    for (const r of results) expect(r.errors).toEqual([])
    expect(new Set(results.map((r) => r.outputs['model-path'])).size).toBe(1)
    expect(results.map((r) => r.outputs['model-cache-hit']).sort()).toEqual(['false', 'true', 'true'])
    expect(blobGetsFor(m.digest)).toHaveLength(1)
    expect(readFileSync(results[0]?.outputs['model-path'] as string).equals(m.body)).toBe(true)
  })

  it('a job killed mid-download leaves no entry, and the next run succeeds', async () => {
    const m = newModelRepo(2 * 1024 * 1024)
    hub().blobFaults.push({ kind: 'slow', bytesPerSecond: 512 * 1024 })
    const dirs = newJobDirs()
    const killed = await runMain({
      dirs,
      inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, 'llama-server-path': fakeServer, start: 'false', 'hf-cache': 'false' },
      cancel: { when: /tiny-Q8_0\.gguf: .* \(\d+%\)/, signal: 'SIGKILL' },
    })
    expect(killed.signal).toBe('SIGKILL')
    expect(storeEntries(dirs)).toEqual([])
    const tmp = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'tmp')
    // Its work directory, and the lock file its process held (released by the kernel when it was killed).
    expect(readdirSync(tmp).sort()).toEqual([expect.stringMatching(/-\d+-[0-9a-f]{8}$/), expect.stringMatching(/-\d+-[0-9a-f]{8}\.lock$/)])
    const next = await fetchModel({ model: m.ref }, dirs)
    expect(next.errors).toEqual([])
    // The killed job's lock was still there; it went stale and was taken over.
    expect(next.stdout).toMatch(/Waiting for hf:.*: another job is working on it/)
    expect(readFileSync(next.outputs['model-path'] as string).equals(m.body)).toBe(true)
    expect(readdirSync(tmp)).toEqual([])
  })

  it('an entry changed on disk fails verification, is removed with a warning and fetched again', async () => {
    const m = newModelRepo(64 * 1024)
    const dirs = newJobDirs()
    const first = await fetchModel({ model: m.ref }, dirs)
    const cached = first.outputs['model-path'] as string
    const bytes = readFileSync(cached)
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1)
    writeFileSync(cached, bytes)
    const second = await fetchModel({ model: m.ref }, dirs)
    expect(second.errors).toEqual([])
    expect(second.stdout).toMatch(/::warning::The cached model .* failed verification \(tiny-Q8_0\.gguf has sha256:[0-9a-f]{64}, recorded sha256:[0-9a-f]{64}\); fetching it again\./)
    expect(second.outputs['model-cache-hit']).toBe('false')
    expect(readFileSync(cached).equals(m.body)).toBe(true)
    expect(blobGetsFor(m.digest)).toHaveLength(2)
  })

  it('verify: quick hashes again a stored file rewritten in place with its mtime put back (its ctime tells); full always', async () => {
    const m = newModelRepo(64 * 1024)
    const dirs = newJobDirs()
    const cached = (await fetchModel({ model: m.ref }, dirs)).outputs['model-path'] as string
    // A whole-second mtime survives utimes exactly (a fractional one may not); a full verify records it.
    const { utimesSync, openSync, writeSync, closeSync, statSync } = await import('node:fs')
    utimesSync(cached, 1_700_000_000, 1_700_000_000)
    expect((await fetchModel({ model: m.ref, verify: 'full' }, dirs)).outputs['model-cache-hit']).toBe('true')
    expect((await fetchModel({ model: m.ref }, dirs)).outputs['model-cache-hit']).toBe('true')
    // Same size, inode and mtime, different content: the ctime, which only the kernel sets, differs.
    const before = statSync(cached)
    const fd = openSync(cached, 'r+')
    writeSync(fd, Buffer.from([m.body.readUInt8(m.body.length - 1) ^ 0xff]), 0, 1, m.body.length - 1)
    closeSync(fd)
    utimesSync(cached, 1_700_000_000, 1_700_000_000)
    expect(statSync(cached)).toMatchObject({ ino: before.ino, size: before.size, mtimeMs: before.mtimeMs })
    const quick = await fetchModel({ model: m.ref }, dirs)
    expect(quick.stdout).toMatch(/::warning::The cached model .* failed verification \(tiny-Q8_0\.gguf has sha256:[0-9a-f]{64}, recorded /)
    expect(quick.outputs['model-cache-hit']).toBe('false')
    expect(readFileSync(cached).equals(m.body)).toBe(true)
    // verify: full hashes every time: a catalog that records another digest for the same identity does not fool it.
    const catalogFile = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json')
    const catalog = JSON.parse(readFileSync(catalogFile, 'utf8'))
    catalog.entries[`sha256-${m.digest.slice(7)}`].parts[0].digest = `sha256:${'0'.repeat(64)}`
    writeFileSync(catalogFile, JSON.stringify(catalog))
    const full = await fetchModel({ model: m.ref, verify: 'full' }, dirs)
    expect(full.stdout).toContain('failed verification')
  })

  it('the catalog records id, ref, digest, size, path, state and last use; revision to commit', async () => {
    const m = newModelRepo(1024)
    const dirs = newJobDirs()
    await fetchModel({ model: m.ref }, dirs)
    const catalog = JSON.parse(readFileSync(path.join(dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json'), 'utf8'))
    expect(catalog.entries[`sha256-${m.digest.slice(7)}`]).toMatchObject({
      id: `hf:${m.id}@${m.commit}/${m.file}`,
      ref: `hf:${m.id}@main/${m.file}`,
      digest: m.digest,
      size_bytes: m.body.length,
      path: `entries/sha256-${m.digest.slice(7)}/${m.file}`,
      state: 'Active',
    })
    expect(catalog.hf_revisions[`hf:${m.id}@main`].commit).toBe(m.commit)
  })

  it('cache-max-size evicts the least recently used entries, never one in use', async () => {
    const [a, b, c] = [newModelRepo(300 * 1024), newModelRepo(300 * 1024), newModelRepo(300 * 1024)]
    const dirs = newJobDirs()
    // a is served (its server holds a lease), then b and c are fetched with a limit that fits about one model.
    const serving = await runMain({ dirs, inputs: { model: a!.ref, 'hf-endpoint': hub().endpoint, 'llama-server-path': fakeServer, 'hf-cache': 'false' } })
    expect(serving.errors).toEqual([])
    await runPost(await fetchModel({ model: b!.ref }, dirs))
    const last = await fetchModel({ model: c!.ref, 'cache-max-size': '400K' }, dirs)
    expect(last.errors).toEqual([])
    const left = storeEntries(dirs).sort()
    expect(left).toEqual([`sha256-${a!.digest.slice(7)}`, `sha256-${c!.digest.slice(7)}`].sort())
    await runPost(serving)
  })
})

describe('http(s) URLs', () => {
  it('with model-digest: verified, stored, and a cached copy needs no request at all', async () => {
    const body = ggufWithPayload(64 * 1024)
    hub().plainFiles.set('/files/pinned.gguf', { body, etag: '"v1"' })
    const digest = `sha256:${sha256(body)}`
    const dirs = newJobDirs()
    const url = `${hub().blobOrigin}/files/pinned.gguf`
    const first = await fetchModel({ model: url, 'model-digest': digest }, dirs)
    expect(first.errors).toEqual([])
    expect(first.outputs['model-id']).toBe(url)
    expect(first.outputs['model-digest']).toBe(digest)
    const before = hub().requests.length
    const second = await fetchModel({ model: url, 'model-digest': digest }, dirs)
    expect(second.outputs['model-cache-hit']).toBe('true')
    expect(hub().requests.length).toBe(before)
  })

  it('without model-digest: keyed by URL and ETag, with a notice; a new ETag fetches again', async () => {
    const dirs = newJobDirs()
    const url = `${hub().blobOrigin}/files/moving.gguf`
    hub().plainFiles.set('/files/moving.gguf', { body: ggufWithPayload(8 * 1024), etag: '"v1"' })
    const first = await fetchModel({ model: url }, dirs)
    expect(first.errors).toEqual([])
    expect(first.stdout).toContain(`::notice::${url} has no 'model-digest': the cache keys it by URL and the server's ETag/Last-Modified ("v1"). Set 'model-digest' to pin its content.`)
    expect((await fetchModel({ model: url }, dirs)).outputs['model-cache-hit']).toBe('true')
    const v2 = ggufWithPayload(8 * 1024)
    hub().plainFiles.set('/files/moving.gguf', { body: v2, etag: '"v2"' })
    const third = await fetchModel({ model: url }, dirs)
    expect(third.outputs['model-cache-hit']).toBe('false')
    expect(third.outputs['model-digest']).toBe(`sha256:${sha256(v2)}`)
  })

  it('a wrong model-digest fails and stores nothing', async () => {
    hub().plainFiles.set('/files/wrong.gguf', { body: ggufWithPayload(1024) })
    const dirs = newJobDirs()
    const run = await fetchModel({ model: `${hub().blobOrigin}/files/wrong.gguf`, 'model-digest': `sha256:${'2'.repeat(64)}` }, dirs)
    expect(run.errors[0]).toMatch(/wrong\.gguf from .* has sha256:[0-9a-f]{64}, expected sha256:2{64}; the download was deleted/)
    expect(storeEntries(dirs)).toEqual([])
  })
})

/** A proxy in front of the Hub test server that rewrites X-Linked-Size, as a Hub would for a huge file. */
async function lyingSizeProxy(target: string, size: number): Promise<{ url: string; close: () => void }> {
  const http = await import('node:http')
  const server = http.createServer(async (req, res) => {
    const upstream = await fetch(`${target}${req.url}`, { method: req.method, redirect: 'manual' })
    const headers = Object.fromEntries(upstream.headers)
    if (headers['x-linked-size']) headers['x-linked-size'] = String(size)
    res.writeHead(upstream.status, headers)
    res.end(Buffer.from(await upstream.arrayBuffer()))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() }
}

