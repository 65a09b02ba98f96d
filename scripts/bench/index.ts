// `npm run bench [-- <benchmark>... [--runs N]]`: runs the benchmarks and writes their sections of BENCHMARKS.md.
// Without names it runs every benchmark except those that build llama.cpp each time (`engine`), which run only
// when named. The repetitions: --runs N, or BENCH_RUNS=N, else each benchmark's default.
import { BENCHMARKS_MD, renderSection, writeSections } from './report.js'
import type { Benchmark } from './context.js'
import { machine } from './machine.js'
import { concurrency } from './concurrency.js'
import { engine } from './engine.js'
import { storeHit } from './store.js'
import { warmStart } from './warm.js'

const BENCHMARKS: Benchmark[] = [warmStart, storeHit, concurrency, engine]

function usage(): string {
  return [
    'npm run bench [-- <benchmark>... [--runs N]]',
    '',
    ...BENCHMARKS.map((b) => `  ${b.id.padEnd(12)} ${b.about}${b.onlyWhenNamed ? ' (only when named)' : ''}`),
    '',
    'BENCH_RUNS=N is the same as --runs N.',
  ].join('\n')
}

function parseArgs(argv: string[]): { selected: Benchmark[]; runs: number | undefined } {
  const names: string[] = []
  let runs = process.env.BENCH_RUNS ? Number(process.env.BENCH_RUNS) : undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--runs') runs = Number(argv[++i])
    else if (arg.startsWith('--runs=')) runs = Number(arg.slice('--runs='.length))
    else if (arg === '--help' || arg === '-h') {
      console.log(usage())
      process.exit(0)
    } else names.push(arg)
  }
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs (or BENCH_RUNS) must be a whole number of at least 1\n\n${usage()}`)
  const unknown = names.filter((n) => !BENCHMARKS.some((b) => b.id === n))
  if (unknown.length) throw new Error(`no benchmark named ${unknown.join(', ')}\n\n${usage()}`)
  const selected = names.length ? BENCHMARKS.filter((b) => names.includes(b.id)) : BENCHMARKS.filter((b) => !b.onlyWhenNamed)
  return { selected, runs }
}

const { selected, runs } = parseArgs(process.argv.slice(2))
const log = (line: string) => console.log(`[bench] ${line}`)
const rendered = new Map<string, string>()
for (const benchmark of selected) {
  const m = machine()
  const when = new Date()
  log(`${benchmark.id}: ${benchmark.about}`)
  for (const section of await benchmark.run({ runs, log })) rendered.set(section.id, renderSection(section, m, when))
  // Written after each benchmark: a later one that fails does not lose what was measured.
  writeSections(rendered, ['warm-start', 'post', 'store-hit', 'verify-full', 'concurrency', 'engine'])
}
log(`wrote ${BENCHMARKS_MD}`)
