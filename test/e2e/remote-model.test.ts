// remote-cache: model and all, through the runner harness: models go to the GitHub Actions cache (its TEST
// DOUBLE, test/support/cache-service.ts: the real service cannot run here) and come back on a fresh runner, from
// a real local server speaking the Hub's protocol. The engine is the test double: these tests are about models.
import { saveCache } from '@actions/cache'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { CacheServiceDouble } from '../support/cache-service.js'
import { ggufWithPayload, writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { remoteCacheKey, remoteStagingDir } from '../../src/store/remote-cache.js'
import { newJobDirs, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()
let cacheService: CacheServiceDouble

beforeAll(async () => {
  cacheService = await CacheServiceDouble.start()
})
afterAll(async () => {
  await cacheService.stop()
})

let repoCount = 0
function newModelRepo(files: Record<string, Buffer>) {
  const id = `org/remote-${++repoCount}`
  const commit = hub().addRepo(id, files)
  return { id, commit }
}

async function fetchModel(dirs: JobDirs, inputs: Record<string, string>): Promise<MainRun> {
  return await runMain({
    dirs,
    inputs: { 'llama-server-path': fakeServer, start: 'false', 'hf-endpoint': hub().endpoint, 'remote-cache': 'model', ...inputs },
    env: cacheService.env(),
  })
}

/** The same paths with nothing in them (its Hugging Face cache too), as an ephemeral runner's next job has. */
function freshRunner(dirs: JobDirs): JobDirs {
  for (const dir of [dirs.temp, dirs.toolCache, path.join(dirs.root, 'hf-home')]) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir)
  }
  return dirs
}

const blobGets = (digest: string) => hub().blobGets().filter((r) => r.path.startsWith(`/blobs/${digest.replace('sha256:', '')}`))
const notices = (run: { stdout: string }) => [...run.stdout.matchAll(/^::notice::(.*)$/gm)].map((m) => m[1])

describe('remote-cache: model', () => {
  it('post saves a downloaded hf: model (every part of a split one); a fresh runner restores it instead of downloading', async () => {
    const parts = { 'm-00001-of-00002.gguf': ggufWithPayload(300 * 1024), 'm-00002-of-00002.gguf': ggufWithPayload(200 * 1024) }
    const repo = newModelRepo(parts)
    const digests = Object.values(parts).map((b) => `sha256:${sha256(b)}`)
    const dirs = newJobDirs()
    const first = await fetchModel(dirs, { model: `hf:${repo.id}/m-00001-of-00002.gguf` })
    expect(first.errors).toEqual([])
    expect(first.outputs['model-cache-hit']).toBe('false')
    expect(first.stdout).toContain(`The post step saves model-sha256-${digests[0]?.slice(7)}`)
    const post = await runPost(first)
    expect(post.errors).toEqual([])
    expect(post.stdout).toContain(`Saved model-sha256-${digests[0]?.slice(7)} to the GitHub Actions cache`)
    expect(cacheService.committedKeys()).toContain(`setup-llama-server-model-sha256-${digests[0]?.slice(7)}`)

    const second = await fetchModel(freshRunner(dirs), { model: `hf:${repo.id}/m-00001-of-00002.gguf` })
    expect(second.errors).toEqual([])
    expect(second.stdout).toContain(`Restored model-sha256-${digests[0]?.slice(7)} from the GitHub Actions cache`)
    expect(second.outputs['model-cache-hit']).toBe('true')
    expect(second.outputs['model-digest']).toBe(digests[0])
    // Restored into cache-dir's store, and hard-linked from there into the Hugging Face cache (the default).
    const modelPath = second.outputs['model-path'] as string
    expect(modelPath.startsWith(path.join(dirs.root, 'hf-home', 'hub', 'models--org--'))).toBe(true)
    expect(second.stdout).toContain('hard-linked into the Hugging Face cache, not downloaded')
    expect(readFileSync(modelPath).equals(parts['m-00001-of-00002.gguf'])).toBe(true)
    expect(readFileSync(path.join(path.dirname(modelPath), 'm-00002-of-00002.gguf')).equals(parts['m-00002-of-00002.gguf'])).toBe(true)
    // Each part's bytes came from the Hub once: for the first job.
    for (const digest of digests) expect(blobGets(digest)).toHaveLength(1)
    // A restored model is not saved again.
    expect(second.stdout).not.toContain('The post step saves')
    expect((await runPost(second)).stdout).not.toContain('to the GitHub Actions cache')
  })

  it('a part changed by a later step before post is not saved: the cache gets only what main verified', async () => {
    const body = ggufWithPayload(64 * 1024)
    const repo = newModelRepo({ 'm.gguf': body })
    const dirs = newJobDirs()
    const run = await fetchModel(dirs, { model: `hf:${repo.id}/m.gguf` })
    expect(run.errors).toEqual([])
    // A step between main and post writes into the stored model (same inode, other bytes).
    writeFileSync(run.outputs['model-path'] as string, ggufWithPayload(64 * 1024))
    const post = await runPost(run)
    expect(post.stdout).toMatch(new RegExp(`::warning::model-sha256-${sha256(body)} is not saved to the GitHub Actions cache: m\\.gguf changed since the main step verified it`))
    expect(cacheService.committedKeys()).not.toContain(`setup-llama-server-model-sha256-${sha256(body)}`)
  })

  it('a URL model goes through the cache with model-digest, and only with it (a notice says why)', async () => {
    const body = ggufWithPayload(64 * 1024)
    const digest = `sha256:${sha256(body)}`
    hub().plainFiles.set('/files/plain.gguf', { body, etag: '"v1"' })
    const url = `${hub().blobOrigin}/files/plain.gguf?signature=secret-signature`

    const unpinned = await fetchModel(newJobDirs(), { model: url })
    expect(unpinned.errors).toEqual([])
    expect(notices(unpinned)).toContain(
      "remote-cache: model: a URL model goes through the GitHub Actions cache only with 'model-digest': a later job must know its sha256 before downloading to look it up.",
    )
    expect((await runPost(unpinned)).stdout).not.toContain('Saved model-')

    const dirs = newJobDirs()
    const pinned = await fetchModel(dirs, { model: url, 'model-digest': digest })
    expect(pinned.errors).toEqual([])
    await runPost(pinned)
    expect(cacheService.committedKeys()).toContain(`setup-llama-server-model-sha256-${digest.slice(7)}`)
    const gets = hub().blobGets().length
    const restored = await fetchModel(freshRunner(dirs), { model: url, 'model-digest': digest })
    expect(restored.errors).toEqual([])
    expect(restored.outputs['model-cache-hit']).toBe('true')
    expect(hub().blobGets().length).toBe(gets)
  })

  it('a model larger than remote-cache-max-model-size stays local, and a notice says why and what to change', async () => {
    const body = ggufWithPayload(300 * 1024)
    const repo = newModelRepo({ 'big.gguf': body })
    const run = await fetchModel(newJobDirs(), { model: `hf:${repo.id}/big.gguf`, 'remote-cache-max-model-size': '256K' })
    expect(run.errors).toEqual([])
    expect(notices(run).join('\n')).toMatch(
      /^remote-cache: model: the model \(.+\) is larger than 'remote-cache-max-model-size' \(256\.0 KiB\), so it is not sent to the GitHub Actions cache, .*raise 'remote-cache-max-model-size' to send it\.$/,
    )
    const post = await runPost(run)
    expect(post.stdout).not.toContain('Saved model-')
    expect(cacheService.committedKeys()).not.toContain(`setup-llama-server-model-sha256-${sha256(body)}`)
  })

  it('remote-cache: all with a local model says that a local model is not sent', async () => {
    const dirs = newJobDirs()
    writeHeaderOnlyModel(path.join(dirs.workspace, 'local.gguf'))
    const run = await fetchModel(dirs, { model: 'local.gguf', 'remote-cache': 'all' })
    expect(run.errors).toEqual([])
    expect(notices(run)).toContain('remote-cache: all: a local model is used in place; it is not sent to the GitHub Actions cache.')
  })

  it('a cache entry whose parts do not match its manifest is refused with a warning, and the model is downloaded', async () => {
    // The right manifest, other bytes.
    const { body, digest, run } = await withHostileEntry('x.gguf', (dir, body) => {
      writeFileSync(path.join(dir, 'x.gguf'), ggufWithPayload(64 * 1024))
      return [{ name: 'x.gguf', size: body.length, digest: `sha256:${sha256(body)}` }]
    })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(new RegExp(`::warning::The GitHub Actions cache entry of the model ${digest} is not usable \\(x\\.gguf has sha256:\\w+, the manifest says ${digest}\\); downloading it instead\\.`))
    expect(run.outputs['model-cache-hit']).toBe('false')
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
  })

  it('a part that is a link, even to a file with the right bytes, is refused', async () => {
    const { body, digest, run } = await withHostileEntry('z.gguf', (dir, body) => {
      const elsewhere = path.join(path.dirname(dir), 'elsewhere.gguf')
      writeFileSync(elsewhere, body)
      symlinkSync(elsewhere, path.join(dir, 'z.gguf'))
      return [{ name: 'z.gguf', size: body.length, digest: `sha256:${sha256(body)}` }]
    })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`::warning::The GitHub Actions cache entry of the model ${digest} is not usable (z.gguf is not a regular file)`)
    expect(run.outputs['model-cache-hit']).toBe('false')
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
  })

  it('a manifest that names a file outside the entry is refused', async () => {
    const { digest, run } = await withHostileEntry('y.gguf', (_dir, body) => [{ name: '../../../etc/hostname', size: 1, digest: `sha256:${sha256(body)}` }])
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`::warning::The GitHub Actions cache entry of the model ${digest} is not usable (model.json does not describe ${digest})`)
    expect(run.outputs['model-cache-hit']).toBe('false')
  })
})

/**
 * An hf: model whose cache key holds a hostile entry (files that `fill` writes, and a manifest of the parts it
 * returns), put there as anyone who can write the repository's cache could; then a job that wants the model.
 */
async function withHostileEntry(file: string, fill: (dir: string, body: Buffer) => unknown[]) {
  const body = ggufWithPayload(64 * 1024)
  const digest = `sha256:${sha256(body)}`
  const repo = newModelRepo({ [file]: body })
  const dirs = newJobDirs()
  const bad = mkdtempSync(path.join(dirs.root, 'bad-'))
  const parts = fill(bad, body)
  writeFileSync(path.join(bad, 'model.json'), JSON.stringify({ digest, id: file, parts }))
  await saveAsIs(dirs, `model-sha256-${digest.slice(7)}`, bad)
  expect(cacheService.committedKeys()).toContain(`setup-llama-server-model-sha256-${digest.slice(7)}`)
  const run = await fetchModel(dirs, { model: `hf:${repo.id}/${file}` })
  return { body, digest, run }
}

/**
 * Saves `dir` as the entry `name` of a job of `dirs`, links kept as links, with the real @actions/cache (which
 * reads the service's address and the job's temp directory from the environment).
 */
async function saveAsIs(dirs: JobDirs, name: string, dir: string): Promise<void> {
  const env = { ...cacheService.env(), RUNNER_TEMP: dirs.temp, GITHUB_WORKSPACE: dirs.workspace }
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    const staging = remoteStagingDir(name)
    cpSync(dir, staging, { recursive: true, verbatimSymlinks: true })
    await saveCache([staging], remoteCacheKey(name))
    rmSync(staging, { recursive: true })
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
}
