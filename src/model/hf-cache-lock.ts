// The Hugging Face cache's own lock convention: whoever downloads a blob holds flock(2) on
// .locks/models--<owner>--<repo>/<sha256>.lock (huggingface_hub through filelock, this action through flock(1) on a
// descriptor it keeps), so that two tools, or two jobs, do not fetch the same multi-GB file at once. The lock only
// saves work: on filesystems where flock silently succeeds for everyone (some NFS mounts), each writer still
// downloads to its own temporary file, verifies it and renames it into place.
import * as core from '@actions/core'
import { constants, promises as fs } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { tryLock } from '../store/lease.js'

/** Past this, a download goes ahead beside the holder's: a lock never blocks a job for longer. */
const MAX_WAIT_MS = 30 * 60_000
const POLL_MS = 500

export async function withHfCacheLock<T>(file: string, what: string, fn: () => Promise<T>, maxWaitMs = MAX_WAIT_MS): Promise<T> {
  // O_NOFOLLOW: a link planted under the lock's name is never opened (nor what it points to created).
  const handle = await fs.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o664).catch((error: NodeJS.ErrnoException) => {
    core.info(`Could not open the Hugging Face cache's lock ${file} (${error.code ?? error.message}); going on without it`)
    return undefined
  })
  try {
    if (handle) await acquire(handle.fd, file, what, maxWaitMs)
    return await fn()
  } finally {
    // Closing the only descriptor of the lock's open file releases it.
    await handle?.close()
  }
}

async function acquire(fd: number, file: string, what: string, maxWaitMs: number): Promise<void> {
  const started = Date.now()
  let said = 0
  for (;;) {
    const locked = await tryLock(fd)
    if (locked !== false) {
      if (locked === undefined) core.info(`flock(1) is not available: ${what} is fetched without the Hugging Face cache's lock`)
      else if (said) core.info(`Got the Hugging Face cache's lock for ${what} after ${((Date.now() - started) / 1000).toFixed(1)} s`)
      return
    }
    const waited = Date.now() - started
    if (waited >= maxWaitMs) {
      core.info(`Another process has held ${file} for ${Math.round(waited / 1000)} s; fetching ${what} beside it`)
      return
    }
    if (waited >= said * 30_000) {
      core.info(`Waiting for ${what}: another process (huggingface_hub, llama.cpp or another job) holds ${file}`)
      said++
    }
    await sleep(POLL_MS)
  }
}
