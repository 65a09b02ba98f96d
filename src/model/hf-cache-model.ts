// hf: models in the runner's Hugging Face cache, the store of record for them: a model already there, whoever put
// it there, is used in place once its bytes are verified against the sha256 it must have (`verify: quick` trusts a
// blob whose identity, ctime included, was recorded when it was last hashed, as for a stored entry); a model that is
// not is downloaded into it in its layout, so that huggingface_hub, `hf download` and `llama-server -hf` find it
// later. A model in cache-dir's own store (from before, or restored from the GitHub Actions cache) is hard-linked
// in rather than fetched again. The action replaces a file of another tool only when its bytes are wrong, and says
// so; it deletes nothing else there.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Credential } from '../http/request.js'
import { ensureFreeSpace } from '../util/disk.js'
import { checkGgufMagic, readGgufInfo } from './gguf.js'
import { HfCache, isCommit, type HfRepo } from './hf-cache.js'
import { withHfCacheLock } from './hf-cache-lock.js'
import type { HfCacheLocation } from './hf-paths.js'
import { downloadModelFile } from './parallel-download.js'
import type { ProvisionedModel } from './provisioned.js'
import type { ModelStore } from './store.js'
import { Input } from '../constants.js'
import { CacheLayoutError } from '../util/safe-path.js'

export interface HubPart {
  /** Path in the repository. */
  file: string
  url: string
  size: number | undefined
  /** `sha256:<hex>`, from the Hub. */
  digest: string
}

/** Which model, at which commit, named how. */
export interface HubIdentity {
  repo: HfRepo
  revision: string
  commit: string
  id: string
}

export interface HubModel extends HubIdentity {
  /** The first part first. */
  parts: HubPart[]
}

export interface FetchSettings {
  credential: Credential | undefined
  verify: 'quick' | 'full'
  timeoutMs: number
  connections: number | undefined
}

/** Where a model was found: the cache it is in, whether the action writes there, and each part's snapshot path. */
interface Found {
  cache: HfCache
  writable: boolean
  snapshots: string[]
}

/** The model from the cache (verified), else from cache-dir's store (linked in), else downloaded into the cache. */
export async function provisionThroughHfCache(location: HfCacheLocation, store: ModelStore, model: HubModel, settings: FetchSettings): Promise<ProvisionedModel> {
  const cache = new HfCache(location.root)
  const bad = new Set<string>()
  const { found } = await findInCaches(location, store, model, settings.verify, bad)
  const digest = (model.parts[0] as HubPart).digest
  const use = (where: Found, cacheHit: boolean) => inPlace(where, model, { digest, cacheHit, store, verify: settings.verify })
  if (found) return await use(found, true)
  const lock = { file: await cache.lockFile(model.repo, digest), what: model.id, inProgress: () => cache.downloadsInProgress(model.repo, digest) }
  return await withHfCacheLock(lock, async () => {
    // Another process may have put it there while this one waited for the lock.
    const meanwhile = await findInCaches(location, store, model, settings.verify, bad)
    if (meanwhile.found) return await use(meanwhile.found, true)
    const linked = await linkFromStore(cache, store, model, settings.verify)
    if (linked) return await use(linked, true)
    return await use(await downloadInto(cache, store, model, settings, bad, meanwhile.have), false)
  })
}

/** Offline (HF_HUB_OFFLINE, or the endpoint out of reach): the model by refs/, checked against its blobs' names. */
export async function findOffline(
  location: HfCacheLocation,
  store: ModelStore,
  wanted: { repo: HfRepo; revision: string; files: string[]; id: (commit: string) => string },
  verify: 'quick' | 'full',
): Promise<ProvisionedModel | undefined> {
  const { repo, revision, files } = wanted
  for (const root of [location.root, ...location.alsoLookIn]) {
    const cache = new HfCache(root)
    const commit = isCommit(revision) ? revision : await cache.readRef(repo, revision)
    if (!commit) continue
    const snapshots: string[] = []
    let digest: string | undefined
    for (const file of files) {
      const got = await cache.lookup(repo, commit, file)
      // Offline the blob's name is all there is to check the bytes against: a plain file has none.
      if (got?.kind !== 'found' || !got.digest) break
      if (!(await matches(store, { cache, repo, file: got.blob }, got.digest, verify, got.snapshot))) break
      snapshots.push(got.snapshot)
      digest ??= got.digest
    }
    if (snapshots.length !== files.length || !digest) continue
    return await inPlace({ cache, writable: root === location.root, snapshots }, { repo, revision, commit, id: wanted.id(commit) }, { digest, cacheHit: true, store, verify })
  }
  return undefined
}

async function inPlace(
  found: Found,
  model: HubIdentity,
  { digest, cacheHit, store, verify }: { digest: string; cacheHit: boolean; store: ModelStore; verify: 'quick' | 'full' },
): Promise<ProvisionedModel> {
  if (found.writable) {
    await found.cache.writeRef(model.repo, model.revision, model.commit).catch((error: NodeJS.ErrnoException) => {
      // A cache this job may read but not write (another user's, read-only): the model is still usable.
      core.info(`Could not record ${model.revision} → ${model.commit} in ${found.cache.root} (${error.code ?? error.message})`)
    })
  }
  const first = found.snapshots[0] as string
  let sizeBytes = 0
  for (const snapshot of found.snapshots) sizeBytes += (await fs.stat(snapshot)).size
  if (cacheHit) core.info(`${model.id} is in the Hugging Face cache at ${found.cache.root}; used in place`)
  return { id: model.id, path: first, parts: found.snapshots, digest, sizeBytes, gguf: await store.gguf.info(first, verify), cacheHit, stored: true }
}

/**
 * Every part in one of the caches with the right bytes (`found`); else, in `have`, the snapshots of the parts that
 * the cache the action writes has (undefined for the others), so that only the rest is downloaded. In that cache a
 * blob without its link is linked.
 */
async function findInCaches(location: HfCacheLocation, store: ModelStore, model: HubModel, verify: 'quick' | 'full', bad: Set<string>): Promise<{ found?: Found; have: (string | undefined)[] }> {
  let have: (string | undefined)[] = []
  for (const [i, root] of [location.root, ...location.alsoLookIn].entries()) {
    const cache = new HfCache(root)
    const snapshots: (string | undefined)[] = []
    for (const part of model.parts) {
      const snapshot = await findPart(cache, store, model, part, verify, bad, i === 0)
      snapshots.push(snapshot)
      // From a cache the action does not write, a model is used whole or not at all.
      if (!snapshot && i > 0) break
    }
    if (snapshots.length === model.parts.length && snapshots.every((s) => s !== undefined)) return { found: { cache, writable: i === 0, snapshots: snapshots as string[] }, have }
    if (i === 0) have = snapshots
  }
  return { have }
}

async function findPart(cache: HfCache, store: ModelStore, model: HubModel, part: HubPart, verify: 'quick' | 'full', bad: Set<string>, writable: boolean): Promise<string | undefined> {
  const got = await cache.lookup(model.repo, model.commit, part.file)
  if (got?.kind === 'unusable') {
    warnOnce(bad, got.snapshot, `${got.snapshot} in the Hugging Face cache is not used: ${got.why}${writable && got.replaceable ? '. The action puts a link of its own in its place' : ''}`)
    if (!writable || !got.replaceable) return undefined
  }
  if (got?.kind === 'found' && got.digest !== undefined && got.digest !== part.digest) {
    warnOnce(bad, got.snapshot, `${got.snapshot} in the Hugging Face cache links to ${got.digest}, but the Hub says ${model.id} has ${part.digest}; it is not used${writable ? ' and the action links it to the right blob' : ''}`)
  } else if (got?.kind === 'found') {
    return (await matches(store, { cache, repo: model.repo, file: got.blob }, part.digest, verify, got.snapshot, bad, writable)) ? got.snapshot : undefined
  }
  // No usable link: the blob itself may be there (another revision's, or a broken link's target).
  if (!writable) return undefined
  const blob = await cache.existingBlob(model.repo, part.digest)
  if (!blob || !(await matches(store, { cache, repo: model.repo, file: blob }, part.digest, verify, blob, bad, true))) return undefined
  return await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest)
}

/** A blob, and the cache and repository it is in. */
interface BlobIn {
  cache: HfCache
  repo: HfRepo
  file: string
}

/**
 * True when `file` has `digest` (with `quick`, by its recorded identity, unless others can write there). A mismatch
 * is a warning (once per file in `seen`), which says whether the download replaces the file (only in the cache the
 * action writes).
 */
async function matches(store: ModelStore, blob: BlobIn, digest: string, verify: 'quick' | 'full', shown: string, seen = new Set<string>(), replaced = false): Promise<boolean> {
  const file = blob.file
  const got = await store.localDigest(file, verify === 'quick' && (await othersCanWrite(blob)) ? 'full' : verify)
  if (got === digest) return true
  const message = `${shown} in the Hugging Face cache has ${got}, not the ${digest} it must have; it is not used`
  warnOnce(seen, file, replaced ? `${message}. The action downloads the model again and replaces that file` : message)
  return false
}

/** The places this run has said are writable by others: each is said once. */
const untrustedSaid = new Set<string>()

/**
 * Whether someone other than this user could have changed `blob.file` (a shared cache): then its recorded identity
 * proves nothing and it is hashed on every use. Said once per place.
 */
async function othersCanWrite(blob: BlobIn): Promise<boolean> {
  const untrusted = await blob.cache.untrusted(blob.repo, blob.file)
  if (untrusted && !untrustedSaid.has(untrusted.path)) {
    untrustedSaid.add(untrusted.path)
    core.info(`${untrusted.path} in the Hugging Face cache is ${untrusted.why}: its blobs are hashed in full on every use, whatever '${Input.Verify}' says`)
  }
  return untrusted !== undefined
}

function warnOnce(seen: Set<string>, key: string, message: string): void {
  if (seen.has(key)) return
  seen.add(key)
  core.warning(message)
}

/** A model in cache-dir's store (by the first part's sha256) hard-linked into the cache; undefined when not there or not linkable. */
async function linkFromStore(cache: HfCache, store: ModelStore, model: HubModel, verify: 'quick' | 'full'): Promise<Found | undefined> {
  const stored = await store.findAndLease((model.parts[0] as HubPart).digest, verify, model.id)
  if (!stored || stored.parts.length !== model.parts.length) return undefined
  const snapshots: string[] = []
  for (const [i, part] of model.parts.entries()) {
    const file = stored.parts[i] as string
    if (i > 0 && (await store.localDigest(file, verify)) !== part.digest) return undefined
    const temp = await cache.blobTemp(model.repo, part.digest)
    try {
      try {
        await fs.link(file, temp.file)
      } catch (error) {
        core.info(`${model.id} is in ${store.root}, which cannot be hard-linked into ${cache.root} (${(error as NodeJS.ErrnoException).code ?? error}); it is downloaded into the Hugging Face cache instead`)
        return undefined
      }
      await store.recordLocalDigest(await cache.installBlob(model.repo, temp.file, part.digest), part.digest)
    } finally {
      await temp.release()
    }
    snapshots.push(await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest))
  }
  // The new links changed the stored files' ctime: recorded, so that the next quick verify need not hash them.
  await store.recordRelinked(stored.digest)
  core.info(`${model.id} was in ${store.root}: hard-linked into the Hugging Face cache, not downloaded`)
  return { cache, writable: true, snapshots }
}

/**
 * The parts the cache lacks (`have` holds the snapshots of those it has, verified) downloaded into it: each to its
 * own temporary blob, verified, renamed, linked.
 */
async function downloadInto(cache: HfCache, store: ModelStore, model: HubModel, settings: FetchSettings, bad: Set<string>, have: (string | undefined)[]): Promise<Found> {
  const missing = model.parts.flatMap((part, i) => (have[i] ? [] : [{ part, i }]))
  if (missing.length < model.parts.length) {
    core.info(`${model.parts.length - missing.length} of the ${model.parts.length} parts of ${model.id} are in the Hugging Face cache, verified; downloading the other ${missing.length}`)
  }
  // A directory where a blob or link must go is found before the download, not after it.
  for (const { part } of missing) {
    const obstacle = await cache.obstacle(model.repo, model.commit, part.file, part.digest)
    if (obstacle) throw new CacheLayoutError(obstacle)
  }
  const needed = missing.reduce((sum, { part }) => sum + (part.size ?? 0), 0)
  const snapshots = [...have]
  for (const [n, { part, i }] of missing.entries()) {
    const temp = await cache.blobTemp(model.repo, part.digest)
    const dest = temp.file
    try {
      if (n === 0 && needed > 0) await ensureFreeSpace(path.dirname(dest), needed, model.id)
      await downloadModelFile({
        url: part.url,
        credential: settings.credential,
        dest,
        label: path.basename(part.file),
        expectedSize: part.size,
        expectedDigest: part.digest,
        timeoutMs: settings.timeoutMs,
        connections: settings.connections,
      })
      // Only GGUF models are kept: a file that is not one never enters the cache.
      if (i === 0) await readGgufInfo(dest)
      else await checkGgufMagic(dest)
      const blob = cache.blobPath(model.repo, part.digest)
      if (bad.has(blob)) core.warning(`Replaced ${blob} in the Hugging Face cache, whose bytes did not match its name, with a verified download`)
      await store.recordLocalDigest(await cache.installBlob(model.repo, dest, part.digest), part.digest)
    } catch (error) {
      await fs.rm(dest, { force: true })
      throw error
    } finally {
      await temp.release()
    }
    snapshots[i] = await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest)
  }
  return { cache, writable: true, snapshots: snapshots as string[] }
}
