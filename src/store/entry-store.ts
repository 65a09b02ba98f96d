// What the model store and the engine store share: a directory of entries under cache-dir, each of which appears
// whole (renamed into place from a private work directory) or not at all; a catalog; per-entry locks; leases that
// keep an entry in use from eviction; removal that renames an entry away before deleting it. Every name that
// becomes a path here is one plain file name, and every directory is a real one (never a planted link).
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { childPath, isRealDir, realDirIn } from '../util/safe-path.js'
import { Catalog, type CatalogSpec } from './catalog.js'
import { processFileId, createLockedFile, hasLiveLease, holderLives, isStaleTemp, takeLease } from './lease.js'
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

type Sub = 'entries' | 'tmp' | 'leases' | 'locks' | '.'

/** A work directory without its lock file (left by an older version) is kept this long. */
const WORK_DIR_GRACE_MS = 60_000

export class EntryStore<R extends EntryRecord, C extends EntryCatalog<R>> {
  readonly root: string
  readonly catalog: Catalog<C>
  private readonly checked = new Map<Sub, Promise<string>>()

  constructor(
    readonly cacheDir: string,
    readonly storeName: string,
    catalog: Omit<CatalogSpec<C>, 'file' | 'prepare'>,
  ) {
    this.root = path.join(cacheDir, storeName)
    this.catalog = new Catalog({ ...catalog, file: path.join(this.root, 'catalog.json'), prepare: () => this.dir('.') })
  }

  /** A directory of the store, checked (real, not a link) once per run. */
  protected async dir(sub: Sub): Promise<string> {
    let dir = this.checked.get(sub)
    if (!dir) {
      dir = sub === '.' ? realDirIn(this.cacheDir, this.storeName) : realDirIn(this.cacheDir, this.storeName, sub)
      this.checked.set(sub, dir)
    }
    return await dir
  }

  /** The path of entry `name`; the name must be one plain file name. */
  entryDir(name: string): string {
    return childPath(path.join(this.root, 'entries'), name, `The ${this.storeName} entry name`)
  }

  /** The names under entries/ that are real directories. */
  async entryNames(): Promise<string[]> {
    const entries = await this.dir('entries')
    const names: string[] = []
    for (const name of await fs.readdir(entries)) if (await isRealDir(path.join(entries, name))) names.push(name)
    return names
  }

  /** Everything about one entry (finding, installing, evicting) happens under its lock. */
  async withEntryLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    const locks = await this.dir('locks')
    return await withLock(childPath(locks, key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200), 'A lock name'), what, fn)
  }

  /** Marks an entry as used by this process and whoever inherits its leases (the server it starts). */
  async lease(name: string): Promise<void> {
    const leases = await this.dir('leases')
    await takeLease(await realDirIn(leases, name))
  }

  async touch(name: string): Promise<void> {
    const now = new Date().toISOString()
    await this.catalog.update((c) => {
      const r = c.entries[name]
      if (r) r.last_used = now
    })
  }

  /**
   * A private directory inside the store (same filesystem, so that the final rename is atomic), with a lock file
   * beside it that this process holds while it lives: no other job removes it as stale meanwhile.
   */
  async newWorkDir(): Promise<string> {
    await this.removeStaleWorkDirs()
    const tmp = await this.dir('tmp')
    const dir = path.join(tmp, processFileId())
    await createLockedFile(`${dir}.lock`)
    await fs.mkdir(dir)
    return dir
  }

  /** Removes a work directory of this process, and its lock file. */
  async removeWorkDir(dir: string): Promise<void> {
    await fs.rm(dir, { recursive: true, force: true })
    await fs.rm(`${dir}.lock`, { force: true })
  }

  /** Work directories whose process is gone (killed mid-way), and trash, are removed. */
  private async removeStaleWorkDirs(): Promise<void> {
    const tmp = await this.dir('tmp')
    for (const name of await fs.readdir(tmp).catch(() => [] as string[])) {
      const file = path.join(tmp, name)
      const stat = await fs.lstat(file).catch(() => undefined)
      if (!stat) continue
      if (name.startsWith('trash-') || stat.isSymbolicLink()) {
        await fs.rm(file, { recursive: true, force: true })
        continue
      }
      if (isStaleTemp(name, stat.mtimeMs)) await fs.rm(file, { force: true, recursive: true })
      if (name.endsWith('.lock') && stat.isFile()) {
        // A lock whose directory never came (its job died in between) goes once its holder is gone.
        const dir = await fs.lstat(file.slice(0, -'.lock'.length)).catch(() => undefined)
        if (!dir && !(await holderLives(file, stat.mtimeMs))) await fs.rm(file, { force: true })
        continue
      }
      if (!stat.isDirectory()) continue
      // The lock is renamed into place before its directory is made: a directory without one is debris.
      const lock = `${file}.lock`
      const lockStat = await fs.lstat(lock).catch(() => undefined)
      const lives = lockStat?.isFile() ? await holderLives(lock, lockStat.mtimeMs) : Date.now() - stat.mtimeMs < WORK_DIR_GRACE_MS
      if (lives) continue
      await fs.rm(file, { recursive: true, force: true })
      await fs.rm(lock, { force: true })
    }
  }

  /**
   * Renames a complete, verified directory into place as entry `name`. Returns false when another job put the
   * same entry there first (theirs is kept; the caller may add to it).
   */
  async publish(staged: string, name: string): Promise<boolean> {
    await this.dir('entries')
    const dir = this.entryDir(name)
    try {
      await fs.rename(staged, dir)
      return true
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw error
      if (!(await isRealDir(dir))) {
        // A link or a file planted under the entry's name: moved aside, never followed.
        await this.trash(dir)
        await fs.rename(staged, dir)
        return true
      }
      core.info(`Another job installed ${name} first; using its copy`)
      return false
    }
  }

  private async trash(file: string): Promise<void> {
    const trash = path.join(await this.dir('tmp'), `trash-${randomBytes(6).toString('hex')}`)
    // rename moves a link itself, never what it points to; rm then deletes the link or the real directory.
    if (await fs.rename(file, trash).then(() => true, () => false)) await fs.rm(trash, { recursive: true, force: true })
  }

  /** Removes an entry: renamed out of the way first, so that no half-deleted entry is ever visible. */
  async remove(name: string, why: string, alsoInCatalog?: (c: C) => void): Promise<void> {
    await this.trash(this.entryDir(name))
    await this.catalog.update((c) => {
      delete c.entries[name]
      alsoInCatalog?.(c)
    })
    core.debug(`Removed ${name} from ${this.root}: ${why}`)
  }

  /** Removes `name` unless a live process holds a lease on it; 'gone' when it was not there (any more). */
  async evictEntry(name: string): Promise<'removed' | 'gone' | 'in-use'> {
    return await this.withEntryLock(name, name, async () => {
      if (!(await isRealDir(this.entryDir(name)))) {
        // Removed meanwhile (by another job's eviction), or a record without an entry: only the record goes.
        await this.catalog.update((c) => void delete c.entries[name])
        return 'gone'
      }
      const leases = path.join(await this.dir('leases'), name)
      if ((await isRealDir(leases)) && (await hasLiveLease(leases))) return 'in-use'
      await this.remove(name, 'cache-max-size')
      return 'removed'
    })
  }
}
