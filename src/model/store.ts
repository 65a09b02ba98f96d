// The model store under cache-dir: content-addressed by the sha256 of the model (of its first part when
// split). An entry is a directory entries/sha256-<hex>/ holding the parts under their own names (llama.cpp
// finds the other parts of a split model beside the first). It appears only complete and verified: parts are
// written into a private temporary directory, fsynced, checked, and the directory is renamed into place.
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Catalog } from '../store/catalog.js'
import { hasLiveLease, takeLease } from '../store/lease.js'
import { withLock } from '../store/lock.js'
import { processStartTime } from '../server/process-identity.js'
import { sha256File } from '../util/hash.js'

export interface PartRecord {
  name: string
  size: number
  digest: string
  /** What `verify: quick` compares: a file with the same size, inode and mtime (in ms) was not rewritten. */
  ino: number
  mtime_ms: number
}

export interface ModelRecord {
  id: string
  ref: string
  digest: string
  size_bytes: number
  /** Relative to the store, so that a moved cache-dir still works. */
  path: string
  parts: PartRecord[]
  state: 'Active' | 'Retired'
  last_used: string
}

export interface ModelCatalog {
  version: 1
  models: Record<string, ModelRecord>
  /** `hf:owner/repo@revision` → commit, so that a later run can resolve it without the network. */
  hf_revisions: Record<string, { commit: string; resolved_at: string }>
  /** A source (`hf:owner/repo@commit/file`, or a URL with its ETag) → digest of what it served. */
  sources: Record<string, string>
}

export interface StoredModel {
  digest: string
  /** Absolute paths of the parts, the first one first. */
  parts: string[]
  sizeBytes: number
  record: ModelRecord
}

export interface PartToInstall {
  name: string
  /** A file in this store's temporary directory (see newWorkDir). */
  file: string
  digest: string
}

const hex = (digest: string) => digest.replace(/^sha256:/, '')
const UNRECORDED_GRACE_MS = 10 * 60_000

export class ModelStore {
  readonly root: string
  readonly catalog: Catalog<ModelCatalog>

  constructor(cacheDir: string) {
    this.root = path.join(cacheDir, 'models')
    this.catalog = new Catalog(path.join(this.root, 'catalog.json'), () => ({ version: 1, models: {}, hf_revisions: {}, sources: {} }))
  }

  entryDir(digest: string): string {
    return path.join(this.root, 'entries', `sha256-${hex(digest)}`)
  }

  lockPath(key: string): string {
    return path.join(this.root, 'locks', key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200))
  }

  /** Everything about one entry (finding, installing, evicting) happens under its lock. */
  async withEntryLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    return await withLock(this.lockPath(key), what, fn)
  }

  /** Marks the entry as used by a live process (this one, later the server), so eviction leaves it alone. */
  async lease(digest: string, pid: number): Promise<void> {
    await takeLease(path.join(this.root, 'leases', `sha256-${hex(digest)}`), pid)
  }

  /** `find` under the entry's lock, and a lease for this process on what it found. */
  async findAndLease(digest: string, verify: 'quick' | 'full', what: string): Promise<StoredModel | undefined> {
    return await this.withEntryLock(digest, what, async () => {
      const found = await this.find(digest, verify)
      if (found) await this.lease(found.digest, process.pid)
      return found
    })
  }

  /**
   * The verified entry for `digest`, or undefined. `quick` trusts parts whose size, inode and mtime match the
   * record; otherwise (or with `full`) they are hashed. An entry that fails is removed, with a warning.
   */
  async find(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const record = (await this.catalog.read()).models[hex(digest)]
    const dir = this.entryDir(digest)
    const exists = await fs.stat(dir).then(() => true, () => false)
    if (!exists) return undefined
    if (!record) {
      // Either a job is between its rename and its catalog write (leave it), or one died there: without a
      // record the parts cannot be verified, so an old one is removed.
      const age = Date.now() - (await fs.stat(dir)).mtimeMs
      if (age > UNRECORDED_GRACE_MS) await this.remove(digest, 'it has no catalog record')
      return undefined
    }
    const parts = record.parts.map((p) => path.join(dir, p.name))
    const problem = await this.verifyParts(record, parts, verify)
    if (problem) {
      core.warning(`The cached model ${record.id} (${digest}) failed verification (${problem}); fetching it again.`)
      await this.remove(digest, problem)
      return undefined
    }
    const now = new Date().toISOString()
    await this.catalog.update((c) => {
      const r = c.models[hex(digest)]
      if (r) r.last_used = now
    })
    return { digest, parts, sizeBytes: record.size_bytes, record }
  }

  private async verifyParts(record: ModelRecord, parts: string[], verify: 'quick' | 'full'): Promise<string | undefined> {
    let rehashed = false
    for (const [i, part] of record.parts.entries()) {
      const file = parts[i] as string
      const stat = await fs.stat(file).catch(() => undefined)
      if (!stat) return `${part.name} is missing`
      if (stat.size !== part.size) return `${part.name} is ${stat.size} bytes, recorded ${part.size}`
      if (verify === 'quick' && stat.ino === part.ino && Math.trunc(stat.mtimeMs) === part.mtime_ms) continue
      const digest = await sha256File(file)
      if (digest !== part.digest) return `${part.name} has ${digest}, recorded ${part.digest}`
      rehashed = true
    }
    if (rehashed) {
      // Verified by content: record the files' identity as it is now (after a move to another filesystem, say).
      const identities = await Promise.all(parts.map((p) => fs.stat(p)))
      await this.catalog.update((c) => {
        const r = c.models[hex(record.digest)]
        r?.parts.forEach((p, i) => {
          p.ino = identities[i]?.ino ?? p.ino
          p.mtime_ms = Math.trunc(identities[i]?.mtimeMs ?? p.mtime_ms)
        })
      })
    }
    return undefined
  }

  /** A private directory to download into, inside the store (same filesystem, so the final rename is atomic). */
  async newWorkDir(): Promise<string> {
    const dir = path.join(this.root, 'tmp', `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`)
    await fs.mkdir(dir, { recursive: true })
    return dir
  }

  /** Removes work directories of this host's processes that are gone (killed mid-download), and trash. */
  async removeStaleWorkDirs(): Promise<void> {
    const tmp = path.join(this.root, 'tmp')
    const names = await fs.readdir(tmp).catch(() => [] as string[])
    for (const name of names) {
      const m = /^(.*)-(\d+)-[0-9a-f]{8}$/.exec(name)
      // trash-*: left by a job that died while removing an entry; nothing refers to it any more.
      if (name.startsWith('trash-') || (m && m[1] === os.hostname() && processStartTime(Number(m[2])) === undefined)) {
        await fs.rm(path.join(tmp, name), { recursive: true, force: true })
      }
    }
  }

  /**
   * Moves verified parts from a work directory into place as one entry and records it. When another job
   * installed the same entry first, theirs is kept and this copy is dropped.
   */
  async install(workDir: string, digest: string, id: string, ref: string, parts: PartToInstall[]): Promise<StoredModel> {
    const dir = this.entryDir(digest)
    const staged = path.join(workDir, 'entry')
    await fs.mkdir(staged, { recursive: true })
    for (const part of parts) await fs.rename(part.file, path.join(staged, part.name))
    await fs.mkdir(path.dirname(dir), { recursive: true })
    try {
      await fs.rename(staged, dir)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error
      core.info(`Another job installed ${digest} first; using its copy`)
      // Same content under other names (a re-uploaded file, say): add ours beside them, each file whole.
      for (const part of parts) {
        const target = path.join(dir, part.name)
        if (!(await fs.stat(target).then(() => true, () => false))) await fs.rename(path.join(staged, part.name), target)
      }
    }
    await fs.rm(workDir, { recursive: true, force: true })
    const files = parts.map((p) => path.join(dir, p.name))
    const stats = await Promise.all(files.map((f) => fs.stat(f)))
    const record: ModelRecord = {
      id,
      ref,
      digest,
      size_bytes: stats.reduce((sum, s) => sum + s.size, 0),
      path: path.relative(this.root, files[0] as string),
      parts: parts.map((p, i) => ({ name: p.name, size: stats[i]!.size, digest: p.digest, ino: stats[i]!.ino, mtime_ms: Math.trunc(stats[i]!.mtimeMs) })),
      state: 'Active',
      last_used: new Date().toISOString(),
    }
    await this.catalog.update((c) => {
      c.models[hex(digest)] = record
    })
    return { digest, parts: files, sizeBytes: record.size_bytes, record }
  }

  /** Removes an entry: renamed out of the way first, so no half-deleted entry is ever visible. */
  async remove(digest: string, why: string): Promise<void> {
    const trash = path.join(this.root, 'tmp', `trash-${randomBytes(6).toString('hex')}`)
    await fs.mkdir(path.dirname(trash), { recursive: true })
    await fs.rename(this.entryDir(digest), trash).catch(() => undefined)
    await fs.rm(trash, { recursive: true, force: true })
    await this.catalog.update((c) => {
      delete c.models[hex(digest)]
      for (const [source, d] of Object.entries(c.sources)) if (d === digest) delete c.sources[source]
    })
    core.debug(`Removed model ${digest} from the store: ${why}`)
  }

  /**
   * `cache-max-size`: removes least recently used entries until the store fits, never one that a live process
   * holds a lease on. Returns the digests removed.
   */
  async evict(maxBytes: number): Promise<string[]> {
    const records = Object.values((await this.catalog.read()).models).sort((a, b) => a.last_used.localeCompare(b.last_used))
    let total = records.reduce((sum, r) => sum + r.size_bytes, 0)
    const removed: string[] = []
    for (const record of records) {
      if (total <= maxBytes) break
      await this.withEntryLock(record.digest, `the cached model ${record.digest}`, async () => {
        if (await hasLiveLease(path.join(this.root, 'leases', `sha256-${hex(record.digest)}`))) return
        await this.remove(record.digest, 'cache-max-size')
        total -= record.size_bytes
        removed.push(record.digest)
      })
    }
    return removed
  }
}
