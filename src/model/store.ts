// The model store under cache-dir/models: content-addressed by the sha256 of the model (of its first part when
// split). An entry is a directory entries/sha256-<hex>/ holding the parts under their own names (llama.cpp
// finds the other parts of a split model beside the first). It appears only complete and verified.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { EntryStore, type EntryCatalog } from '../store/entry-store.js'
import { sha256File } from '../util/hash.js'

/** What `verify: quick` compares: a file with the same size, inode and mtime (in ms) was not rewritten. */
export interface FileIdentity {
  size: number
  ino: number
  mtime_ms: number
}

export function identityOf(stat: { size: number; ino: number; mtimeMs: number }): FileIdentity {
  return { size: stat.size, ino: stat.ino, mtime_ms: Math.trunc(stat.mtimeMs) }
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.ino === b.ino && a.mtime_ms === b.mtime_ms
}

export interface PartRecord extends FileIdentity {
  name: string
  digest: string
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

export interface ModelCatalog extends EntryCatalog<ModelRecord> {
  /** `hf:owner/repo@revision` → commit, so that a later run can resolve it without the network. */
  hf_revisions: Record<string, { commit: string; resolved_at: string }>
  /** A source (`hf:owner/repo@commit/file`, or a URL with its ETag) → digest of what it served. */
  sources: Record<string, string>
  /** Local models (used in place): absolute path → digest, with the identity the file had when hashed. */
  local_files: Record<string, FileIdentity & { digest: string }>
}

export interface StoredModel {
  digest: string
  /** Absolute paths of the parts, the first one first. */
  parts: string[]
  sizeBytes: number
}

export interface PartToInstall {
  name: string
  /** A file in a work directory of this store. */
  file: string
  digest: string
}

/** The entry (and lock) name of a model: `sha256-<hex>`. */
export function modelEntryName(digest: string): string {
  return `sha256-${digest.replace(/^sha256:/, '')}`
}

const UNRECORDED_GRACE_MS = 10 * 60_000

export class ModelStore extends EntryStore<ModelRecord, ModelCatalog> {
  constructor(cacheDir: string) {
    super(path.join(cacheDir, 'models'), () => ({ version: 1, entries: {}, hf_revisions: {}, sources: {}, local_files: {} }))
  }

  /** `findLeased` under the entry's lock. */
  async findAndLease(digest: string, verify: 'quick' | 'full', what: string): Promise<StoredModel | undefined> {
    return await this.withEntryLock(modelEntryName(digest), what, () => this.findLeased(digest, verify))
  }

  /** `find`, and a lease for this process on what it found (the caller holds the entry's lock). */
  async findLeased(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const found = await this.find(digest, verify)
    if (found) await this.lease(modelEntryName(found.digest), process.pid)
    return found
  }

  /**
   * The sha256 of a local model file: with `quick`, the one recorded when a file of the same identity was last
   * hashed (a multi-GB file is not read again on every run); otherwise it is hashed and recorded.
   */
  async localDigest(file: string, verify: 'quick' | 'full'): Promise<string> {
    const identity = identityOf(await fs.stat(file))
    const known = (await this.catalog.read()).local_files[file]
    if (verify === 'quick' && known && sameIdentity(identity, known)) return known.digest
    const digest = await sha256File(file)
    await this.catalog.update((c) => {
      c.local_files[file] = { ...identity, digest }
    })
    return digest
  }

  /**
   * The verified entry for `digest`, or undefined. `quick` trusts parts whose size, inode and mtime match the
   * record; otherwise (or with `full`) they are hashed. An entry that fails is removed, with a warning.
   */
  async find(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const name = modelEntryName(digest)
    const record = (await this.catalog.read()).entries[name]
    const dir = this.entryDir(name)
    const stat = await fs.stat(dir).catch(() => undefined)
    if (!stat) return undefined
    if (!record) {
      // Either a job is between its rename and its catalog write (leave it), or one died there: without a
      // record the parts cannot be verified, so an old one is removed.
      if (Date.now() - stat.mtimeMs > UNRECORDED_GRACE_MS) await this.removeModel(digest, 'it has no catalog record')
      return undefined
    }
    const parts = record.parts.map((p) => path.join(dir, p.name))
    const problem = await this.verifyParts(name, record, parts, verify)
    if (problem) {
      core.warning(`The cached model ${record.id} (${digest}) failed verification (${problem}); fetching it again.`)
      await this.removeModel(digest, problem)
      return undefined
    }
    await this.touch(name)
    return { digest, parts, sizeBytes: record.size_bytes }
  }

  private async verifyParts(name: string, record: ModelRecord, parts: string[], verify: 'quick' | 'full'): Promise<string | undefined> {
    let rehashed = false
    for (const [i, part] of record.parts.entries()) {
      const file = parts[i] as string
      const stat = await fs.stat(file).catch(() => undefined)
      if (!stat) return `${part.name} is missing`
      if (stat.size !== part.size) return `${part.name} is ${stat.size} bytes, recorded ${part.size}`
      if (verify === 'quick' && sameIdentity(identityOf(stat), part)) continue
      const digest = await sha256File(file)
      if (digest !== part.digest) return `${part.name} has ${digest}, recorded ${part.digest}`
      rehashed = true
    }
    if (rehashed) {
      // Verified by content: record the files' identity as it is now (after a move to another filesystem, say).
      const identities = await Promise.all(parts.map(async (p) => identityOf(await fs.stat(p))))
      await this.catalog.update((c) => {
        c.entries[name]?.parts.forEach((p, i) => Object.assign(p, identities[i]))
      })
    }
    return undefined
  }

  /** Moves verified parts from a work directory into place as one entry, and records it. */
  async install(workDir: string, digest: string, id: string, ref: string, parts: PartToInstall[]): Promise<StoredModel> {
    const name = modelEntryName(digest)
    const dir = this.entryDir(name)
    const staged = path.join(workDir, 'entry')
    await fs.mkdir(staged, { recursive: true })
    for (const part of parts) await fs.rename(part.file, path.join(staged, part.name))
    if (!(await this.publish(staged, name))) {
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
      parts: parts.map((p, i) => ({ name: p.name, digest: p.digest, ...identityOf(stats[i]!) })),
      state: 'Active',
      last_used: new Date().toISOString(),
    }
    await this.catalog.update((c) => {
      c.entries[name] = record
    })
    return { digest, parts: files, sizeBytes: record.size_bytes }
  }

  private async removeModel(digest: string, why: string): Promise<void> {
    await this.remove(modelEntryName(digest), why, (c) => {
      for (const [source, d] of Object.entries(c.sources)) if (d === digest) delete c.sources[source]
    })
  }
}
