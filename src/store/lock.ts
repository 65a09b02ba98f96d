// Cross-process locks for a shared cache-dir (several jobs on one runner host, or several hosts on NFS).
// proper-lockfile makes a lock directory with mkdir (atomic on local filesystems and NFS) and keeps its mtime
// fresh; a lock whose holder was killed goes stale and is taken over, without a human. The locks only avoid
// duplicate work: every writer still writes its own temporary file and renames it into place, so the store
// stays correct on a filesystem where locking silently fails.
import * as core from '@actions/core'
import { lstatSync, mkdirSync, rmSync, unlinkSync, type Stats } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import lockfile from 'proper-lockfile'
import { oneLine } from '../util/redact.js'

// A lock not refreshed for this long belongs to a process that died (it refreshes every STALE_MS / 2).
const STALE_MS = 10_000

export async function withLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(lockPath), { recursive: true })
  // A lock is a directory this action makes; anything else under its name (a planted link) is removed, never
  // followed: proper-lockfile would otherwise touch or remove what it points to.
  const planted = lstatOrUndefined(`${lockPath}.lock`)
  if (planted && (planted.isSymbolicLink() || !planted.isDirectory())) unlinkSync(`${lockPath}.lock`)
  // A lock dated in the future would never go stale: no holder refreshes a lock that far ahead.
  else if (planted && planted.mtimeMs > Date.now() + 60_000) rmSync(`${lockPath}.lock`, { recursive: true, force: true })
  let waitingSince: number | undefined
  let release: () => Promise<void>
  for (;;) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        lockfilePath: `${lockPath}.lock`,
        stale: STALE_MS,
        retries: 0,
        // The lock is an optimisation: if it cannot be kept fresh, say so and go on.
        onCompromised: (error) => core.warning(`The lock for ${what} was lost (${error.message}); going on without it.`),
      })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error
      if (waitingSince === undefined) {
        waitingSince = Date.now()
        core.info(`Waiting for ${oneLine(what)}: another job is working on it (lock ${lockPath}.lock)`)
      }
      await sleep(250)
    }
  }
  if (waitingSince !== undefined) core.info(`Got ${what} after ${((Date.now() - waitingSince) / 1000).toFixed(1)} s`)
  try {
    return await fn()
  } finally {
    await release().catch(() => undefined)
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file)
  } catch {
    return undefined
  }
}
