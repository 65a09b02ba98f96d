// http(s):// models. With model-digest the content is pinned and a cached copy needs no network at all;
// without it, the cache keys the file by its URL and the server's ETag or Last-Modified, and says so.
// A query string is treated as a secret (signed URLs carry their signature there): the model's id, the store's
// key and every log line use the URL without it.
import * as core from '@actions/core'
import { createHash } from 'node:crypto'
import { Input } from '../constants.js'
import { ModelError } from '../errors.js'
import { discard } from '../http/client.js'
import { redactUrl, request, withRetries } from '../http/request.js'
import type { ActionInputs } from '../inputs.js'
import { fileNameProblem } from '../util/safe-path.js'
import { versionOf } from './download.js'
import { findOrFetch, provisionedFromStore, splitPartNames, type RemotePart } from './fetch.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelId, type ModelRef } from './ref.js'
import type { ModelStore } from './store.js'

type UrlRef = Extract<ModelRef, { kind: 'url' }>

/** The file name a URL serves, decoded and checked to be one plain file name before it names a file. */
export function urlFileName(url: URL): string {
  const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1)
  let name: string
  try {
    name = decodeURIComponent(last)
  } catch {
    throw new ModelError(`Input '${Input.Model}' is ${redactUrl(url.href)}: its file name '${last}' is not valid percent-encoding`)
  }
  if (name === '') return 'model.gguf'
  const problem = fileNameProblem(name)
  if (problem) throw new ModelError(`Input '${Input.Model}' is ${redactUrl(url.href)}: its file name ${JSON.stringify(name)} cannot be a file name (${problem}); expected a URL ending in a plain file name such as model.gguf`)
  return name
}

export async function provisionUrlModel(
  ref: UrlRef,
  inputs: Pick<ActionInputs, 'modelDigest' | 'verify' | 'networkTimeoutMs' | 'downloadConnections'>,
  store: ModelStore,
): Promise<ProvisionedModel> {
  const id = modelId(ref)
  const url = new URL(ref.url)
  const firstName = urlFileName(url)
  const pinned = inputs.modelDigest
  if (pinned) {
    const hit = await store.findAndLease(pinned, inputs.verify, id)
    if (hit) return await provisionedFromStore(store, hit, { id, cacheHit: true, verify: inputs.verify })
  }
  const head = await withRetries(`Asking ${redactUrl(ref.url)}`, () => request(ref.url, { method: 'HEAD', timeoutMs: inputs.networkTimeoutMs }))
  await discard(head)
  const ok = head.status >= 200 && head.status < 300
  const version = ok ? versionOf(head) : undefined
  const length = ok ? Number(head.header('content-length') ?? NaN) : NaN
  // Keyed by what identifies the content and is no secret: the URL without its query, and the server's version.
  // Without a version, two queries may name two files (?model=a, ?model=b): then a digest of the query is part of
  // the key (a signed URL re-signed is then fetched again; model-digest avoids that).
  const queryKey = url.search ? `?sha256=${createHash('sha256').update(url.search).digest('hex').slice(0, 16)}` : ''
  const sourceOf = (v: string | undefined) => (v ? `url:${id}#${v}` : `url:${id}${queryKey}#`)
  const source = sourceOf(version)
  if (!pinned) {
    core.notice(
      `${redactUrl(ref.url)} has no '${Input.ModelDigest}': the cache keys it by URL and ${version ? `the server's ETag/Last-Modified (${version})` : 'nothing else (the server sends no ETag or Last-Modified)'}. Set '${Input.ModelDigest}' to pin its content.`,
    )
  }
  return await findOrFetch(store, { id, source, pinned, verify: inputs.verify }, async () => {
    const names = ref.split ? splitPartNames(firstName, ref.split.total) : [firstName]
    const parts: RemotePart[] = names.map((name, i) => {
      const partUrl = new URL(url)
      partUrl.pathname = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1) + encodeURIComponent(name)
      return { name, url: partUrl.href, size: i === 0 && Number.isSafeInteger(length) && length > 0 ? length : undefined }
    })
    // Keyed by the version HEAD named, the model is recorded under the version its download got.
    return {
      id,
      ref: id,
      source,
      sourceOf: version === undefined ? undefined : sourceOf,
      parts,
      modelDigest: pinned,
      timeoutMs: inputs.networkTimeoutMs,
      connections: inputs.downloadConnections,
    }
  })
}
