// Randomness that a failing run can replay: a small PRNG (mulberry32) whose seed comes from SLS_SEED or is drawn
// once, and is printed, so that `SLS_SEED=<seed> npx vitest run <file>` repeats the same faults and moments.
import { randomInt } from 'node:crypto'

/** Longer, heavier versions of the fault tests run with SLS_STRESS=1 (see README, Contributing). */
export const STRESS = process.env.SLS_STRESS === '1'

export interface SeededRandom {
  seed: number
  /** In [0, 1). */
  next(): number
  /** An integer in [min, max]. */
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

export function seededRandom(what: string): SeededRandom {
  const given = process.env.SLS_SEED
  const seed = given !== undefined && /^\d+$/.test(given) ? Number(given) >>> 0 : randomInt(2 ** 32 - 1)
  console.log(`${what}: seed ${seed} (repeat with SLS_SEED=${seed})`)
  let state = seed
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return { seed, next, int, pick: (items) => items[int(0, items.length - 1)] as (typeof items)[number], chance: (p) => next() < p }
}
