// The one HTTP client of the action: undici, a pinned version that the bundle carries once (package.json's
// overrides give the toolkit's http-client the same copy). Every request names its dispatcher here, so no
// library's side effect (undici installs a process-wide dispatcher when it loads) decides how a request travels:
// through the runner's proxy for remote hosts, direct for loopback, NO_PROXY hosts and the local server.
import http from 'node:http'
import type { Readable } from 'node:stream'
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici'
import { proxyFor, type ProxyEnv } from './proxy.js'

export interface HttpResponse {
  status: number
  /** A header's value (lower-case name), or null; repeated headers joined with ', '. */
  header(name: string): string | null
  body: Readable
}

export interface SendOptions {
  method?: 'GET' | 'HEAD'
  headers?: Record<string, string>
  /** Milliseconds to wait for the answer's headers, and then between two pieces of its body (a stall). */
  timeoutMs: number
  /** Never through a proxy (the local server). */
  direct?: boolean
  signal?: AbortSignal
}

/**
 * A request that never got an answer: refused, reset, timed out, a bad proxy. `code` is undici's or the OS's;
 * `proxy` the proxy it went through (its URL may hold credentials: never show it unredacted).
 */
export class NetworkError extends Error {
  override name = 'NetworkError'
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly proxy?: string,
  ) {
    super(message)
  }

  /** The proxy wants other credentials (407, which undici turns into an error): asking again cannot help. */
  get proxyRefusedCredentials(): boolean {
    return this.proxy !== undefined && /\b407\b/.test(this.message)
  }
}

let directAgent: Agent | undefined
const proxyAgents = new Map<string, ProxyAgent>()

function dispatcherFor(proxy: string | undefined, options: SendOptions): Dispatcher {
  if (!proxy) return (directAgent ??= new Agent({ connect: { timeout: options.timeoutMs } }))
  let agent = proxyAgents.get(proxy)
  if (!agent) {
    agent = new ProxyAgent({ uri: proxy, connect: { timeout: options.timeoutMs } })
    proxyAgents.set(proxy, agent)
  }
  return agent
}

/** One request, no redirect followed. The caller reads or destroys the body. */
export async function send(url: string, options: SendOptions, env: ProxyEnv = process.env): Promise<HttpResponse> {
  const target = new URL(url)
  const proxy = options.direct ? undefined : proxyFor(target, env)
  try {
    const answer = await request(target, {
      dispatcher: dispatcherFor(proxy, options),
      method: options.method ?? 'GET',
      headers: options.headers,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: options.signal,
    })
    const headers = answer.headers
    return {
      status: answer.statusCode,
      header: (name) => {
        const value = headers[name.toLowerCase()]
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
      },
      body: answer.body,
    }
  } catch (error) {
    throw new NetworkError(networkCause(error), errorCode(error), proxy)
  }
}

/**
 * The status of a GET to a server on this machine or its network (llama-server's /health), never through a proxy,
 * its body discarded. Node's own client: polled every few ms while llama-server loads, each request of undici
 * costs about 2 ms of CPU in a fresh process (the first 12 ms, compiling its WebAssembly parser), which the server's
 * loading threads then lack on a small runner; Node's native parser costs a fraction of that.
 */
export async function localStatus(url: string, options: { headers?: Record<string, string>; timeoutMs: number }): Promise<number> {
  return await new Promise((resolve, reject) => {
    const request = http.get(url, { headers: options.headers, agent: false, timeout: options.timeoutMs }, (response) => {
      // The status is all there is to know: the body is read to its end and dropped, its errors with it.
      response.on('error', () => undefined).resume()
      resolve(response.statusCode ?? 0)
    })
    request.once('timeout', () => request.destroy(new NetworkError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT')))
    // Later errors (after the answer) settle nothing, and must not escape as unhandled events.
    request.on('error', (error) => reject(error instanceof NetworkError ? error : new NetworkError(networkCause(error), errorCode(error))))
  })
}

/** Ends a body being read (a download that must stop), without an unhandled error event. */
export function abort(response: HttpResponse): void {
  response.body.on('error', () => undefined)
  response.body.destroy()
}

/**
 * Discards a body: up to a small limit is read (so that the connection can be reused), the rest aborts it.
 * Errors are of no interest any more, and none may escape as an unhandled event.
 */
export async function discard(response: HttpResponse): Promise<void> {
  const body = response.body as Readable & { dump?: (options: { limit: number }) => Promise<void> }
  body.on('error', () => undefined)
  await body.dump?.({ limit: 64 * 1024 }).catch(() => undefined)
}

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } }
  return e.cause?.code ?? e.code
}

/** The innermost useful words of a network error: `ECONNREFUSED`, `other side closed`, `Body Timeout Error`. */
export function networkCause(error: unknown): string {
  const e = error as { message?: string; code?: string; cause?: { message?: string; code?: string } }
  const code = e.cause?.code ?? e.code
  const message = e.cause?.message ?? e.message ?? String(error)
  return code && !message.includes(code) ? `${code}: ${message}` : message
}
