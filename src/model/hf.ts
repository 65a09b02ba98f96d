// hf: refs. The revision is resolved to a commit once; the file's sha256 and size come from the Hub and are
// verified. With `hf-cache` (the default) the model lives in the runner's Hugging Face cache (hf-cache-model.ts);
// otherwise, and for files the Hub gives no sha256 for, in cache-dir's store. Revision → commit is recorded, so
// that HF_HUB_OFFLINE=1 or an unreachable (or rate-limiting) endpoint can still be served from either cache.
import * as core from '@actions/core'
import { errorMessage, ModelError } from '../errors.js'
import { Input } from '../constants.js'
import type { ActionInputs } from '../inputs.js'
import { rateLimitBehind, RateLimitError, RetriesExhaustedError, RetryableError } from '../http/request.js'
import { findOrFetch, provisionedFromStore, splitPartNames, type RemotePart } from './fetch.js'
import { isCommit } from './hf-cache.js'
import { findOffline, provisionThroughHfCache, type HubPart } from './hf-cache-model.js'
import { headHubFile, hubCredential, resolveUrl, type HubLocation } from './hub.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelId, type ModelRef } from './ref.js'
import type { ModelStore } from './store.js'
import { CacheLayoutError } from '../util/safe-path.js'

type HubRef = Extract<ModelRef, { kind: 'hf' }>
type HubInputs = Pick<ActionInputs, 'hfEndpoint' | 'hfToken' | 'modelDigest' | 'verify' | 'networkTimeoutMs' | 'hfCache' | 'downloadConnections'>

export function hubOffline(env: NodeJS.ProcessEnv): boolean {
  return ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase())
}

/** What to do about a 429 from the Hub: without a token, that a token raises the limit. */
export function rateLimitAdvice(token: string | undefined): string {
  return token
    ? `The Hub counts these requests against the account of the token in '${Input.HfToken}'; fewer jobs at once, or a plan with higher limits, helps`
    : `Without a token the Hub counts the requests of every job behind this runner's IP address together; a token raises the limit: set '${Input.HfToken}' (or HF_TOKEN) to a Hugging Face access token`
}

export async function provisionHubModel(ref: HubRef, inputs: HubInputs, store: ModelStore): Promise<ProvisionedModel> {
  try {
    return await provision(ref, inputs, store)
  } catch (error) {
    if (rateLimitBehind(error) && error instanceof Error) throw new ModelError(`${error.message}. ${rateLimitAdvice(inputs.hfToken)}`)
    throw error
  }
}

async function provision(ref: HubRef, inputs: HubInputs, store: ModelStore): Promise<ProvisionedModel> {
  const loc: HubLocation = { endpoint: inputs.hfEndpoint, owner: ref.owner, repo: ref.repo, file: ref.file }
  const revisionKey = `hf:${ref.owner}/${ref.repo}@${ref.revision}`
  if (hubOffline(process.env)) return await fromCacheOnly(ref, inputs, store, 'HF_HUB_OFFLINE is set')
  let head
  try {
    head = await headHubFile(loc, ref.revision, inputs.hfToken, inputs.networkTimeoutMs)
  } catch (error) {
    if (!(error instanceof RetryableError || error instanceof RetriesExhaustedError || error instanceof RateLimitError)) throw error
    const why = rateLimitBehind(error) ? `${inputs.hfEndpoint} is rate-limiting this runner (${error.message})` : `${inputs.hfEndpoint} cannot be reached (${error.message})`
    return await fromCacheOnly(ref, inputs, store, why, error)
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
  const credential = hubCredential(inputs.hfEndpoint, inputs.hfToken)
  const parts = async (): Promise<(RemotePart & { file: string })[]> => {
    const all = [{ file: ref.file, info: head }]
    for (const file of splitFiles(ref).slice(1)) all.push({ file, info: await headHubFile({ ...loc, file }, head.commit, inputs.hfToken, inputs.networkTimeoutMs) })
    return all.map(({ file, info }) => ({ file, name: baseName(file), url: resolveUrl({ ...loc, file }, head.commit), size: info.size, digest: info.digest, credential }))
  }
  if (inputs.hfCache && head.digest) {
    const hubParts = await parts()
    // Blobs are named by sha256 there: a file the Hub gives none for (not in LFS) stays in cache-dir's store.
    if (hubParts.every((p): p is typeof p & HubPart => p.digest !== undefined)) {
      const model = { repo: { owner: ref.owner, repo: ref.repo }, revision: ref.revision, commit: head.commit, id, parts: hubParts }
      const settings = { credential, verify: inputs.verify, timeoutMs: inputs.networkTimeoutMs, connections: inputs.downloadConnections }
      try {
        return await provisionThroughHfCache(inputs.hfCache, store, model, settings)
      } catch (error) {
        // A cache this job cannot write (read-only, another user's, a link where a directory belongs) is not a
        // reason to fail: the model goes to cache-dir's store instead.
        if (!(error instanceof CacheLayoutError || ['EACCES', 'EPERM', 'EROFS'].includes((error as NodeJS.ErrnoException).code ?? ''))) throw error
        core.warning(`The Hugging Face cache at ${inputs.hfCache.root} cannot be used (${errorMessage(error)}); ${id} is kept in cache-dir instead`)
      }
    }
  }
  const source = `hf:${ref.owner}/${ref.repo}@${head.commit}/${ref.file}`
  return await findOrFetch(store, { id, source, pinned: head.digest ?? inputs.modelDigest, verify: inputs.verify }, async () => ({
    id,
    ref: `hf:${ref.owner}/${ref.repo}@${ref.revision}/${ref.file}`,
    source,
    parts: await parts(),
    modelDigest: inputs.modelDigest,
    timeoutMs: inputs.networkTimeoutMs,
    connections: inputs.downloadConnections,
  }))
}

async function fromCacheOnly(ref: HubRef, inputs: HubInputs, store: ModelStore, why: string, cause?: unknown): Promise<ProvisionedModel> {
  const catalog = await store.catalog.read()
  const recorded = isCommit(ref.revision) ? ref.revision : catalog.hf_revisions[`hf:${ref.owner}/${ref.repo}@${ref.revision}`]?.commit
  let hit: ProvisionedModel | undefined
  if (inputs.hfCache) {
    // refs/ first, as huggingface_hub and llama.cpp resolve offline; then the commit this action recorded.
    const wanted = { repo: { owner: ref.owner, repo: ref.repo }, revision: ref.revision, files: splitFiles(ref), id: (commit: string) => modelId(ref, commit) }
    hit = (await findOffline(inputs.hfCache, store, wanted, inputs.verify)) ?? (recorded ? await findOffline(inputs.hfCache, store, { ...wanted, revision: recorded }, inputs.verify) : undefined)
    if (hit) core.notice(`${why}: used ${hit.id} from the Hugging Face cache at ${inputs.hfCache.root}, by what its refs/ or this action last recorded ${ref.revision} to be`)
  }
  if (!hit) {
    const digest = recorded ? catalog.sources[`hf:${ref.owner}/${ref.repo}@${recorded}/${ref.file}`] : undefined
    const id = modelId(ref, recorded)
    const stored = digest ? await store.findAndLease(digest, inputs.verify, id) : undefined
    if (stored) {
      hit = await provisionedFromStore(store, stored, { id, cacheHit: true, verify: inputs.verify })
      core.notice(`${why}: used the cached ${id}, recorded when ${ref.revision} was last resolved`)
    }
  }
  const hfCaches = inputs.hfCache ? `the Hugging Face cache at ${[inputs.hfCache.root, ...inputs.hfCache.alsoLookIn].join(' or ')}, nor in ` : ''
  if (!hit) throw new ModelError(`${why}, and ${modelId(ref)} is not in ${hfCaches}the cache at ${store.root}`, { cause })
  if (inputs.modelDigest && inputs.modelDigest !== hit.digest) {
    throw new ModelError(`Input '${Input.ModelDigest}' is ${inputs.modelDigest}, but the cached ${hit.id} has ${hit.digest}`)
  }
  return hit
}

/** The paths in the repository of every part (one unless split). */
function splitFiles(ref: HubRef): string[] {
  if (!ref.split) return [ref.file]
  const dir = ref.file.includes('/') ? ref.file.slice(0, ref.file.lastIndexOf('/') + 1) : ''
  return splitPartNames(baseName(ref.file), ref.split.total).map((name) => dir + name)
}

function baseName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1)
}
