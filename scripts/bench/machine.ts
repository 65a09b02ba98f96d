// The machine a figure was measured on: absolute times are context, and this is the context.
import { readFileSync } from 'node:fs'
import os from 'node:os'

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  /** 1-minute load average when the benchmark started: other work on a shared machine shows here. */
  load: number
}

export function machine(): Machine {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} (${distribution()})`,
    node: process.version,
    load: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  }
}

function distribution(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} CPUs, ${m.memoryGiB} GiB memory; ${m.os}; Node ${m.node}; load average ${m.load} at the start`
}
