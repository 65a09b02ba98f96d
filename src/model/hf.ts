// hf: refs. The revision is resolved to a commit once; the file's sha256 and size come from the Hub and are
// verified. Revision → commit is recorded, so that HF_HUB_OFFLINE=1 or an unreachable endpoint can still be
// served from the cache.
import * as core from '@actions/core'
import { ModelError } from '../errors.js'
import { Input } from '../constants.js'
import type { ActionInputs } from '../inputs.js'
import { RetriesExhaustedError, RetryableError } from '../http/request.js'
import { findOrFetch, provisionedFromStore, splitPartNames, type RemotePart } from './fetch.js'
import { headHubFile, hubCredential, resolveUrl, type HubLocation } from './hub.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelId, type ModelRef } from './ref.js'
import type { ModelStore } from './store.js'

type HubRef = Extract<ModelRef, { kind: 'hf' }>
type HubInputs = Pick<ActionInputs, 'hfEndpoint' | 'hfToken' | 'modelDigest' | 'verify' | 'networkTimeoutMs'>

export function hubOffline(env: NodeJS.ProcessEnv): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase())
}

export async function provisionHubModel(ref: HubRef, inputs: HubInputs, store: ModelStore): Promise<ProvisionedModel> {
  const loc: HubLocation = { endpoint: inputs.hfEndpoint, owner: ref.owner, repo: ref.repo, file: ref.file }
  const revisionKey = `hf:${ref.owner}/${ref.repo}@${ref.revision}`
  if (hubOffline(process.env)) return await fromCacheOnly(ref, inputs, store, 'HF_HUB_OFFLINE is set')
  let head
  try {
    head = await headHubFile(loc, ref.revision, inputs.hfToken, inputs.networkTimeoutMs)
  } catch (error) {
    if (!(error instanceof RetryableError || error instanceof RetriesExhaustedError)) throw error
    return await fromCacheOnly(ref, inputs, store, `${inputs.hfEndpoint} cannot be reached (${error.message})`)
  }
  const id = modelId(ref, head.commit)
  core.info(`${revisionKey} is commit ${head.commit}`)
  if (inputs.modelDigest && head.digest && inputs.modelDigest !== head.digest) {
    throw new ModelError(`Input '${Input.ModelDigest}' is ${inputs.modelDigest}, but the Hub says ${id} has ${head.digest}`)
  }
  // Recorded when it changes, not on every warm run: the offline fallback needs the commit, not the time.
  if ((await store.catalog.read()).hf_revisions[revisionKey]?.commit !== head.commit) {
    await store.catalog.update((c) => {
      c.hf_revisions[revisionKey] = { commit: head.commit, resolved_at: new Date().toISOString() }
    })
  }
  const source = `hf:${ref.owner}/${ref.repo}@${head.commit}/${ref.file}`
  return await findOrFetch(store, { id, source, pinned: head.digest ?? inputs.modelDigest, verify: inputs.verify }, async () => {
    const credential = hubCredential(inputs.hfEndpoint, inputs.hfToken)
    const parts: RemotePart[] = [{ name: baseName(ref.file), url: resolveUrl(loc, head.commit), size: head.size, digest: head.digest, credential }]
    if (ref.split) {
      const dir = ref.file.includes('/') ? ref.file.slice(0, ref.file.lastIndexOf('/') + 1) : ''
      for (const name of splitPartNames(baseName(ref.file), ref.split.total).slice(1)) {
        const partLoc = { ...loc, file: dir + name }
        const info = await headHubFile(partLoc, head.commit, inputs.hfToken, inputs.networkTimeoutMs)
        parts.push({ name, url: resolveUrl(partLoc, head.commit), size: info.size, digest: info.digest, credential })
      }
    }
    return { id, ref: `hf:${ref.owner}/${ref.repo}@${ref.revision}/${ref.file}`, source, parts, modelDigest: inputs.modelDigest, timeoutMs: inputs.networkTimeoutMs }
  })
}

async function fromCacheOnly(ref: HubRef, inputs: HubInputs, store: ModelStore, why: string): Promise<ProvisionedModel> {
  const catalog = await store.catalog.read()
  const commit = /^[0-9a-f]{40}$/.test(ref.revision) ? ref.revision : catalog.hf_revisions[`hf:${ref.owner}/${ref.repo}@${ref.revision}`]?.commit
  const digest = commit ? catalog.sources[`hf:${ref.owner}/${ref.repo}@${commit}/${ref.file}`] : undefined
  const id = modelId(ref, commit)
  const hit = digest ? await store.findAndLease(digest, inputs.verify, id) : undefined
  if (!hit) throw new ModelError(`${why}, and ${modelId(ref)} is not in the cache at ${store.root}`)
  if (inputs.modelDigest && inputs.modelDigest !== hit.digest) {
    throw new ModelError(`Input '${Input.ModelDigest}' is ${inputs.modelDigest}, but the cached ${id} has ${hit.digest}`)
  }
  core.notice(`${why}: used the cached ${id}, recorded when ${ref.revision} was last resolved`)
  return await provisionedFromStore(hit, id, true)
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}
