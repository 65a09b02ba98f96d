import type { Section } from './report.js'

export interface BenchContext {
  /** Repetitions asked for (--runs or BENCH_RUNS); each benchmark has its own default. */
  runs: number | undefined
  log: (line: string) => void
}

export interface Benchmark {
  id: string
  /** What it measures, for --help. */
  about: string
  /** Needs the real llama.cpp build each time (minutes of both cores): only when named. */
  onlyWhenNamed?: boolean
  run: (ctx: BenchContext) => Promise<Section[]>
}
