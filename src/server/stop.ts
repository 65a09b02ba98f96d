import { setTimeout as sleep } from 'node:timers/promises'
import { groupAlive } from './process-identity.js'

export type StopResult = 'not-running' | 'terminated' | 'killed'

/** SIGTERM to the whole process group, then SIGKILL to what is left after `graceMs`; returns once it is gone. */
export async function stopProcessGroup(pgid: number, graceMs: number): Promise<StopResult> {
  // A group of zombies alone (exited, not reaped) has already stopped: nothing to signal or wait for.
  if (!groupAlive(pgid) || !signalGroup(pgid, 'SIGTERM')) return 'not-running'
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return 'terminated'
    await sleep(50)
  }
  signalGroup(pgid, 'SIGKILL')
  for (let i = 0; i < 100 && groupAlive(pgid); i++) await sleep(50)
  return 'killed'
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}
