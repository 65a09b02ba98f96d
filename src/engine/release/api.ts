// GitHub's REST API as the release lookup needs it: JSON GETs with the token (for the API's origin only), retries of
// what can succeed on retry, pages followed through Link headers (never to another origin), and the rate limit told
// apart from other refusals: a 403 or 429 with x-ratelimit-remaining: 0 (or a Retry-After) is a GitHubRateLimitError
// that says when the limit resets, so that the caller can wait or build instead.
import * as core from '@actions/core'
import { setTimeout as sleep } from 'node:timers/promises'
import { abort, discard, type HttpResponse } from '../../http/client.js'
import { redactUrl, request, RetryableError, withRetries, type RetryPolicy } from '../../http/request.js'
import { Input } from '../../constants.js'
import type { ReleaseHost } from './github.js'

/** The API's rate limit is spent until `resetAt` (ms since the epoch). */
export class GitHubRateLimitError extends Error {
  override name = 'GitHubRateLimitError'
  constructor(
    message: string,
    readonly resetAt: number,
  ) {
    super(message)
  }
}

/** A final answer from the API that is not the data asked for (401, 403, 5xx after retries, not JSON). */
export class ReleaseApiError extends Error {
  override name = 'ReleaseApiError'
}

/** An answer longer than the bytes it was allowed. */
class TooMuchJsonError extends ReleaseApiError {}

/** A few tries: when the API is down, a build (or a clear failure) comes after seconds, not minutes. */
const API_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 }
/** How long a spent rate limit is waited for before the caller is told (auto then builds instead). */
export const RATE_LIMIT_MAX_WAIT_MS = 60_000
/** One answer (a release is a few KB, its notes at most a few hundred), and all pages of a list together. */
const MAX_JSON_BYTES = 4 * 2 ** 20
const MAX_LIST_BYTES = 8 * 2 ** 20
const MAX_PAGES = 50

export interface ApiAnswer {
  status: number
  json: unknown
  /** How many bytes of JSON the answer had. */
  bytes: number
  /** The next page (Link: rel="next"), on the API's origin. */
  next: string | undefined
}

/** When the rate limit named by an answer resets, or undefined when the answer is not about a rate limit. */
export function rateLimitReset(response: Pick<HttpResponse, 'header'>, status: number, now = Date.now()): number | undefined {
  if (status !== 403 && status !== 429) return undefined
  const retryAfter = response.header('retry-after')
  if (retryAfter && /^\d+$/.test(retryAfter.trim())) return now + Number(retryAfter) * 1000
  if (response.header('x-ratelimit-remaining')?.trim() !== '0') return undefined
  const reset = Number(response.header('x-ratelimit-reset'))
  return Number.isFinite(reset) && reset > 0 ? reset * 1000 : now + RATE_LIMIT_MAX_WAIT_MS
}

/** The rel="next" URL of a Link header. */
export function nextLink(link: string | null): string | undefined {
  for (const part of (link ?? '').split(',')) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part)
    const rel = m && /;\s*rel="?([^";]*)"?/.exec(m[2] as string)?.[1]
    if (rel?.split(/\s+/).includes('next')) return m?.[1]
  }
  return undefined
}

async function readJson(response: HttpResponse, url: string, maxBytes: number): Promise<{ json: unknown; bytes: number }> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      abort(response)
      throw new TooMuchJsonError(`${redactUrl(url)} answered more than ${maxBytes} bytes of JSON`)
    }
    chunks.push(chunk)
  }
  try {
    return { json: JSON.parse(Buffer.concat(chunks).toString('utf8')), bytes: size }
  } catch {
    throw new ReleaseApiError(`${redactUrl(url)} did not answer JSON; is GITHUB_API_URL a GitHub API?`)
  }
}

/** One GET of the API: 200 with its JSON, 404 with none; a rate limit, a refusal or garbage throws. */
export async function apiGet(host: ReleaseHost, url: string, timeoutMs: number, maxBytes = MAX_JSON_BYTES): Promise<ApiAnswer> {
  if (new URL(url).origin !== new URL(host.api).origin) throw new ReleaseApiError(`${redactUrl(url)} is not on the API's origin ${new URL(host.api).origin}`)
  const headers = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'setup-llama-server' }
  return await withRetries(
    `Asking ${redactUrl(url)}`,
    async () => {
      let response: HttpResponse & { url: string }
      try {
        response = await request(url, { headers, credential: host.credential, timeoutMs })
      } catch (error) {
        const reset = error instanceof RetryableError && error.response ? rateLimitReset(error.response, 429) : undefined
        if (reset !== undefined) throw new GitHubRateLimitError(`GitHub's API rate limit is spent (HTTP 429 from ${redactUrl(url)})`, reset)
        throw error
      }
      if (response.status === 404) {
        await discard(response)
        return { status: 404, json: undefined, bytes: 0, next: undefined }
      }
      if (response.status !== 200) {
        await discard(response)
        const reset = rateLimitReset(response, response.status)
        if (reset !== undefined) throw new GitHubRateLimitError(`GitHub's API rate limit is spent (HTTP ${response.status} from ${redactUrl(url)})`, reset)
        const token = host.credential ? ` with the token of '${Input.GithubToken}' (or GITHUB_TOKEN)` : ''
        throw new ReleaseApiError(`HTTP ${response.status} from ${redactUrl(url)}${token}`)
      }
      const next = nextLink(response.header('link'))
      return { status: 200, ...(await readJson(response, url, maxBytes)), next: next && URL.parse(next, url)?.href }
    },
    API_RETRY,
  )
}

/** Runs `fn`, waiting once for a spent rate limit that resets within RATE_LIMIT_MAX_WAIT_MS; a later reset throws. */
export async function waitingForRateLimit<T>(fn: () => Promise<T>, now: () => number = Date.now): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (!(error instanceof GitHubRateLimitError)) throw error
    const wait = Math.max(0, error.resetAt - now())
    if (wait > RATE_LIMIT_MAX_WAIT_MS) throw error
    core.notice(`${error.message}; waiting ${Math.ceil(wait / 1000)} s until it resets (a '${Input.GithubToken}' raises the limit)`)
    await sleep(wait + 1_000)
    return await fn()
  }
}

/**
 * Every item of a paged list: the first page, then each rel="next" on the API's origin, up to MAX_PAGES and
 * `maxBytes` of JSON in all (a server that pages without end is refused after megabytes, not gigabytes).
 */
export async function apiList(host: ReleaseHost, url: string, timeoutMs: number, maxBytes = MAX_LIST_BYTES): Promise<unknown[]> {
  const items: unknown[] = []
  let page: string | undefined = url
  let left = maxBytes
  for (let n = 0; page; n++) {
    if (n >= MAX_PAGES) throw new ReleaseApiError(`${redactUrl(url)} has more than ${MAX_PAGES} pages`)
    const answer: ApiAnswer = await apiGet(host, page, timeoutMs, Math.min(MAX_JSON_BYTES, left)).catch((error: unknown) => {
      if (error instanceof TooMuchJsonError && left < MAX_JSON_BYTES) {
        throw new ReleaseApiError(`${redactUrl(url)} answered more than ${maxBytes} bytes of JSON across its pages`)
      }
      throw error
    })
    if (answer.status === 404) break
    if (!Array.isArray(answer.json)) throw new ReleaseApiError(`${redactUrl(page)} did not answer a list`)
    items.push(...(answer.json as unknown[]))
    left -= answer.bytes
    page = answer.next
  }
  return items
}
