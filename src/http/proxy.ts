// Which proxy a request goes through, as runners set it: HTTPS_PROXY / HTTP_PROXY (either case, lower case first,
// as curl and undici read them), NO_PROXY (host names, domain suffixes, `*`, optional ports). Loopback is always
// direct: a proxy cannot reach this machine's servers, and a proxied readiness probe would never succeed. Pure.
import { BlockList, isIP } from 'node:net'

export interface ProxyEnv {
  http_proxy?: string
  HTTP_PROXY?: string
  https_proxy?: string
  HTTPS_PROXY?: string
  no_proxy?: string
  NO_PROXY?: string
}

const pick = (env: ProxyEnv, lower: keyof ProxyEnv, upper: keyof ProxyEnv): string | undefined => (env[lower] ?? env[upper])?.trim() || undefined
const pickProxy = (env: ProxyEnv, lower: keyof ProxyEnv, upper: keyof ProxyEnv): string | undefined => withScheme(pick(env, lower, upper))

/** `proxy.corp:3128` or `user:pw@proxy.corp:3128`, as curl and git accept them, is an http:// proxy. */
function withScheme(value: string | undefined): string | undefined {
  if (value === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value
  return `http://${value}`
}

/** The proxy URLs set in the environment (to mask their credentials before anything is logged). */
export function proxyUrls(env: ProxyEnv): string[] {
  return [pickProxy(env, 'http_proxy', 'HTTP_PROXY'), pickProxy(env, 'https_proxy', 'HTTPS_PROXY')].filter((u): u is string => !!u)
}

// 127/8 and ::1; BlockList also matches IPv4-mapped IPv6 (`::ffff:7f00:1`, as URL writes ::ffff:127.0.0.1).
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  const family = isIP(host)
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6')
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

/** The variable that names the proxy for `url`, as a message to the user says it. */
export function proxyVariable(url: URL): string {
  return url.protocol === 'https:' ? 'HTTPS_PROXY (or https_proxy)' : 'HTTP_PROXY (or http_proxy)'
}

/** The proxy for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: ProxyEnv): string | undefined {
  if (isLoopback(url.hostname)) return undefined
  if (bypassesProxy(url, pick(env, 'no_proxy', 'NO_PROXY'))) return undefined
  return url.protocol === 'https:' ? pickProxy(env, 'https_proxy', 'HTTPS_PROXY') : pickProxy(env, 'http_proxy', 'HTTP_PROXY')
}
