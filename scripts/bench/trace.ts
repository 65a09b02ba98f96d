// Reads what scripts/bench/instrument.mjs recorded in a step's process, and turns it into a breakdown of the
// step's time: checkpoints in order, each phase the time from the one before.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { StepResult } from '../../test/support/runner.js'

export interface Trace {
  preloadAt: number
  children: { file: string; args: string[]; start: number; end: number | undefined }[]
  health: { start: number; end: number; status: number }[]
  marks: { name: string; at: number }[]
  io: Record<string, number>
  exitAt: number
}

/** The environment that makes a step record a trace into `file`. */
export function traceEnv(file: string): Record<string, string> {
  const preload = pathToFileURL(path.join(import.meta.dirname, 'instrument.mjs')).href
  return { NODE_OPTIONS: `--import ${preload}`, BENCH_TRACE: file }
}

export function readTrace(file: string): Trace {
  return JSON.parse(readFileSync(file, 'utf8')) as Trace
}

/** The action's User Timing marks (src/main.ts), by their short name. */
export function markAt(trace: Trace, name: string): number | undefined {
  return trace.marks.find((m) => m.name === `setup-llama-server:${name}`)?.at
}

/** `llama-server --version` style: the program's base name and its arguments. */
export function childName(child: Trace['children'][number]): string {
  return [path.basename(child.file), ...child.args].join(' ').slice(0, 80)
}

/**
 * The phases of a main step that started llama-server (`server`: its path): Node start, bundle load, inputs,
 * model lookup, engine lookup, spawn, readiness, what follows readiness, and the process's exit. A checkpoint
 * that is missing (an older action without the marks) folds its phase into the next one.
 */
export function mainPhases(step: StepResult, trace: Trace, server: string): [string, number][] {
  const spawned = trace.children.find((c) => c.file === server && c.args[0] !== '--version')
  const ready = trace.health.find((h) => h.status === 200)
  const checkpoints: [string, number | undefined][] = [
    ['Node start (spawn → first JavaScript)', trace.preloadAt],
    ['bundle load', markAt(trace, 'run')],
    ['inputs', markAt(trace, 'inputs')],
    ['model lookup', markAt(trace, 'model')],
    ['engine lookup', markAt(trace, 'engine')],
    ['spawn (port, argv, launch)', spawned?.start],
    ['readiness (spawn → /health 200)', ready?.end],
    ['after ready (lease, handoff, outputs, summary)', trace.exitAt],
    ['process exit', step.closedAt],
  ]
  const phases: [string, number][] = []
  let last = step.spawnedAt
  let pending: string[] = []
  for (const [name, at] of checkpoints) {
    pending.push(name)
    if (at === undefined) continue
    phases.push([pending.join(' + '), (at - last) / 1000])
    last = at
    pending = []
  }
  return phases
}

/** Every program the step ran except the server itself, with how long it ran (seconds). */
export function programs(trace: Trace, server: string): [string, number][] {
  return trace.children
    .filter((c) => !(c.file === server && c.args[0] !== '--version'))
    .map((c) => [childName(c), ((c.end ?? trace.exitAt) - c.start) / 1000])
}
