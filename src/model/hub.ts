// The Hugging Face Hub's download protocol: GET|HEAD {endpoint}/{owner}/{repo}/resolve/{revision}/{path}.
// For LFS files the answer redirects to a blob host and carries X-Repo-Commit, X-Linked-Etag (the sha256) and
// X-Linked-Size. Errors carry X-Error-Code. The token goes to the endpoint only.
import { Input } from '../constants.js'
import { ModelError } from '../errors.js'
import { discard } from '../http/client.js'
import { HttpStatusError, request, withRetries, type Credential, type RetryPolicy } from '../http/request.js'

export interface HubLocation {
  endpoint: string
  owner: string
  repo: string
  file: string
}

export interface HubFileInfo {
  commit: string
  /** `sha256:<hex>` when the Hub knows it (LFS files). */
  digest: string | undefined
  size: number | undefined
}

export function hubCredential(endpoint: string, token: string | undefined): Credential | undefined {
  return token ? { origin: new URL(endpoint).origin, token } : undefined
}

export function resolveUrl(loc: HubLocation, revision: string): string {
  const file = loc.file.split('/').map(encodeURIComponent).join('/')
  return `${loc.endpoint}/${encodeURIComponent(loc.owner)}/${encodeURIComponent(loc.repo)}/resolve/${encodeURIComponent(revision)}/${file}`
}

/**
 * Fewer tries than a download gets: when the endpoint is down, a cached model is used after a few seconds
 * rather than after minutes of backoff.
 */
const RESOLVE_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 60_000 }

/** Asks the Hub which commit `revision` is and what the file's sha256 and size are, without downloading it. */
export async function headHubFile(loc: HubLocation, revision: string, token: string | undefined, timeoutMs: number): Promise<HubFileInfo> {
  const url = resolveUrl(loc, revision)
  const response = await withRetries(
    `Asking ${loc.endpoint} for ${loc.owner}/${loc.repo}@${revision}/${loc.file}`,
    () => request(url, { method: 'HEAD', credential: hubCredential(loc.endpoint, token), stopAtCrossOriginRedirect: true, timeoutMs }),
    RESOLVE_RETRY,
  )
  await discard(response)
  if (response.status >= 400) throw hubError(loc, revision, token, new HttpStatusError(url, response.status, response))
  const commit = response.header('x-repo-commit')
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new ModelError(`${loc.endpoint} did not answer like a Hugging Face Hub (no X-Repo-Commit header for ${loc.owner}/${loc.repo}/${loc.file}); check '${Input.HfEndpoint}'`)
  }
  const etag = response.header('x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '')
  const size = response.header('x-linked-size') ?? (response.status === 200 ? response.header('content-length') : null)
  return {
    commit,
    digest: etag && /^[0-9a-f]{64}$/.test(etag) ? `sha256:${etag}` : undefined,
    size: size && /^\d+$/.test(size) ? Number(size) : undefined,
  }
}

/** The Hub's error, as something a user can act on. */
export function hubError(loc: HubLocation, revision: string, token: string | undefined, error: HttpStatusError): ModelError {
  const code = error.response.header('x-error-code')
  const repo = `${loc.owner}/${loc.repo}`
  const tokenAdvice = token
    ? `the token in '${Input.HfToken}' (or HF_TOKEN) does not give access to it`
    : `set '${Input.HfToken}' (or HF_TOKEN) to a token that has access`
  switch (code) {
    case 'GatedRepo':
      return new ModelError(`${repo} on ${loc.endpoint} is gated: accept its conditions on the Hub with your account, then ${token ? 'make sure the token in ' + `'${Input.HfToken}' belongs to that account` : `set '${Input.HfToken}' to a token of that account`}`)
    case 'RepoNotFound':
      return new ModelError(`Repository ${repo} was not found on ${loc.endpoint}, or it is private and ${tokenAdvice}`)
    case 'RevisionNotFound':
      return new ModelError(`Revision '${revision}' was not found in ${repo} on ${loc.endpoint}`)
    case 'EntryNotFound':
      return new ModelError(`File '${loc.file}' was not found in ${repo} at revision '${revision}' on ${loc.endpoint}`)
  }
  if (error.status === 401 || error.status === 403) {
    return new ModelError(`${loc.endpoint} refused access to ${repo} (HTTP ${error.status}): ${tokenAdvice}`)
  }
  if (error.status === 404) return new ModelError(`${repo}@${revision}/${loc.file} was not found on ${loc.endpoint} (HTTP 404)`)
  return new ModelError(`${loc.endpoint} answered HTTP ${error.status} for ${repo}@${revision}/${loc.file}`)
}
