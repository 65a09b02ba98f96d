// Warm start: model and engine cached, the main step from its spawn to its exit with a healthy server, in binary
// mode (llama-server-path) and source mode (the built engine cached), against starting the same llama-server by
// hand and polling /health. Then post: from the post step's spawn to the server's port being free, against
// SIGTERM by hand. Runs are taken in turn (by hand, binary, source), so that drift of a shared machine cancels in
// the per-run differences. A few more runs carry scripts/bench/instrument.mjs and give the breakdown.
import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { runMain, runPost, type MainRun } from '../../test/support/runner.js'
import { freePort, startByHand, stopByHand, whenPortFree } from './by-hand.js'
import type { BenchContext, Benchmark } from './context.js'
import { comparison, type Figure, type Section, type Table } from './report.js'
import { benchFixture, sourceInputs, type BenchFixture } from './setup.js'
import { median } from './stats.js'
import { mainPhases, programs, readTrace, traceEnv } from './trace.js'

const ADDED_TARGET_S = 0.15

type Mode = 'binary' | 'source'

function inputsFor(mode: Mode, f: BenchFixture): Record<string, string> {
  // remote-cache is left at its default (engine), as users leave it: a local hit never asks the service.
  const { 'remote-cache': _, ...source } = sourceInputs(f)
  return mode === 'source' ? source : { model: f.model, 'cache-dir': f.cacheDir, 'llama-server-path': f.engine }
}

async function mainStep(mode: Mode, f: BenchFixture, env: Record<string, string> = {}): Promise<MainRun> {
  const run = await runMain({ dirs: f.dirs, inputs: inputsFor(mode, f), env, timeoutMs: 120_000 })
  if (run.exitCode !== 0 || !run.outputs.port) throw new Error(`${mode} mode main failed:\n${run.errors.join('\n')}\n${run.stdout.slice(-3000)}`)
  if (run.outputs['engine-cache-hit'] !== 'true' || run.outputs['model-cache-hit'] !== 'true') throw new Error(`${mode} mode was not warm:\n${run.stdout}`)
  return run
}

/** Post with the port polled from before it starts: seconds from its spawn to the port free, and to its exit. */
async function postStep(main: MainRun): Promise<{ toFree: number; total: number }> {
  const freeAt = whenPortFree(Number(main.outputs.port))
  // Post inherits main's environment: not the tracing of a traced main.
  const { NODE_OPTIONS: _, BENCH_TRACE: __, ...env } = main.env
  const post = await runPost({ ...main, env })
  if (post.exitCode !== 0) throw new Error(`post failed:\n${post.stdout}`)
  return { toFree: ((await freeAt) - post.spawnedAt) / 1000, total: (post.closedAt - post.spawnedAt) / 1000 }
}

const seconds = (run: MainRun) => (run.closedAt - run.spawnedAt) / 1000

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 10
  const traced = Math.min(runs, 5)
  const f = await benchFixture(ctx.log)
  // One untimed run of each: the page cache, and whatever the warm path remembers on a first run.
  const first = await mainStep('source', f)
  await postStep(first)
  await postStep(await mainStep('binary', f))
  // By hand: the same argv the action gave llama-server, on another free port.
  const flags = JSON.parse(readFileSync(first.outputs['handoff-path'] as string, 'utf8')).flags as string[]
  const samples = { hand: [] as number[], binary: [] as number[], source: [] as number[], handStop: [] as number[], postFree: [] as number[], postTotal: [] as number[] }
  for (let i = 0; i < runs; i++) {
    const port = await freePort()
    const argv = flags.map((a, j) => (flags[j - 1] === '--port' ? String(port) : a))
    const hand = await startByHand(f.engine, argv, port, path.join(f.dirs.temp, 'by-hand.log'))
    samples.hand.push(hand.readySeconds)
    samples.handStop.push(await stopByHand(hand))
    for (const mode of ['binary', 'source'] as const) {
      const main = await mainStep(mode, f)
      samples[mode].push(seconds(main))
      const post = await postStep(main)
      samples.postFree.push(post.toFree)
      samples.postTotal.push(post.total)
    }
    ctx.log(`warm start ${i + 1}/${runs}: by hand ${hand.readySeconds.toFixed(3)} s, binary ${samples.binary.at(-1)?.toFixed(3)} s, source ${samples.source.at(-1)?.toFixed(3)} s`)
  }
  const breakdown = new Map<Mode, { phases: [string, number][][]; programs: [string, number][][]; own: number[] }>()
  for (const mode of ['binary', 'source'] as const) {
    const b = { phases: [] as [string, number][][], programs: [] as [string, number][][], own: [] as number[] }
    for (let i = 0; i < traced; i++) {
      const file = path.join(f.dirs.temp, `trace-${mode}-${i}.json`)
      const main = await mainStep(mode, f, traceEnv(file))
      await postStep(main)
      const trace = readTrace(file)
      const phases = mainPhases(main, trace, f.engine)
      b.phases.push(phases)
      b.own.push(phases.filter(([name]) => !name.startsWith('readiness')).reduce((sum, [, s]) => sum + s, 0))
      b.programs.push(programs(trace, f.engine))
      rmSync(file)
    }
    breakdown.set(mode, b)
  }
  rmSync(path.join(f.dirs.temp, 'setup-llama-server'), { recursive: true, force: true })

  const warmFigure = (mode: Mode): Figure => {
    const figure: Figure = {
      name: `${mode} mode: main step, spawn → exit with a healthy server`,
      unit: 's',
      samples: samples[mode],
      anchor: { name: 'by hand: spawn → /health 200', samples: samples.hand },
      compare: 'added',
    }
    const added = comparison(figure) as number
    return { ...figure, target: { text: `added < ${ADDED_TARGET_S} s`, met: added < ADDED_TARGET_S } }
  }
  const warm: Section = {
    id: 'warm-start',
    title: 'Warm start',
    command: `npm run bench -- warm --runs ${runs}`,
    intro:
      'Model and engine cached (the tiny real model of the tests, a local file; llama-server built by the action from the bundled ' +
      'llama.cpp v0.5.0 source). The main step through the runner harness (test/support/runner.ts runs dist/ exactly as the ' +
      'runner does), from the spawn of its Node process to its exit, when the server is healthy; by hand: the same llama-server ' +
      'binary and argv, spawned detached with its output to a log file, /health polled every 10 ms. The three are taken in turn ' +
      'in each run; "vs anchor" is the median of the per-run differences, and the ratio of the medians. On a busy machine ' +
      "llama-server's own loading varies from start to start, and that variance lands in the differences; the step's own " +
      "time (from the traced runs, everything but the wait for llama-server to load) does not carry it.",
    figures: [
      warmFigure('binary'),
      warmFigure('source'),
      ...(['binary', 'source'] as const).map(
        (mode): Figure => ({
          name: `${mode} mode: the step's own time (traced runs: spawn → exit, less llama-server's loading)`,
          unit: 's',
          samples: breakdown.get(mode)?.own ?? [],
          target: { text: `< ${ADDED_TARGET_S} s`, met: median(breakdown.get(mode)?.own ?? []) < ADDED_TARGET_S },
        }),
      ),
    ],
    tables: [breakdownTable(breakdown, median(samples.hand)), programsTable(breakdown)],
    notes: WARM_PATH_NOTES,
  }
  const post: Section = {
    id: 'post',
    title: 'Post',
    command: `npm run bench -- warm --runs ${runs}`,
    intro:
      'The post step after each warm start above (binary and source runs together): from the spawn of its Node process to the ' +
      "server's port being free again (polled every 2 ms from outside), and to the step's exit. By hand: SIGTERM to the server's " +
      'process group, to the port being free.',
    figures: [
      { name: 'post: spawn → port free', unit: 's', samples: samples.postFree, anchor: { name: 'by hand: SIGTERM → port free', samples: samples.handStop }, compare: 'added' },
      { name: 'post: spawn → exit', unit: 's', samples: samples.postTotal, anchor: { name: 'by hand: SIGTERM → port free', samples: samples.handStop }, compare: 'added' },
    ],
  }
  return [warm, post]
}

/** What the warm path no longer does, what each saving rests on, and what is left (see the tables for how much). */
const WARM_PATH_NOTES = [
  "Loading the bundle: each entry point enables Node's compile cache (`module.enableCompileCache`), then imports the " +
    "step's bundle as a chunk of its own, so that V8 reads the code it compiled on an earlier run instead of compiling " +
    "it again. It rests on Node's own check of each cache file (the Node version, V8's format and the uid in the " +
    "directory's name; the source's size and CRC32; the cache's CRC32): that catches a changed bundle, not a forged " +
    "cache, so the directory (`node-compile-cache` under the default cache-dir location, RUNNER_TOOL_CACHE here) is made " +
    'with mode 0700 and used only when it is a real directory of this user that no one else may read or write; ' +
    "otherwise the bundle is compiled as before. A runner that starts empty writes it on its first run.",
  "The GGUF parser (@huggingface/gguf, with @huggingface/tasks) is loaded only when a header is parsed; zod parses " +
    "with its interpreter (`jitless`), since compiling a parser for each schema costs more than it saves when each is " +
    'used once or twice.',
  "The model lookup no longer parses the GGUF header (the tokenizer's 32,000 strings here, 150,000 and more in real " +
    "models): what it said is remembered in `cache-dir/models/gguf-info.json` under the file's path and identity " +
    '(device, inode, size, mtime and ctime in ns; a rewrite changes mtime and ctime, a replacement the inode, and ' +
    'ctime cannot be set back). Any change parses it again, as does `verify: full`; only a header that passed every ' +
    'check is remembered, and only for a file unchanged while it was read and for 3 s before (coarse filesystem ' +
    'clocks). A test rewrites the model in place with the same size and mtime and expects the new header.',
  "/health is polled with Node's own HTTP client: each request of undici cost about 2 ms of CPU in the step's fresh " +
    'process (the first 12 ms, compiling its WebAssembly parser), CPU that llama-server\'s loading threads lacked ' +
    'on this 2-core machine. The poll is still direct (never a proxy), every 5 ms for the first 2 s, then every 25 ms.',
  'Source mode: the build tools are looked up while the model is (they were looked up after it), with one ' +
    'synchronous stat per PATH directory until the first executable hit (@actions/io looked in every directory, one ' +
    'promise each). A lease is given back by post once its holder is stopped and its lock is free, so the next job ' +
    'finds no dead lease to check with flock(1); the pruning of leases of jobs that never reached post runs beside ' +
    'the step instead of before its lease. A warm start runs one flock(1), for its own lease.',
  '`--version` of cc, c++, nvcc and llama-server is not run when nothing it rests on changed: the answer is remembered in ' +
    '`cache-dir/engines/programs.json` with the program\'s path and identity, its directory, the host and boot id, ' +
    '/etc/ld.so.cache, LD_LIBRARY_PATH and, for llama-server, every library ldd resolves. `verify: full` and a newly ' +
    'installed engine always run it. `git ls-remote` still runs for a tag or branch on every run (a tag can move; a ' +
    'test moves one); it starts first and runs while the model is looked up, as does nvidia-smi (not started for ' +
    '`backend: cpu`, and looked up on PATH first: where it is not installed, as on this machine, no process is ' +
    "forked to find that out). nvcc's host-compiler compile runs before a build only.",
  'Kept: the engine entry lock, the manifest and size checks of every engine file, the model store\'s identity checks ' +
    'and digests, the GGUF header checks on any change, the leases (each locked before it has its name), and the ' +
    'ls-remote of a tag or branch.',
  'Left: Node itself; the bundle\'s module evaluation, about half of it Node\'s http, https, http2, tls and crypto ' +
    "modules, which @actions/core's HTTP client and undici load at startup whether or not a request is made (the " +
    'compile cache does not cover evaluation); the programs spawned on the main thread (nvidia-smi where installed, ' +
    'git ls-remote, flock, llama-server: 3-5 ms each here to fork a 100 MB process); in source mode the engine ' +
    'store\'s sequential ' +
    'file operations (entry lock, catalog, touch, lease); and the process\'s exit.',
]

function medianByName(runs: [string, number][][]): Map<string, number> {
  const names = [...new Set(runs.flatMap((r) => r.map(([n]) => n)))]
  return new Map(names.map((n) => [n, median(runs.map((r) => r.filter(([m]) => m === n).reduce((s, [, v]) => s + v, 0)))]))
}

function breakdownTable(b: Map<Mode, { phases: [string, number][][] }>, handReady: number): Table {
  const binary = medianByName(b.get('binary')?.phases ?? [])
  const source = medianByName(b.get('source')?.phases ?? [])
  const names = [...new Set([...binary.keys(), ...source.keys()])]
  const ms = (v: number | undefined) => (v === undefined ? '' : `${(v * 1000).toFixed(1)} ms`)
  const rows = names.map((n) => [n, ms(binary.get(n)), ms(source.get(n)), n.startsWith('readiness') ? ms(handReady) : ''])
  const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0)
  rows.push(['total (sum of the medians)', ms(total(binary)), ms(total(source)), ms(handReady)])
  return {
    title: `Where the time goes: the median of ${b.get('binary')?.phases.length ?? 0} traced runs per mode (scripts/bench/instrument.mjs, loaded with --import, records the action's User Timing marks, the programs it runs and its /health polls; a traced run is a little slower than the timed runs above)`,
    header: ['phase', 'binary mode', 'source mode', 'by hand'],
    rows,
  }
}

function programsTable(b: Map<Mode, { programs: [string, number][][] }>): Table {
  const binary = medianByName(b.get('binary')?.programs ?? [])
  const source = medianByName(b.get('source')?.programs ?? [])
  const names = [...new Set([...binary.keys(), ...source.keys()])]
  const ms = (v: number | undefined) => (v === undefined ? 'not run' : `${(v * 1000).toFixed(1)} ms`)
  return {
    title: 'Programs the warm main step runs besides llama-server itself (median time each, within the phases above)',
    header: ['program', 'binary mode', 'source mode'],
    rows: names.length ? names.map((n) => [n, ms(binary.get(n)), ms(source.get(n))]) : [['(none)', '', '']],
  }
}

export const warmStart: Benchmark = { id: 'warm', about: 'warm start in binary and source mode against llama-server by hand; the post step', run }
