// The Hugging Face cache (https://huggingface.co/docs/hub/local-cache) through the runner harness: hf: models go
// there by default, in its layout, and a model already there is used in place, whoever put it there. Everything in
// it is hostile: links that leave it, blobs whose bytes do not match their names. The servers are real
// (test/support/hub-server.ts); the engine is the test double: these tests are about models. llama.cpp's own use of
// the same cache is tested with the real llama-server in test/e2e/llama-cpp.test.ts.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { newJobDirs, runMain, type JobDirs, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()

afterEach(() => {
  hub().blobFaults.length = 0
  hub().hubFaults.length = 0
})

let repoCount = 0
function newModelRepo(bytes = 256 * 1024, file = 'tiny-Q8_0.gguf') {
  const owner = 'org'
  const repo = `cached-${++repoCount}`
  const body = ggufWithPayload(bytes)
  const commit = hub().addRepo(`${owner}/${repo}`, { [file]: body })
  const hex = sha256(body)
  return { owner, repo, id: `${owner}/${repo}`, file, body, commit, hex, ref: `hf:${owner}/${repo}/${file}`, digest: `sha256:${hex}` }
}
type Model = ReturnType<typeof newModelRepo>

/** The job's Hugging Face cache: runner.ts gives each job HF_HOME=<root>/hf-home. */
const hubCache = (dirs: JobDirs) => path.join(dirs.root, 'hf-home', 'hub')
const repoDir = (root: string, m: Model) => path.join(root, `models--${m.owner}--${m.repo}`)
const snapshotOf = (root: string, m: Model, commit = m.commit) => path.join(repoDir(root, m), 'snapshots', commit, m.file)
const blobOf = (root: string, m: Model) => path.join(repoDir(root, m), 'blobs', m.hex)

/** A model laid out by hand exactly as the Hub's cache documentation says (as huggingface_hub would leave it). */
function layByHand(root: string, m: Model, bytes: Buffer = m.body): void {
  const repo = repoDir(root, m)
  for (const dir of ['blobs', 'refs', path.join('snapshots', m.commit)]) mkdirSync(path.join(repo, dir), { recursive: true })
  writeFileSync(path.join(repo, 'blobs', m.hex), bytes)
  writeFileSync(path.join(repo, 'refs', 'main'), m.commit)
  symlinkSync(`../../blobs/${m.hex}`, snapshotOf(root, m))
}

async function fetchModel(dirs: JobDirs, inputs: Record<string, string>, env: Record<string, string> = {}): Promise<MainRun> {
  return await runMain({ dirs, inputs: { 'llama-server-path': fakeServer, start: 'false', 'hf-endpoint': hub().endpoint, ...inputs }, env })
}

const blobGets = (m: Model) => hub().blobGets().filter((r) => r.path.startsWith(`/blobs/${m.hex}`))
const storeEntries = (dirs: JobDirs) => {
  const entries = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'entries')
  return existsSync(entries) ? readdirSync(entries) : []
}
const warnings = (run: MainRun) => [...run.stdout.matchAll(/^::warning::(.*)$/gm)].map((w) => w[1] as string)

describe('hf: models in the Hugging Face cache', () => {
  it('are downloaded into it in its layout, stored once, and used in place by the next job', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const first = await fetchModel(dirs, { model: m.ref })
    expect(first.errors).toEqual([])
    expect(first.outputs['model-cache-hit']).toBe('false')
    const root = hubCache(dirs)
    expect(first.outputs['model-path']).toBe(snapshotOf(root, m))
    // As the documentation lays it out: a relative link to the blob named by its sha256, the commit in refs/main
    // (one line, no newline, as huggingface_hub writes it), the lock file in .locks/.
    expect(readlinkSync(snapshotOf(root, m))).toBe(`../../blobs/${m.hex}`)
    expect(readFileSync(blobOf(root, m)).equals(m.body)).toBe(true)
    expect(readFileSync(path.join(repoDir(root, m), 'refs', 'main'), 'utf8')).toBe(m.commit)
    // Nothing else in blobs/ or .locks/ (no temporary file, nor its lock, left), and no second copy in cache-dir.
    expect(readdirSync(path.join(root, '.locks', `models--${m.owner}--${m.repo}`))).toEqual([`${m.hex}.lock`])
    expect(readdirSync(path.join(repoDir(root, m), 'blobs'))).toEqual([m.hex])
    expect(storeEntries(dirs)).toEqual([])

    const second = await fetchModel(dirs, { model: m.ref })
    expect(second.errors).toEqual([])
    expect(second.outputs['model-cache-hit']).toBe('true')
    expect(second.outputs['model-path']).toBe(snapshotOf(root, m))
    expect(blobGets(m)).toHaveLength(1)
  })

  it('HF_HUB_CACHE says where; LLAMA_CACHE comes first, and the other cache is still searched', async () => {
    const dirs = newJobDirs()
    const hubDir = path.join(dirs.root, 'hub-cache')
    const llamaDir = path.join(dirs.root, 'llama-cache')
    const a = newModelRepo()
    const inHub = await fetchModel(dirs, { model: a.ref }, { HF_HUB_CACHE: hubDir })
    expect(inHub.outputs['model-path']).toBe(snapshotOf(hubDir, a))
    // With LLAMA_CACHE, a model in huggingface_hub's cache is used where it is; a new one goes to llama.cpp's.
    const found = await fetchModel(dirs, { model: a.ref }, { HF_HUB_CACHE: hubDir, LLAMA_CACHE: llamaDir })
    expect(found.outputs).toMatchObject({ 'model-path': snapshotOf(hubDir, a), 'model-cache-hit': 'true' })
    const b = newModelRepo()
    const fresh = await fetchModel(dirs, { model: b.ref }, { HF_HUB_CACHE: hubDir, LLAMA_CACHE: llamaDir })
    expect(fresh.outputs['model-path']).toBe(snapshotOf(llamaDir, b))
    expect(existsSync(path.join(dirs.root, 'hf-home'))).toBe(false)
  })

  it('hf-cache: false keeps them in cache-dir; a model there is later hard-linked into the cache, not fetched again', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const stored = await fetchModel(dirs, { model: m.ref, 'hf-cache': 'false' })
    expect(stored.outputs['model-path']?.startsWith(dirs.toolCache)).toBe(true)
    expect(existsSync(hubCache(dirs))).toBe(false)
    const linked = await fetchModel(dirs, { model: m.ref })
    expect(linked.errors).toEqual([])
    expect(linked.outputs).toMatchObject({ 'model-path': snapshotOf(hubCache(dirs), m), 'model-cache-hit': 'true' })
    expect(linked.stdout).toContain('hard-linked into the Hugging Face cache, not downloaded')
    // One file on disk under two names.
    expect(statSync(blobOf(hubCache(dirs), m)).ino).toBe(statSync(stored.outputs['model-path'] as string).ino)
    // The link changed the stored file's ctime: its record in cache-dir follows, so quick need not hash it again.
    const catalog = JSON.parse(readFileSync(path.join(dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json'), 'utf8'))
    expect(catalog.entries[`sha256-${m.hex}`].parts[0].ctime_ns).toBe(String(statSync(stored.outputs['model-path'] as string, { bigint: true }).ctimeNs))
    expect(blobGets(m)).toHaveLength(1)
  })
})

describe('a model already in the cache, whoever put it there', () => {
  it('laid out by hand as documented: used in place with no download, online and offline (refs/ resolve main)', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    layByHand(hubCache(dirs), m)
    const online = await fetchModel(dirs, { model: m.ref })
    expect(online.errors).toEqual([])
    expect(online.outputs).toMatchObject({ 'model-path': snapshotOf(hubCache(dirs), m), 'model-cache-hit': 'true', 'model-digest': m.digest })
    expect(blobGets(m)).toEqual([])
    // A fresh runner state (no catalog of this action) with the Hub out of reach: refs/main names the commit.
    const offlineDirs = newJobDirs()
    layByHand(hubCache(offlineDirs), m)
    const offline = await fetchModel(offlineDirs, { model: m.ref }, { HF_HUB_OFFLINE: '1' })
    expect(offline.errors).toEqual([])
    expect(offline.outputs).toMatchObject({ 'model-id': `hf:${m.id}@${m.commit}/${m.file}`, 'model-cache-hit': 'true', 'model-digest': m.digest })
    expect(offline.stdout).toMatch(/::notice::HF_HUB_OFFLINE is set: used hf:.* from the Hugging Face cache at /)
    const unreachable = await fetchModel(offlineDirs, { model: `hf:${m.id}@${m.commit}/${m.file}`, 'hf-endpoint': 'http://127.0.0.1:9' })
    expect(unreachable.errors).toEqual([])
    expect(unreachable.stdout).toMatch(/::notice::http:\/\/127\.0\.0\.1:9 cannot be reached .*: used hf:/)
  })

  it('another revision of the same file: the blob is linked under the new commit, not downloaded', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const older = { ...m, commit: 'a'.repeat(40) }
    layByHand(hubCache(dirs), older)
    const run = await fetchModel(dirs, { model: m.ref })
    expect(run.outputs).toMatchObject({ 'model-path': snapshotOf(hubCache(dirs), m), 'model-cache-hit': 'true' })
    expect(readlinkSync(snapshotOf(hubCache(dirs), m))).toBe(`../../blobs/${m.hex}`)
    expect(readFileSync(path.join(repoDir(hubCache(dirs), m), 'refs', 'main'), 'utf8')).toBe(m.commit)
    expect(blobGets(m)).toEqual([])
  })

  it('a broken snapshot link is repaired by the download; offline, the step says the model is not there', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    layByHand(hubCache(dirs), m)
    rmSync(blobOf(hubCache(dirs), m))
    const offline = await fetchModel(dirs, { model: m.ref }, { HF_HUB_OFFLINE: '1' })
    expect(offline.errors[0]).toMatch(/^HF_HUB_OFFLINE is set, and hf:.* is not in the Hugging Face cache at .*, nor in the cache at /)
    const online = await fetchModel(dirs, { model: m.ref })
    expect(online.errors).toEqual([])
    expect(online.outputs['model-cache-hit']).toBe('false')
    expect(readlinkSync(snapshotOf(hubCache(dirs), m))).toBe(`../../blobs/${m.hex}`)
    expect(readFileSync(snapshotOf(hubCache(dirs), m)).equals(m.body)).toBe(true)
  })

  it('a blob whose bytes do not match its name is caught on first use, and replaced with a warning', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    layByHand(hubCache(dirs), m, ggufWithPayload(m.body.length - 100))
    const offline = await fetchModel(dirs, { model: m.ref }, { HF_HUB_OFFLINE: '1' })
    expect(offline.exitCode).toBe(1)
    expect(warnings(offline)[0]).toMatch(new RegExp(`^${snapshotOf(hubCache(dirs), m)} in the Hugging Face cache has sha256:[0-9a-f]{64}, not the ${m.digest} it must have; it is not used$`))
    const online = await fetchModel(dirs, { model: m.ref })
    expect(online.errors).toEqual([])
    expect(warnings(online)).toEqual([
      expect.stringMatching(/ in the Hugging Face cache has sha256:[0-9a-f]{64}, not the sha256:.* it must have; it is not used\. The action downloads the model again and replaces that file$/),
      `Replaced ${blobOf(hubCache(dirs), m)} in the Hugging Face cache, whose bytes did not match its name, with a verified download`,
    ])
    expect(readFileSync(blobOf(hubCache(dirs), m)).equals(m.body)).toBe(true)
  })

  it('verify: quick catches a blob changed in place or swapped, its size, inode and mtime kept (its ctime tells)', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    expect((await fetchModel(dirs, { model: m.ref })).errors).toEqual([])
    const blob = blobOf(hubCache(dirs), m)
    // A whole-second mtime survives utimes exactly (a fractional one may not); a full verify records it.
    utimesSync(blob, 1_700_000_000, 1_700_000_000)
    expect((await fetchModel(dirs, { model: m.ref, verify: 'full' })).outputs['model-cache-hit']).toBe('true')
    const { ino } = statSync(blob)
    const flipped = Buffer.from(m.body)
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0xff
    writeFileSync(blob, flipped)
    utimesSync(blob, 1_700_000_000, 1_700_000_000)
    expect(statSync(blob)).toMatchObject({ ino, size: m.body.length, mtimeMs: 1_700_000_000_000 })
    const quick = await fetchModel(dirs, { model: m.ref })
    expect(quick.errors).toEqual([])
    expect(quick.outputs['model-cache-hit']).toBe('false')
    expect(warnings(quick)[0]).toMatch(/not the sha256:.* it must have; it is not used\. The action downloads the model again and replaces that file$/)
    expect(readFileSync(blob).equals(m.body)).toBe(true)
    // Unlinked and written again with other bytes of the same size and the mtime put back (the inode may come back).
    const { mtimeMs } = statSync(blob)
    rmSync(blob)
    writeFileSync(blob, flipped)
    utimesSync(blob, mtimeMs / 1000, mtimeMs / 1000)
    const swapped = await fetchModel(dirs, { model: m.ref })
    expect(swapped.outputs['model-cache-hit']).toBe('false')
    expect(readFileSync(blob).equals(m.body)).toBe(true)
  })
})

describe('hostile caches', () => {
  it('a snapshot that links outside the cache is not followed: the action links its own, and the file there is untouched', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const outside = path.join(dirs.root, 'outside.gguf')
    // Even with the right bytes: whatever is outside the cache can change under it.
    writeFileSync(outside, m.body)
    layByHand(hubCache(dirs), m)
    rmSync(snapshotOf(hubCache(dirs), m))
    symlinkSync(outside, snapshotOf(hubCache(dirs), m))
    const offline = await fetchModel(dirs, { model: m.ref }, { HF_HUB_OFFLINE: '1' })
    expect(offline.exitCode).toBe(1)
    const online = await fetchModel(dirs, { model: m.ref })
    expect(online.errors).toEqual([])
    expect(warnings(online)[0]).toBe(`${snapshotOf(hubCache(dirs), m)} in the Hugging Face cache is not used: it links to ${outside}, outside ${path.join(repoDir(hubCache(dirs), m), 'blobs')}. The action puts a link of its own in its place`)
    // The blob was there and right: linked, not downloaded.
    expect(blobGets(m)).toEqual([])
    expect(readlinkSync(snapshotOf(hubCache(dirs), m))).toBe(`../../blobs/${m.hex}`)
    expect(readFileSync(outside).equals(m.body)).toBe(true)
  })

  it('a blob that is itself a link is not used; a blobs/ that is a link is never written through: cache-dir takes the model', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const victim = path.join(dirs.root, 'victim')
    mkdirSync(victim)
    writeFileSync(path.join(victim, 'notes.txt'), 'precious\n')
    mkdirSync(path.join(repoDir(hubCache(dirs), m)), { recursive: true })
    symlinkSync(victim, path.join(repoDir(hubCache(dirs), m), 'blobs'))
    const run = await fetchModel(dirs, { model: m.ref })
    expect(run.errors).toEqual([])
    expect(warnings(run)).toEqual([expect.stringMatching(/^The Hugging Face cache at .* cannot be used \(.*blobs is a symbolic link; .*\); hf:.* is kept in cache-dir instead$/)])
    expect(run.outputs['model-path']?.startsWith(dirs.toolCache)).toBe(true)
    expect(readdirSync(victim)).toEqual(['notes.txt'])

    const n = newModelRepo()
    layByHand(hubCache(dirs), n)
    const blob = blobOf(hubCache(dirs), n)
    rmSync(blob)
    writeFileSync(path.join(victim, 'right-bytes'), n.body)
    symlinkSync(path.join(victim, 'right-bytes'), blob)
    const offline = await fetchModel(dirs, { model: n.ref }, { HF_HUB_OFFLINE: '1' })
    expect(offline.exitCode).toBe(1)
    expect(lstatSync(blob).isSymbolicLink()).toBe(true)
  })
})

describe('a cache that others can write', () => {
  /** A two-part model fetched into the job's cache; `forge` records each blob's current identity with other bytes. */
  async function sharedModel() {
    const owner = 'org'
    const repo = `shared-${++repoCount}`
    const names = ['m-00001-of-00002.gguf', 'm-00002-of-00002.gguf']
    const bodies = names.map(() => ggufWithPayload(32 * 1024))
    hub().addRepo(`${owner}/${repo}`, Object.fromEntries(names.map((n, i) => [n, bodies[i] as Buffer])))
    const dirs = newJobDirs()
    const ref = `hf:${owner}/${repo}/${names[0]}`
    expect((await fetchModel(dirs, { model: ref })).errors).toEqual([])
    const blobsDir = path.join(hubCache(dirs), `models--${owner}--${repo}`, 'blobs')
    const blobs = bodies.map((b) => path.join(blobsDir, sha256(b)))
    const catalogFile = path.join(dirs.toolCache, 'setup-llama-server', 'models', 'catalog.json')
    // What verify: quick believes: a record of the file as it is now. A hash is not fooled by it.
    const forge = () => {
      const catalog = JSON.parse(readFileSync(catalogFile, 'utf8'))
      for (const blob of blobs) {
        const stat = statSync(blob, { bigint: true })
        catalog.local_files[blob] = { size: Number(stat.size), ino: Number(stat.ino), mtime_ms: Number(stat.mtimeNs / 1_000_000n), dev: Number(stat.dev), ctime_ns: String(stat.ctimeNs), digest: `sha256:${'0'.repeat(64)}` }
      }
      writeFileSync(catalogFile, JSON.stringify(catalog))
    }
    return { dirs, ref, blobsDir, blobs, forge }
  }

  it('group- or world-writable (without the sticky bit): its blobs are hashed on every use, and the log says so once', async () => {
    const { dirs, ref, blobsDir, forge } = await sharedModel()
    chmodSync(blobsDir, 0o777)
    forge()
    const shared = await fetchModel(dirs, { model: ref })
    expect(shared.errors).toEqual([])
    expect(warnings(shared)).toEqual([])
    expect(shared.outputs['model-cache-hit']).toBe('true')
    const said = `${blobsDir} in the Hugging Face cache is writable by anyone (mode 777): its blobs are hashed in full on every use, whatever 'verify' says`
    expect(shared.stdout.split('\n').filter((line) => line === said)).toHaveLength(1)
    chmodSync(blobsDir, 0o775)
    forge()
    const group = await fetchModel(dirs, { model: ref })
    expect(group.outputs['model-cache-hit']).toBe('true')
    expect(group.stdout).toContain(`${blobsDir} in the Hugging Face cache is writable by its group (mode 775)`)
    // With the sticky bit only a file's owner may replace it: quick trusts the record, and so the forged one.
    chmodSync(blobsDir, 0o1777)
    forge()
    const sticky = await fetchModel(dirs, { model: ref })
    expect(sticky.errors).toEqual([])
    expect(warnings(sticky)[0]).toMatch(/ in the Hugging Face cache has sha256:0{64}, not the sha256:[0-9a-f]{64} it must have; it is not used/)
    expect(sticky.stdout).not.toContain('hashed in full on every use')
  })

  it('owned by another user: its blobs are hashed on every use', async (ctx) => {
    if (process.geteuid?.() !== 0) ctx.skip('only root can give a file to another user')
    const { dirs, ref, blobs, forge } = await sharedModel()
    for (const blob of blobs) chownSync(blob, 4321, 4321)
    forge()
    const run = await fetchModel(dirs, { model: ref })
    expect(run.errors).toEqual([])
    expect(warnings(run)).toEqual([])
    expect(run.outputs['model-cache-hit']).toBe('true')
    for (const blob of blobs) expect(run.stdout).toContain(`${blob} in the Hugging Face cache is owned by uid 4321, not by this job's 0: its blobs are hashed in full on every use`)
  })
})

describe('what the action cannot replace: a directory where a link or a blob must go', () => {
  it('at the snapshot path: found before the download, the model goes to cache-dir, the directory stays', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const snapshot = snapshotOf(hubCache(dirs), m)
    mkdirSync(snapshot, { recursive: true })
    writeFileSync(path.join(snapshot, 'notes.txt'), 'precious\n')
    const run = await fetchModel(dirs, { model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.outputs['model-path']?.startsWith(dirs.toolCache)).toBe(true)
    expect(warnings(run)).toEqual([
      `${snapshot} in the Hugging Face cache is not used: it is a directory`,
      `The Hugging Face cache at ${hubCache(dirs)} cannot be used (${snapshot} is a directory, which the action does not remove (it may be another tool's); remove it, or set hf-cache: false); hf:${m.id}@${m.commit}/${m.file} is kept in cache-dir instead`,
    ])
    // Downloaded once (into cache-dir), not into the Hugging Face cache first.
    expect(blobGets(m)).toHaveLength(1)
    expect(readdirSync(snapshot)).toEqual(['notes.txt'])
    expect(existsSync(path.join(repoDir(hubCache(dirs), m), 'blobs')) ? readdirSync(path.join(repoDir(hubCache(dirs), m), 'blobs')) : []).toEqual([])
  })

  it('at the blob path, with the model in cache-dir: the hard link made for it is removed, and cache-dir serves it', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    expect((await fetchModel(dirs, { model: m.ref, 'hf-cache': 'false' })).errors).toEqual([])
    mkdirSync(blobOf(hubCache(dirs), m), { recursive: true })
    const run = await fetchModel(dirs, { model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.outputs).toMatchObject({ 'model-cache-hit': 'true' })
    expect(run.outputs['model-path']?.startsWith(dirs.toolCache)).toBe(true)
    expect(warnings(run)).toEqual([expect.stringContaining(`cannot be used (${blobOf(hubCache(dirs), m)} is a directory, which the action does not remove`)])
    expect(blobGets(m)).toHaveLength(1)
    // No temporary file (a hard link to the stored model) nor its lock left behind.
    expect(readdirSync(path.join(repoDir(hubCache(dirs), m), 'blobs'))).toEqual([m.hex])
    expect(readdirSync(blobOf(hubCache(dirs), m))).toEqual([])
    expect(readdirSync(path.join(hubCache(dirs), '.locks', `models--${m.owner}--${m.repo}`))).toEqual([`${m.hex}.lock`])
  })
})

describe('a split model', () => {
  it('with one part missing from the cache: only that part is downloaded; the others are verified and kept', async () => {
    const owner = 'org'
    const repo = `split-${++repoCount}`
    const names = [1, 2, 3].map((i) => `model-0000${i}-of-00003.gguf`)
    const bodies = names.map(() => ggufWithPayload(32 * 1024))
    const commit = hub().addRepo(`${owner}/${repo}`, Object.fromEntries(names.map((n, i) => [n, bodies[i] as Buffer])))
    const hexes = bodies.map((b) => sha256(b))
    const dirs = newJobDirs()
    const ref = `hf:${owner}/${repo}/${names[0]}`
    expect((await fetchModel(dirs, { model: ref })).errors).toEqual([])
    const blobs = path.join(hubCache(dirs), `models--${owner}--${repo}`, 'blobs')
    rmSync(path.join(blobs, hexes[1] as string))
    const gets = (hex: string) => hub().blobGets().filter((r) => r.path.startsWith(`/blobs/${hex}`)).length
    const run = await fetchModel(dirs, { model: ref })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`2 of the 3 parts of hf:${owner}/${repo}@${commit}/${names[0]} are in the Hugging Face cache, verified; downloading the other 1`)
    expect(hexes.map(gets)).toEqual([1, 2, 1])
    for (const [i, name] of names.entries()) expect(readFileSync(path.join(hubCache(dirs), `models--${owner}--${repo}`, 'snapshots', commit, name)).equals(bodies[i] as Buffer)).toBe(true)
    expect(readdirSync(blobs).sort()).toEqual([...hexes].sort())
  })
})

describe('the token and the lock, as huggingface_hub keeps them', () => {
  it('the token comes from HF_HOME/token, else HF_TOKEN_PATH, and is masked', async () => {
    const m = newModelRepo()
    hub().repos.get(m.id)!.private = true
    hub().tokens.add('hf_from_token_file').add('hf_from_token_path')
    const dirs = newJobDirs()
    mkdirSync(path.join(dirs.root, 'hf-home'), { recursive: true })
    writeFileSync(path.join(dirs.root, 'hf-home', 'token'), 'hf_from_token_file\n')
    const run = await fetchModel(dirs, { model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.stdout.split('\n')[0]).toBe('::add-mask::hf_from_token_file')
    expect(hub().requests.some((r) => r.host === 'hub' && r.authorization === 'Bearer hf_from_token_file')).toBe(true)
    // To the endpoint only, never to the host its redirect leads to.
    expect(blobGets(m).length).toBeGreaterThan(0)
    expect(blobGets(m).every((r) => r.authorization === undefined)).toBe(true)
    // Through a link, as Kubernetes and Docker mount secrets.
    const other = path.join(dirs.root, 'elsewhere-token')
    writeFileSync(`${other}.data`, 'hf_from_token_path')
    symlinkSync(`${other}.data`, other)
    const viaPath = await fetchModel(newJobDirs(), { model: m.ref }, { HF_TOKEN_PATH: other })
    expect(viaPath.errors).toEqual([])
    expect(viaPath.stdout.split('\n')[0]).toBe('::add-mask::hf_from_token_path')
  })

  it('the token file is opened for hf: models only, never waited on, and one that holds no token is a warning naming it', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const tokenFile = path.join(dirs.root, 'hf-home', 'token')
    mkdirSync(path.dirname(tokenFile), { recursive: true })
    // A FIFO: opening it for reading would wait for a writer that never comes.
    execFileSync('mkfifo', [tokenFile])
    writeFileSync(path.join(dirs.workspace, 'local.gguf'), ggufWithPayload(1024))
    const local = await fetchModel(dirs, { model: 'local.gguf' })
    expect(local.errors).toEqual([])
    expect(warnings(local)).toEqual([])
    const notice = (why: string) => `The Hugging Face token file ${tokenFile} is not used: ${why}; going on without a token`
    const fifo = await fetchModel(dirs, { model: m.ref })
    expect(fifo.errors).toEqual([])
    expect(warnings(fifo)).toEqual([notice('it is not a regular file (a FIFO)')])
    rmSync(tokenFile)
    writeFileSync(tokenFile, 'hf_half of a token\n')
    const spaced = await fetchModel(dirs, { model: m.ref })
    expect(spaced.errors).toEqual([])
    expect(warnings(spaced)).toEqual([notice('it does not hold a token: printable ASCII without spaces (the content is not shown)')])
    expect(spaced.stdout).not.toContain('half of a token')
    writeFileSync(tokenFile, 'x'.repeat(5000))
    const huge = await fetchModel(dirs, { model: m.ref })
    expect(huge.errors).toEqual([])
    expect(warnings(huge)).toEqual([notice('it is 5000 bytes, more than the 4096 such a file can be')])
    // None of them sent anything as a token.
    expect(hub().requests.filter((r) => r.path.startsWith(`/${m.id}/`) && r.authorization !== undefined)).toEqual([])
  })

  it("waits while another process holds the cache's lock for the blob (huggingface_hub's flock), then goes on", async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const locks = path.join(hubCache(dirs), '.locks', `models--${m.owner}--${m.repo}`)
    mkdirSync(locks, { recursive: true })
    const lockFile = path.join(locks, `${m.hex}.lock`)
    // Another tool holding the lock for a while, through flock(2) as Python's filelock takes it.
    const holder = spawn('flock', ['--exclusive', lockFile, 'sleep', '2'], { stdio: 'ignore' })
    await new Promise((r) => setTimeout(r, 300))
    const run = await fetchModel(dirs, { model: m.ref })
    holder.kill()
    expect(run.errors).toEqual([])
    // Who holds it: flock(1) itself here, which keeps the lock's descriptor open.
    expect(run.stdout).toContain(`Waiting for hf:${m.id}@${m.commit}/${m.file}: pid ${holder.pid} (flock) (huggingface_hub, llama.cpp or another job) holds ${lockFile}`)
    expect(run.stdout).toMatch(/Got the Hugging Face cache's lock for .* after \d+\.\d s/)
  })

  it('does not wait behind a holder whose download has not been written for minutes: it fetches beside it', async () => {
    const m = newModelRepo()
    const dirs = newJobDirs()
    const locks = path.join(hubCache(dirs), '.locks', `models--${m.owner}--${m.repo}`)
    const blobs = path.join(repoDir(hubCache(dirs), m), 'blobs')
    mkdirSync(locks, { recursive: true })
    mkdirSync(blobs, { recursive: true })
    const lockFile = path.join(locks, `${m.hex}.lock`)
    // A hung huggingface_hub: it holds the lock, and its .incomplete was last written ten minutes ago.
    const incomplete = path.join(blobs, `${m.hex}.incomplete`)
    writeFileSync(incomplete, m.body.subarray(0, 1000))
    const tenMinutesAgo = new Date(Date.now() - 600_000)
    utimesSync(incomplete, tenMinutesAgo, tenMinutesAgo)
    const holder = spawn('flock', ['--exclusive', lockFile, 'sleep', '600'], { stdio: 'ignore' })
    try {
      await new Promise((r) => setTimeout(r, 300))
      const run = await fetchModel(dirs, { model: m.ref })
      expect(run.errors).toEqual([])
      expect(run.stdout).toMatch(
        new RegExp(`^${lockFile} is held by pid ${holder.pid} \\(flock\\), but its download in blobs/: ${m.hex}\\.incomplete \\(1000 B, written 6\\d\\d\\.\\d s ago\\), not written for 6\\d\\d\\.\\d s: fetching hf:.* beside it$`, 'm'),
      )
      expect(readFileSync(blobOf(hubCache(dirs), m)).equals(m.body)).toBe(true)
      // The other tool's file is not the action's to remove, and its holder still holds the lock.
      expect(readdirSync(blobs).sort()).toEqual([m.hex, `${m.hex}.incomplete`].sort())
      expect(holder.exitCode).toBe(null)
    } finally {
      holder.kill()
    }
  })

  it('a job killed mid-download leaves a temporary file of its own, which the next download removes; nothing else goes', async () => {
    const m = newModelRepo(2 * 2 ** 20)
    hub().blobFaults.push({ kind: 'slow', bytesPerSecond: 512 * 1024 })
    const dirs = newJobDirs()
    const blobs = path.join(repoDir(hubCache(dirs), m), 'blobs')
    const locks = path.join(hubCache(dirs), '.locks', `models--${m.owner}--${m.repo}`)
    // Another tool's download in progress, by huggingface_hub's name for it: not the action's to remove.
    mkdirSync(blobs, { recursive: true })
    writeFileSync(path.join(blobs, `${'c'.repeat(64)}.incomplete`), 'partial')
    // Temporary files of this action without a lock file (an older version's): gone only once unwritten for a day.
    const fresh = `${'d'.repeat(64)}.otherhost-123-0123abcd.incomplete`
    const old = `${'e'.repeat(64)}.otherhost-456-4567cdef.incomplete`
    writeFileSync(path.join(blobs, fresh), 'partial')
    writeFileSync(path.join(blobs, old), 'partial')
    utimesSync(path.join(blobs, old), new Date(Date.now() - 25 * 3600_000), new Date(Date.now() - 25 * 3600_000))
    const killed = await runMain({
      dirs,
      inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, 'llama-server-path': fakeServer, start: 'false' },
      cancel: { when: /tiny-Q8_0\.gguf: .* \(\d+%\)/, signal: 'SIGKILL' },
    })
    expect(killed.signal).toBe('SIGKILL')
    const temp = readdirSync(blobs).find((name) => name.startsWith(`${m.hex}.`)) as string
    expect(temp).toMatch(new RegExp(`^${m.hex}\\.\\w+-\\d+-[0-9a-f]{8}\\.incomplete$`))
    // Its lock, which the kernel released with the job.
    expect(readdirSync(locks).sort()).toEqual([`${m.hex}.lock`, `${temp}.lock`].sort())
    expect(existsSync(snapshotOf(hubCache(dirs), m))).toBe(false)
    const next = await fetchModel(dirs, { model: m.ref })
    expect(next.errors).toEqual([])
    expect(readdirSync(blobs).sort()).toEqual([m.hex, `${'c'.repeat(64)}.incomplete`, fresh].sort())
    expect(readdirSync(locks)).toEqual([`${m.hex}.lock`])
  })

  it('two jobs fetching one model into one cache at once download it once', async () => {
    const m = newModelRepo(2 * 2 ** 20)
    hub().blobFaults.push({ kind: 'slow', bytesPerSecond: 4 * 2 ** 20 })
    const shared = { HF_HOME: path.join(newJobDirs().root, 'shared-hf-home') }
    const [a, b] = await Promise.all([fetchModel(newJobDirs(), { model: m.ref }, shared), fetchModel(newJobDirs(), { model: m.ref }, shared)])
    expect([a.errors, b.errors]).toEqual([[], []])
    expect(a.outputs['model-path']).toBe(b.outputs['model-path'])
    expect(blobGets(m)).toHaveLength(1)
    expect([a.outputs['model-cache-hit'], b.outputs['model-cache-hit']].sort()).toEqual(['false', 'true'])
  })
})
