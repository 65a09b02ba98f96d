// What the model store and the engine store share: a directory of entries under cache-dir, each of which appears
// whole (renamed into place from a private work directory) or not at all; a catalog; per-entry locks; leases that
// keep an entry in use from eviction; removal that renames an entry away before deleting it.
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { processStartTime } from '../server/process-identity.js'
import { Catalog } from './catalog.js'
import { hasLiveLease, takeLease } from './lease.js'
import { withLock } from './lock.js'

export interface EntryRecord {
  size_bytes: number
  last_used: string
}

export interface EntryCatalog<R extends EntryRecord> {
  version: 1
  /** entry name (its directory under entries/) → record */
  entries: Record<string, R>
}

export class EntryStore<R extends EntryRecord, C extends EntryCatalog<R>> {
  readonly catalog: Catalog<C>

  constructor(
    readonly root: string,
    emptyCatalog: () => C,
  ) {
    this.catalog = new Catalog(path.join(root, 'catalog.json'), emptyCatalog)
  }

  entryDir(name: string): string {
    return path.join(this.root, 'entries', name)
  }

  /** Everything about one entry (finding, installing, evicting) happens under its lock. */
  async withEntryLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    return await withLock(path.join(this.root, 'locks', key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200)), what, fn)
  }

  /** Marks an entry as used by a live process, so that eviction leaves it alone while that process lives. */
  async lease(name: string, pid: number): Promise<void> {
    await takeLease(path.join(this.root, 'leases', name), pid)
  }

  async touch(name: string): Promise<void> {
    const now = new Date().toISOString()
    await this.catalog.update((c) => {
      const r = c.entries[name]
      if (r) r.last_used = now
    })
  }

  /** A private directory inside the store (same filesystem, so that the final rename is atomic). */
  async newWorkDir(): Promise<string> {
    await this.removeStaleWorkDirs()
    const dir = path.join(this.root, 'tmp', `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`)
    await fs.mkdir(dir, { recursive: true })
    return dir
  }

  /** Work directories of this host's processes that are gone (killed mid-way), and trash, are removed. */
  private async removeStaleWorkDirs(): Promise<void> {
    const tmp = path.join(this.root, 'tmp')
    for (const name of await fs.readdir(tmp).catch(() => [] as string[])) {
      const m = /^(.*)-(\d+)-[0-9a-f]{8}$/.exec(name)
      if (name.startsWith('trash-') || (m && m[1] === os.hostname() && processStartTime(Number(m[2])) === undefined)) {
        await fs.rm(path.join(tmp, name), { recursive: true, force: true })
      }
    }
  }

  /**
   * Renames a complete, verified directory into place as entry `name`. Returns false when another job put the
   * same entry there first (theirs is kept; the caller may add to it).
   */
  async publish(staged: string, name: string): Promise<boolean> {
    const dir = this.entryDir(name)
    await fs.mkdir(path.dirname(dir), { recursive: true })
    try {
      await fs.rename(staged, dir)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error
      core.info(`Another job installed ${name} first; using its copy`)
      return false
    }
  }

  /** Removes an entry: renamed out of the way first, so that no half-deleted entry is ever visible. */
  async remove(name: string, why: string, alsoInCatalog?: (c: C) => void): Promise<void> {
    const trash = path.join(this.root, 'tmp', `trash-${randomBytes(6).toString('hex')}`)
    await fs.mkdir(path.dirname(trash), { recursive: true })
    await fs.rename(this.entryDir(name), trash).catch(() => undefined)
    await fs.rm(trash, { recursive: true, force: true })
    await this.catalog.update((c) => {
      delete c.entries[name]
      alsoInCatalog?.(c)
    })
    core.debug(`Removed ${name} from ${this.root}: ${why}`)
  }

  /** Removes `name` unless a live process holds a lease on it; true when it was removed. */
  async evictEntry(name: string): Promise<boolean> {
    return await this.withEntryLock(name, name, async () => {
      if (await hasLiveLease(path.join(this.root, 'leases', name))) return false
      await this.remove(name, 'cache-max-size')
      return true
    })
  }
}
