// Catalogs are input, not truth. A cache-dir holding a model (from a Hub test server, so that every download is
// on record) and an engine (built from the engine TEST DOUBLE's source) gets its catalogs damaged in the shapes
// found in the field or planted on purpose; the next run must succeed, say which file it repaired, download and
// build nothing again, and touch nothing outside cache-dir, even with cache-max-size asking it to evict.
import { createHash } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeEngineRepo } from '../support/engine-fixture.js'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { HubServer, sha256 } from '../support/hub-server.js'
import { newJobDirs, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'
import { auditCacheDir } from '../support/store-check.js'

inject('fakeLlamaServer') // the global setup builds the engine test double; this file builds its own from source

let hub: HubServer
let source: { repo: string; commit: string }
/** A cache-dir that one job filled: copied for each case. */
let filled: { cacheDir: string; modelEntry: string; engineKey: string }
const body = ggufWithPayload(256 * 1024)
const digest = `sha256:${sha256(body)}`

beforeAll(async () => {
  hub = await HubServer.start()
  hub.addRepo('org/damaged', { 'm.gguf': body })
  const dirs = newJobDirs()
  source = fakeEngineRepo(dirs.root)
  const cacheDir = path.join(dirs.root, 'cache')
  const first = await provision(dirs, cacheDir)
  expect(first.errors).toEqual([])
  await runPost(first)
  const engineKey = path.basename(path.dirname(path.dirname(first.outputs['engine-path'] as string)))
  filled = { cacheDir, modelEntry: `sha256-${digest.slice(7)}`, engineKey }
})
afterAll(async () => {
  await hub.stop()
})

async function provision(dirs: JobDirs, cacheDir: string, extra: Record<string, string> = {}): Promise<MainRun> {
  return await runMain({
    dirs,
    inputs: {
      model: 'hf:org/damaged/m.gguf',
      'hf-endpoint': hub.endpoint,
      'llama-cpp-repo': source.repo,
      'llama-cpp-ref': 'v1.0',
      backend: 'cpu',
      'remote-cache': 'none',
      start: 'false',
      'cache-dir': cacheDir,
      // The model store's catalog is what these tests damage: hf: models go there, not to the Hugging Face cache.
      'hf-cache': 'false',
      ...extra,
    },
  })
}

/** Everything under `dir` but `except`: path → kind, size, mtime and content digest. */
function snapshot(dir: string, except: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name)
    if (file === except || file.startsWith(`${except}/`)) continue
    const stat = lstatSync(file)
    const content = stat.isFile() ? createHash('sha256').update(readFileSync(file)).digest('hex') : ''
    out[name] = `${stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'link' : 'file'} ${stat.size} ${stat.mtimeMs} ${content}`
  }
  return out
}

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'))

/** A record of the right shape that names `../../../x` everywhere a path can come from. */
const escapingModelRecord = {
  id: 'hf:evil/x@0000000000000000000000000000000000000000/x.gguf',
  ref: 'hf:evil/x/x.gguf',
  digest: `sha256:${'e'.repeat(64)}`,
  size_bytes: 2 ** 40,
  path: '../../../x/keep.txt',
  parts: [{ name: '../../../x/keep.txt', digest: `sha256:${'e'.repeat(64)}`, size: 2 ** 40, ino: 1, mtime_ms: 1 }],
  state: 'Active',
  last_used: '2000-01-01T00:00:00.000Z',
}
const escapingEngineRecord = {
  key: '../../../x',
  material: {},
  files: [{ path: '../../../x/keep.txt', size: 2 ** 40, digest: `sha256:${'e'.repeat(64)}` }],
  built_at: '2000-01-01T00:00:00.000Z',
  size_bytes: 2 ** 40,
  version: 'evil',
  last_used: '2000-01-01T00:00:00.000Z',
  state: 'Active',
}

type Damage = (catalog: { models: string; engines: string }) => { models?: string; engines?: string }

const CASES: [string, Damage, (file: string) => RegExp][] = [
  [
    '{"entries": null}',
    () => ({ models: '{"version":1,"entries":null}', engines: '{"version":1,"entries":null}' }),
    (file) => new RegExp(`^::warning::${file} is damaged \\(not JSON, or not a catalog\\); rebuilding it from the entries on disk$`, 'm'),
  ],
  [
    'not JSON (cut off mid-write by an older version, say)',
    (c) => ({ models: c.models.slice(0, c.models.length / 2), engines: '\u0000\u0001 not json' }),
    (file) => new RegExp(`^::warning::${file} is damaged \\(not JSON, or not a catalog\\); rebuilding it from the entries on disk$`, 'm'),
  ],
  [
    'an entry named ../../../x',
    (c) => {
      const models = JSON.parse(c.models)
      const engines = JSON.parse(c.engines)
      models.entries['../../../x'] = escapingModelRecord
      engines.entries['../../../x'] = escapingEngineRecord
      return { models: JSON.stringify(models), engines: JSON.stringify(engines) }
    },
    (file) => new RegExp(`^::warning::${file}: the entry "\\.\\./\\.\\./\\.\\./x" is dropped \\(it has '/' or '\\\\'\\)$`, 'm'),
  ],
  [
    'an entry with a record of the wrong shape',
    (c) => {
      const models = JSON.parse(c.models)
      const engines = JSON.parse(c.engines)
      for (const catalog of [models, engines]) for (const name of Object.keys(catalog.entries)) catalog.entries[name] = { id: 5, parts: 'none' }
      return { models: JSON.stringify(models), engines: JSON.stringify(engines) }
    },
    (file) => new RegExp(`^::warning::${file}: the entry "[^"]+" is dropped \\(its record has the wrong shape\\)$`, 'm'),
  ],
]

/** A copy of the filled cache-dir, three levels down a sandbox, so that ../../../x from its entries/ is in it. */
function filledCopy() {
  const dirs = newJobDirs()
  const sandbox = path.join(dirs.root, 'sandbox')
  const cacheDir = path.join(sandbox, 'cache')
  mkdirSync(path.join(sandbox, 'x'), { recursive: true })
  writeFileSync(path.join(sandbox, 'x', 'keep.txt'), 'not the action’s to touch\n')
  execFileSync('cp', ['-a', filled.cacheDir, cacheDir])
  const files = { models: path.join(cacheDir, 'models', 'catalog.json'), engines: path.join(cacheDir, 'engines', 'catalog.json') }
  return { dirs, sandbox, cacheDir, files }
}

describe('a damaged catalog', () => {
  it.each(CASES)('%s: the run succeeds, names the file, downloads and builds nothing, stays inside cache-dir', async (_what, damage, warning) => {
    const { dirs, sandbox, cacheDir, files } = filledCopy()
    const damaged = damage({ models: readFileSync(files.models, 'utf8'), engines: readFileSync(files.engines, 'utf8') })
    if (damaged.models !== undefined) writeFileSync(files.models, damaged.models)
    if (damaged.engines !== undefined) writeFileSync(files.engines, damaged.engines)
    const outside = snapshot(sandbox, cacheDir)
    const downloads = hub.blobGets().length

    // cache-max-size far below what is stored: eviction looks at every entry the catalogs name.
    const run = await provision(dirs, cacheDir, { 'cache-max-size': '1K' })
    expect(run.errors).toEqual([])
    for (const file of Object.values(files)) expect(run.stdout).toMatch(warning(file))
    expect(run.outputs['model-cache-hit']).toBe('true')
    expect(run.outputs['engine-cache-hit']).toBe('true')
    expect(run.stdout).not.toMatch(/Built llama-server/)
    expect(hub.blobGets()).toHaveLength(downloads)
    expect(snapshot(sandbox, cacheDir)).toEqual(outside)

    // Repaired: both catalogs name their entry again, verified, and nothing else.
    expect(Object.keys(readJson(files.models).entries)).toEqual([filled.modelEntry])
    expect(readJson(files.models).entries[filled.modelEntry]).toMatchObject({ digest, size_bytes: body.length, state: 'Active' })
    expect(Object.keys(readJson(files.engines).entries)).toEqual([filled.engineKey])
    expect(auditCacheDir(cacheDir).problems).toEqual([])
    expect((await runPost(run)).exitCode).toBe(0)

    // And the run after that has nothing to warn about.
    const again = await provision(dirs, cacheDir)
    expect(again.errors).toEqual([])
    expect(again.stdout).not.toContain('::warning::')
    expect(hub.blobGets()).toHaveLength(downloads)
    await runPost(again)
  })
})

describe('a planted entry', () => {
  it('whose manifest names ../../../x is left out of a rebuilt catalog; nothing outside cache-dir is touched', async () => {
    const { dirs, sandbox, cacheDir, files } = filledCopy()
    const fake = `sha256:${'e'.repeat(64)}`
    const planted = path.join(cacheDir, 'models', 'entries', `sha256-${'e'.repeat(64)}`)
    mkdirSync(planted)
    const manifest = { id: 'x', ref: 'x', digest: fake, sources: ['hf:org/damaged@x/m.gguf'], parts: [{ name: '../../../x/keep.txt', digest: fake }] }
    writeFileSync(path.join(planted, '.entry.json'), JSON.stringify(manifest))
    writeFileSync(files.models, 'not json')
    const outside = snapshot(sandbox, cacheDir)
    const downloads = hub.blobGets().length
    const run = await provision(dirs, cacheDir, { 'cache-max-size': '1K' })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain(`::warning::${planted} has no valid .entry.json or does not match it; it is left out of the rebuilt catalog`)
    expect(run.outputs['model-cache-hit']).toBe('true')
    expect(hub.blobGets()).toHaveLength(downloads)
    expect(Object.keys(readJson(files.models).entries)).toEqual([filled.modelEntry])
    expect(snapshot(sandbox, cacheDir)).toEqual(outside)
    // The planted directory is the only thing the audit finds wrong: it is in no catalog, and nothing serves it.
    expect(auditCacheDir(cacheDir).problems).toEqual([`${planted}: its manifest names ../../../x/keep.txt, outside the entry`])
    await runPost(run)
  })
})
