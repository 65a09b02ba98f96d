import { closeSync, mkdtempSync, promises as fs, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { splitPartNames } from '../../src/model/fetch.js'
import { progressLine } from '../../src/model/progress.js'
import { WriteBehind } from '../../src/util/disk.js'
import { formatBytes, formatDuration } from '../../src/util/format.js'
import { RateLimitedError, redactUrl, retryAfterMs, retryDelayMs, RetryableError } from '../../src/http/request.js'
import type { RateLimit } from '../../src/http/rate-limit.js'

describe('progressLine', () => {
  it('gives bytes, percent, rate and ETA', () => {
    expect(progressLine('m.gguf', 512 * 2 ** 20, 2 * 2 ** 30, 10_000)).toBe('m.gguf: 512.0 MiB of 2.0 GiB (25%), 53.7 MB/s, ETA 30 s')
  })
  it('without a known size gives bytes and rate', () => {
    expect(progressLine('m.gguf', 1500, undefined, 1000)).toBe('m.gguf: 1.5 KiB, 0.0 MB/s')
  })
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [5 * 2 ** 40, '5.0 TiB'],
  ])('formatBytes(%d) = %s', (n, text) => expect(formatBytes(n)).toBe(text))
  it.each([
    [4_400, '4 s'],
    [125_000, '2 min 5 s'],
    [3_725_000, '1 h 2 min'],
  ])('formatDuration(%d) = %s', (ms, text) => expect(formatDuration(ms)).toBe(text))
})

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000)
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000)
    expect(retryAfterMs(null)).toBeUndefined()
    expect(retryAfterMs('soon')).toBeUndefined()
  })
})

describe('redactUrl', () => {
  it('drops the query string, where signed URLs carry their credentials', () => {
    expect(redactUrl('https://cdn.example/blobs/abc?X-Amz-Signature=secret')).toBe('https://cdn.example/blobs/abc?…')
    expect(redactUrl('https://user:pw@host.example/x')).toBe('https://host.example/x')
  })
})

describe('splitPartNames', () => {
  it('names every part from the first', () => {
    expect(splitPartNames('m-Q4-00001-of-00003.gguf', 3)).toEqual(['m-Q4-00001-of-00003.gguf', 'm-Q4-00002-of-00003.gguf', 'm-Q4-00003-of-00003.gguf'])
  })
})

describe('retryDelayMs', () => {
  const policy = { attempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 }
  const limited = (waitMs: number | undefined) => new RateLimitedError('HTTP 429', { waitMs } as RateLimit)

  it('grows the backoff, up to its cap, when the server names no wait', () => {
    expect([1, 2, 3, 7, 12].map((n) => retryDelayMs(new RetryableError('HTTP 503'), n, policy))).toEqual([1_000, 2_000, 4_000, 60_000, 60_000])
  })

  it('waits as long as a 429 says, even past the cap (its bound is checked before)', () => {
    expect(retryDelayMs(limited(120_000), 1, policy)).toBe(120_000)
  })

  it('never less than the backoff: Retry-After 0 or a past date is no reason to retry at once', () => {
    expect(retryDelayMs(limited(0), 3, policy)).toBe(4_000)
    expect(retryDelayMs(new RetryableError('HTTP 503', 0), 2, policy)).toBe(2_000)
    expect(retryDelayMs(new RetryableError('HTTP 503', 30_000), 1, policy)).toBe(30_000)
  })
})

describe('WriteBehind', () => {
  // The descriptor is closed under the handle, so that each system call fails and says which it was.
  async function closedHandle(run: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-write-behind-'))
    const handle = await fs.open(path.join(dir, 'f'), 'w')
    closeSync(handle.fd)
    try {
      await run(handle)
    } finally {
      await handle.close().catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    }
  }

  it('below its step it flushes nothing: the final sync is the first system call', async () => {
    await closedHandle(async (handle) => {
      const writeBehind = new WriteBehind(handle, 'model.gguf', 4)
      writeBehind.wrote(3)
      await expect(writeBehind.sync()).rejects.toMatchObject({ code: 'EBADF', syscall: 'fsync' })
    })
  })

  it('at its step it flushes (fdatasync), and what the flush met fails the final sync', async () => {
    await closedHandle(async (handle) => {
      const writeBehind = new WriteBehind(handle, 'model.gguf', 4)
      writeBehind.wrote(3)
      writeBehind.wrote(1)
      await expect(writeBehind.sync()).rejects.toMatchObject({ code: 'EBADF', syscall: 'fdatasync' })
    })
  })
})
