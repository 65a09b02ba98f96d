// `npm run bench [-- <benchmark>... [--runs N] [--<option> VALUE]...]`: runs the benchmarks and writes their sections
// of BENCHMARKS.md. Without names it runs every benchmark except those that build llama.cpp each time (`engine`,
// `release`), which run only when named. The repetitions: --runs N, or BENCH_RUNS=N, else each benchmark's default.
// A benchmark's own options (`--size 1G` for `download`) are listed by --help.
import { BENCHMARKS_MD, renderSection, writeSections } from './report.js'
import type { Benchmark } from './context.js'
import { machine } from './machine.js'
import { concurrency } from './concurrency.js'
import { download } from './download.js'
import { engine } from './engine.js'
import { release } from './release.js'
import { storeHit } from './store.js'
import { warmStart } from './warm.js'

const BENCHMARKS: Benchmark[] = [warmStart, storeHit, concurrency, download, engine, release]
/** The order of the sections in BENCHMARKS.md (a benchmark may write several; `download-notes` is kept as written by hand). */
const SECTIONS = ['warm-start', 'post', 'store-hit', 'verify-full', 'concurrency', 'download', 'download-notes', 'engine', 'release']

function usage(): string {
  const options = BENCHMARKS.flatMap((b) => (b.options ?? []).map((o) => `  --${`${o.name} ${o.value}`.padEnd(16)} ${b.id}: ${o.about}`))
  return [
    'npm run bench [-- <benchmark>... [--runs N] [--<option> VALUE]...]',
    '',
    ...BENCHMARKS.map((b) => `  ${b.id.padEnd(12)} ${b.about}${b.onlyWhenNamed ? ' (only when named)' : ''}`),
    '',
    `  --${'runs N'.padEnd(16)} repetitions of each figure (each benchmark has its own default); BENCH_RUNS=N does the same`,
    ...options,
  ].join('\n')
}

interface Parsed {
  selected: Benchmark[]
  runs: number | undefined
  options: Record<string, string>
}

function parseArgs(argv: string[]): Parsed {
  const names: string[] = []
  const options: Record<string, string> = {}
  const known = new Set(BENCHMARKS.flatMap((b) => (b.options ?? []).map((o) => o.name)))
  let runs = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') {
      console.log(usage())
      process.exit(0)
    }
    if (!arg.startsWith('--')) {
      names.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1)
    if (name !== 'runs' && !known.has(name)) throw new Error(`no option --${name}\n\n${usage()}`)
    if (value === undefined) throw new Error(`--${name} needs a value\n\n${usage()}`)
    if (name === 'runs') runs = Number(value)
    else options[name] = value
  }
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs (or BENCH_RUNS) must be a whole number of at least 1\n\n${usage()}`)
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.id === n))
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(', ')}\n\n${usage()}`)
  const selected = names.length ? BENCHMARKS.filter((b) => names.includes(b.id)) : BENCHMARKS.filter((b) => !b.onlyWhenNamed)
  for (const name of Object.keys(options)) {
    if (!selected.some((b) => b.options?.some((o) => o.name === name))) throw new Error(`--${name} belongs to a benchmark that is not run here\n\n${usage()}`)
  }
  return { selected, runs, options }
}

const { selected, runs, options } = parseArgs(process.argv.slice(2))
const log = (line: string) => console.log(`[bench] ${line}`)
const rendered = new Map<string, string>()
for (const benchmark of selected) {
  const m = machine()
  const when = new Date()
  log(`${benchmark.id}: ${benchmark.about}`)
  const own = Object.fromEntries(Object.entries(options).filter(([name]) => benchmark.options?.some((o) => o.name === name)))
  for (const section of await benchmark.run({ runs, options: own, log })) rendered.set(section.id, renderSection(section, m, when))
  // Written after each benchmark: a later one that fails does not lose what was measured.
  writeSections(rendered, SECTIONS)
}
log(`wrote ${BENCHMARKS_MD}`)
