// What a 429 says about the rate limit: how long to wait (Retry-After, or the `t` of the RateLimit header that the
// Hugging Face Hub sends, draft-ietf-httpapi-ratelimit-headers) and the numbers behind it (requests left, the quota
// and its window, from RateLimit and RateLimit-Policy), so that a failure can say them. Pure.

export interface RateLimit {
  /** Milliseconds the server says to wait before asking again, when it says. */
  waitMs: number | undefined
  /** The bucket the limit counts (the Hub's `api`, `resolvers`, `pages`). */
  bucket: string | undefined
  remaining: number | undefined
  quota: number | undefined
  windowSeconds: number | undefined
}

/** Retry-After is seconds or an HTTP date. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** `"resolvers";r=0;t=55` → { name, params }: the first item of a structured-field list, its parameters. */
function firstItem(value: string | null): { name: string | undefined; params: Record<string, number> } | undefined {
  if (!value) return undefined
  const item = value.split(',')[0] ?? ''
  const names = [...item.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string)
  const params: Record<string, number> = {}
  for (const m of item.matchAll(/;\s*([a-z]+)=(\d+)/g)) params[m[1] as string] = Number(m[2])
  // The policy names its kind first ("fixed window") and its bucket last.
  return { name: names.at(-1), params }
}

export function rateLimitOf(header: (name: string) => string | null, now = Date.now()): RateLimit {
  const limit = firstItem(header('ratelimit'))
  const policy = firstItem(header('ratelimit-policy'))
  const told = retryAfterMs(header('retry-after'), now) ?? (limit?.params.t !== undefined ? limit.params.t * 1000 : undefined)
  return {
    waitMs: told,
    bucket: limit?.name ?? policy?.name,
    remaining: limit?.params.r,
    quota: policy?.params.q,
    windowSeconds: policy?.params.w,
  }
}

/** `0 of 3000 resolvers requests left in a 300 s window; the server says to wait 55 s`, as far as it is known. */
export function describeRateLimit(r: RateLimit): string {
  const what = r.bucket ? `${r.bucket} requests` : 'requests'
  const parts: string[] = []
  if (r.remaining !== undefined && r.quota !== undefined) parts.push(`${r.remaining} of ${r.quota} ${what} left`)
  else if (r.remaining !== undefined) parts.push(`${r.remaining} ${what} left`)
  else if (r.quota !== undefined) parts.push(`a quota of ${r.quota} ${what}`)
  if (r.windowSeconds !== undefined) parts.push(`in a ${r.windowSeconds} s window`)
  const left = parts.join(' ')
  const wait = r.waitMs !== undefined ? `the server says to wait ${Math.ceil(r.waitMs / 1000)} s` : 'the server does not say how long to wait'
  return left ? `${left}; ${wait}` : wait
}
