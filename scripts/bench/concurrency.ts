// Concurrency: 1, 4 and 8 jobs started at once on one cache-dir, all wanting the same hf: model (256 MiB, served
// by the Hub-protocol test server), each in its own job directories: the wall time from the first spawn to the
// last exit, and what the blob host sent. Target: one download, whatever the number of jobs. The jobs run with
// start: false and the real llama-server as llama-server-path: this is about the store, not the server.
import { rmSync } from 'node:fs'
import path from 'node:path'
import { ggufWithPayload } from '../../test/support/gguf-writer.js'
import { HubServer } from '../../test/support/hub-server.js'
import { newJobDirs, runMain } from '../../test/support/runner.js'
import type { BenchContext, Benchmark } from './context.js'
import type { Figure, Section } from './report.js'
import { BENCH_DIR, benchFixture } from './setup.js'
import { median } from './stats.js'

const JOBS = [1, 4, 8]
const MODEL_BYTES = 256 * 2 ** 20

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 3
  const f = await benchFixture(ctx.log)
  const hub = await HubServer.start()
  const body = ggufWithPayload(MODEL_BYTES)
  hub.addRepo('bench/concurrent', { 'model.gguf': body })
  const wall = new Map<number, number[]>(JOBS.map((n) => [n, []]))
  const sent = new Map<number, number[]>(JOBS.map((n) => [n, []]))
  const downloads = new Map<number, number[]>(JOBS.map((n) => [n, []]))
  try {
    for (let i = 0; i < runs; i++) {
      for (const n of JOBS) {
        const cacheDir = path.join(BENCH_DIR, 'concurrency', `cache-${n}`)
        rmSync(cacheDir, { recursive: true, force: true })
        const before = hub.requests.length
        const jobs = await Promise.all(
          Array.from({ length: n }, async () => {
            const dirs = newJobDirs()
            try {
              const result = await runMain({
                dirs,
                inputs: { model: 'hf:bench/concurrent/model.gguf', 'hf-endpoint': hub.endpoint, 'cache-dir': cacheDir, 'llama-server-path': f.engine, start: 'false' },
                timeoutMs: 10 * 60_000,
              })
              if (result.exitCode !== 0) throw new Error(`a job failed:\n${result.errors.join('\n')}\n${result.stdout.slice(-2000)}`)
              return result
            } finally {
              rmSync(dirs.root, { recursive: true, force: true })
            }
          }),
        )
        const gets = hub.requests.slice(before).filter((r) => r.host === 'blob' && r.method === 'GET' && r.status < 300)
        const bytes = gets.reduce((sum, r) => sum + body.length - Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1] ?? 0), 0)
        wall.get(n)?.push((Math.max(...jobs.map((j) => j.closedAt)) - Math.min(...jobs.map((j) => j.spawnedAt))) / 1000)
        sent.get(n)?.push(bytes)
        downloads.get(n)?.push(gets.length)
        rmSync(cacheDir, { recursive: true, force: true })
        ctx.log(`concurrency ${i + 1}/${runs}: ${n} job(s) in ${wall.get(n)?.at(-1)?.toFixed(2)} s, ${gets.length} download(s)`)
      }
    }
  } finally {
    await hub.stop()
  }
  const one = wall.get(1) ?? []
  const figures: Figure[] = []
  for (const n of JOBS) {
    figures.push({ name: `${n} job(s) at once: wall time, first spawn → last exit`, unit: 's', samples: wall.get(n) ?? [], anchor: { name: '1 job', samples: one } })
    figures.push({
      name: `${n} job(s) at once: bytes the blob host sent`,
      unit: 'bytes',
      samples: sent.get(n) ?? [],
      anchor: { name: 'the model', samples: [body.length] },
      target: { text: 'one download', met: median(downloads.get(n) ?? []) === 1 && median(sent.get(n) ?? []) === body.length },
    })
  }
  return [
    {
      id: 'concurrency',
      title: 'Concurrency',
      command: `npm run bench -- concurrency --runs ${runs}`,
      intro:
        `1, 4 and 8 jobs started at once, each with its own workspace and temp directory, on one cache-dir that starts empty, all ` +
        `wanting the same \`hf:\` model (${MODEL_BYTES / 2 ** 20} MiB, served by test/support/hub-server.ts over loopback), with ` +
        '`start: false` and the real llama-server as `llama-server-path`. Wall time runs from the first spawn to the last exit; ' +
        "bytes are what the Hub server's blob host sent (its request log, ranges included).",
      figures,
    },
  ]
}

export const concurrency: Benchmark = { id: 'concurrency', about: '1, 4 and 8 jobs at once on one store and one model: wall time and bytes downloaded', run }
