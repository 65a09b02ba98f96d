// With start: false nothing runs after main, yet what main provisioned must stay until the job's post step: a
// small detached process inherits this process's lease descriptors and holds them until post stops it (or, if
// post never runs, until the runner ends the job's processes; the kernel then releases the leases).
import { spawn } from 'node:child_process'

export interface Keeper {
  pid: number
}

export function spawnLeaseKeeper(descriptors: number[]): Keeper | undefined {
  if (descriptors.length === 0) return undefined
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 2 ** 30)'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', ...descriptors],
    // It needs nothing, and later steps could read its environment: none of the job's secrets go with it.
    // RUNNER_TRACKING_ID lets the runner end it with the job should post never run.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(process.env.RUNNER_TRACKING_ID ? { RUNNER_TRACKING_ID: process.env.RUNNER_TRACKING_ID } : {}) },
  })
  child.unref()
  return child.pid === undefined ? undefined : { pid: child.pid }
}
