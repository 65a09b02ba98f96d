// The Hugging Face cache's layout (https://huggingface.co/docs/hub/local-cache, llama.cpp's common/hf-cache.cpp):
//   <root>/models--<owner>--<repo>/refs/<revision>              the commit, one line
//   <root>/models--<owner>--<repo>/blobs/<sha256>               the bytes of an LFS file, named by their sha256
//   <root>/models--<owner>--<repo>/snapshots/<commit>/<path>    a relative link to ../../blobs/<sha256>
//   <root>/.locks/models--<owner>--<repo>/<sha256>.lock         flock(2)ed by whoever downloads that blob
// and, of this action, blobs/<sha256>.<host>-<pid>-<random>.incomplete with its lock in .locks/ (hf-blob-temp.ts).
// Other tools write here, so everything read is hostile until checked: directories from the repository folder
// down must be real ones (a link could lead out of the cache), a snapshot entry must link to a blob of this
// repository whose name is a sha256 (the bytes are verified against it by the caller), refs must hold a commit.
// Writes go to a temporary name of this process, then rename: a reader never sees half a file or link. A directory
// where a file or link must go is never removed (it may be another tool's): the cache cannot be used then.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../constants.js'
import { CacheLayoutError, childPath, plainFileName, realDirIn } from '../util/safe-path.js'
import { newBlobTemp, removeDeadTemps, uniqueSuffix, type BlobTemp } from './hf-blob-temp.js'

export interface HfRepo {
  owner: string
  repo: string
}

/** What a snapshot path holds, as far as the layout tells (the bytes are the caller's to verify). */
export type CachedFile =
  /** A link to an existing blob named by a sha256 (`digest`), or a plain file (no `digest`: a degraded cache). */
  | { kind: 'found'; snapshot: string; blob: string; digest: string | undefined }
  /** A link to a blob named by a sha256 that is missing: the download can repair it. */
  | { kind: 'broken'; snapshot: string; digest: string }
  /** Something that must not be used; `why` says what; `replaceable` when a rename can put a link in its place. */
  | { kind: 'unusable'; snapshot: string; why: string; replaceable: boolean }

/** A download of a blob in progress in blobs/, any tool's. */
export interface InProgress {
  name: string
  size: number
  mtimeMs: number
}

const SHA256 = /^[0-9a-f]{64}$/
const COMMIT = /^[0-9a-f]{40}$/

export function isCommit(revision: string): boolean {
  return COMMIT.test(revision)
}

export class HfCache {
  constructor(readonly root: string) {}

  /** `models--<owner>--<repo>`, checked to be one plain name. */
  folder(r: HfRepo): string {
    return plainFileName(`models--${r.owner}--${r.repo}`, 'A Hugging Face cache folder')
  }

  repoDir(r: HfRepo): string {
    return childPath(this.root, this.folder(r), 'A Hugging Face cache folder')
  }

  /** The commit that refs/<revision> holds, or undefined (no such ref, or not a commit). */
  async readRef(r: HfRepo, revision: string): Promise<string | undefined> {
    const segments = revision.split('/')
    const dir = await existingRealDir(this.root, this.folder(r), 'refs', ...segments.slice(0, -1))
    if (!dir) return undefined
    const file = childPath(dir, segments.at(-1) as string, 'A revision')
    const stat = await fs.lstat(file).catch(() => undefined)
    if (!stat?.isFile()) return undefined
    // A ref is 40 characters; a huge file planted under its name is never read whole.
    const handle = await fs.open(file, 'r')
    try {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(128), 0, 128, 0)
      const commit = buffer.subarray(0, bytesRead).toString('utf8').trim()
      return COMMIT.test(commit) ? commit : undefined
    } finally {
      await handle.close()
    }
  }

  /** What snapshots/<commit>/<file> is, or undefined when the cache has nothing there. */
  async lookup(r: HfRepo, commit: string, file: string): Promise<CachedFile | undefined> {
    const segments = file.split('/')
    const repoDir = this.repoDir(r)
    const dir = await existingRealDir(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1))
    const snapshot = path.join(repoDir, 'snapshots', commit, ...segments)
    if (dir === null) return { kind: 'unusable', snapshot, why: 'a directory on its way is a link or not a directory', replaceable: false }
    if (dir === undefined) return undefined
    const stat = await fs.lstat(snapshot).catch(() => undefined)
    if (!stat) return undefined
    if (stat.isFile()) return { kind: 'found', snapshot, blob: snapshot, digest: undefined }
    if (!stat.isSymbolicLink()) return { kind: 'unusable', snapshot, why: `it is ${stat.isDirectory() ? 'a directory' : 'neither a link nor a file'}`, replaceable: !stat.isDirectory() }
    const target = path.resolve(dir, await fs.readlink(snapshot))
    const blobs = path.join(repoDir, 'blobs')
    const name = path.basename(target)
    if (path.dirname(target) !== blobs) return { kind: 'unusable', snapshot, why: `it links to ${target}, outside ${blobs}`, replaceable: true }
    if (!SHA256.test(name)) return { kind: 'unusable', snapshot, why: `it links to a blob whose name (${name.slice(0, 80)}) is not a sha256, which the action could verify`, replaceable: true }
    if ((await existingRealDir(this.root, this.folder(r), 'blobs')) !== blobs) return { kind: 'unusable', snapshot, why: `${blobs} is a link or not a directory`, replaceable: false }
    const blob = await fs.lstat(target).catch(() => undefined)
    if (!blob) return { kind: 'broken', snapshot, digest: `sha256:${name}` }
    if (!blob.isFile()) return { kind: 'unusable', snapshot, why: `its blob ${target} is a link or not a regular file`, replaceable: !blob.isDirectory() }
    return { kind: 'found', snapshot, blob: target, digest: `sha256:${name}` }
  }

  /**
   * Why `blob` could have been changed by a user other than this one: the repository's folder, its blobs/,
   * snapshots/ or refs/, or the blob itself is owned by another user, or writable by its group or by anyone (a
   * directory with the sticky bit, whose files only their owners may replace, excepted). Undefined when none is.
   */
  async untrusted(r: HfRepo, blob: string): Promise<{ path: string; why: string } | undefined> {
    const repoDir = this.repoDir(r)
    const uid = process.geteuid?.()
    for (const p of [repoDir, path.join(repoDir, 'blobs'), path.join(repoDir, 'snapshots'), path.join(repoDir, 'refs'), blob]) {
      const stat = await fs.lstat(p).catch(() => undefined)
      if (!stat) continue
      if (uid !== undefined && stat.uid !== uid) return { path: p, why: `owned by uid ${stat.uid}, not by this job's ${uid}` }
      if (stat.mode & 0o022 && !(stat.isDirectory() && stat.mode & 0o1000)) {
        return { path: p, why: `writable by ${stat.mode & 0o002 ? 'anyone' : 'its group'} (mode ${(stat.mode & 0o7777).toString(8)})` }
      }
    }
    return undefined
  }

  /** blobs/<sha256> when it is a regular file, else undefined. */
  async existingBlob(r: HfRepo, digest: string): Promise<string | undefined> {
    if (!(await existingRealDir(this.root, this.folder(r), 'blobs'))) return undefined
    const blob = this.blobPath(r, digest)
    const stat = await fs.lstat(blob).catch(() => undefined)
    return stat?.isFile() ? blob : undefined
  }

  blobPath(r: HfRepo, digest: string): string {
    return path.join(this.repoDir(r), 'blobs', blobName(digest))
  }

  /**
   * A new temporary file in blobs/ (its own per writer: never one shared `.incomplete`), locked as hf-blob-temp.ts
   * says until `release`. Temporary files of this action's jobs that are gone go first; nothing else there.
   */
  async blobTemp(r: HfRepo, digest: string): Promise<BlobTemp> {
    const blobs = await realDirIn(this.root, this.folder(r), 'blobs')
    const locks = await realDirIn(this.root, '.locks', this.folder(r))
    await removeDeadTemps(blobs, locks)
    return await newBlobTemp(blobs, locks, blobName(digest))
  }

  /**
   * What stands in the way of putting blob `digest` and the snapshot link of `file` in place: a directory where
   * either must go, or a link or file where a directory must be. Undefined when nothing does.
   */
  async obstacle(r: HfRepo, commit: string, file: string, digest: string): Promise<string | undefined> {
    const segments = file.split('/')
    const snapshot = path.join(this.repoDir(r), 'snapshots', commit, ...segments)
    if ((await existingRealDir(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1))) === null) return `a directory on the way to ${snapshot} is a link or not a directory`
    for (const p of [this.blobPath(r, digest), snapshot]) {
      if ((await fs.lstat(p).catch(() => undefined))?.isDirectory()) return directoryInTheWay(p)
    }
    return undefined
  }

  /** Renames the verified temporary file `temp` into place as blobs/<sha256>; `temp` is removed when that fails. */
  async installBlob(r: HfRepo, temp: string, digest: string): Promise<string> {
    const blob = this.blobPath(r, digest)
    await renameOrRemove(temp, blob)
    return blob
  }

  /**
   * Files in blobs/ named `<sha256>.<anything>`: downloads of that blob in progress, any tool's (huggingface_hub's
   * `.incomplete`, llama.cpp's `.downloadInProgress`, this action's).
   */
  async downloadsInProgress(r: HfRepo, digest: string): Promise<InProgress[]> {
    const blobs = await existingRealDir(this.root, this.folder(r), 'blobs')
    if (!blobs) return []
    const prefix = `${blobName(digest)}.`
    const found: InProgress[] = []
    for (const name of await fs.readdir(blobs).catch(() => [] as string[])) {
      const stat = name.startsWith(prefix) ? await fs.lstat(path.join(blobs, name)).catch(() => undefined) : undefined
      if (stat?.isFile()) found.push({ name, size: stat.size, mtimeMs: stat.mtimeMs })
    }
    return found
  }

  /** The lock file that huggingface_hub and this action take before downloading `digest`; its directory made. */
  async lockFile(r: HfRepo, digest: string): Promise<string> {
    const locks = await realDirIn(this.root, '.locks', this.folder(r))
    return path.join(locks, `${blobName(digest)}.lock`)
  }

  /** snapshots/<commit>/<file> as a relative link to blobs/<sha256>, replacing what was there; returns its path. */
  async linkSnapshot(r: HfRepo, commit: string, file: string, digest: string): Promise<string> {
    const segments = file.split('/')
    const dir = await realDirIn(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1))
    const snapshot = childPath(dir, segments.at(-1) as string, 'A model file name')
    const target = path.relative(dir, this.blobPath(r, digest))
    if ((await fs.readlink(snapshot).catch(() => undefined)) === target) return snapshot
    const temp = path.join(dir, `.${path.basename(snapshot)}.${uniqueSuffix()}.tmp`)
    await fs.symlink(target, temp)
    await renameOrRemove(temp, snapshot)
    return snapshot
  }

  /** refs/<revision> holding `commit` (unless it already does, or the revision is that commit). */
  async writeRef(r: HfRepo, revision: string, commit: string): Promise<void> {
    if (revision === commit || (await this.readRef(r, revision)) === commit) return
    const segments = revision.split('/')
    const dir = await realDirIn(this.root, this.folder(r), 'refs', ...segments.slice(0, -1))
    const ref = childPath(dir, segments.at(-1) as string, 'A revision')
    const temp = path.join(dir, `.${path.basename(ref)}.${uniqueSuffix()}.tmp`)
    // No newline, as huggingface_hub writes it.
    await fs.writeFile(temp, commit, { flag: 'wx', mode: 0o644 })
    await renameOrRemove(temp, ref)
  }
}

function blobName(digest: string): string {
  const hex = digest.replace(/^sha256:/, '')
  if (!SHA256.test(hex)) throw new Error(`not a sha256: ${digest}`)
  return hex
}

function directoryInTheWay(p: string): string {
  return `${p} is a directory, which the action does not remove (it may be another tool's); remove it, or set ${Input.HfCache}: false`
}

/** `temp` renamed to `target`; when that fails `temp` is removed, and a directory at `target` is a CacheLayoutError. */
async function renameOrRemove(temp: string, target: string): Promise<void> {
  try {
    await fs.rename(temp, target)
  } catch (error) {
    await fs.rm(temp, { force: true })
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw new CacheLayoutError(directoryInTheWay(target))
    throw error
  }
}

/**
 * `root/a/b…` when every level below `root` exists and is a real directory; undefined when one is missing; null
 * when one is a link or something else. Nothing is created. The root itself may be a link: the user's choice.
 */
async function existingRealDir(root: string, ...names: string[]): Promise<string | undefined | null> {
  if (!(await fs.stat(root).then((s) => s.isDirectory(), () => false))) return undefined
  let dir = root
  for (const name of names) {
    dir = childPath(dir, name, 'A Hugging Face cache path')
    const stat = await fs.lstat(dir).catch(() => undefined)
    if (!stat) return undefined
    if (!stat.isDirectory() || stat.isSymbolicLink()) return null
  }
  return dir
}
