// Cross-process locks for a shared cache-dir (several jobs on one runner host, or several hosts on NFS).
// proper-lockfile makes a lock directory with mkdir (atomic on local filesystems and NFS) and keeps its mtime
// fresh; a lock whose holder was killed goes stale and is taken over, without a human. The locks only avoid
// duplicate work: every writer still writes its own temporary file and renames it into place, so the store
// stays correct on a filesystem where locking silently fails.
import * as core from '@actions/core'
import { constants, promises as fs, lstatSync, mkdirSync, rmSync, unlinkSync, type Stats } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import lockfile from 'proper-lockfile'
import { oneLine } from '../util/redact.js'
import { tryLock } from './lease.js'

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
  const wait = new LockWait(what, `${lockPath}.lock`)
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
      wait.waiting()
      await sleep(250)
    }
  }
  wait.got()
  try {
    return await fn()
  } finally {
    await release().catch(() => undefined)
  }
}

/**
 * `fn` under flock(2) on `<lockPath>.flock`, for work whose correctness needs the lock (a directory emptied and
 * rebuilt in place): the kernel lets go when the holder dies, so no staleness is guessed, and two jobs waiting on
 * a killed holder cannot both take the lock, as they can with proper-lockfile (each may remove the lock directory
 * it found stale, the second removing the one the first just made). Where flock(1) or the file cannot be had,
 * withLock.
 */
export async function withExclusiveLock<T>(lockPath: string, what: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(lockPath), { recursive: true })
  // O_NOFOLLOW: a link planted under the lock's name is never opened (nor what it points to created).
  const handle = await fs.open(`${lockPath}.flock`, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644).catch(() => undefined)
  if (!handle) return await withLock(lockPath, what, fn)
  try {
    const wait = new LockWait(what, `${lockPath}.flock`)
    for (;;) {
      // Blocks up to a second per try, so that the wait is not a spawn every few milliseconds.
      const locked = await tryLock(handle.fd, wait.started ? 1 : 0)
      if (locked === undefined) return await withLock(lockPath, what, fn)
      if (locked) break
      wait.waiting()
    }
    wait.got()
    return await fn()
  } finally {
    // Closing the only descriptor of the open file releases the lock.
    await handle.close()
  }
}

/** What a lock's waiter says: once when it starts waiting, and how long it waited when it got the lock. */
class LockWait {
  private since: number | undefined

  constructor(
    private readonly what: string,
    private readonly lockFile: string,
  ) {}

  get started(): boolean {
    return this.since !== undefined
  }

  waiting(): void {
    if (this.since !== undefined) return
    this.since = Date.now()
    core.info(`Waiting for ${oneLine(this.what)}: another job is working on it (lock ${this.lockFile})`)
  }

  got(): void {
    if (this.since !== undefined) core.info(`Got ${oneLine(this.what)} after ${((Date.now() - this.since) / 1000).toFixed(1)} s`)
  }
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file)
  } catch {
    return undefined
  }
}
