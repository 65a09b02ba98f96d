// Medians and spreads of repeated measurements. Pure.

export interface Summary {
  n: number
  median: number
  min: number
  max: number
}

export function median(samples: number[]): number {
  if (!samples.length) return Number.NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function summarize(samples: number[]): Summary {
  return { n: samples.length, median: median(samples), min: Math.min(...samples), max: Math.max(...samples) }
}

/** Per-run differences of two series measured in turn (run i of each), so that drift of the machine cancels. */
export function pairedDifferences(a: number[], b: number[]): number[] {
  return a.slice(0, Math.min(a.length, b.length)).map((x, i) => x - (b[i] as number))
}
