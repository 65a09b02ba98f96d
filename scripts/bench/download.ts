// `npx tsx scripts/bench/download.ts [--size 4G] [--runs N] [--rate 50M] [--only limited|unlimited]`: the action's fetch of a large hf: model
// against curl's single stream, on a local server that speaks the Hub's download protocol (a /resolve redirect to
// a blob host that honours ranges), first with each connection limited to --rate bytes per second (as CDNs limit
// them), then unlimited; the action's peak memory (GNU time's maximum RSS); and the two ways of hashing a file
// fetched in ranges (in order as they complete, in a worker thread, against one pass at the end). It prints one
// markdown section on stdout; progress goes to stderr. Stand-alone (the `npm run bench` wiring is the lead's):
// `downloadBenchmark()` returns the same section as data.
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { buildFakeLlamaServer } from '../../test/support/engine-fixture.js'
import { writeHeaderOnlyModel } from '../../test/support/gguf-writer.js'
import { actionYml, inputVariable, ROOT } from '../../test/support/runner.js'

const BENCH_DIR = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server', 'bench-download')
const REPO = 'bench/large-model'
const FILE = 'large-Q8_0.gguf'
const COMMIT = 'b'.repeat(40)
const log = (line: string) => process.stderr.write(`[bench download] ${line}\n`)

// ---- the model: a GGUF header and random bytes, made once and kept ------------------------------------------------

interface ModelFile {
  file: string
  size: number
  sha256: string
}

/** A GGUF file of about `size` bytes (a header the action accepts, then random bytes), with its sha256. */
export function benchModel(size: number): ModelFile {
  mkdirSync(BENCH_DIR, { recursive: true })
  const file = path.join(BENCH_DIR, `model-${size}.gguf`)
  const meta = `${file}.json`
  if (existsSync(meta) && existsSync(file) && statSync(file).size === size) return JSON.parse(readFileSync(meta, 'utf8')) as ModelFile
  log(`making a ${(size / 2 ** 30).toFixed(1)} GiB model in ${file} (once)`)
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

// ---- the server: the Hub's /resolve redirect, and a blob host with ranges and a per-connection rate --------------

/** Passes bytes on no faster than `rate` bytes per second. */
class Throttle extends Transform {
  private readonly started = Date.now()
  private sent = 0
  constructor(private readonly rate: number) {
    super()
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.sent += chunk.length
    const wait = this.started + (this.sent / this.rate) * 1000 - Date.now()
    if (wait > 0) setTimeout(() => done(null, chunk), wait)
    else done(null, chunk)
  }
}

interface BenchServer {
  /** The /resolve URL of the model; the endpoint is its origin. */
  url: string
  endpoint: string
  /** Bytes per second per connection; undefined: unlimited. */
  rate: number | undefined
  close(): Promise<void>
}

export async function startServer(model: ModelFile): Promise<BenchServer> {
  const etag = `"${model.sha256}"`
  const state = { rate: undefined as number | undefined }
  const blob = http.createServer((req, res) => {
    const ifRange = req.headers['if-range']
    const m = (ifRange === undefined || ifRange === etag) && /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    const start = m ? Number(m[1]) : 0
    const end = m && m[2] ? Math.min(Number(m[2]), model.size - 1) : model.size - 1
    const headers: Record<string, string> = { 'Accept-Ranges': 'bytes', ETag: etag, 'Content-Length': String(end + 1 - start) }
    if (m) headers['Content-Range'] = `bytes ${start}-${end}/${model.size}`
    res.writeHead(m ? 206 : 200, headers)
    if (req.method === 'HEAD') return void res.end()
    const body = createReadStream(model.file, { start, end, highWaterMark: 256 * 1024 })
    const done = state.rate ? pipeline(body, new Throttle(state.rate), res) : pipeline(body, res)
    done.catch(() => undefined)
  })
  const hub = http.createServer((req, res) => {
    res.writeHead(302, {
      Location: `${origin(blob)}/blobs/${model.sha256}?X-Amz-Signature=bench`,
      'X-Repo-Commit': COMMIT,
      'X-Linked-Etag': etag,
      'X-Linked-Size': String(model.size),
      'Content-Length': '0',
    })
    res.end()
  })
  await Promise.all([blob, hub].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))))
  return {
    endpoint: origin(hub),
    url: `${origin(hub)}/${REPO}/resolve/main/${FILE}`,
    get rate() {
      return state.rate
    },
    set rate(value) {
      state.rate = value
    },
    close: async () => {
      for (const s of [blob, hub]) s.closeAllConnections()
      await Promise.all([blob, hub].map((s) => new Promise((r) => s.close(r))))
    },
  }
}

function origin(server: http.Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

// ---- what is timed -------------------------------------------------------------------------------------------------

interface Timed {
  seconds: number
  /** User + system CPU seconds of the process and its children. */
  cpuSeconds?: number
  /** Peak resident memory of the process, bytes (GNU time's %M). */
  peakRss?: number
}

/** Runs argv under GNU time: wall seconds, and the peak RSS of the (single) process. */
async function timed(argv: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Timed & { stdout: string }> {
  const report = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-time-')), 'time')
  const started = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', report, ...argv], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const code = await new Promise<number | null>((r) => child.once('close', r))
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${argv.join(' ')} exited with ${code}:\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`)
  const [user, sys, kib] = (readFileSync(report, 'utf8').trim().split('\n').at(-1) ?? '').split(' ').map(Number) as [number, number, number]
  rmSync(path.dirname(report), { recursive: true, force: true })
  return { seconds, cpuSeconds: user + sys, peakRss: kib * 1024, stdout }
}

/** curl's single stream, following the redirect, into a file: what a workflow does by hand. */
export async function curl(server: BenchServer, dir: string): Promise<Timed> {
  const out = path.join(dir, 'curl.gguf')
  try {
    return await timed(['curl', '-sS', '-f', '-L', '-o', out, server.url], process.env)
  } finally {
    rmSync(out, { force: true })
  }
}

/** The same, then sha256sum: the guarantee the action gives. */
async function curlAndSha256(server: BenchServer, dir: string): Promise<Timed> {
  const out = path.join(dir, 'curl.gguf')
  try {
    const a = await timed(['curl', '-sS', '-f', '-L', '-o', out, server.url], process.env)
    const b = await timed(['sha256sum', out], process.env)
    return { seconds: a.seconds + b.seconds }
  } finally {
    rmSync(out, { force: true })
  }
}

/** The action's main step (dist/, as the runner runs it), start: false, into a fresh Hugging Face cache. */
export async function action(server: BenchServer, dir: string, engine: string, model: ModelFile, inputs: Record<string, string> = {}): Promise<Timed> {
  const job = mkdtempSync(path.join(dir, 'job-'))
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_ACTIONS: 'true', RUNNER_TEMP: job, RUNNER_TOOL_CACHE: job, GITHUB_WORKSPACE: job, HF_HOME: path.join(job, 'hf-home') }
  for (const [name, spec] of Object.entries(actionYml().inputs)) if (spec.default !== undefined) env[inputVariable(name)] = spec.default
  const given = { model: `hf:${REPO}/${FILE}`, 'hf-endpoint': server.endpoint, 'llama-server-path': engine, start: 'false', 'remote-cache': 'none', ...inputs }
  for (const [name, value] of Object.entries(given)) env[inputVariable(name)] = value
  for (const name of ['GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']) {
    env[name] = path.join(job, name)
    writeFileSync(env[name] as string, '')
  }
  try {
    const run = await timed([process.execPath, path.join(ROOT, actionYml().runs.main)], env, job)
    if (!readFileSync(env.GITHUB_OUTPUT as string, 'utf8').includes(`sha256:${model.sha256}`)) throw new Error(`the action did not output the model's digest:\n${run.stdout.slice(-3000)}`)
    return run
  } finally {
    rmSync(job, { recursive: true, force: true })
  }
}

/** The download function alone (no action around it), with one way of hashing or the other, in a child process. */
export async function downloadOnly(server: BenchServer, dir: string, model: ModelFile, hashMode: 'in-order' | 'after'): Promise<Timed> {
  const dest = path.join(dir, `only-${hashMode}.gguf`)
  try {
    const argv = [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--download-only', server.url, dest, String(model.size), model.sha256, hashMode]
    return await timed(argv, process.env)
  } finally {
    rmSync(dest, { force: true })
  }
}

// ---- the section -----------------------------------------------------------------------------------------------

export interface Figure {
  name: string
  unit: 's' | 'bytes'
  samples: number[]
  /** CPU seconds (user + system) of the timed process, per sample: context on a shared machine. */
  cpu?: number[]
  anchor?: { name: string; samples: number[] }
  compare?: 'ratio'
  target?: { text: string; met: boolean }
}

export interface DownloadSection {
  id: string
  title: string
  command: string
  intro: string
  figures: Figure[]
  notes: string[]
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

async function repeat(times: number, what: string, fn: () => Promise<Timed>): Promise<Timed[]> {
  const out: Timed[] = []
  for (let i = 0; i < times; i++) {
    const t = await fn()
    log(`${what}: ${t.seconds.toFixed(2)} s${t.peakRss ? `, peak RSS ${(t.peakRss / 2 ** 20).toFixed(0)} MiB` : ''}`)
    out.push(t)
  }
  return out
}

export interface DownloadOptions {
  size: number
  runs: number
  /** Bytes per second per connection for the limited half. */
  rate: number
  /** One half only: the server limited per connection, or unlimited. */
  only?: 'limited' | 'unlimited'
}

export async function downloadBenchmark(options: DownloadOptions): Promise<DownloadSection> {
  const model = benchModel(options.size)
  const engine = buildFakeLlamaServer()
  const server = await startServer(model)
  const dir = mkdtempSync(path.join(BENCH_DIR, 'run-'))
  const gib = (model.size / 2 ** 30).toFixed(1)
  const mibs = (options.rate / 2 ** 20).toFixed(0)
  const s = (xs: Timed[]) => xs.map((x) => x.seconds)
  const cpu = (xs: Timed[]) => xs.map((x) => x.cpuSeconds ?? NaN)
  const figures: Figure[] = []
  const notes: string[] = []
  const actions: Timed[] = []
  try {
    if (options.only !== 'unlimited') {
      server.rate = options.rate
      const curled = await repeat(options.runs, `curl, ${mibs} MiB/s per connection`, () => curl(server, dir))
      const act = await repeat(options.runs, 'the action, limited', () => action(server, dir, engine, model))
      const after = await repeat(options.runs, 'ranges hashed after, limited', () => downloadOnly(server, dir, model, 'after'))
      const inOrder = await repeat(options.runs, 'ranges hashed in order, limited', () => downloadOnly(server, dir, model, 'in-order'))
      const speedup = median(s(curled)) / median(s(act))
      actions.push(...act)
      figures.push(
        { name: `the action, each connection limited to ${mibs} MiB/s`, unit: 's', samples: s(act), cpu: cpu(act), anchor: { name: 'curl', samples: s(curled) }, compare: 'ratio', target: { text: 'at least 3x faster than curl', met: speedup >= 3 } },
        { name: `ranges hashed in order as they complete, ${mibs} MiB/s per connection`, unit: 's', samples: s(inOrder), cpu: cpu(inOrder), anchor: { name: 'one pass at the end', samples: s(after) }, compare: 'ratio' },
      )
      notes.push(`Each connection limited to ${mibs} MiB/s: the action is ${speedup.toFixed(2)}x faster than curl; one pass at the end took ${median(cpu(after)).toFixed(2)} CPU s (median).`)
    }
    if (options.only !== 'limited') {
      server.rate = undefined
      const curled = await repeat(options.runs, 'curl, unlimited', () => curl(server, dir))
      const curledSha = await repeat(options.runs, 'curl + sha256sum, unlimited', () => curlAndSha256(server, dir))
      const act = await repeat(options.runs, 'the action, unlimited', () => action(server, dir, engine, model))
      const one = await repeat(options.runs, 'the action, download-connections: 1, unlimited', () => action(server, dir, engine, model, { 'download-connections': '1' }))
      const after = await repeat(options.runs, 'ranges hashed after, unlimited', () => downloadOnly(server, dir, model, 'after'))
      const inOrder = await repeat(options.runs, 'ranges hashed in order, unlimited', () => downloadOnly(server, dir, model, 'in-order'))
      const ratio = median(s(act)) / median(s(curled))
      actions.push(...act)
      figures.push(
        { name: 'the action, unlimited', unit: 's', samples: s(act), cpu: cpu(act), anchor: { name: 'curl', samples: s(curled) }, compare: 'ratio', target: { text: 'within 1.1x of curl', met: ratio <= 1.1 } },
        { name: 'the action, unlimited', unit: 's', samples: s(act), cpu: cpu(act), anchor: { name: 'curl + sha256sum', samples: s(curledSha) }, compare: 'ratio' },
        { name: 'the action with download-connections: 1, unlimited', unit: 's', samples: s(one), cpu: cpu(one), anchor: { name: 'curl', samples: s(curled) }, compare: 'ratio' },
        { name: 'ranges hashed in order as they complete, unlimited', unit: 's', samples: s(inOrder), cpu: cpu(inOrder), anchor: { name: 'one pass at the end', samples: s(after) }, compare: 'ratio' },
      )
      notes.push(
        `Unlimited: the action takes ${ratio.toFixed(2)}x curl's time; CPU seconds (medians): curl ${median(cpu(curled)).toFixed(2)}, the action ${median(cpu(act)).toFixed(2)}, one pass at the end ${median(cpu(after)).toFixed(2)}. Where the cores are busy, wall times follow CPU times.`,
      )
    }
    const peak = Math.max(...actions.map((x) => x.peakRss ?? 0))
    figures.push({ name: "the action's peak RSS", unit: 'bytes', samples: actions.map((x) => x.peakRss ?? 0), target: { text: 'bounded (not the model size)', met: peak < model.size / 8 } })
    notes.push('The hashing figures time the download function alone (src/model/parallel-download.ts, 8 connections) in a process of its own, so that only the way of hashing differs.')
    return {
      id: 'download',
      title: `Download: a ${gib} GiB hf: model, the action against curl`,
      command: `npx tsx scripts/bench/download.ts --size ${options.size} --runs ${options.runs} --rate ${options.rate}${options.only ? ` --only ${options.only}` : ''}`,
      intro:
        `A local server speaking the Hub's protocol (a /resolve redirect to a blob host with ranges) serves a ${gib} GiB GGUF file from disk. ` +
        `"The action" is its main step from dist/ with start: false and default inputs (hf-cache into a fresh HF_HOME, automatic connections), ` +
        `timed from spawn to exit, sha256 verified and GGUF header read included; curl is \`curl -L -o\`, one stream, no verification. ` +
        `"Limited" caps each connection at ${mibs} MiB/s, as CDNs cap them.`,
      figures,
      notes,
    }
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function formatValue(value: number, unit: Figure['unit']): string {
  return unit === 's' ? `${value.toFixed(2)} s` : `${(value / 2 ** 20).toFixed(0)} MiB`
}

export function renderMarkdown(section: DownloadSection): string {
  const cpus = os.cpus()
  const lines = [
    `## ${section.title}`,
    '',
    `Measured ${new Date().toISOString()} on ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} CPUs, load average ${os.loadavg()[0]?.toFixed(2)} at the end, ` +
      `commit ${execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()}. Command: \`${section.command}\``,
    '',
    section.intro,
    '',
    '| figure | median (min–max) | CPU s | against | ratio | target |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const f of section.figures) {
    const spread = `${formatValue(median(f.samples), f.unit)} (${formatValue(Math.min(...f.samples), f.unit)}–${formatValue(Math.max(...f.samples), f.unit)})`
    const anchor = f.anchor ? `${f.anchor.name}: ${formatValue(median(f.anchor.samples), f.unit)}` : ''
    const r = f.anchor ? median(f.samples) / median(f.anchor.samples) : undefined
    const ratio = r === undefined ? '' : r < 1 ? `${r.toFixed(2)}x (${(1 / r).toFixed(2)}x faster)` : `${r.toFixed(2)}x`
    const target = f.target ? `${f.target.text}: ${f.target.met ? 'met' : 'NOT met'}` : ''
    const cpuText = f.cpu ? median(f.cpu).toFixed(2) : ''
    lines.push(`| ${f.name} | ${spread} | ${cpuText} | ${anchor} | ${ratio} | ${target} |`)
  }
  lines.push('', ...section.notes.map((n) => `- ${n}`), '')
  return lines.join('\n')
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text)
  if (!m) throw new Error(`not a size: ${text}`)
  return Math.round(Number(m[1]) * ({ '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 } as Record<string, number>)[(m[2] ?? '').toUpperCase()]!)
}

async function downloadOnlyChild(argv: string[]): Promise<void> {
  const [url, dest, size, sha, hashMode] = argv as [string, string, string, string, 'in-order' | 'after']
  const { downloadModelFile } = await import('../../src/model/parallel-download.js')
  // The action's log lines would go to stdout: this child's output is not read.
  await downloadModelFile({ url, dest, label: 'bench', expectedSize: Number(size), expectedDigest: `sha256:${sha}`, timeoutMs: 30_000, connections: undefined, hashMode })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  if (args[0] === '--download-only') {
    await downloadOnlyChild(args.slice(1))
  } else {
    const flag = (name: string, fallback: string) => {
      const i = args.indexOf(name)
      return i >= 0 ? (args[i + 1] ?? fallback) : fallback
    }
    const only = flag('--only', '')
    if (only !== '' && only !== 'limited' && only !== 'unlimited') throw new Error(`--only takes limited or unlimited, not ${only}`)
    const section = await downloadBenchmark({ size: parseSize(flag('--size', '4G')), runs: Number(flag('--runs', '1')), rate: parseSize(flag('--rate', '50M')), only: only || undefined })
    process.stdout.write(renderMarkdown(section))
  }
}
