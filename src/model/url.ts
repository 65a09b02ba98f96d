// http(s):// models. With model-digest the content is pinned and a cached copy needs no network at all;
// without it, the cache keys the file by its URL and the server's ETag or Last-Modified, and says so.
import * as core from '@actions/core'
import { Input } from '../constants.js'
import type { ActionInputs } from '../inputs.js'
import { redactUrl, request, withRetries } from '../util/http.js'
import { findOrFetch, provisionedFromStore, splitPartNames, type RemotePart } from './fetch.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelId, type ModelRef } from './ref.js'
import type { ModelStore } from './store.js'

type UrlRef = Extract<ModelRef, { kind: 'url' }>

export async function provisionUrlModel(
  ref: UrlRef,
  inputs: Pick<ActionInputs, 'modelDigest' | 'verify'>,
  store: ModelStore,
): Promise<ProvisionedModel> {
  const id = modelId(ref)
  const pinned = inputs.modelDigest
  if (pinned) {
    const hit = await store.findAndLease(pinned, inputs.verify, id)
    if (hit) return await provisionedFromStore(hit, id, true)
  }
  const head = await withRetries(`Asking ${redactUrl(ref.url)}`, () => request(ref.url, { method: 'HEAD' }))
  const version = head.ok ? (head.headers.get('etag') ?? head.headers.get('last-modified') ?? undefined) : undefined
  const length = head.ok ? Number(head.headers.get('content-length') ?? NaN) : NaN
  const source = `url:${ref.url}#${version ?? ''}`
  if (!pinned) {
    core.notice(
      `${redactUrl(ref.url)} has no '${Input.ModelDigest}': the cache keys it by URL and ${version ? `the server's ETag/Last-Modified (${version})` : 'nothing else (the server sends no ETag or Last-Modified)'}. Set '${Input.ModelDigest}' to pin its content.`,
    )
  }
  return await findOrFetch(store, { id, source, pinned, verify: inputs.verify }, async () => {
    const url = new URL(ref.url)
    const firstName = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1)) || 'model.gguf'
    const names = ref.split ? splitPartNames(firstName, ref.split.total) : [firstName]
    const parts: RemotePart[] = names.map((name, i) => {
      const partUrl = new URL(url)
      partUrl.pathname = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1) + encodeURIComponent(name)
      return { name, url: partUrl.href, size: i === 0 && Number.isSafeInteger(length) && length > 0 ? length : undefined }
    })
    return { id, ref: ref.url, parts, modelDigest: pinned }
  })
}
