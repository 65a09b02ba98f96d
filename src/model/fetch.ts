// Downloads the parts of a model into a private work directory of the store, checks them, and installs them
// as one entry. Nothing becomes an entry unless every part arrived whole and verified.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../constants.js'
import { ModelError } from '../errors.js'
import { ensureFreeSpace } from '../util/disk.js'
import type { Credential } from '../http/request.js'
import { checkGgufMagic, readGgufInfo } from './gguf.js'
import { downloadModelFile } from './parallel-download.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelEntryName, partFileName, type ModelStore, type StoredModel } from './store.js'
import { childPath } from '../util/safe-path.js'

export interface RemotePart {
  name: string
  url: string
  credential?: Credential
  size?: number
  /** `sha256:<hex>` when known before downloading. */
  digest?: string
}

export interface FetchPlan {
  id: string
  ref: string
  /** Where it comes from, as the catalog keys it (see Wanted.source). */
  source: string
  /**
   * When the source names a version of the file (a URL with its ETag): the source of the version the first part's
   * download actually got, which is another when the file changed on the server after it was asked about.
   */
  sourceOf?: (version: string) => string
  /** Milliseconds without an answer or a byte before an attempt is given up. */
  timeoutMs: number
  /** The `download-connections` input; undefined = automatic. */
  connections: number | undefined
  parts: RemotePart[]
  /** The `model-digest` input: the first part must have it. */
  modelDigest: string | undefined
}

/** The model in the store, and the source it was recorded under. `entryLocked`: the caller holds the lock of
 * the entry's digest (else it is taken around the install). */
export async function fetchIntoStore(store: ModelStore, plan: FetchPlan, entryLocked: boolean): Promise<{ stored: StoredModel; source: string }> {
  const workDir = await store.newWorkDir()
  // Parts apart from the staging directory install() makes, whatever their names.
  const partsDir = path.join(workDir, 'parts')
  await fs.mkdir(partsDir)
  try {
    const known = plan.parts.reduce((sum, p) => sum + (p.size ?? 0), 0)
    if (known > 0) await ensureFreeSpace(workDir, known, plan.id)
    const installed: { name: string; file: string; digest: string }[] = []
    let source = plan.source
    for (const [i, part] of plan.parts.entries()) {
      const file = childPath(partsDir, partFileName(part.name), 'A model file name')
      const got = await downloadModelFile({
        url: part.url,
        credential: part.credential,
        dest: file,
        label: part.name,
        expectedSize: part.size,
        expectedDigest: part.digest ?? (i === 0 ? plan.modelDigest : undefined),
        timeoutMs: plan.timeoutMs,
        connections: plan.connections,
      })
      installed.push({ name: part.name, file, digest: got.digest })
      if (i === 0 && plan.sourceOf && got.version !== undefined) source = plan.sourceOf(got.version)
    }
    const first = installed[0]!
    if (plan.modelDigest !== undefined && first.digest !== plan.modelDigest) {
      throw new ModelError(`Input '${Input.ModelDigest}' is ${plan.modelDigest}, but ${plan.id} has ${first.digest}`)
    }
    // Only GGUF models are stored: a wrong URL (an HTML page, say) is refused here.
    await readGgufInfo(first.file)
    for (const part of installed.slice(1)) await checkGgufMagic(part.file)
    const install = () => store.install(workDir, first.digest, plan.id, plan.ref, source, installed)
    return { stored: entryLocked ? await install() : await store.withEntryLock(modelEntryName(first.digest), plan.id, install), source }
  } catch (error) {
    await store.removeWorkDir(workDir)
    throw error
  }
}

export interface Wanted {
  id: string
  /** Where it comes from, as the catalog keys it (`hf:owner/repo@commit/path`, or a URL with its ETag). */
  source: string
  /** The sha256 when known before fetching (from the Hub or `model-digest`). */
  pinned: string | undefined
  verify: 'quick' | 'full'
}

/**
 * Under the entry's lock, so that concurrent jobs fetch once: the stored model when the store has it (found by
 * digest, or by source through the catalog), else fetched with the plan that `plan` makes.
 */
export async function findOrFetch(store: ModelStore, wanted: Wanted, plan: () => Promise<FetchPlan>): Promise<ProvisionedModel> {
  // Keyed by digest when it is known, else by source; eviction takes the digest's lock, so under a source lock
  // the finding and the installing take the digest's lock too (nested, never the other way round).
  const byDigest = wanted.pinned !== undefined
  return await store.withEntryLock(byDigest ? modelEntryName(wanted.pinned as string) : wanted.source, wanted.id, async () => {
    const known = wanted.pinned ?? (await store.catalog.read()).sources[wanted.source]
    const hit = !known ? undefined : byDigest ? await store.findLeased(known, wanted.verify) : await store.findAndLease(known, wanted.verify, wanted.id)
    if (hit) return await provisionedFromStore(store, hit, { id: wanted.id, cacheHit: true, verify: wanted.verify })
    const { stored, source } = await fetchIntoStore(store, await plan(), byDigest)
    await store.catalog.update((c) => {
      c.sources[source] = stored.digest
    })
    return await provisionedFromStore(store, stored, { id: wanted.id, cacheHit: false, verify: wanted.verify })
  })
}

export async function provisionedFromStore(
  store: ModelStore,
  stored: StoredModel,
  { id, cacheHit, verify }: { id: string; cacheHit: boolean; verify: 'quick' | 'full' },
): Promise<ProvisionedModel> {
  const first = stored.parts[0] as string
  return { id, path: first, parts: stored.parts, digest: stored.digest, sizeBytes: stored.sizeBytes, gguf: await store.gguf.info(first, verify), cacheHit, stored: true }
}

/** The names of every part of a split model, from the name of its first part. */
export function splitPartNames(firstName: string, total: number): string[] {
  const width = (n: number) => String(n).padStart(5, '0')
  const base = firstName.replace(/-\d{5}-of-\d{5}\.gguf$/i, '')
  return Array.from({ length: total }, (_, i) => `${base}-${width(i + 1)}-of-${width(total)}.gguf`)
}
