// How long each phase of the step took, for the log and the job summary.
export interface Phase {
  name: string
  ms: number
}

const phases: Phase[] = []

export async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now()
  try {
    return await fn()
  } finally {
    phases.push({ name, ms: Date.now() - started })
  }
}

export function recordPhase(name: string, ms: number): void {
  phases.push({ name, ms })
}

export function phaseTimes(): readonly Phase[] {
  return phases
}
