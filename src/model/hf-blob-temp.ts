// A download's temporary file in the Hugging Face cache's blobs/, and the lock that says its writer lives.
// Each writer has its own blobs/<sha256>.<host>-<pid>-<random>.incomplete and holds flock(2) on a lock file of the
// same name in .locks/models--<owner>--<repo>/ from before the temporary file exists until after it is gone
// (renamed into place or removed). A pid says nothing about a writer in another PID namespace (a container with
// the same host name) or on another host (a cache on NFS); a lock held through an open descriptor does, across
// namespaces, and the kernel drops it however the writer ends. So another job removes a temporary file only when
// it can take that lock and the lock can be trusted (store/lease.ts: written under this kernel, or on a local
// filesystem); a lock from another host, or one taken without flock(1), counts as live for a week. A temporary
// file without a lock file (from an older version of this action) goes once no one has written it for a day.
import { randomBytes } from 'node:crypto'
import { closeSync, promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createLockedFile, holderLives, isStaleTemp } from '../store/lease.js'

export interface BlobTemp {
  /** Where the download goes (not created yet). */
  file: string
  /** Drops the lock and its file; the caller has renamed or removed `file` first. */
  release(): Promise<void>
}

/** `<sha256>.<host>-<pid>-<random>.incomplete`: a download of this action in progress (or left by a killed job). */
const OUR_TEMP = /^[0-9a-f]{64}\.[A-Za-z0-9_]{1,40}-\d+-[0-9a-f]{8}\.incomplete$/
const LOCK_SUFFIX = '.lock'
const UNLOCKED_TEMP_IDLE_MS = 24 * 3600_000

/** `<host>-<pid>-<random>`: a name part no other writer uses. */
export function uniqueSuffix(): string {
  return `${os.hostname().replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40)}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** A new temporary file name for `hex` in `blobs`, its lock in `locks` taken first. */
export async function newBlobTemp(blobs: string, locks: string, hex: string): Promise<BlobTemp> {
  const name = `${hex}.${uniqueSuffix()}.incomplete`
  const lock = path.join(locks, name + LOCK_SUFFIX)
  const fd = await createLockedFile(lock)
  return {
    file: path.join(blobs, name),
    release: async () => {
      await fs.rm(lock, { force: true })
      if (fd !== undefined) closeSync(fd)
    },
  }
}

/**
 * Removes this action's temporary files (and their lock files) whose writer is gone; nothing else. Cleaning up is a
 * courtesy: one that cannot be removed (another user's, in a shared cache) is left, never a reason to fail.
 */
export async function removeDeadTemps(blobs: string, locks: string): Promise<void> {
  const lockNames = new Set(await fs.readdir(locks).catch(() => [] as string[]))
  for (const name of await fs.readdir(blobs)) {
    if (!OUR_TEMP.test(name)) continue
    const temp = path.join(blobs, name)
    if (lockNames.delete(name + LOCK_SUFFIX)) {
      const lock = path.join(locks, name + LOCK_SUFFIX)
      if (await lockLives(lock)) continue
      await fs.rm(temp, { force: true }).catch(() => undefined)
      await fs.rm(lock, { force: true }).catch(() => undefined)
    } else {
      const stat = await fs.lstat(temp).catch(() => undefined)
      if (stat && Date.now() - stat.mtimeMs > UNLOCKED_TEMP_IDLE_MS) await fs.rm(temp, { force: true }).catch(() => undefined)
    }
  }
  // Lock files without a temporary file: a writer killed between the two, or one about to create it.
  for (const name of lockNames) {
    const file = path.join(locks, name)
    if (name.endsWith(LOCK_SUFFIX) && OUR_TEMP.test(name.slice(0, -LOCK_SUFFIX.length))) {
      if (!(await lockLives(file))) await fs.rm(file, { force: true }).catch(() => undefined)
      continue
    }
    // createLockedFile's own temporary name, left when its writer died before renaming it.
    const stat = await fs.lstat(file).catch(() => undefined)
    if (stat?.isFile() && isStaleTemp(name, stat.mtimeMs)) await fs.rm(file, { force: true }).catch(() => undefined)
  }
}

/** Whether the writer that holds lock file `file` lives; a link or anything but a file there is no lock of ours. */
async function lockLives(file: string): Promise<boolean> {
  const stat = await fs.lstat(file).catch(() => undefined)
  return !!stat?.isFile() && (await holderLives(file, stat.mtimeMs))
}
