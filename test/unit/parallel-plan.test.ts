import { describe, expect, it } from 'vitest'
import { connectionsFor, parseContentRange, planRanges } from '../../src/model/parallel-download.js'
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

describe('planRanges', () => {
  const lengths = (ranges: [number, number][]) => ranges.map(([start, end]) => end + 1 - start)

  it.each([
    [4 * 2 ** 30, 8],
    [2 * 2 ** 30 + 12345, 8],
    [256 * MiB, 8],
    [40 * MiB, 8],
    [4 * MiB, 3],
    [MiB / 2, 4],
  ])('covers a file of %d bytes over %d connections exactly once, in order', (size, connections) => {
    const ranges = planRanges(size, connections)
    expect(ranges[0]?.[0]).toBe(0)
    ranges.forEach(([start], i) => i > 0 && expect(start).toBe((ranges[i - 1] as [number, number])[1] + 1))
    expect(ranges.at(-1)?.[1]).toBe(size - 1)
  })

  it('starts with what is left over twice the connections, at most 64 MiB, and shrinks towards the end', () => {
    expect(lengths(planRanges(4 * 2 ** 30, 8)).slice(0, 49)).toEqual(Array(49).fill(64 * MiB))
    expect(lengths(planRanges(64 * MiB, 8))[0]).toBe(4 * MiB)
    const sizes = lengths(planRanges(4 * 2 ** 30, 8))
    // Never larger than the range before, but for the last, which takes a remainder under 1 MiB.
    sizes.slice(0, -1).forEach((n, i) => i > 0 && expect(n).toBeLessThanOrEqual(sizes[i - 1] as number))
    // The last range of each connection is small: they finish within a couple of MiB of each other.
    for (const n of sizes.slice(-8)) {
      expect(n).toBeGreaterThanOrEqual(MiB)
      expect(n).toBeLessThan(2 * MiB)
    }
    expect(sizes).toHaveLength(128)
  })

  it('no range is longer than half of what is left over the connections: it ends well before the ranges after it', () => {
    // With the connections equally fast, a range of what is left over twice the connections takes half the time
    // left; none is still arriving at the end, after the connections fetched the bytes behind it.
    for (const [size, connections] of [[4 * 2 ** 30, 8], [2 * 2 ** 30 + 12345, 8], [300 * MiB, 3]] as const) {
      for (const [start, end] of planRanges(size, connections)) {
        const left = size - start
        if (left >= 2 * MiB) expect(end + 1 - start).toBeLessThanOrEqual(Math.max(MiB, Math.ceil(left / (2 * connections))))
      }
    }
  })

  it('a file under 1 MiB is one range', () => {
    expect(planRanges(MiB / 2, 4)).toEqual([[0, MiB / 2 - 1]])
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
