import type { Section } from './report.js'

export interface BenchContext {
  /** Repetitions asked for (--runs or BENCH_RUNS); each benchmark has its own default. */
  runs: number | undefined
  /** The values given for the benchmark's own options (`--size 2G`), by name; absent: its default. */
  options: Record<string, string>
  log: (line: string) => void
}

/** An option of one benchmark (`--name VALUE`), listed by --help. */
export interface BenchOption {
  name: string
  /** What the value looks like, for --help: `SIZE`, `N`. */
  value: string
  about: string
}

export interface Benchmark {
  id: string
  /** What it measures, for --help. */
  about: string
  /** Needs the real llama.cpp build each time (minutes of both cores): only when named. */
  onlyWhenNamed?: boolean
  options?: BenchOption[]
  run: (ctx: BenchContext) => Promise<Section[]>
}
