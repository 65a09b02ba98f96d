// A lease says "a live process uses this entry": eviction never removes an entry with a live lease.
//
// A lease is a file in leases/<entry>/ locked with flock(2). The lock belongs to an open file description, not
// to a pid: this process takes it (through flock(1) on an inherited descriptor, as Node has no flock), keeps the
// descriptor open, and hands it to the server it starts (or to a keeper process when nothing is started), so the
// kernel releases it when the last holder exits, however it ends (kill -9 included), and a checker in another
// PID namespace or container sees the same lock. Its verdict is trusted for leases written under the same kernel
// (same boot id); a lease from another host (a cache-dir on NFS, where some filesystems grant every flock) counts
// as live for longer than any job runs.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, openSync, readFileSync } from 'node:fs'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { parseJson, readSmallFile } from '../util/read-file.js'

const OTHER_HOST_LEASE_MS = 7 * 24 * 3600_000
/** A temporary lock file (written, not yet renamed into place) of a process that died is removed after this long. */
const PENDING_GRACE_MS = 60_000

/** `locked`: whether its writer could lock it; a lease without a lock can only be judged by its age. */
const LeaseFile = z.object({ boot_id: z.string(), host: z.string(), pid: z.number().int(), created: z.string(), locked: z.boolean() })

/** Filesystem types (statfs f_type) shared between hosts, where another host's flock may not be seen. */
const NETWORK_FILESYSTEMS = new Set([0x6969 /* NFS */, 0xff534d42 /* CIFS */, 0xfe534d42 /* SMB2 */, 0x517b /* SMB */, 0x65735546 /* FUSE */, 0x0bd00bd0 /* Lustre */, 0x47504653 /* GPFS */, 0x00c36400 /* Ceph */, 0x01021997 /* 9P */, 0x5346414f /* AFS */])

async function onNetworkFilesystem(file: string): Promise<boolean> {
  const stats = await fs.statfs(path.dirname(file)).catch(() => undefined)
  return stats === undefined || NETWORK_FILESYSTEMS.has(Number(stats.type) >>> 0)
}

let bootIdCache: string | undefined
function bootId(): string {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
    } catch {
      bootIdCache = `host:${os.hostname()}`
    }
  }
  return bootIdCache
}

/**
 * Runs `flock -x` on `fd`, waiting up to `waitSeconds` (0: not at all): true when the lock was taken (the
 * descriptor's description now holds it), false when another holds it, undefined when there is no flock(1).
 */
export async function tryLock(fd: number, waitSeconds = 0): Promise<boolean | undefined> {
  return await new Promise((resolve) => {
    const wait = waitSeconds > 0 ? ['-w', String(waitSeconds)] : ['-n']
    const child = spawn('flock', ['-x', ...wait, '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] })
    child.once('error', () => resolve(undefined)) // no flock(1): the lock cannot be used
    child.once('exit', (code) => resolve(code === 0 ? true : code === 1 ? false : undefined))
  })
}

/** A name for a file of this process's (a lease, a work directory): host, pid and randomness, file-name safe. */
export function processFileId(): string {
  return `${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Descriptors of the leases this process holds, to hand to the process that will keep them. */
const held = new Set<number>()
/** The lease files this process wrote, for post to give back. */
const taken: string[] = []

export function heldLeaseDescriptors(): number[] {
  return [...held]
}

export function takenLeaseFiles(): string[] {
  return [...taken]
}

/**
 * Writes `content` to `file` and locks it through a descriptor of this process, kept open until it exits (or
 * handed to a child). Returns the descriptor, or undefined when no lock could be taken (no flock(1) here).
 */
export async function createLockedFile(file: string, extra: Record<string, unknown> = {}): Promise<number | undefined> {
  // Written and locked under a temporary name, then renamed (the lock follows the file): under its final name a
  // lock file is locked from its first moment, so a checker never takes a new one for a dead one.
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`)
  await fs.writeFile(temp, leaseContent(true, extra), { flag: 'wx', mode: 0o644 })
  const fd = openSync(temp, 'r')
  const locked = await tryLock(fd)
  // Without flock(1) here, the file says so: a checker must not take its free lock for a dead holder.
  if (!locked) await fs.writeFile(temp, leaseContent(false, extra))
  await fs.rename(temp, file)
  if (locked) return fd
  closeSync(fd)
  return undefined
}

/** A temporary file of createLockedFile whose writer died before renaming it. */
export function isStaleTemp(name: string, mtimeMs: number): boolean {
  return /^\..*\.[0-9a-f]{8}\.tmp$/.test(name) && Date.now() - mtimeMs > PENDING_GRACE_MS
}

/** Whether a lock on `file` is held by a live process: undefined when it cannot be told (no flock(1)). */
export async function lockIsHeld(file: string): Promise<boolean | undefined> {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch {
    return false
  }
  try {
    const locked = await tryLock(fd)
    return locked === undefined ? undefined : !locked
  } finally {
    closeSync(fd)
  }
}

function leaseContent(locked: boolean, extra: Record<string, unknown>): string {
  return `${JSON.stringify({ ...extra, boot_id: bootId(), host: os.hostname(), pid: process.pid, created: new Date().toISOString(), locked })}\n`
}

/** True when `content` (a lease or lock file's) was written under this kernel, by a writer that locked it. */
export function writtenUnderThisKernel(content: string): boolean {
  const parsed = LeaseFile.safeParse(parseJson(content))
  return parsed.success && parsed.data.locked && parsed.data.boot_id === bootId()
}

/** Takes a lease on the entry whose lease directory is `leaseDir`, held until this process and its heirs exit. */
export async function takeLease(leaseDir: string): Promise<void> {
  // Post gives each job's leases back; those of a job that never got there (killed with its runner) are removed
  // here, so that the directory does not grow. Housekeeping only (eviction judges every lease itself), so it runs
  // beside the rest of the step, not before the lease: each lease it checks costs a flock(1) process. It never
  // removes a live lease, this one included (locked before it has its name); a failure leaves them for later.
  void hasLiveLease(leaseDir).catch(() => undefined)
  const file = path.join(leaseDir, `${processFileId()}.lease`)
  // Locked or not (no flock(1) here), the file is a lease; a checker that cannot lock it falls back on its age.
  const fd = await createLockedFile(file)
  if (fd !== undefined) held.add(fd)
  taken.push(file)
}

/**
 * Gives back leases that main took (post, once the server or keeper that held them is stopped), so that the next
 * job finds no dead lease to check: each file that is a lease of a store (`<store>/leases/<entry>/*.lease`, a
 * regular file) and whose lock is free is removed. Whatever is still held, or cannot be told, is left.
 */
export async function giveBackLeases(files: string[]): Promise<void> {
  for (const file of files) {
    if (!path.isAbsolute(file) || !file.endsWith('.lease') || path.basename(path.dirname(path.dirname(file))) !== 'leases') continue
    const stat = await fs.lstat(file).catch(() => undefined)
    // Housekeeping: a file that cannot be removed is left for the next job's pruning, and fails nothing.
    if (stat?.isFile() && (await lockIsHeld(file)) === false) await fs.rm(file, { force: true }).catch(() => undefined)
  }
}

/** True when a live process holds a lease; dead leases are removed on the way. */
export async function hasLiveLease(leaseDir: string): Promise<boolean> {
  let names: string[]
  try {
    names = await fs.readdir(leaseDir)
  } catch {
    return false
  }
  let live = false
  for (const name of names) {
    const file = path.join(leaseDir, name)
    if (name.endsWith('.lease')) {
      if (await leaseIsLive(file)) live = true
    } else {
      const stat = await fs.lstat(file).catch(() => undefined)
      if (stat && isStaleTemp(name, stat.mtimeMs)) await fs.rm(file, { force: true, recursive: true })
    }
  }
  return live
}

async function leaseIsLive(file: string): Promise<boolean> {
  const stat = await fs.lstat(file).catch(() => undefined)
  if (!stat?.isFile()) {
    // A link or a directory is not a lease this action wrote: remove the name, never follow it.
    if (stat) await fs.unlink(file).catch(() => undefined)
    return false
  }
  if (await holderLives(file, stat.mtimeMs)) return true
  await fs.rm(file, { force: true, recursive: true })
  return false
}

/**
 * Whether the process that wrote the lock file `file` lives. Its lock decides when its writer could lock it and
 * the lock is visible here: on a local filesystem (containers and PID namespaces share the kernel; after a
 * reboot every holder is gone), or on a network one when it was written under this same kernel. Otherwise
 * (another host on NFS, no flock(1) on either side) its age does; a date in the future is not trusted.
 */
export async function holderLives(file: string, mtimeMs: number): Promise<boolean> {
  const age = Date.now() - mtimeMs
  const lease = LeaseFile.safeParse(parseJson((await readSmallFile(file, 4096)) ?? ''))
  if (lease.success && lease.data.locked && (lease.data.boot_id === bootId() || !(await onNetworkFilesystem(file)))) {
    const held = await lockIsHeld(file)
    if (held !== undefined) return held
  }
  return age >= -24 * 3600_000 && age < OTHER_HOST_LEASE_MS
}

