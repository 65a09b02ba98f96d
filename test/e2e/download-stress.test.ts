// Many downloads, several jobs at once, from servers as they are in the field: one that closes the connection
// after each answer (HTTP/1.0), and one that cuts connections off mid-body (a FIN or a reset, at seeded places)
// while the jobs read slowly. No job may crash, and every file in the store must be the server's, byte for byte.
// CI runs a short version; SLS_STRESS=1 runs a long one (README, Contributing).
import { randomUUID } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { sha256 } from '../support/hub-server.js'
import { RawFileServer, type Cut } from '../support/raw-http-server.js'
import { newJobDirs, runMain, type MainRun } from '../support/runner.js'
import { seededRandom, STRESS, type SeededRandom } from '../support/seeded-random.js'
import { SLOW_READER_VARIABLE, SlowReader } from '../support/slow-reader.js'

const fakeServer = inject('fakeLlamaServer')

/** Per server: rounds × jobs at once × parts per job (each part one download). */
const PLAN = STRESS
  ? { rounds: 3, jobs: 8, parts: 13, minBytes: 1 << 20, maxBytes: 6 << 20, timeoutMs: 600_000 }
  : { rounds: 1, jobs: 4, parts: 13, minBytes: 128 << 10, maxBytes: 512 << 10, timeoutMs: 60_000 }

let server: RawFileServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

interface Job {
  url: string
  digest: string
  parts: Buffer[]
}

/** A split model of PLAN.parts parts under `dir` on the server, each a GGUF of a seeded size. */
function addSplitModel(s: RawFileServer, dir: string, random: SeededRandom): Job {
  const total = String(PLAN.parts).padStart(5, '0')
  const parts: Buffer[] = []
  for (let k = 1; k <= PLAN.parts; k++) {
    const body = ggufWithPayload(random.int(PLAN.minBytes, PLAN.maxBytes))
    s.files.set(`${dir}/model-${String(k).padStart(5, '0')}-of-${total}.gguf`, { body, etag: `"${sha256(body).slice(0, 16)}"` })
    parts.push(body)
  }
  return { url: s.url(`${dir}/model-00001-of-${total}.gguf`), digest: `sha256:${sha256(parts[0] as Buffer)}`, parts }
}

/** Every part of the job's model in the store is the server's, byte for byte. */
function expectStoredWhole(run: MainRun, job: Job): void {
  expect(run.errors).toEqual([])
  expect(run.exitCode).toBe(0)
  const entry = path.dirname(run.outputs['model-path'] as string)
  const total = String(PLAN.parts).padStart(5, '0')
  const stored = job.parts.map((_, i) => sha256(readFileSync(path.join(entry, `model-${String(i + 1).padStart(5, '0')}-of-${total}.gguf`))))
  expect(stored).toEqual(job.parts.map((p) => sha256(p)))
}

/** Runs PLAN.rounds rounds of PLAN.jobs jobs at once, each fetching its own split model; returns the downloads. */
async function downloadMany(s: RawFileServer, random: SeededRandom, env: Record<string, string> = {}): Promise<number> {
  let downloads = 0
  for (let round = 0; round < PLAN.rounds; round++) {
    // One cache-dir for the jobs of a round, as on one runner host.
    const dirs = newJobDirs()
    const jobs = Array.from({ length: PLAN.jobs }, (_, j) => addSplitModel(s, `/r${round}/j${j}`, random))
    const runs = await Promise.all(
      jobs.map((job) =>
        runMain({ dirs, inputs: { model: job.url, 'model-digest': job.digest, 'llama-server-path': fakeServer, start: 'false' }, env, timeoutMs: PLAN.timeoutMs }),
      ),
    )
    for (const [j, run] of runs.entries()) {
      // A crash of the HTTP client would show here: a signal, an exit code, an assertion's stack.
      expect(`${run.stdout}${run.stderr}`).not.toMatch(/AssertionError|Unexpected error|at .*\(node:/)
      expectStoredWhole(run, jobs[j] as Job)
      downloads += PLAN.parts
    }
    rmSync(dirs.root, { recursive: true, force: true })
  }
  return downloads
}

describe('many downloads', () => {
  it('from an HTTP/1.0 server that closes the connection after each answer: none crashes, every file whole', async () => {
    server = await RawFileServer.start({ protocol: 'HTTP/1.0' })
    const downloads = await downloadMany(server, seededRandom('HTTP/1.0 sizes'))
    expect(downloads).toBeGreaterThanOrEqual(50)
    // One connection per request, each ended by the server: HEAD for the first part, one GET for every part.
    expect(server.gets()).toHaveLength(downloads)
    expect(server.gets().every((r) => r.status === 200 && r.cut === undefined)).toBe(true)
  }, PLAN.timeoutMs * PLAN.rounds)

  it('from a server that cuts connections off mid-body while the jobs read slowly: each resumes, every file whole', async () => {
    server = await RawFileServer.start({ protocol: 'HTTP/1.1' })
    const random = seededRandom('mid-body cuts')
    server.cut = (request, length): Cut | undefined =>
      random.chance(0.3) ? { kind: random.pick(['close', 'reset'] as const), bytes: random.int(0, Math.max(0, length - 1)) } : undefined
    const marker = randomUUID()
    const slow = new SlowReader(marker)
    slow.start()
    let downloads: number
    try {
      downloads = await downloadMany(server, random, { [SLOW_READER_VARIABLE]: marker })
    } finally {
      slow.end()
    }
    expect(downloads).toBeGreaterThanOrEqual(50)
    const cut = server.gets().filter((r) => r.cut)
    console.log(`${downloads} downloads, ${cut.length} connections cut mid-body, ${server.gets().filter((r) => r.status === 206).length} resumed with Range`)
    expect(cut.length).toBeGreaterThan(0)
    // Each cut is followed by a resume of that file: conditional, and answered with the rest of the same version.
    for (const r of server.gets().filter((g) => g.range !== undefined)) {
      expect(r.ifRange).toBeDefined()
      expect(r.status).toBe(206)
    }
  }, PLAN.timeoutMs * PLAN.rounds)
})
