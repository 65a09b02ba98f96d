// remote-cache: model or all. A model this job downloaded goes to the GitHub Actions cache in the post step, keyed
// by its sha256, with a manifest of its parts; a later job (an ephemeral runner's, with an empty store) that wants
// the same sha256 restores it instead of downloading it, after checking every part against that manifest. Keys
// are content: a revision that moves wants another sha256, so a cached model is never stale.
import * as core from '@actions/core'
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Input } from '../constants.js'
import { errorMessage } from '../errors.js'
import type { ActionInputs } from '../inputs.js'
import { addPendingRemoteSave } from '../state.js'
import { restoreFromRemote } from '../store/remote-cache.js'
import { sha256File } from '../util/hash.js'
import { readSmallFile } from '../util/read-file.js'
import { redactUrl } from '../http/request.js'
import { moveFile } from '../util/move-file.js'
import { formatBytes } from '../util/format.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelEntryName, ModelStore, type StoredModel } from './store.js'

/** Saved beside the parts: what a restoring job checks them against, and what its store records. */
export interface RemoteModelManifest {
  digest: string
  id: string
  parts: { name: string; size: number; digest: string }[]
}

const MANIFEST = 'model.json'

/** The remote entry of a model: `model-sha256-<hex>`. */
export function remoteModelName(digest: string): string {
  return `model-${modelEntryName(digest)}`
}

type RemoteInputs = Pick<ActionInputs, 'model' | 'modelDigest' | 'remoteCache' | 'remoteCacheMaxModelSizeBytes'>

export function remoteModelsWanted(inputs: Pick<ActionInputs, 'remoteCache'>): boolean {
  return inputs.remoteCache === 'model' || inputs.remoteCache === 'all'
}

/**
 * Why this model does not go through the GitHub Actions cache, or undefined when it does. Pure: the reasons are
 * the notice users read, so each says what would change it.
 */
export function remoteModelSkipReason(inputs: RemoteInputs, model: Pick<ProvisionedModel, 'stored' | 'sizeBytes'>): string | undefined {
  const setting = `remote-cache: ${inputs.remoteCache}`
  if (inputs.model.kind === 'file') return `${setting}: a local model is used in place; it is not sent to the GitHub Actions cache.`
  if (!model.stored) return `${setting}: the model is used in place, outside the action's store; it is not sent to the GitHub Actions cache.`
  if (inputs.model.kind === 'url' && !inputs.modelDigest) {
    return `${setting}: a URL model goes through the GitHub Actions cache only with '${Input.ModelDigest}': a later job must know its sha256 before downloading to look it up.`
  }
  if (model.sizeBytes > inputs.remoteCacheMaxModelSizeBytes) {
    return (
      `${setting}: the model (${formatBytes(model.sizeBytes)}) is larger than '${Input.RemoteCacheMaxModelSize}' ` +
      `(${formatBytes(inputs.remoteCacheMaxModelSizeBytes)}), so it is not sent to the GitHub Actions cache, which keeps ` +
      `about 10 GB per repository and evicts the least recently used entries (engines among them) beyond that. ` +
      `It stays in cache-dir; raise '${Input.RemoteCacheMaxModelSize}' to send it.`
    )
  }
  return undefined
}

/** The model store, with the GitHub Actions cache behind it: a sha256 the store lacks is looked for there. */
export class RemoteBackedModelStore extends ModelStore {
  override async findLeased(digest: string, verify: 'quick' | 'full'): Promise<StoredModel | undefined> {
    const found = await super.findLeased(digest, verify)
    if (found || !(await this.restore(digest))) return found
    return await super.findLeased(digest, verify)
  }

  /** Restores `digest` into the store (the caller holds its entry lock); false on a miss or a bad entry. */
  private async restore(digest: string): Promise<boolean> {
    const dir = await restoreFromRemote(remoteModelName(digest))
    if (!dir) return false
    try {
      const manifest = await checkedManifest(dir, digest)
      for (const part of manifest.parts) {
        const file = path.join(dir, part.name)
        // lstat: a link in the archive would make the store hold a file from elsewhere.
        const stat = await fs.lstat(file)
        if (!stat.isFile()) throw new Error(`${part.name} is not a regular file`)
        if (stat.size !== part.size) throw new Error(`${part.name} is ${stat.size} bytes, the manifest says ${part.size}`)
        const got = await sha256File(file)
        if (got !== part.digest) throw new Error(`${part.name} has ${got}, the manifest says ${part.digest}`)
      }
      const work = await this.newWorkDir()
      const parts = []
      await fs.mkdir(path.join(work, 'parts'))
      for (const part of manifest.parts) {
        const file = path.join(work, 'parts', part.name)
        await moveFile(path.join(dir, part.name), file)
        parts.push({ name: part.name, file, digest: part.digest })
      }
      await this.install(work, digest, manifest.id, manifest.id, `remote:${remoteModelName(digest)}`, parts)
      return true
    } catch (error) {
      core.warning(`The GitHub Actions cache entry of the model ${digest} is not usable (${errorMessage(error)}); downloading it instead.`)
      return false
    } finally {
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
}

/** The manifest of a restored entry, checked as hostile input: it names files that are about to be moved. */
async function checkedManifest(dir: string, digest: string): Promise<RemoteModelManifest> {
  const m = JSON.parse((await readSmallFile(path.join(dir, MANIFEST), 2 ** 20)) ?? 'null') as Partial<RemoteModelManifest> | null
  if (!m) throw new Error(`${MANIFEST} is missing or not a regular file`)
  const parts = Array.isArray(m.parts) ? m.parts : []
  const wellFormed =
    m.digest === digest &&
    typeof m.id === 'string' &&
    /^[^\x00-\x1f\x7f]{1,2048}$/.test(m.id) &&
    parts.length > 0 &&
    parts[0]?.digest === digest &&
    parts.every(
      (p) =>
        typeof p.name === 'string' && /^[^/\\]+$/.test(p.name) && p.name !== '.' && p.name !== '..' && p.name !== MANIFEST &&
        Number.isSafeInteger(p.size) && typeof p.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(p.digest),
    )
  if (!wellFormed) throw new Error(`${MANIFEST} does not describe ${digest}`)
  return m as RemoteModelManifest
}

/**
 * Leaves the model for the post step to save: a directory in RUNNER_TEMP with its manifest and a link to each part
 * (the post step stages hard links, so a multi-GB model is not copied). Parts after the first are hashed here: the
 * store verified them, but only the first one's sha256 is known to this step.
 */
export async function planRemoteModelSave(model: ProvisionedModel, ref: RemoteInputs['model']): Promise<void> {
  const name = remoteModelName(model.digest)
  const dir = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', 'outgoing', name)
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(dir, { recursive: true })
  const parts: RemoteModelManifest['parts'] = []
  for (const [i, file] of model.parts.entries()) {
    const partName = path.basename(file)
    parts.push({ name: partName, size: (await fs.stat(file)).size, digest: i === 0 ? model.digest : await sha256File(file) })
    await fs.symlink(file, path.join(dir, partName))
  }
  // A URL's query string may be a signature: it stays out of the cache.
  const id = ref.kind === 'url' ? redactUrl(model.id) : model.id
  const manifest: RemoteModelManifest = { digest: model.digest, id, parts }
  const text = `${JSON.stringify(manifest, null, 2)}\n`
  await fs.writeFile(path.join(dir, MANIFEST), text)
  const files = [...parts.map((p) => ({ path: p.name, digest: p.digest })), { path: MANIFEST, digest: `sha256:${createHash('sha256').update(text).digest('hex')}` }]
  addPendingRemoteSave({ name, dir, files })
  core.info(`The post step saves ${name} (${formatBytes(model.sizeBytes)}) to the GitHub Actions cache`)
}
