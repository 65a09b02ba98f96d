// Store hit: a cached 4 GiB model reused, through the action (a URL model with model-digest, so that a hit asks
// no server), against @actions/tool-cache's cacheFile and find on the same file; and the same hit with a 16 MiB
// model of the same header, to show that a hit does not grow with the model. Then verify: full on the same entry: the
// action's hashing throughput against sha256sum and OpenSSL on the same file.
//
// The model is generated: a valid GGUF header (what the store checks, with its size and sha256) followed by
// zeros up to 4 GiB, sparse on disk where it is made; the store's copy is a real download of it (once, kept in
// the bench directory).
import { execFileSync, spawnSync } from 'node:child_process'
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { ggufBytes } from '../../test/support/gguf-writer.js'
import { ROOT, runMain, type MainRun } from '../../test/support/runner.js'
import { now } from './by-hand.js'
import type { BenchContext, Benchmark } from './context.js'
import type { Figure, Section, Table } from './report.js'
import { formatValue } from './report.js'
import { BENCH_DIR, benchFixture, type BenchFixture } from './setup.js'
import { median } from './stats.js'
import { markAt, readTrace, traceEnv } from './trace.js'

const SIZE = 4 * 2 ** 30
const SMALL = 16 * 2 ** 20
const DIR = path.join(BENCH_DIR, 'store')

/** A header-only llama GGUF, then zeros (a hole) up to `size` bytes; its sha256 is computed once and kept. */
function bigModel(file: string, size: number): string {
  const digestFile = `${file}.sha256`
  if (existsSync(file) && existsSync(digestFile) && statSync(file).size === size) return readFileSync(digestFile, 'utf8').trim()
  writeFileSync(
    file,
    ggufBytes([
      ['general.architecture', { type: 'str', value: 'llama' }],
      ['general.name', { type: 'str', value: 'setup-llama-server bench: zeros after a header' }],
      ['llama.context_length', { type: 'u32', value: 4096 }],
      ['llama.block_count', { type: 'u32', value: 32 }],
      ['llama.embedding_length', { type: 'u32', value: 4096 }],
      ['llama.attention.head_count', { type: 'u32', value: 32 }],
    ]),
  )
  truncateSync(file, size)
  const digest = `sha256:${execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]}`
  writeFileSync(digestFile, digest)
  return digest
}

/** Serves the files of a directory over HTTP (HEAD, GET, `Range: bytes=N-`), as any web server would. */
async function serveDir(dir: string): Promise<{ url: (name: string) => string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.basename(new URL(req.url ?? '/', 'http://x').pathname))
    const size = existsSync(file) ? statSync(file).size : -1
    if (size < 0) return void res.writeHead(404).end()
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0)
    const headers: Record<string, string> = { 'Content-Length': String(size - start), 'Accept-Ranges': 'bytes', ETag: '"bench-model"' }
    if (start) headers['Content-Range'] = `bytes ${start}-${size - 1}/${size}`
    res.writeHead(start ? 206 : 200, headers)
    if (req.method === 'HEAD') return void res.end()
    createReadStream(file, { start }).pipe(res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { url: (name) => `${origin}/${name}`, close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) }
}

interface Hit {
  seconds: number
  lookup: number
  io: Record<string, number>
}

async function hit(f: BenchFixture, inputs: Record<string, string>, label: string): Promise<Hit> {
  const trace = path.join(f.dirs.temp, 'store-trace.json')
  const run: MainRun = await runMain({
    dirs: f.dirs,
    inputs: { 'cache-dir': path.join(DIR, 'cache'), 'llama-server-path': f.engine, start: 'false', ...inputs },
    env: traceEnv(trace),
    timeoutMs: 30 * 60_000,
  })
  if (run.exitCode !== 0) throw new Error(`${label} failed:\n${run.errors.join('\n')}\n${run.stdout.slice(-3000)}`)
  const t = readTrace(trace)
  rmSync(trace)
  return { seconds: (run.closedAt - run.spawnedAt) / 1000, lookup: ((markAt(t, 'model') ?? Number.NaN) - (markAt(t, 'inputs') ?? Number.NaN)) / 1000, io: t.io }
}

function toolCache(f: BenchFixture, args: string[]): { seconds: number; io: Record<string, number> } {
  const result = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'node'), [path.join(import.meta.dirname, 'tool-cache.mjs'), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', RUNNER_TOOL_CACHE: f.dirs.toolCache, RUNNER_TEMP: f.dirs.temp },
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`tool-cache ${args.join(' ')} failed:\n${result.stderr}`)
  // The toolkit prints its ::debug:: commands on stdout too; the answer is the last line.
  return JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as { seconds: number; io: Record<string, number> }
}

function timeCommand(command: string, args: string[]): number {
  const started = now()
  const result = spawnSync(command, args, { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`${command} failed:\n${result.stderr}`)
  return (now() - started) / 1000
}

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 5
  const hashRuns = ctx.runs ?? 3
  const f = await benchFixture(ctx.log)
  mkdirSync(DIR, { recursive: true })
  const file = path.join(DIR, 'big.gguf')
  ctx.log('store: generating the 4 GiB model (once)')
  const digest = bigModel(file, SIZE)
  const small = bigModel(path.join(DIR, 'small.gguf'), SMALL)
  const served = await serveDir(DIR)
  const samples = { big: [] as Hit[], small: [] as Hit[], full: [] as Hit[], cacheFile: [] as ReturnType<typeof toolCache>[], find: [] as ReturnType<typeof toolCache>[] }
  try {
    const bigInputs = { model: served.url('big.gguf'), 'model-digest': digest }
    const smallInputs = { model: served.url('small.gguf'), 'model-digest': small }
    ctx.log('store: the first run downloads the 4 GiB model into the bench store (once)')
    const first = await hit(f, bigInputs, 'the 4 GiB download')
    ctx.log(`store: ready after ${first.seconds.toFixed(1)} s`)
    await hit(f, smallInputs, 'the 16 MiB download')
    // The hits first, the toolkit's copies after: a copy leaves gigabytes of dirty pages whose write-back would
    // slow whatever reads the disk next.
    for (let i = 0; i < runs; i++) {
      samples.big.push(await hit(f, bigInputs, 'the 4 GiB hit'))
      samples.small.push(await hit(f, smallInputs, 'the 16 MiB hit'))
      ctx.log(`store hit ${i + 1}/${runs}: 4 GiB ${samples.big.at(-1)?.seconds.toFixed(3)} s, 16 MiB ${samples.small.at(-1)?.seconds.toFixed(3)} s`)
    }
    for (let i = 0; i < runs; i++) {
      rmSync(path.join(f.dirs.toolCache, 'bench-model'), { recursive: true, force: true })
      samples.cacheFile.push(toolCache(f, ['cache', file]))
      samples.find.push(toolCache(f, ['find']))
      ctx.log(`tool-cache ${i + 1}/${runs}: cacheFile ${samples.cacheFile.at(-1)?.seconds.toFixed(2)} s`)
    }
    rmSync(path.join(f.dirs.toolCache, 'bench-model'), { recursive: true, force: true })
    spawnSync('sync')
    const hashes = { action: [] as number[], sha256sum: [] as number[], openssl: [] as number[] }
    for (let i = 0; i < hashRuns; i++) {
      const full = await hit(f, { ...bigInputs, verify: 'full' }, 'verify: full')
      samples.full.push(full)
      hashes.action.push(SIZE / full.lookup)
      hashes.sha256sum.push(SIZE / timeCommand('sha256sum', [file]))
      hashes.openssl.push(SIZE / timeCommand('openssl', ['dgst', '-sha256', file]))
      ctx.log(`verify full ${i + 1}/${hashRuns}: action ${formatValue(hashes.action.at(-1) as number, 'bytes/s')}, sha256sum ${formatValue(hashes.sha256sum.at(-1) as number, 'bytes/s')}, openssl ${formatValue(hashes.openssl.at(-1) as number, 'bytes/s')}`)
    }
    return [storeSection(runs, samples), verifySection(hashRuns, hashes, samples.full)]
  } finally {
    await served.close()
  }
}

function storeSection(runs: number, s: { big: Hit[]; small: Hit[]; cacheFile: { seconds: number; io: Record<string, number> }[]; find: { seconds: number; io: Record<string, number> }[] }): Section {
  const io = (hits: { io: Record<string, number> }[], k: string) => hits.map((h) => h.io[k] ?? Number.NaN)
  const figures: Figure[] = [
    {
      name: 'store hit, 4 GiB: model lookup (inputs parsed → model ready)',
      unit: 's',
      samples: s.big.map((h) => h.lookup),
      anchor: { name: 'tool-cache find', samples: s.find.map((h) => h.seconds) },
    },
    {
      name: 'store hit, 4 GiB: model lookup',
      unit: 's',
      samples: s.big.map((h) => h.lookup),
      anchor: { name: 'the same, 16 MiB', samples: s.small.map((h) => h.lookup) },
    },
    {
      name: 'store hit, 4 GiB: bytes the step read (rchar)',
      unit: 'bytes',
      samples: io(s.big, 'rchar'),
      anchor: { name: 'the same, 16 MiB', samples: io(s.small, 'rchar') },
      target: { text: 'nothing of the model read', met: median(io(s.big, 'rchar')) < 64 * 2 ** 20 },
    },
    {
      name: 'store hit, 4 GiB: bytes the step wrote (wchar)',
      unit: 'bytes',
      samples: io(s.big, 'wchar'),
      anchor: { name: 'tool-cache cacheFile', samples: io(s.cacheFile, 'wchar') },
      target: { text: 'nothing copied', met: median(io(s.big, 'wchar')) < 2 ** 20 },
    },
    {
      name: 'store hit, 4 GiB: main step (start: false, binary mode)',
      unit: 's',
      samples: s.big.map((h) => h.seconds),
      anchor: { name: 'tool-cache cacheFile', samples: s.cacheFile.map((h) => h.seconds) },
    },
  ]
  const table: Table = {
    title: 'The toolkit on the same 4 GiB file (medians; cacheFile copies the file into the tool cache, find then looks it up)',
    header: ['call', 'time', 'bytes read (rchar)', 'bytes written (wchar)'],
    rows: (
      [
        ['cacheFile', s.cacheFile],
        ['find', s.find],
      ] as const
    ).map(([name, r]) => [name, formatValue(median(r.map((x) => x.seconds)), 's'), formatValue(median(io(r, 'rchar')), 'bytes'), formatValue(median(io(r, 'wchar')), 'bytes')]),
  }
  return {
    id: 'store-hit',
    title: 'Store hit',
    command: `npm run bench -- store --runs ${runs}`,
    intro:
      'A 4 GiB model already in the store (an `http://` model with `model-digest`, so that a hit asks no server; `verify: quick`), ' +
      'the main step with `start: false` and the real llama-server as `llama-server-path`. The model lookup is the time between ' +
      "the action's `inputs` and `model` marks; bytes are the step process's own /proc/self/io counters (rchar/wchar: what it " +
      'read and wrote through system calls, page cache or not). The same hit with a 16 MiB model of the same header shows that a ' +
      'hit does not grow with the model. The anchor is @actions/tool-cache 4 on the same file, each call in a process of its own.',
    figures,
    tables: [table],
  }
}

function verifySection(runs: number, hashes: { action: number[]; sha256sum: number[]; openssl: number[] }, full: Hit[]): Section {
  return {
    id: 'verify-full',
    title: 'verify: full',
    command: `npm run bench -- store --runs ${runs}`,
    intro:
      'The same 4 GiB entry with `verify: full`: the model lookup re-hashes the file; throughput is its size over the lookup ' +
      'time. The anchors hash the same file (in the page cache, as the action reads it) with `sha256sum` and `openssl dgst -sha256`, ' +
      'whole processes timed.',
    figures: [
      { name: 'verify: full, hashing throughput', unit: 'bytes/s', samples: hashes.action, anchor: { name: 'sha256sum', samples: hashes.sha256sum } },
      { name: 'verify: full, hashing throughput', unit: 'bytes/s', samples: hashes.action, anchor: { name: 'openssl dgst -sha256', samples: hashes.openssl } },
      { name: 'verify: full, bytes the step read (rchar)', unit: 'bytes', samples: full.map((h) => h.io.rchar ?? Number.NaN) },
    ],
  }
}

export const storeHit: Benchmark = { id: 'store', about: 'a cached 4 GiB model reused, against tool-cache; verify: full against sha256sum and openssl', run }
