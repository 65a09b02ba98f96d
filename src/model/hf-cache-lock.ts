// The Hugging Face cache's own lock convention: whoever downloads a blob holds flock(2) on
// .locks/models--<owner>--<repo>/<sha256>.lock (huggingface_hub through filelock, this action through flock(1) on a
// descriptor it keeps), so that two tools, or two jobs, do not fetch the same multi-GB file at once. The lock only
// saves work: on filesystems where flock silently succeeds for everyone (some NFS mounts), each writer still
// downloads to its own temporary file, verifies it and renames it into place. So a job need not wait behind a
// holder that makes no progress: it waits while the holder's download in blobs/ grows, and goes ahead beside it
// once that has not been written for a few minutes (or after 30 minutes in all).
import * as core from '@actions/core'
import { constants, promises as fs } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { tryLock } from '../store/lease.js'
import { formatBytes } from '../util/format.js'
import type { InProgress } from './hf-cache.js'
import { describeLockHolder } from '../util/lock-holder.js'

export interface HfLock {
  file: string
  /** What is fetched, for the log. */
  what: string
  /** The downloads of the blob in progress: how the holder's progress shows. */
  inProgress: () => Promise<InProgress[]>
}

export interface LockWait {
  /** Past this, a download goes ahead beside the holder's: a lock never blocks a job for longer. */
  maxWaitMs: number
  /** A holder whose download has not been written for this long (or that has none) is taken for hung. */
  stallMs: number
  /** A holder that has just taken the lock gets this long to start writing, whatever an older file says. */
  minWaitMs: number
}

const DEFAULT_WAIT: LockWait = { maxWaitMs: 30 * 60_000, stallMs: 5 * 60_000, minWaitMs: 5_000 }
const POLL_MS = 500
const SAY_EVERY_MS = 30_000

export async function withHfCacheLock<T>(lock: HfLock, fn: () => Promise<T>, wait: LockWait = DEFAULT_WAIT): Promise<T> {
  // O_NOFOLLOW: a link planted under the lock's name is never opened (nor what it points to created).
  const handle = await fs.open(lock.file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o664).catch((error: NodeJS.ErrnoException) => {
    core.info(`Could not open the Hugging Face cache's lock ${lock.file} (${error.code ?? error.message}); going on without it`)
    return undefined
  })
  try {
    if (handle) await acquire(handle.fd, lock, wait)
    return await fn()
  } finally {
    // Closing the only descriptor of the lock's open file releases it.
    await handle?.close()
  }
}

async function acquire(fd: number, lock: HfLock, wait: LockWait): Promise<void> {
  const started = Date.now()
  let said = 0
  for (;;) {
    const locked = await tryLock(fd)
    if (locked !== false) {
      if (locked === undefined) core.info(`flock(1) is not available: ${lock.what} is fetched without the Hugging Face cache's lock`)
      else if (said) core.info(`Got the Hugging Face cache's lock for ${lock.what} after ${seconds(Date.now() - started)} s`)
      return
    }
    const now = Date.now()
    const waited = now - started
    const downloads = await lock.inProgress()
    const lastWrite = downloads.length ? Math.max(...downloads.map((d) => d.mtimeMs)) : started
    const holder = () => describeLockHolder(lock.file)
    if (waited >= wait.minWaitMs && now - lastWrite >= wait.stallMs) {
      const why = downloads.length ? `${describe(downloads, now)}, not written for ${seconds(now - lastWrite)} s` : `no download of it has appeared in blobs/ for ${seconds(waited)} s`
      core.info(`${lock.file} is held by ${await holder()}, but ${why}: fetching ${lock.what} beside it`)
      return
    }
    if (waited >= wait.maxWaitMs) {
      core.info(`${lock.file} has been held by ${await holder()} for ${seconds(waited)} s; fetching ${lock.what} beside it`)
      return
    }
    if (waited >= said * SAY_EVERY_MS) {
      const progress = downloads.length ? `; ${describe(downloads, now)}` : ''
      core.info(`Waiting for ${lock.what}: ${await holder()} (huggingface_hub, llama.cpp or another job) holds ${lock.file}${progress}`)
      said++
    }
    await sleep(POLL_MS)
  }
}

/** `its download in blobs/: <name> (1.5 MiB, written 2 s ago)`; a name that is not plain letters is not shown. */
function describe(downloads: InProgress[], now: number): string {
  const shown = downloads.slice(0, 3).map((d) => {
    const name = /^[A-Za-z0-9._-]{1,160}$/.test(d.name) ? d.name : 'a file with an odd name'
    return `${name} (${formatBytes(d.size)}, written ${seconds(now - d.mtimeMs)} s ago)`
  })
  const more = downloads.length > 3 ? ` and ${downloads.length - 3} more` : ''
  return `its download in blobs/: ${shown.join(', ')}${more}`
}

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1)
}
