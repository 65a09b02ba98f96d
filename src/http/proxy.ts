// Which proxy a request goes through, as runners set it: HTTPS_PROXY / HTTP_PROXY (either case, lower case first,
// as curl and undici read them), NO_PROXY (host names, domain suffixes, `*`, optional ports). Loopback is always
// direct: a proxy cannot reach this machine's servers, and a proxied readiness probe would never succeed. Pure.
import { isIP } from 'node:net'

export interface ProxyEnv {
  http_proxy?: string
  HTTP_PROXY?: string
  https_proxy?: string
  HTTPS_PROXY?: string
  no_proxy?: string
  NO_PROXY?: string
}

const pick = (env: ProxyEnv, lower: keyof ProxyEnv, upper: keyof ProxyEnv): string | undefined => (env[lower] ?? env[upper])?.trim() || undefined

/** The proxy URLs set in the environment (to mask their credentials before anything is logged). */
export function proxyUrls(env: ProxyEnv): string[] {
  return [pick(env, 'http_proxy', 'HTTP_PROXY'), pick(env, 'https_proxy', 'HTTPS_PROXY')].filter((u): u is string => !!u)
}

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1' || host.startsWith('::ffff:127.')
  return false
}

/** True when NO_PROXY says `url` goes direct. */
export function bypassesProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = url.port || (url.protocol === 'https:' ? '443' : '80')
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase()
    if (!entry) continue
    if (entry === '*') return true
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry)
    if (!m) continue
    const name = (m[1] as string).replace(/^\[|\]$/g, '').replace(/^\*?\./, '')
    if (m[2] && m[2] !== port) continue
    if (host === name || host.endsWith(`.${name}`)) return true
  }
  return false
}

/** The proxy for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: ProxyEnv): string | undefined {
  if (isLoopback(url.hostname)) return undefined
  if (bypassesProxy(url, pick(env, 'no_proxy', 'NO_PROXY'))) return undefined
  return url.protocol === 'https:' ? pick(env, 'https_proxy', 'HTTPS_PROXY') : pick(env, 'http_proxy', 'HTTP_PROXY')
}
