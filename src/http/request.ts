// Requests as the action makes them to remote servers: redirects followed by hand, so that a token only ever goes
// to the origin it is for and a redirect can only lead to http(s); retries of what can succeed on retry (408, 429,
// 5xx, dropped or stalled connections). A 429 waits as long as the server says (Retry-After, or the Hub's
// RateLimit header), up to a bound; past it, the step fails at once with the numbers instead of sleeping for long.
import * as core from '@actions/core'
import { setTimeout as sleep } from 'node:timers/promises'
import { oneLine } from '../util/redact.js'
import { discard, NetworkError, send, type HttpResponse } from './client.js'
import { proxyVariable } from './proxy.js'
import { describeRateLimit, rateLimitOf, type RateLimit } from './rate-limit.js'

export { retryAfterMs } from './rate-limit.js'

/** A bearer token and the one origin it may be sent to. */
export interface Credential {
  origin: string
  token: string
}

export class RetryableError extends Error {
  override name = 'RetryableError'
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    /** The answer's headers, when there was one (a 429 may say which rate limit it is). */
    readonly response?: Pick<HttpResponse, 'header'>,
  ) {
    super(message)
  }
}

/** A 429: retryable after the wait the server names (`rateLimit.waitMs`), if that is not too long. */
export class RateLimitedError extends RetryableError {
  override name = 'RateLimitedError'
  constructor(
    message: string,
    readonly rateLimit: RateLimit,
    response?: Pick<HttpResponse, 'header'>,
  ) {
    super(message, rateLimit.waitMs, response)
  }
}

/** A 429 whose wait is longer than the action waits: final, with the numbers. */
export class RateLimitError extends Error {
  override name = 'RateLimitError'
  constructor(
    message: string,
    readonly rateLimit: RateLimit,
  ) {
    super(message)
  }
}

/** An answer that is final: retrying cannot change it (a redirect to a non-HTTP URL, too many redirects). */
export class RequestError extends Error {
  override name = 'RequestError'
}

export class HttpStatusError extends Error {
  override name = 'HttpStatusError'
  constructor(
    readonly url: string,
    readonly status: number,
    readonly response: Pick<HttpResponse, 'header'>,
  ) {
    super(`HTTP ${status} from ${redactUrl(url)}`)
  }
}

/** A URL for logs and errors: no query string (signed URLs carry credentials there) and no user info. */
export function redactUrl(url: string): string {
  const u = URL.parse(url)
  if (!u) return '(invalid URL)'
  return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD'
  headers?: Record<string, string>
  credential?: Credential
  /** Stop at the first redirect to another origin and return it (its headers are the answer). */
  stopAtCrossOriginRedirect?: boolean
  /** Milliseconds without an answer, or without a byte of the body, before the attempt is given up. */
  timeoutMs: number
  /** Ends the request (and its body) when aborted. */
  signal?: AbortSignal
}

const MAX_REDIRECTS = 10

/** One request, redirects followed by hand: Authorization goes to the credential's origin only. */
export async function request(url: string, options: RequestOptions): Promise<HttpResponse & { url: string }> {
  let current = url
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const origin = new URL(current).origin
    const headers: Record<string, string> = { 'accept-encoding': 'identity', ...options.headers }
    if (options.credential && options.credential.origin === origin) headers.authorization = `Bearer ${options.credential.token}`
    let response: HttpResponse
    try {
      response = await send(current, { method: options.method, headers, timeoutMs: options.timeoutMs, signal: options.signal })
    } catch (error) {
      if (!(error instanceof NetworkError)) throw error
      if (error.proxyRefusedCredentials) {
        throw new RequestError(
          `The proxy ${redactUrl(error.proxy as string)} refused to forward ${redactUrl(current)} without other credentials (HTTP 407): the user and password in ${proxyVariable(new URL(current))} are missing or wrong`,
        )
      }
      throw new RetryableError(`could not reach ${redactUrl(current)} (${error.message})`)
    }
    const location = response.header('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await discard(response)
      const next = URL.parse(location, current)
      if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
        throw new RequestError(`${redactUrl(current)} redirected to ${next ? `a ${next.protocol} URL` : 'an invalid URL'}; only http(s) redirects are followed`)
      }
      if (options.stopAtCrossOriginRedirect && next.origin !== origin) return { ...response, url: current }
      current = next.href
      continue
    }
    if (response.status === 429) {
      await discard(response)
      const limit = rateLimitOf(response.header)
      throw new RateLimitedError(`HTTP 429 from ${redactUrl(current)}, rate limited: ${describeRateLimit(limit)}`, limit, response)
    }
    // 501 and 505 say the server does not support the request: asking again cannot help.
    if (response.status === 408 || (response.status >= 500 && response.status !== 501 && response.status !== 505)) {
      await discard(response)
      throw new RetryableError(`HTTP ${response.status} from ${redactUrl(current)}`, rateLimitOf(response.header).waitMs)
    }
    return { ...response, url: current }
  }
  throw new RequestError(`more than ${MAX_REDIRECTS} redirects from ${redactUrl(url)}`)
}

export interface RetryPolicy {
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** The longest wait a 429 may ask for; a longer one fails at once. The Hub's windows are 5 minutes. */
  maxRateLimitWaitMs?: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 }
export const MAX_RATE_LIMIT_WAIT_MS = 5 * 60_000

/**
 * How long to wait before attempt `attempt + 1`. A rate limit's wait is the server's to name (its bound is checked
 * before); other waits grow, up to a cap. Neither is shorter than the growing backoff: a Retry-After of 0 (or a date
 * in the past) from a struggling server must not turn every connection's retries into one burst. Pure.
 */
export function retryDelayMs(error: RetryableError, attempt: number, policy: RetryPolicy): number {
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  if (error instanceof RateLimitedError && error.retryAfterMs !== undefined) return Math.max(error.retryAfterMs, backoff)
  return Math.min(policy.maxDelayMs, Math.max(error.retryAfterMs ?? 0, backoff))
}

/** Thrown when every attempt failed: how many were made, and the last reason (its `cause`). */
export class RetriesExhaustedError extends Error {
  override name = 'RetriesExhaustedError'
}

/** The rate limit behind an error, when a 429 is what it came to. */
export function rateLimitBehind(error: unknown): RateLimit | undefined {
  if (error instanceof RateLimitError || error instanceof RateLimitedError) return error.rateLimit
  if (error instanceof Error && error.cause !== undefined) return rateLimitBehind(error.cause)
  return undefined
}

/**
 * Runs `fn` until it succeeds, retrying RetryableError with exponential backoff or the server's Retry-After.
 * `progress` (bytes so far, say) resets the count when an attempt moved forward: a long download on a flaky
 * link may drop many times, as long as each attempt gets further.
 */
export async function withRetries<T>(
  what: string,
  fn: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  progress?: () => string | number,
  signal?: AbortSignal,
): Promise<T> {
  let mark = progress?.()
  let tries = 0
  for (let attempt = 1; ; attempt++) {
    tries++
    try {
      return await fn()
    } catch (error) {
      if (progress && progress() !== mark) {
        mark = progress()
        attempt = 1
      }
      if (!(error instanceof RetryableError) || signal?.aborted) throw error
      const bound = policy.maxRateLimitWaitMs ?? MAX_RATE_LIMIT_WAIT_MS
      if (error instanceof RateLimitedError && (error.retryAfterMs ?? 0) > bound) {
        throw new RateLimitError(`${what}: ${error.message}, longer than the ${bound / 1000} s the action waits`, error.rateLimit)
      }
      if (attempt >= policy.attempts) {
        const got = progress ? `; it got as far as ${progress()}` : ''
        throw new RetriesExhaustedError(`${what} failed after ${tries} ${tries === 1 ? 'try' : 'tries'} (${attempt} in a row without progress)${got}: ${error.message}`, { cause: error })
      }
      const delay = retryDelayMs(error, attempt, policy)
      core.info(`${oneLine(what)}: ${oneLine(error.message)}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.attempts})`)
      await sleep(delay, undefined, { signal })
    }
  }
}
