// Download: the action's fetch of a large hf: model against curl's single stream, on a local server that speaks
// the Hub's download protocol (a /resolve redirect to a blob host that honours ranges), first with each
// connection limited to --rate bytes per second (as CDNs limit them), then unlimited; the two ways of hashing a
// file fetched in ranges (in order as ranges complete, in a worker thread, against one pass at the end); and the
// action's peak memory for a 4 GiB model against a smaller one. Every run takes its figures in turn (curl, the
// action, ...), so that the machine's drift falls on all of them alike.
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { buildFakeLlamaServer } from '../../test/support/engine-fixture.js'
import { writeHeaderOnlyModel } from '../../test/support/gguf-writer.js'
import { actionYml, inputVariable, ROOT } from '../../test/support/runner.js'
import type { BenchContext, Benchmark } from './context.js'
import { formatValue, type Figure, type Section, type Table } from './report.js'
import { BENCH_DIR } from './setup.js'
import { median } from './stats.js'

const DIR = path.join(BENCH_DIR, 'download')
const REPO = 'bench/large-model'
const FILE = 'large-Q8_0.gguf'
const COMMIT = 'b'.repeat(40)
const DEFAULTS = { size: '2G', rate: '50M', rssSize: '4G' }
/** The runner's tool cache, kept across runs (and across benchmarks): only its compile cache is used. */
const TOOL_CACHE = path.join(DIR, 'tool-cache')

// ---- the model: a GGUF header and random bytes, made once and kept ------------------------------------------------

interface ModelFile {
  file: string
  size: number
  sha256: string
}

/** A GGUF file of `size` bytes (a header the action accepts, then random bytes), with its sha256. */
function benchModel(size: number, log: (line: string) => void): ModelFile {
  mkdirSync(DIR, { recursive: true })
  const file = path.join(DIR, `model-${size}.gguf`)
  const meta = `${file}.json`
  if (existsSync(meta) && existsSync(file) && statSync(file).size === size) return JSON.parse(readFileSync(meta, 'utf8')) as ModelFile
  log(`making a ${formatValue(size, 'bytes')} model in ${file} (once)`)
  writeHeaderOnlyModel(file)
  const hash = createHash('sha256').update(readFileSync(file))
  const fd = openSync(file, 'a')
  const block = Buffer.allocUnsafe(16 * 2 ** 20)
  for (let left = size - statSync(file).size; left > 0; left -= block.length) {
    const piece = randomFillSync(block).subarray(0, Math.min(block.length, left))
    writeSync(fd, piece)
    hash.update(piece)
  }
  closeSync(fd)
  const model = { file, size, sha256: hash.digest('hex') }
  writeFileSync(meta, JSON.stringify(model))
  return model
}

/** Reads the file once, so that the server sends it from the page cache to curl and to the action alike. */
function warmPageCache(file: string): void {
  const fd = openSync(file, 'r')
  const buffer = Buffer.allocUnsafe(16 * 2 ** 20)
  while (readSync(fd, buffer) > 0);
  closeSync(fd)
}

// ---- the server: the Hub's /resolve redirect, and a blob host with ranges and a per-connection rate --------------

/** The blob host (scripts/bench/blob-server.py: sendfile, as a CDN's server spends next to no CPU of the runner's). */
interface BlobHost {
  origin: string
  /** User + system CPU seconds it has spent so far, its threads included. */
  cpuSeconds(): number
  stop(): void
}

async function startBlobHost(model: ModelFile, rate: number | undefined): Promise<BlobHost> {
  const script = path.join(ROOT, 'scripts', 'bench', 'blob-server.py')
  const child = spawn('python3', [script, model.file, `"${model.sha256}"`, String(rate ?? 0)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`the download benchmark's blob host needs python3 (${script}): ${error.message}`)))
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it listened`)))
    child.stdout.once('data', (line: Buffer) => resolve(line.toString().trim()))
  })
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  return {
    origin: `http://127.0.0.1:${port}`,
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
      return (Number(fields[11]) + Number(fields[12])) / ticks
    },
    stop: () => void child.kill(),
  }
}

interface BenchServer {
  /** The /resolve URL of the model; the endpoint is its origin. */
  url: string
  endpoint: string
  /** Where /resolve redirects: the limited blob host (each answer at `rate` bytes per second) or the unlimited one. */
  limited: boolean
  /** CPU seconds the blob hosts have spent so far (the /resolve redirects are one small answer per download). */
  cpuSeconds(): number
  close(): Promise<void>
}

async function startServer(model: ModelFile, rate: number): Promise<BenchServer> {
  const [limited, unlimited] = await Promise.all([startBlobHost(model, rate), startBlobHost(model, undefined)])
  const state = { limited: false }
  const hub = http.createServer((_req, res) => {
    res.writeHead(302, {
      Location: `${(state.limited ? limited : unlimited).origin}/blobs/${model.sha256}?X-Amz-Signature=bench`,
      'X-Repo-Commit': COMMIT,
      'X-Linked-Etag': `"${model.sha256}"`,
      'X-Linked-Size': String(model.size),
      'Content-Length': '0',
    })
    res.end()
  })
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r))
  return {
    endpoint: origin(hub),
    url: `${origin(hub)}/${REPO}/resolve/main/${FILE}`,
    get limited() {
      return state.limited
    },
    set limited(value) {
      state.limited = value
    },
    cpuSeconds: () => limited.cpuSeconds() + unlimited.cpuSeconds(),
    close: async () => {
      limited.stop()
      unlimited.stop()
      hub.closeAllConnections()
      await new Promise((r) => hub.close(r))
    },
  }
}

function origin(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

// ---- what is timed -------------------------------------------------------------------------------------------------

interface Timed {
  seconds: number
  /** User + system CPU seconds of the process (its threads included). */
  cpu: number
  /** Peak resident memory of the process, bytes (GNU time's %M). */
  peakRss: number
  /** CPU seconds the server spent meanwhile. */
  serverCpu: number
  stdout: string
}

/** Runs argv under GNU time: wall seconds, CPU seconds and the peak RSS of the process, and the server's CPU. */
async function timed(argv: string[], options: { server?: BenchServer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Timed> {
  const { server, env = process.env, cwd } = options
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-time-')), 'time')
  const serverBefore = server?.cpuSeconds() ?? 0
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', report, ...argv], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number | null>((r) => child.once('close', r))
  const seconds = (performance.now() - started) / 1000
  const serverCpu = (server?.cpuSeconds() ?? 0) - serverBefore
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`)
  const [user, sys, kib] = (readFileSync(report, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number) as [number, number, number]
  rmSync(path.dirname(report), { recursive: true, force: true })
  return { seconds, cpu: user + sys, peakRss: kib * 1024, serverCpu, stdout }
}

/** curl's single stream, following the redirect, into a file beside the action's; then sha256sum of that file. */
async function curlThenSha256sum(server: BenchServer, dir: string): Promise<{ curl: Timed; sha256sum: Timed }> {
  const out = path.join(dir, 'curl.gguf')
  try {
    const curl = await timed(['curl', '-sS', '-f', '-L', '-o', out, server.url], { server })
    const sha256sum = await timed(['sha256sum', out])
    return { curl, sha256sum }
  } finally {
    rmSync(out, { force: true })
  }
}

/**
 * The action's main step (dist/, as the runner runs it), start: false, into a fresh Hugging Face cache and a fresh
 * cache-dir. The tool cache (where the bundle's compile cache lives) is kept from run to run, as on a self-hosted
 * runner where the action ran before: the model is what is new.
 */
async function action(server: BenchServer, dir: string, engine: string, model: ModelFile, inputs: Record<string, string> = {}): Promise<Timed> {
  const job = mkdtempSync(path.join(dir, 'job-'))
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_ACTIONS: 'true', RUNNER_TEMP: job, RUNNER_TOOL_CACHE: TOOL_CACHE, GITHUB_WORKSPACE: job, HF_HOME: path.join(job, 'hf-home') }
  for (const [name, spec] of Object.entries(actionYml().inputs)) if (spec.default !== undefined) env[inputVariable(name)] = spec.default
  const given = { model: `hf:${REPO}/${FILE}`, 'hf-endpoint': server.endpoint, 'llama-server-path': engine, start: 'false', 'remote-cache': 'none', 'cache-dir': path.join(job, 'cache'), ...inputs }
  for (const [name, value] of Object.entries(given)) env[inputVariable(name)] = value
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
    env[name] = path.join(job, name)
    writeFileSync(env[name] as string, '')
  }
  try {
    const run = await timed([process.execPath, path.join(ROOT, actionYml().runs.main)], { server, env, cwd: job })
    if (!readFileSync(env.GITHUB_OUTPUT as string, 'utf8').includes(`sha256:${model.sha256}`)) throw new Error(`the action did not output the model's digest:\n${run.stdout.slice(-3000)}`)
    return run
  } finally {
    rmSync(job, { recursive: true, force: true })
  }
}

/** The download function alone, with one way of hashing or the other (scripts/bench/download-child.ts). */
async function downloadOnly(server: BenchServer, dir: string, model: ModelFile, hashMode: 'in-order' | 'after'): Promise<Timed> {
  const dest = path.join(dir, `only-${hashMode}.gguf`)
  try {
    const child = path.join(ROOT, 'scripts', 'bench', 'download-child.ts')
    return await timed([process.execPath, '--import', 'tsx', child, server.url, dest, String(model.size), model.sha256, hashMode], { server })
  } finally {
    rmSync(dest, { force: true })
  }
}

// ---- the runs and the section ----------------------------------------------------------------------------------

/** `2G`, `50M`, `512K`, `1073741824` → bytes. Pure. */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)(?:i?B)?$/i.exec(text.trim())
  if (!m || Number(m[1]) <= 0) throw new Error(`--${option} takes a size such as 2G, 50M or 1048576 (bytes), not ${JSON.stringify(text)}`)
  const unit = ({ '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 } as Record<string, number>)[(m[2] ?? '').toUpperCase()] as number
  return Math.round(Number(m[1]) * unit)
}

/** One series of samples per thing timed, filled run after run. */
class Series {
  private readonly all = new Map<string, Timed[]>()
  constructor(private readonly log: (line: string) => void) {}
  add(name: string, t: Timed): Timed {
    const list = this.all.get(name) ?? []
    list.push(t)
    this.all.set(name, list)
    this.log(`${name}: ${t.seconds.toFixed(2)} s, ${t.cpu.toFixed(2)} CPU s, peak RSS ${formatValue(t.peakRss, 'bytes')}; the server ${t.serverCpu.toFixed(2)} CPU s; load ${os.loadavg()[0]?.toFixed(1)}`)
    return t
  }
  get(name: string): Timed[] {
    return this.all.get(name) ?? []
  }
  seconds(name: string): number[] {
    return this.get(name).map((t) => t.seconds)
  }
}

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 3
  const size = parseSize(ctx.options.size ?? DEFAULTS.size, 'size')
  const rate = parseSize(ctx.options.rate ?? DEFAULTS.rate, 'rate')
  const rssSize = parseSize(ctx.options['rss-size'] ?? DEFAULTS.rssSize, 'rss-size')
  const only = ctx.options.only
  if (only !== undefined && only !== 'limited' && only !== 'unlimited') throw new Error(`--only takes limited or unlimited, not ${JSON.stringify(only)}`)
  const model = benchModel(size, ctx.log)
  const engine = buildFakeLlamaServer()
  const server = await startServer(model, rate)
  mkdirSync(DIR, { recursive: true })
  const dir = mkdtempSync(path.join(DIR, 'run-'))
  const series = new Series(ctx.log)
  const loads: number[] = []
  const perConnection = formatValue(rate, 'bytes/s')
  const halves: { key: 'limited' | 'unlimited'; label: string }[] = [
    { key: 'limited' as const, label: `each connection limited to ${perConnection}` },
    { key: 'unlimited' as const, label: 'unlimited' },
  ].filter((h) => only === undefined || h.key === only)
  try {
    warmPageCache(model.file)
    // Untimed: fills the compile cache for this dist/, as the first job on a runner does.
    server.limited = false
    await action(server, dir, engine, model)
    for (const half of halves) {
      server.limited = half.key === 'limited'
      for (let i = 0; i < runs; i++) {
        ctx.log(`download, ${half.label}: run ${i + 1} of ${runs}`)
        loads.push(os.loadavg()[0] as number)
        const { curl, sha256sum } = await curlThenSha256sum(server, dir)
        series.add(`${half.key}: curl`, curl)
        series.add(`${half.key}: sha256sum`, sha256sum)
        series.add(`${half.key}: curl + sha256sum`, { ...curl, seconds: curl.seconds + sha256sum.seconds, cpu: curl.cpu + sha256sum.cpu, serverCpu: curl.serverCpu })
        series.add(`${half.key}: the action`, await action(server, dir, engine, model))
        if (half.key === 'unlimited') series.add(`${half.key}: the action, download-connections: 1`, await action(server, dir, engine, model, { 'download-connections': '1' }))
        series.add(`${half.key}: ranges hashed after`, await downloadOnly(server, dir, model, 'after'))
        series.add(`${half.key}: ranges hashed in order`, await downloadOnly(server, dir, model, 'in-order'))
      }
    }
  } finally {
    await server.close()
  }
  // Peak memory for the large model, unlimited (where the most is in flight), against the runs above.
  const rssRuns = size === rssSize ? series.get('unlimited: the action') : []
  if (!rssRuns.length) {
    const big = benchModel(rssSize, ctx.log)
    const bigServer = await startServer(big, rate)
    try {
      warmPageCache(big.file)
      for (let i = 0; i < runs; i++) rssRuns.push(series.add(`the action, ${formatValue(rssSize, 'bytes')} model, unlimited`, await action(bigServer, dir, engine, big)))
    } finally {
      await bigServer.close()
      rmSync(dir, { recursive: true, force: true })
    }
  } else rmSync(dir, { recursive: true, force: true })

  const s = (name: string) => series.seconds(name)
  const figures: Figure[] = []
  for (const half of halves) {
    const k = half.key
    const speedup = median(s(`${k}: curl`)) / median(s(`${k}: the action`))
    const ratio = 1 / speedup
    figures.push(
      k === 'limited'
        ? { name: `${half.label}: the action's time`, unit: 's', samples: s(`${k}: the action`), anchor: { name: 'curl', samples: s(`${k}: curl`) }, target: { text: '≥ 3× faster than curl (≤ 0.33×)', met: speedup >= 3 } }
        : { name: `${half.label}: the action's time`, unit: 's', samples: s(`${k}: the action`), anchor: { name: 'curl', samples: s(`${k}: curl`) }, target: { text: "≤ 1.1× curl's time", met: ratio <= 1.1 } },
      { name: `${half.label}: the action's time`, unit: 's', samples: s(`${k}: the action`), anchor: { name: 'curl + sha256sum', samples: s(`${k}: curl + sha256sum`) } },
    )
    if (k === 'unlimited') figures.push({ name: `${half.label}: the action with download-connections: 1`, unit: 's', samples: s(`${k}: the action, download-connections: 1`), anchor: { name: 'curl', samples: s(`${k}: curl`) } })
    figures.push({ name: `${half.label}: ranges hashed in order as they complete (the default)`, unit: 's', samples: s(`${k}: ranges hashed in order`), anchor: { name: 'one pass at the end', samples: s(`${k}: ranges hashed after`) } })
  }
  const smallRss = series.get(`${halves.at(-1)?.key}: the action`).map((t) => t.peakRss)
  const bigRss = rssRuns.map((t) => t.peakRss)
  figures.push(
    size === rssSize
      ? { name: `the action's peak RSS, ${formatValue(rssSize, 'bytes')} model`, unit: 'bytes', samples: bigRss }
      : {
          name: `the action's peak RSS, ${formatValue(rssSize, 'bytes')} model`,
          unit: 'bytes',
          samples: bigRss,
          anchor: { name: `the same, ${formatValue(size, 'bytes')} model`, samples: smallRss },
          target: { text: 'does not grow with the model (≤ 1.25×)', met: median(bigRss) <= 1.25 * median(smallRss) },
        },
  )

  const cpuTable: Table = {
    title: `CPU seconds (user + system, medians; the action's hashing thread included) and peak RSS per process, for the ${formatValue(size, 'bytes')} model, with the blob host's CPU seconds during the same runs`,
    header: ['process', ...halves.flatMap((h) => [`CPU s, ${h.label}`, 'the blob host meanwhile']), 'peak RSS'],
    rows: ['curl', 'sha256sum', 'the action', 'the action, download-connections: 1', 'ranges hashed in order', 'ranges hashed after'].map((name) => {
      const of = (k: string) => series.get(`${k}: ${name}`)
      const cpu = (xs: Timed[], pick: (t: Timed) => number) => (xs.length ? median(xs.map(pick)).toFixed(2) : '')
      const all = halves.flatMap((h) => of(h.key))
      return [name, ...halves.flatMap((h) => [cpu(of(h.key), (t) => t.cpu), cpu(of(h.key), (t) => t.serverCpu)]), all.length ? formatValue(median(all.map((t) => t.peakRss)), 'bytes') : '']
    }),
  }
  const options = [size !== parseSize(DEFAULTS.size, 'size') && `--size ${ctx.options.size}`, rate !== parseSize(DEFAULTS.rate, 'rate') && `--rate ${ctx.options.rate}`, rssSize !== parseSize(DEFAULTS.rssSize, 'rss-size') && `--rss-size ${ctx.options['rss-size']}`, only && `--only ${only}`].filter(Boolean)
  return [
    {
      id: 'download',
      title: 'Download',
      command: `npm run bench -- download --runs ${runs}${options.length ? ` ${options.join(' ')}` : ''}`,
      intro:
        `A ${formatValue(size, 'bytes')} GGUF file (random bytes after a header), sent from the page cache by a local server that speaks the Hub's protocol: ` +
          'a /resolve redirect with X-Repo-Commit, X-Linked-Etag and X-Linked-Size, to a blob host that honours ranges and If-Range ' +
          "(scripts/bench/blob-server.py, which sends with sendfile(2): a remote CDN takes none of the runner's CPU, and this one takes little), " +
          `first with each answer limited to ${perConnection} (as CDNs limit each connection), then unlimited. ` +
          '"The action" is its main step from dist/ as the runner runs it, `start: false`, default inputs (the model into a fresh Hugging Face cache, ' +
          'a fresh cache-dir, automatic connections: 8; the tool cache, with the compile cache of the bundle, kept from run to run as on a ' +
          'self-hosted runner where the action ran before, and filled by one untimed run first), timed from spawn to exit: it verifies the sha256, reads the GGUF header and fsyncs the file before it renames it into place. ' +
          "curl is `curl -sS -f -L -o`, one stream, no verification, no fsync, writing to the same filesystem; \"curl + sha256sum\" adds coreutils' " +
          'sha256sum of the same file afterwards: the guarantee the action gives. The hashing rows time the download function alone ' +
          '(scripts/bench/download-child.ts, 8 connections) in a process of its own, hashing in order in a worker thread as ranges complete, ' +
          'or in one pass at the end. Each run takes every figure of its half in turn. ' +
          `Ratios are of the medians; below 1, the action is faster. The 1-minute load average during the runs was ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} (${os.cpus().length} CPUs): ` +
          'the clients, the server and the other work on the machine share those CPUs, and where they are short a client that needs more CPU than curl ' +
          '(a hash, a second thread) loses time that it would not lose beside an idle CPU.',
      figures,
      tables: [cpuTable],
    },
  ]
}

export const download: Benchmark = {
  id: 'download',
  about: "a large hf: model: the action against curl's single stream, per-connection rate-limited and unlimited; hashing in order or at the end; peak RSS",
  options: [
    { name: 'size', value: 'SIZE', about: `the model's size for the timed runs (default ${DEFAULTS.size}; 2G, 512M, bytes)` },
    { name: 'rate', value: 'SIZE', about: `bytes per second per connection on the limited server (default ${DEFAULTS.rate})` },
    { name: 'rss-size', value: 'SIZE', about: `the model's size for the peak-RSS runs (default ${DEFAULTS.rssSize}; made once on disk)` },
    { name: 'only', value: 'HALF', about: '`limited` or `unlimited`: one half of the download benchmark' },
  ],
  run,
}
