import { describe, expect, it } from 'vitest'
import { connectionsFor, parseContentRange, rangeSize } from '../../src/model/parallel-download.js'
import { describeRateLimit, rateLimitOf } from '../../src/http/rate-limit.js'

const MiB = 2 ** 20

describe('connectionsFor', () => {
  it.each([
    [undefined, undefined, 1, 'an unknown size is one stream'],
    [31 * MiB, undefined, 1, 'automatic: a file under 32 MiB is one stream'],
    [32 * MiB, undefined, 8, 'automatic: 8 from 32 MiB'],
    [4 * 2 ** 30, undefined, 8, 'automatic: 8 for 4 GiB'],
    [4 * 2 ** 30, 1, 1, 'download-connections: 1 is one stream'],
    [4 * 2 ** 30, 16, 16, 'a number is that number'],
    [3 * MiB, 8, 3, 'never more connections than ranges of at least 1 MiB'],
    [512 * 1024, 4, 1, 'a file smaller than one range is one stream'],
  ] as [number | undefined, number | undefined, number, string][])('size %s, setting %s: %i (%s)', (size, setting, expected) => {
    expect(connectionsFor(size, setting)).toBe(expected)
  })
})

describe('rangeSize', () => {
  it('is about eight ranges per connection, between 1 and 32 MiB', () => {
    expect(rangeSize(64 * MiB, 8)).toBe(MiB)
    expect(rangeSize(640 * MiB, 8)).toBe(10 * MiB)
    expect(rangeSize(4 * 2 ** 30, 8)).toBe(32 * MiB)
    expect(rangeSize(3 * MiB, 8)).toBe(MiB)
  })
})

describe('parseContentRange', () => {
  it('reads start, end and total', () => {
    expect(parseContentRange('bytes 0-99/1000')).toEqual({ start: 0, end: 99, total: 1000 })
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined })
    expect(parseContentRange('items 0-1/2')).toBeUndefined()
    expect(parseContentRange(null)).toBeUndefined()
  })
})

describe('rate limits', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name.toLowerCase()] ?? null

  it("reads the Hub's RateLimit and RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers)", () => {
    const limit = rateLimitOf(headers({ ratelimit: '"resolvers";r=0;t=55', 'ratelimit-policy': '"fixed window";"resolvers";q=3000;w=300' }))
    expect(limit).toEqual({ waitMs: 55_000, bucket: 'resolvers', remaining: 0, quota: 3000, windowSeconds: 300 })
    expect(describeRateLimit(limit)).toBe('0 of 3000 resolvers requests left in a 300 s window; the server says to wait 55 s')
  })

  it('Retry-After wins over the RateLimit reset', () => {
    expect(rateLimitOf(headers({ 'retry-after': '7', ratelimit: '"api";r=0;t=55' })).waitMs).toBe(7_000)
  })

  it('says what it knows when the headers are missing', () => {
    const bare = rateLimitOf(headers({}))
    expect(bare).toEqual({ waitMs: undefined, bucket: undefined, remaining: undefined, quota: undefined, windowSeconds: undefined })
    expect(describeRateLimit(bare)).toBe('the server does not say how long to wait')
    expect(describeRateLimit(rateLimitOf(headers({ 'ratelimit-policy': '"fixed window";"api";q=500;w=300' })))).toBe(
      'a quota of 500 api requests in a 300 s window; the server does not say how long to wait',
    )
  })
})
