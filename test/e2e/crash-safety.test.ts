// Many jobs on one cache-dir, and jobs killed with SIGKILL at seeded moments: while a model downloads, while it is
// installed and recorded, while the engine builds (the engine TEST DOUBLE's source, built for real with CMake), and
// while it is installed and recorded. Whatever the moment, the next job succeeds, and the store never holds an
// entry that is not whole and verified (test/support/store-check.ts hashes every one of them). Each kill takes
// the whole job (every process that carries its tracking id), as when a runner dies.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { fakeEngineRepo } from '../support/engine-fixture.js'
import { ggufWithPayload, writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { sha256 } from '../support/hub-server.js'
import { RawFileServer } from '../support/raw-http-server.js'
import { newJobDirs, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'
import { seededRandom, STRESS } from '../support/seeded-random.js'
import { auditCacheDir } from '../support/store-check.js'

const fakeServer = inject('fakeLlamaServer')

/** Kills to make (each a job killed mid-way), over this many lanes of jobs running at once. */
const KILLS = STRESS ? 150 : 30
const LANES = 4

let source: { repo: string; commit: string }
let files: RawFileServer

beforeAll(async () => {
  source = fakeEngineRepo(newJobDirs().root)
  // Paced, so that a download lasts long enough to be killed in the middle.
  files = await RawFileServer.start({ protocol: 'HTTP/1.1', bytesPerSecond: 3 << 20 })
})
afterAll(async () => {
  await files.stop()
})

function jobDirs(): JobDirs {
  const dirs = newJobDirs()
  mkdirSync(path.join(dirs.workspace, 'models'))
  writeHeaderOnlyModel(path.join(dirs.workspace, 'models', 'tiny.gguf'))
  return dirs
}

/** What a job wants: a model to download, an engine to build (another cmake-args each), or both. */
interface Want {
  model?: { url: string; body: Buffer; digest: string }
  cmakeArgs?: string
}

function want(name: string, what: { model?: number; engine?: boolean }): Want {
  const w: Want = {}
  if (what.model) {
    const body = ggufWithPayload(what.model)
    files.files.set(`/${name}.gguf`, { body, etag: `"${name}"` })
    w.model = { url: files.url(`/${name}.gguf`), body, digest: `sha256:${sha256(body)}` }
  }
  if (what.engine) w.cmakeArgs = `-DSLS_TEST_JOB=${name}`
  return w
}

/** The job's inputs: without a model to download, the local one; without an engine to build, the test double. */
function inputs(w: Want, cacheDir: string): Record<string, string> {
  const model: Record<string, string> = w.model ? { model: w.model.url, 'model-digest': w.model.digest } : { model: 'models/tiny.gguf' }
  const engine: Record<string, string> = w.cmakeArgs
    ? { 'llama-cpp-repo': source.repo, 'llama-cpp-ref': 'v1.0', 'cmake-args': w.cmakeArgs, backend: 'cpu', 'remote-cache': 'none' }
    : { 'llama-server-path': fakeServer }
  return { ...model, ...engine, start: 'false', 'cache-dir': cacheDir }
}

/** The job got the model, byte for byte, and an engine that runs. */
function expectProvisioned(run: MainRun, w: Want): void {
  expect(run.errors).toEqual([])
  expect(run.exitCode).toBe(0)
  if (w.model) {
    expect(run.outputs['model-digest']).toBe(w.model.digest)
    expect(readFileSync(run.outputs['model-path'] as string).equals(w.model.body)).toBe(true)
  }
  const version = spawnSync(run.outputs['engine-path'] as string, ['--version'], { encoding: 'utf8' })
  expect(version.status).toBe(0)
}

function expectStoreSound(cacheDir: string): void {
  expect(auditCacheDir(cacheDir).problems).toEqual([])
}

describe('jobs at once', () => {
  it('8 jobs on one cache-dir wanting one model and one engine: one download, one build, all succeed', async () => {
    const dirs = jobDirs()
    const cacheDir = path.join(dirs.root, 'cache')
    const w = want('together', { model: 2 << 20, engine: true })
    const runs = await Promise.all(Array.from({ length: 8 }, () => runMain({ dirs, inputs: inputs(w, cacheDir), timeoutMs: 120_000 })))
    for (const run of runs) expectProvisioned(run, w)
    expect(files.gets('/together.gguf')).toHaveLength(1)
    expect(runs.filter((r) => /Built llama-server in/.test(r.stdout))).toHaveLength(1)
    expect(runs.filter((r) => r.outputs['model-cache-hit'] === 'false')).toHaveLength(1)
    expect(new Set(runs.map((r) => r.outputs['model-path'])).size).toBe(1)
    expect(new Set(runs.map((r) => r.outputs['engine-path'])).size).toBe(1)
    const audit = auditCacheDir(cacheDir)
    expect(audit.problems).toEqual([])
    expect([audit.models.length, audit.engines.length]).toEqual([1, 1])
    for (const run of runs) expect((await runPost(run)).exitCode).toBe(0)
  }, 180_000)
})

describe('what a killed job leaves between two steps', () => {
  it('a lock file whose work directory never came, and a catalog write never renamed, are cleared by the next job', async () => {
    const dirs = jobDirs()
    const cacheDir = path.join(dirs.root, 'cache')
    const first = want('leftovers-1', { model: 64 << 10 })
    expectProvisioned(await runMain({ dirs, inputs: inputs(first, cacheDir) }), first)
    // As a job killed right after locking its work directory, and one killed mid-way through a catalog write,
    // leave them (the lock says it was locked, on this filesystem, so its flock decides; nothing holds it).
    const models = path.join(cacheDir, 'models')
    const lock = path.join(models, 'tmp', 'vm-999999-0badf00d.lock')
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    writeFileSync(lock, JSON.stringify({ boot_id: bootId, host: 'vm', pid: 999999, created: new Date().toISOString(), locked: true }))
    const catalogTemp = path.join(models, '.catalog.json.999999.0badf00d.tmp')
    writeFileSync(catalogTemp, '{"version":1,')
    utimesSync(catalogTemp, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000))
    const second = want('leftovers-2', { model: 64 << 10 })
    expectProvisioned(await runMain({ dirs, inputs: inputs(second, cacheDir) }), second)
    expect([existsSync(lock), existsSync(catalogTemp)]).toEqual([false, false])
    expect(auditCacheDir(cacheDir).debris).toEqual([])
  })
})

/**
 * Where a kill is aimed: a line of the job's log, then a seeded delay of up to `windowMs`. A job aimed at the model
 * only downloads (the engine is the test double as it is); one aimed at the engine only builds (the model is local).
 */
const AIMS = [
  { aim: 'start', when: /\S/, windowMs: 300, job: { model: true } },
  { aim: 'download', when: /\.gguf: .* \(\d+%\)/, windowMs: 500, job: { model: true } },
  { aim: 'model install', when: / - done$/m, windowMs: 150, job: { model: true } },
  { aim: 'engine build', when: /::group::Configure/, windowMs: 1000, job: { engine: true } },
  { aim: 'engine install', when: /Linking C executable/, windowMs: 250, job: { engine: true } },
] as const

/** Where the job was when it died, read from the store (and its log for the build, which runs outside it). */
function whereItDied(run: MainRun, cacheDir: string, w: Want): string {
  const workDirs = (store: string) =>
    readdirSync(path.join(cacheDir, store, 'tmp'), { withFileTypes: true }).filter((d) => d.isDirectory() && d.name.includes(`-${run.pid}-`))
  const catalog = (store: string) => {
    try {
      return JSON.parse(readFileSync(path.join(cacheDir, store, 'catalog.json'), 'utf8')).entries ?? {}
    } catch {
      return {}
    }
  }
  const key = /Engine cache key: (\S+)/.exec(run.stdout)?.[1]
  const exists = (p: string) => existsSync(p)
  if (key && catalog('engines')[key]) return 'engine recorded'
  if (key && exists(path.join(cacheDir, 'engines', 'entries', key))) return 'engine installed, not yet recorded'
  if (exists(path.join(cacheDir, 'engines', 'tmp')) && workDirs('engines').length) return 'engine staged'
  if (run.stdout.includes('::group::')) return 'engine build'
  if (!w.model) return 'before the build'
  const entry = `sha256-${w.model.digest.slice(7)}`
  if (catalog('models')[entry]) return 'model recorded'
  if (exists(path.join(cacheDir, 'models', 'entries', entry))) return 'model installed, not yet recorded'
  const mine = exists(path.join(cacheDir, 'models', 'tmp')) ? workDirs('models') : []
  if (mine.some((d) => exists(path.join(cacheDir, 'models', 'tmp', d.name, 'entry')))) return 'model staged'
  if (mine.length) return 'model download'
  return 'before the download'
}

describe('jobs killed with SIGKILL at seeded moments', () => {
  it(`${KILLS} kills across download, install, catalog and engine build: every next job succeeds, the store stays sound`, async () => {
    const random = seededRandom('kill moments')
    const dirs = jobDirs()
    const cacheDir = path.join(dirs.root, 'cache')
    const rows: [number, string][] = []
    const seen = new Map<string, number>()
    // The job after each kill runs while the lane goes on to the next kill: it may wait for the killed job's
    // locks to go stale (seconds), and the kills need not wait for it.
    const nextJobs: Promise<void>[] = []
    let moment = 0
    let kills = 0
    const lane = async () => {
      while (kills < KILLS) {
        const m = moment++
        const { aim, when, windowMs, job } = AIMS[m % AIMS.length] as (typeof AIMS)[number]
        const delay = random.int(0, windowMs)
        const w = want(`k${m}`, { model: 'model' in job ? random.int(768 << 10, 2 << 20) : undefined, engine: 'engine' in job })
        const killed = await runMain({ dirs, inputs: inputs(w, cacheDir), cancel: { when, afterMs: delay, signal: 'SIGKILL', wholeJob: true }, timeoutMs: 120_000 })
        let where: string
        if (killed.signal === 'SIGKILL') {
          kills++
          where = whereItDied(killed, cacheDir, w)
        } else {
          // It finished before the moment came: then it must have succeeded.
          expectProvisioned(killed, w)
          await runPost(killed)
          where = 'finished first'
        }
        seen.set(where, (seen.get(where) ?? 0) + 1)
        expectStoreSound(cacheDir)
        const next = async () => {
          const run = await runMain({ dirs, inputs: inputs(w, cacheDir), timeoutMs: 120_000 })
          expectProvisioned(run, w)
          await runPost(run)
          expectStoreSound(cacheDir)
          const got = w.model ? `model ${run.outputs['model-cache-hit'] === 'true' ? 'cached' : 'fetched'}` : `engine ${run.outputs['engine-cache-hit'] === 'true' ? 'cached' : 'built'}`
          rows.push([m, `#${m} aimed at ${aim} + ${delay} ms: ${where}; the next job succeeded (${got})`])
        }
        nextJobs.push(next())
      }
    }
    await Promise.all(Array.from({ length: LANES }, lane))
    await Promise.all(nextJobs)
    expect(kills).toBeGreaterThanOrEqual(KILLS)
    const table = rows.sort(([a], [b]) => a - b).map(([, row]) => row)
    console.log([...table, `where the kills landed: ${JSON.stringify(Object.fromEntries(seen))}`].join('\n'))
    // One more job that downloads and builds: it clears what the killed jobs left in the stores' tmp/, but for
    // the temporary files of the moment before a lock is in place, which are kept for a minute by design.
    const last = want('last', { model: 1 << 20, engine: true })
    const final = await runMain({ dirs, inputs: inputs(last, cacheDir), timeoutMs: 120_000 })
    expectProvisioned(final, last)
    await runPost(final)
    const audit = auditCacheDir(cacheDir)
    expect(audit.problems).toEqual([])
    console.log(`store: ${audit.models.length} models, ${audit.engines.length} engines; left in tmp: ${JSON.stringify(audit.debris)}`)
    expect(audit.debris.filter((d) => !/\/\.[^/]*\.tmp$/.test(d))).toEqual([])
    const killedAt = [...seen.keys()]
    expect(killedAt).toEqual(expect.arrayContaining(['model download', 'engine build']))
    expect(killedAt.some((w) => /^model (staged|installed|recorded)/.test(w))).toBe(true)
    expect(killedAt.some((w) => /^engine (staged|installed|recorded)/.test(w))).toBe(true)
  }, STRESS ? 3_600_000 : 300_000)
})
