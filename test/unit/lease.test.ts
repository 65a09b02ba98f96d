// Leases on a real filesystem with the real flock(1): who counts as alive, and what happens when a holder dies.
import { execFileSync, spawn } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { giveBackLeases, hasLiveLease, heldLeaseDescriptors, takeLease, takenLeaseFiles } from '../../src/store/lease.js'

const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()

function leaseDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'sls-lease-'))
}

function writeLease(dir: string, name: string, fields: Record<string, unknown>, mtime?: Date): string {
  const file = path.join(dir, name)
  writeFileSync(file, JSON.stringify({ boot_id: bootId(), host: os.hostname(), pid: 1, created: new Date().toISOString(), ...fields }))
  if (mtime) utimesSync(file, mtime, mtime)
  return file
}

describe('leases', () => {
  it('a lease held through a descriptor that a child inherited lives while the child lives, and ends with kill -9', async () => {
    const dir = leaseDir()
    await takeLease(dir)
    const fds = heldLeaseDescriptors()
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', ...fds], detached: true })
    for (const fd of fds) closeSync(fd)
    fds.length = 0
    expect(await hasLiveLease(dir)).toBe(true)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    expect(await hasLiveLease(dir)).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })

  it('taking a lease removes the dead ones beside it, never itself', async () => {
    const dir = leaseDir()
    writeLease(dir, 'dead.lease', { locked: true })
    const before = new Set(heldLeaseDescriptors())
    await takeLease(dir)
    // The removal runs beside the rest of the step, after takeLease has returned.
    await vi.waitFor(() => expect(readdirSync(dir)).toHaveLength(1), { timeout: 30_000 })
    expect(readdirSync(dir)[0]).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{8}\\.lease$`))
    expect(await hasLiveLease(dir)).toBe(true)
    for (const fd of heldLeaseDescriptors()) if (!before.has(fd)) closeSync(fd)
  })

  it('post gives back the leases main took once nothing holds them, and only lease files of a store', async () => {
    const root = leaseDir()
    const [a, b] = [path.join(root, 'leases', 'entry-a'), path.join(root, 'leases', 'entry-b')]
    for (const d of [a, b]) mkdirSync(d, { recursive: true })
    const before = new Set(heldLeaseDescriptors())
    const already = takenLeaseFiles().length
    await takeLease(a)
    await takeLease(b)
    const [fileA, fileB] = takenLeaseFiles().slice(already) as [string, string]
    const [fdA, fdB] = heldLeaseDescriptors().filter((fd) => !before.has(fd)) as [number, number]
    // The server that inherited lease a still runs; lease b's holder is gone.
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', fdA], detached: true })
    closeSync(fdA)
    closeSync(fdB)
    // Not leases of a store: a file elsewhere, and a link in a lease directory.
    const elsewhere = path.join(root, 'x.lease')
    writeFileSync(elsewhere, '')
    const link = path.join(b, 'link.lease')
    symlinkSync(elsewhere, link)
    await giveBackLeases([fileA, fileB, elsewhere, link, 'relative/leases/e/x.lease'])
    expect(readdirSync(a)).toEqual([path.basename(fileA)])
    expect(readdirSync(b)).toEqual(['link.lease'])
    expect(readdirSync(root).sort()).toEqual(['leases', 'x.lease'])
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    await giveBackLeases([fileA])
    expect(readdirSync(a)).toEqual([])
  })

  it('a lease whose writer could lock it, with its lock free, is dead and removed', async () => {
    const dir = leaseDir()
    writeLease(dir, 'a.lease', { locked: true })
    expect(await hasLiveLease(dir)).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })

  it('a lease written without flock is judged by its age, never by its free lock', async () => {
    const dir = leaseDir()
    writeLease(dir, 'young.lease', { locked: false })
    expect(await hasLiveLease(dir)).toBe(true)
    writeLease(dir, 'young.lease', { locked: false }, new Date(Date.now() - 8 * 24 * 3600_000))
    expect(await hasLiveLease(dir)).toBe(false)
    // A date far in the future is not trusted either.
    writeLease(dir, 'future.lease', { locked: false }, new Date(Date.now() + 365 * 24 * 3600_000))
    expect(await hasLiveLease(dir)).toBe(false)
  })

  it('a lease from before a reboot (another boot id) on a local filesystem is judged by its lock', async () => {
    const dir = leaseDir()
    writeLease(dir, 'old.lease', { locked: true, boot_id: 'another-boot' })
    expect(await hasLiveLease(dir)).toBe(false)
  })

  it('a FIFO or a directory planted as a lease blocks nothing and is removed', async () => {
    const dir = leaseDir()
    execFileSync('mkfifo', [path.join(dir, 'fifo.lease')])
    mkdirSync(path.join(dir, '.x.deadbeef.tmp'))
    utimesSync(path.join(dir, '.x.deadbeef.tmp'), new Date(0), new Date(0))
    expect(await hasLiveLease(dir)).toBe(false)
    expect(readdirSync(dir)).toEqual([])
  })
})
