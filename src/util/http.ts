// HTTP for fetching models: redirects followed by hand so that a token only ever goes to the origin it is for,
// and retries of what can succeed on retry (408, 429, 5xx, dropped connections), honouring Retry-After.
import * as core from '@actions/core'
import { setTimeout as sleep } from 'node:timers/promises'

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
  ) {
    super(message)
  }
}

export class HttpStatusError extends Error {
  override name = 'HttpStatusError'
  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: Headers,
  ) {
    super(`HTTP ${status} from ${redactUrl(url)}`)
  }
}

/** A URL for logs and errors: no query string (signed URLs carry credentials there) and no user info. */
export function redactUrl(url: string): string {
  const u = URL.parse(url)
  if (!u) return '(invalid URL)'
  return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`
}

export interface RequestOptions {
  method?: 'GET' | 'HEAD'
  headers?: Record<string, string>
  credential?: Credential
  /** Stop at the first redirect to another origin and return it (its headers are the answer). */
  stopAtCrossOriginRedirect?: boolean
  timeoutMs?: number
}

const MAX_REDIRECTS = 10

/** One request, redirects followed by hand: Authorization goes to the credential's origin only. */
export async function request(url: string, options: RequestOptions = {}): Promise<Response> {
  let current = url
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const origin = new URL(current).origin
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...options.headers }
    if (options.credential && options.credential.origin === origin) headers.Authorization = `Bearer ${options.credential.token}`
    let response: Response
    try {
      response = await fetch(current, {
        method: options.method ?? 'GET',
        headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      })
    } catch (error) {
      throw new RetryableError(`could not reach ${redactUrl(current)}: ${causeMessage(error)}`)
    }
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, current).href
      if (options.stopAtCrossOriginRedirect && new URL(next).origin !== origin) return response
      await response.body?.cancel()
      current = next
      continue
    }
    if (response.status === 408 || response.status === 429 || response.status >= 500) {
      await response.body?.cancel()
      throw new RetryableError(`HTTP ${response.status} from ${redactUrl(current)}`, retryAfterMs(response.headers.get('retry-after')))
    }
    return response
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects from ${redactUrl(url)}`)
}

/** Retry-After is seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

export interface RetryPolicy {
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 }

/**
 * Runs `fn` until it succeeds, retrying RetryableError with exponential backoff or the server's Retry-After.
 * `progress` (bytes so far, say) resets the count when an attempt moved forward: a long download on a flaky
 * link may drop many times, as long as each attempt gets further.
 */
export async function withRetries<T>(
  what: string,
  fn: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  progress?: () => number,
): Promise<T> {
  let mark = progress?.()
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (progress && progress() !== mark) {
        mark = progress()
        attempt = 1
      }
      if (!(error instanceof RetryableError) || attempt >= policy.attempts) throw error
      const delay = Math.min(policy.maxDelayMs, error.retryAfterMs ?? policy.baseDelayMs * 2 ** (attempt - 1))
      core.info(`${what}: ${error.message}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.attempts})`)
      await sleep(delay)
    }
  }
}

export function causeMessage(error: unknown): string {
  const e = error as { message?: string; cause?: { message?: string; code?: string } }
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error)
}
