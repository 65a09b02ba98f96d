// The model store under cache-dir/models: content-addressed by the sha256 of the model (of its first part when
// split). An entry is a directory entries/sha256-<hex>/ holding the parts under their own names (llama.cpp
// finds the other parts of a split model beside the first). It appears only complete and verified.
import * as core from '@actions/core'
import { promises as fs, type BigIntStats } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { EntryStore, type EntryCatalog } from '../store/entry-store.js'
import { writeFileAtomic } from '../util/atomic-write.js'
import { sha256File } from '../util/hash.js'
import { parseJson, readSmallFile } from '../util/read-file.js'
import { childPath, plainFileName } from '../util/safe-path.js'
import { RememberedGgufInfo } from './remembered-gguf.js'

/**
 * What `verify: quick` compares: a file with the same device, inode, size, mtime and ctime was not rewritten. The
 * ctime (in ns) is what no one but the kernel sets: an unlink and a rewrite of the same size can get the same
 * inode back and any mtime restored, but a new ctime. Records from before it was kept have no ctime: they never
 * match, and are hashed and recorded again once.
 */
export interface FileIdentity {
  size: number
  ino: number
  mtime_ms: number
  dev?: number
  ctime_ns?: string
}

/** The identity of a file from `fs.stat(file, { bigint: true })`. */
export function identityOf(stat: BigIntStats): FileIdentity {
  return { size: Number(stat.size), ino: Number(stat.ino), mtime_ms: Number(stat.mtimeNs / 1_000_000n), dev: Number(stat.dev), ctime_ns: String(stat.ctimeNs) }
}

export async function identityOfFile(file: string): Promise<FileIdentity> {
  return identityOf(await fs.stat(file, { bigint: true }))
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.ino === b.ino && a.mtime_ms === b.mtime_ms && a.dev !== undefined && a.dev === b.dev && a.ctime_ns !== undefined && a.ctime_ns === b.ctime_ns
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

/** Each entry carries its own record, so that a damaged catalog can be rebuilt without a download. */
export const ENTRY_MANIFEST = '.entry.json'

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/)
const Identity = { size: z.number().int().nonnegative(), ino: z.number(), mtime_ms: z.number(), dev: z.number().optional(), ctime_ns: z.string().regex(/^\d+$/).optional() }
const PartRecordSchema = z.object({ name: z.string(), digest: Digest, ...Identity })
const ModelRecordSchema = z.object({
  id: z.string(),
  ref: z.string(),
  digest: Digest,
  size_bytes: z.number().int().nonnegative(),
  path: z.string(),
  parts: z.array(PartRecordSchema).min(1),
  state: z.enum(['Active', 'Retired']),
  last_used: z.string(),
})
const ModelCatalogShape = z.object({
  version: z.literal(1),
  entries: z.record(z.string(), z.unknown()),
  hf_revisions: z.record(z.string(), z.object({ commit: z.string().regex(/^[0-9a-f]{40}$/), resolved_at: z.string() })).default({}),
  sources: z.record(z.string(), Digest).default({}),
  local_files: z.record(z.string(), z.object({ ...Identity, digest: Digest })).default({}),
})
const EntryManifestSchema = z.object({
  id: z.string(),
  ref: z.string(),
  digest: Digest,
  sources: z.array(z.string()),
  parts: z.array(z.object({ name: z.string(), digest: Digest })).min(1),
})
type EntryManifest = z.infer<typeof EntryManifestSchema>

/** A part's name as a path inside its entry: one plain file name, never the entry's own manifest. */
export function partFileName(name: string): string {
  plainFileName(name, 'A model file name')
  if (name === ENTRY_MANIFEST) throw new Error(`A model file may not be named ${ENTRY_MANIFEST}`)
  return name
}

export class ModelStore extends EntryStore<ModelRecord, ModelCatalog> {
  /** What the models' GGUF headers said, beside the catalog: a warm run does not parse them again. */
  readonly gguf: RememberedGgufInfo

  constructor(cacheDir: string) {
    const empty = (): ModelCatalog => ({ version: 1, entries: {}, hf_revisions: {}, sources: {}, local_files: {} })
    super(cacheDir, 'models', {
      empty,
      shape: ModelCatalogShape as unknown as z.ZodType<ModelCatalog>,
      entry: ModelRecordSchema,
      rebuild: async () => await this.rebuildCatalog(empty()),
    })
    this.gguf = new RememberedGgufInfo(path.join(this.root, 'gguf-info.json'), { prepare: () => this.dir('.') })
  }

  /** The catalog from the entries on disk: each entry's manifest, every part re-hashed. */
  private async rebuildCatalog(catalog: ModelCatalog): Promise<ModelCatalog> {
    for (const name of await this.entryNames()) {
      const found = await this.manifestRecord(name)
      if (!found) {
        core.warning(`${this.entryDir(name)} has no valid ${ENTRY_MANIFEST} or does not match it; it is left out of the rebuilt catalog`)
        continue
      }
      catalog.entries[name] = found.record
      for (const source of found.sources) catalog.sources[source] = found.record.digest
    }
    return catalog
  }

  /** Records entry `name` again from its manifest, every part re-hashed; false when that cannot be done. */
  private async recordFromManifest(name: string): Promise<boolean> {
    const found = await this.manifestRecord(name)
    if (!found) return false
    await this.catalog.update((c) => {
      c.entries[name] = found.record
      for (const source of found.sources) c.sources[source] = found.record.digest
    })
    return true
  }

  /** The record of entry `name` from its own manifest, verified by content; undefined when it does not hold. */
  private async manifestRecord(name: string): Promise<{ record: ModelRecord; sources: string[] } | undefined> {
    const dir = this.entryDir(name)
    const manifest = EntryManifestSchema.safeParse(parseJson((await readSmallFile(path.join(dir, ENTRY_MANIFEST), 2 ** 20)) ?? ''))
    if (!manifest.success || modelEntryName(manifest.data.digest) !== name) return undefined
    // A part name that is not a plain file name throws: such a manifest does not hold either.
    const record = await this.verifiedRecord(dir, manifest.data).catch(() => undefined)
    return record ? { record, sources: manifest.data.sources } : undefined
  }

  private async verifiedRecord(dir: string, manifest: EntryManifest): Promise<ModelRecord | undefined> {
    const parts: PartRecord[] = []
    for (const part of manifest.parts) {
      const file = childPath(dir, partFileName(part.name), 'A model file name')
      const stat = await fs.lstat(file, { bigint: true }).catch(() => undefined)
      if (!stat?.isFile() || (await sha256File(file)) !== part.digest) return undefined
      parts.push({ name: part.name, digest: part.digest, ...identityOf(stat) })
    }
    if (parts[0]?.digest !== manifest.digest) return undefined
    return {
      id: manifest.id,
      ref: manifest.ref,
      digest: manifest.digest,
      size_bytes: parts.reduce((sum, p) => sum + p.size, 0),
      path: path.join('entries', path.basename(dir), parts[0].name),
      parts,
      state: 'Active',
      last_used: new Date().toISOString(),
    }
  }

  /** `findLeased` under the entry's lock. */
  async findAndLease(digest: string, verify: 'quick' | 'full', what: string): Promise<StoredModel | undefined> {
    return await this.withEntryLock(modelEntryName(digest), what, () => this.findLeased(digest, verify))
  }

  /** `find`, and a lease for this process on what it found (the caller holds the entry's lock). */
  async findLeased(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const found = await this.find(digest, verify)
    if (found) await this.lease(modelEntryName(found.digest))
    return found
  }

  /**
   * The sha256 of a local model file: with `quick`, the one recorded when a file of the same identity was last
   * hashed (a multi-GB file is not read again on every run); otherwise it is hashed and recorded.
   */
  async localDigest(file: string, verify: 'quick' | 'full'): Promise<string> {
    const known = await this.recordedLocalDigest(file, verify)
    if (known) return known
    const identity = await identityOfFile(file)
    const digest = await sha256File(file)
    await this.recordLocalDigest(file, digest, identity)
    return digest
  }

  /** What `localDigest` answers without reading the file: the recorded digest under `quick`, if the identity holds. */
  async recordedLocalDigest(file: string, verify: 'quick' | 'full'): Promise<string | undefined> {
    if (verify !== 'quick') return undefined
    const [identity, catalog] = await Promise.all([identityOfFile(file), this.catalog.read()])
    const known = catalog.local_files[file]
    return known && sameIdentity(identity, known) ? known.digest : undefined
  }

  /** Records that `file`, as it is now, has `digest` (it was just hashed while it was written). */
  async recordLocalDigest(file: string, digest: string, identity?: FileIdentity): Promise<void> {
    const now = identity ?? (await identityOfFile(file))
    await this.catalog.update((c) => {
      c.local_files[file] = { ...now, digest }
    })
  }

  /**
   * The verified entry for `digest`, or undefined. `quick` trusts parts whose identity (FileIdentity) matches the
   * record; otherwise (or with `full`) they are hashed. An entry that fails is removed, with a warning.
   */
  async find(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const name = modelEntryName(digest)
    const record = (await this.catalog.read()).entries[name]
    const dir = this.entryDir(name)
    const stat = await fs.lstat(dir).catch(() => undefined)
    if (!stat) return undefined
    if (!stat.isDirectory()) {
      await this.removeModel(digest, 'it is not a real directory')
      return undefined
    }
    if (!record) {
      // A job between its rename and its catalog write (leave it), one that died there, or a record dropped from a
      // damaged catalog: the entry's own manifest, verified by content, records it again; else an old one goes.
      const recovered = await this.recordFromManifest(name)
      if (recovered) return await this.find(digest, 'quick')
      if (Date.now() - stat.mtimeMs > UNRECORDED_GRACE_MS) await this.removeModel(digest, 'it has no catalog record')
      return undefined
    }
    const parts = record.parts.map((p) => childPath(dir, partFileName(p.name), 'A model file name'))
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
      const stat = await fs.lstat(file, { bigint: true }).catch(() => undefined)
      if (!stat?.isFile()) return `${part.name} is missing or not a regular file`
      if (Number(stat.size) !== part.size) return `${part.name} is ${stat.size} bytes, recorded ${part.size}`
      if (verify === 'quick' && sameIdentity(identityOf(stat), part)) continue
      const digest = await sha256File(file)
      if (digest !== part.digest) return `${part.name} has ${digest}, recorded ${part.digest}`
      rehashed = true
    }
    if (rehashed) {
      // Verified by content: record the files' identity as it is now (after a move to another filesystem, say).
      const identities = await Promise.all(parts.map(identityOfFile))
      await this.catalog.update((c) => {
        c.entries[name]?.parts.forEach((p, i) => Object.assign(p, identities[i]))
      })
    }
    return undefined
  }

  /**
   * Records the parts of entry `digest` as they are now, after the caller hard-linked them elsewhere (a new link
   * changes a file's ctime, not its bytes): only where the rest of the identity is still the recorded one.
   */
  async recordRelinked(digest: string): Promise<void> {
    const name = modelEntryName(digest)
    const dir = this.entryDir(name)
    const record = (await this.catalog.read()).entries[name]
    if (!record) return
    const now = await Promise.all(record.parts.map((p) => identityOfFile(childPath(dir, partFileName(p.name), 'A model file name')).catch(() => undefined)))
    await this.catalog.update((c) => {
      c.entries[name]?.parts.forEach((p, i) => {
        const got = now[i]
        if (got && sameIdentity({ ...got, ctime_ns: p.ctime_ns }, p)) p.ctime_ns = got.ctime_ns
      })
    })
  }

  /** Moves verified parts from a work directory into place as one entry, records it, and leases it (the caller holds its lock). */
  async install(workDir: string, digest: string, id: string, ref: string, source: string, parts: PartToInstall[]): Promise<StoredModel> {
    const name = modelEntryName(digest)
    const dir = this.entryDir(name)
    const staged = path.join(workDir, 'entry')
    await fs.mkdir(staged, { recursive: true })
    for (const part of parts) await fs.rename(part.file, childPath(staged, partFileName(part.name), 'A model file name'))
    const manifest: EntryManifest = { id, ref, digest, sources: [source], parts: parts.map((p) => ({ name: p.name, digest: p.digest })) }
    await writeFileAtomic(path.join(staged, ENTRY_MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`)
    if (!(await this.publish(staged, name))) {
      // Same content under other names (a re-uploaded file, say): add ours beside them, each file whole.
      for (const part of parts) {
        const target = childPath(dir, part.name, 'A model file name')
        if (!(await fs.lstat(target).then(() => true, () => false))) await fs.rename(path.join(staged, part.name), target)
      }
    }
    await this.removeWorkDir(workDir)
    const files = parts.map((p) => childPath(dir, p.name, 'A model file name'))
    const identities = await Promise.all(files.map(identityOfFile))
    const record: ModelRecord = {
      id,
      ref,
      digest,
      size_bytes: identities.reduce((sum, s) => sum + s.size, 0),
      path: path.relative(this.root, files[0] as string),
      parts: parts.map((p, i) => ({ name: p.name, digest: p.digest, ...identities[i]! })),
      state: 'Active',
      last_used: new Date().toISOString(),
    }
    await this.catalog.update((c) => {
      c.entries[name] = record
    })
    await this.lease(name)
    return { digest, parts: files, sizeBytes: record.size_bytes }
  }

  private async removeModel(digest: string, why: string): Promise<void> {
    await this.remove(modelEntryName(digest), why, (c) => {
      for (const [source, d] of Object.entries(c.sources)) if (d === digest) delete c.sources[source]
    })
  }
}

