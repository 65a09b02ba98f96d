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
import { closeSync, openSync, readFileSync } from 'node:fs'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'

const OTHER_HOST_LEASE_MS = 7 * 24 * 3600_000
/** A temporary lock file (written, not yet renamed into place) of a process that died is removed after this long. */
const PENDING_GRACE_MS = 60_000

const LeaseFile = z.object({ boot_id: z.string(), host: z.string(), pid: z.number().int(), created: z.string() })

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

/** Runs `flock -x -n 3` on `fd`: true when the lock was taken (the descriptor's description now holds it). */
export async function tryLock(fd: number): Promise<boolean | undefined> {
  return await new Promise((resolve) => {
    const child = spawn('flock', ['-x', '-n', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] })
    child.once('error', () => resolve(undefined)) // no flock(1): the lock cannot be used
    child.once('exit', (code) => resolve(code === 0 ? true : code === 1 ? false : undefined))
  })
}

/** Descriptors of the leases this process holds, to hand to the process that will keep them. */
const held = new Set<number>()

export function heldLeaseDescriptors(): number[] {
  return [...held]
}

/**
 * Writes `content` to `file` and locks it through a descriptor of this process, kept open until it exits (or
 * handed to a child). Returns the descriptor, or undefined when no lock could be taken (no flock(1) here).
 */
export async function createLockedFile(file: string, content: string): Promise<number | undefined> {
  // Written and locked under a temporary name, then renamed (the lock follows the file): under its final name a
  // lock file is locked from its first moment, so a checker never takes a new one for a dead one.
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`)
  await fs.writeFile(temp, content, { flag: 'wx', mode: 0o644 })
  const fd = openSync(temp, 'r')
  const locked = await tryLock(fd)
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
    fd = openSync(file, 'r')
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

export function leaseContent(): string {
  return JSON.stringify({ boot_id: bootId(), host: os.hostname(), pid: process.pid, created: new Date().toISOString() })
}

/** True when `content` (a lease or lock file's) was written under this kernel, where its flock verdict holds. */
export function writtenUnderThisKernel(content: string): boolean {
  const parsed = LeaseFile.safeParse(parseJson(content))
  return parsed.success && parsed.data.boot_id === bootId()
}

/** Takes a lease on the entry whose lease directory is `leaseDir`, held until this process and its heirs exit. */
export async function takeLease(leaseDir: string): Promise<void> {
  // Every job leaves a lease behind; dead ones go here, so that the directory does not grow.
  await hasLiveLease(leaseDir)
  const id = `${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-${process.pid}-${randomBytes(4).toString('hex')}`
  // Locked or not (no flock(1) here), the file is a lease; a checker that cannot lock it falls back on its age.
  const fd = await createLockedFile(path.join(leaseDir, `${id}.lease`), leaseContent())
  if (fd !== undefined) held.add(fd)
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
      if (stat && isStaleTemp(name, stat.mtimeMs)) await fs.rm(file, { force: true })
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
  await fs.rm(file, { force: true })
  return false
}

/**
 * Whether the process that wrote the lock file `file` lives: its lock decides when it was written under this
 * kernel; else (another host, or no flock(1)) its age does.
 */
export async function holderLives(file: string, mtimeMs: number): Promise<boolean> {
  const age = Date.now() - mtimeMs
  if (writtenUnderThisKernel(await fs.readFile(file, 'utf8').catch(() => ''))) {
    const held = await lockIsHeld(file)
    if (held !== undefined) return held
  }
  return age < OTHER_HOST_LEASE_MS
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
