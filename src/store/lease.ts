// A lease says "a live process uses this entry": eviction never removes an entry with a live lease. A lease
// names a process by pid and start time, so a dead holder (or a reused pid) does not keep an entry forever.
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { processStartTime } from '../server/process-identity.js'
import { writeFileAtomic } from '../util/atomic-write.js'

const OTHER_HOST_LEASE_MS = 7 * 24 * 3600_000

interface LeaseFile {
  host: string
  pid: number
  startTime: string
}

export async function takeLease(leaseDir: string, pid: number): Promise<void> {
  // Every job leaves a lease behind (its own pid's); dead ones go here, so that the directory does not grow.
  await hasLiveLease(leaseDir)
  const lease: LeaseFile = { host: os.hostname(), pid, startTime: processStartTime(pid) ?? '' }
  await writeFileAtomic(path.join(leaseDir, `${lease.host}-${pid}.json`), JSON.stringify(lease))
}

/** True when a live process holds a lease; dead leases of this host are removed on the way. */
export async function hasLiveLease(leaseDir: string): Promise<boolean> {
  let names: string[]
  try {
    names = await fs.readdir(leaseDir)
  } catch {
    return false
  }
  let live = false
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = path.join(leaseDir, name)
    let lease: LeaseFile
    try {
      lease = JSON.parse(await fs.readFile(file, 'utf8')) as LeaseFile
    } catch {
      continue
    }
    // A lease of another host cannot be checked from here: it counts as live for longer than any job runs.
    const alive =
      lease.host === os.hostname()
        ? processStartTime(lease.pid) === lease.startTime
        : Date.now() - (await fs.stat(file)).mtimeMs < OTHER_HOST_LEASE_MS
    if (alive) live = true
    else await fs.rm(file, { force: true })
  }
  return live
}
