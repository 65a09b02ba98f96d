// Downloads over several connections and the Hub's rate limits, through the runner harness against the real local
// Hub-protocol server (test/support/hub-server.ts). The engine is the test double: these tests are about models.
// Speed is measured by `npm run bench -- download`, never asserted here.
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { planRanges } from '../../src/model/parallel-download.js'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { newJobDirs, runMain, type MainRun } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()

afterEach(() => {
  hub().blobFaults.length = 0
  hub().hubFaults.length = 0
  hub().honourRanges = true
  hub().onBlobGet = undefined
  hub().perConnectionRate = undefined
  hub().maxConcurrentBlobGets = 0
})

let repoCount = 0
function newModelRepo(bytes: number) {
  const id = `org/parallel-${++repoCount}`
  const body = ggufWithPayload(bytes)
  const commit = hub().addRepo(id, { 'big-Q8_0.gguf': body })
  return { id, body, commit, ref: `hf:${id}/big-Q8_0.gguf`, digest: `sha256:${sha256(body)}` }
}

async function fetchModel(inputs: Record<string, string>, env: Record<string, string> = {}): Promise<MainRun> {
  return await runMain({ inputs: { 'llama-server-path': fakeServer, start: 'false', 'hf-endpoint': hub().endpoint, ...inputs }, env })
}

const blobGets = (digest: string) => hub().blobGets().filter((r) => r.path.startsWith(`/blobs/${digest.replace('sha256:', '')}`))
const resolveGets = (id: string) => hub().requests.filter((r) => r.host === 'hub' && r.method === 'GET' && r.path.startsWith(`/${id}/resolve/`))

/** The byte ranges the blob host was asked for, as [start, end] (inclusive). */
function rangesAsked(digest: string): [number, number][] {
  return blobGets(digest).map((r) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '')
    if (!m) throw new Error(`a GET without a closed range: ${r.range}`)
    return [Number(m[1]), Number(m[2])]
  })
}

describe('several connections', () => {
  it('a large file: ranges over 8 connections at once (automatic), one /resolve call, verified and whole', async () => {
    const m = newModelRepo(40 * 2 ** 20)
    // As a CDN does: each connection gets so much, so that the connections are seen to overlap.
    hub().perConnectionRate = 64 * 2 ** 20
    const run = await fetchModel({ model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/big-Q8_0\.gguf: 40\.0 MiB over 8 connections, in \d+ ranges of 2\.5 MiB down to /)
    expect(readFileSync(run.outputs['model-path'] as string).equals(m.body)).toBe(true)
    expect(run.outputs['model-digest']).toBe(m.digest)
    // Every byte asked for exactly once, in closed ranges, each conditional on the blob's ETag.
    const ranges = rangesAsked(m.digest).sort((a, b) => a[0] - b[0])
    expect(ranges.length).toBeGreaterThan(8)
    expect(ranges[0]?.[0]).toBe(0)
    ranges.forEach(([start], i) => i > 0 && expect(start).toBe((ranges[i - 1] as [number, number])[1] + 1))
    expect(ranges.at(-1)?.[1]).toBe(m.body.length - 1)
    expect(blobGets(m.digest).slice(1).every((r) => r.ifRange === `"${m.digest.slice(7)}"`)).toBe(true)
    expect(hub().maxConcurrentBlobGets).toBeGreaterThan(1)
    expect(hub().maxConcurrentBlobGets).toBeLessThanOrEqual(8)
    // The ranges go where the Hub redirected: /resolve (which its rate limit counts) is asked once.
    expect(resolveGets(m.id)).toHaveLength(1)
  })

  it('download-connections sets the number; a dropped range resumes where it stopped, conditionally', async () => {
    const m = newModelRepo(4 * 2 ** 20)
    hub().perConnectionRate = 16 * 2 ** 20
    hub().blobFaults.push({ kind: 'drop-after', bytes: 100 * 1024 })
    const run = await fetchModel({ model: m.ref, 'download-connections': '3' })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/over 3 connections/)
    expect(hub().maxConcurrentBlobGets).toBeLessThanOrEqual(3)
    expect(readFileSync(run.outputs['model-path'] as string).equals(m.body)).toBe(true)
    // The first range (the probe) dropped after what the server sent of it; only its rest was asked again.
    const got = Number(/the connection dropped or stalled after (\d+) of the \d+ bytes from 0 /.exec(run.stdout)?.[1])
    expect(got).toBeGreaterThan(0)
    expect(got).toBeLessThanOrEqual(100 * 1024)
    const first = rangesAsked(m.digest)[0] as [number, number]
    const resumed = blobGets(m.digest).find((r) => r.range === `bytes=${got}-${first[1]}`)
    expect(resumed?.ifRange).toBe(`"${m.digest.slice(7)}"`)
  })

  it('a server that does not honour ranges gets one stream', async () => {
    const m = newModelRepo(40 * 2 ** 20)
    hub().honourRanges = false
    const run = await fetchModel({ model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('big-Q8_0.gguf: the server does not honour ranges; one stream')
    expect(readFileSync(run.outputs['model-path'] as string).equals(m.body)).toBe(true)
    // The probe's answer was the whole file (cut short), then one stream without a range.
    expect(blobGets(m.digest).map((r) => [r.status, r.range])).toEqual([
      [200, `bytes=0-${rangesAskedEnd(m.body.length, 8)}`],
      [200, undefined],
    ])
  })

  it('a small file, or download-connections: 1, is one stream', async () => {
    const small = newModelRepo(2 * 2 ** 20)
    expect((await fetchModel({ model: small.ref })).errors).toEqual([])
    expect(blobGets(small.digest).map((r) => r.range)).toEqual([undefined])
    const large = newModelRepo(40 * 2 ** 20)
    expect((await fetchModel({ model: large.ref, 'download-connections': '1' })).errors).toEqual([])
    expect(blobGets(large.digest).map((r) => r.range)).toEqual([undefined])
  })

  it('a file that changes on the server between its ranges is never spliced: it starts over as one stream', async () => {
    const before = ggufWithPayload(4 * 2 ** 20)
    const after = ggufWithPayload(4 * 2 ** 20)
    hub().plainFiles.set('/files/changing.gguf', { body: before, etag: '"v1"' })
    // Once the first range was answered, the file is replaced: every later range's If-Range fails.
    hub().onBlobGet = (n) => {
      if (n === 2) hub().plainFiles.set('/files/changing.gguf', { body: after, etag: '"v2"' })
    }
    const run = await fetchModel({ model: `${hub().blobOrigin}/files/changing.gguf`, 'download-connections': '4' })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/changing\.gguf: the server sent the whole file for a range .*; downloading it again as one stream/)
    expect(readFileSync(run.outputs['model-path'] as string).equals(after)).toBe(true)
  })
})

describe('a range that names another total', () => {
  it('is not spliced in: the ranges stop and the file is downloaded again as one stream', async () => {
    const body = ggufWithPayload(4 * 2 ** 20)
    hub().plainFiles.set('/files/other-total.gguf', { body, etag: '"t1"' })
    // The second range's answer has the right bytes and ETag but says the file is twice as long. (The server's
    // count goes on from earlier tests: this one counts its own GETs.)
    let gets = 0
    hub().onBlobGet = () => {
      if (++gets === 2) hub().blobFaults.push({ kind: 'wrong-total' })
    }
    const run = await fetchModel({ model: `${hub().blobOrigin}/files/other-total.gguf`, 'download-connections': '4' })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(new RegExp(`other-total\\.gguf: the server answered bytes \\d+-\\d+ with bytes \\d+-\\d+/${body.length * 2} or another version of the file; downloading it again as one stream`))
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
  })
})

/** Where the probe's range ends: the first range of a file of `size` bytes over `connections`. */
function rangesAskedEnd(size: number, connections: number): number {
  return (planRanges(size, connections)[0] as [number, number])[1]
}

describe("the Hub's rate limits", () => {
  const limited = (seconds: number, extra: Record<string, string> = {}) => ({
    kind: 'status' as const,
    status: 429,
    headers: { RateLimit: `"resolvers";r=0;t=${seconds}`, 'RateLimit-Policy': '"fixed window";"resolvers";q=3000;w=300', ...extra },
  })

  it('a 429 with RateLimit headers waits the seconds they name, then goes on', async () => {
    const m = newModelRepo(64 * 1024)
    hub().hubFaults.push(limited(1))
    const run = await fetchModel({ model: m.ref })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/HTTP 429 from .*, rate limited: 0 of 3000 resolvers requests left in a 300 s window; the server says to wait 1 s; retrying in 1\.0 s/)
  })

  it('a wait past the bound fails at once with the numbers; without a token it says a token raises the limit', async () => {
    const m = newModelRepo(64 * 1024)
    hub().blobFaults.push(limited(900))
    const run = await fetchModel({ model: m.ref })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/HTTP 429 from .*, rate limited: 0 of 3000 resolvers requests left in a 300 s window; the server says to wait 900 s, longer than the 300 s the action waits/)
    expect(run.errors[0]).toMatch(/a token raises the limit: set 'hf-token' \(or HF_TOKEN\) to a Hugging Face access token/)
    expect(run.stdout).not.toMatch(/retrying in/)
  })

  it('Retry-After wins over RateLimit; with a token the message says whose limit it is', async () => {
    const m = newModelRepo(64 * 1024)
    hub().tokens.add('hf_rate_token')
    hub().blobFaults.push(limited(1, { 'Retry-After': '3600' }))
    const run = await fetchModel({ model: m.ref, 'hf-token': 'hf_rate_token' })
    expect(run.errors[0]).toMatch(/the server says to wait 3600 s, longer than the 300 s the action waits/)
    expect(run.errors[0]).toMatch(/counts these requests against the account of the token in 'hf-token'/)
    expect(run.errors[0]).not.toMatch(/a token raises the limit/)
  })

  it('a rate-limited endpoint with the model in no cache says so, with the numbers and the advice', async () => {
    const m = newModelRepo(64 * 1024)
    hub().hubFaults.push(limited(900))
    const run = await fetchModel({ model: m.ref })
    expect(run.errors[0]).toMatch(/is rate-limiting this runner \(.*wait 900 s, longer than the 300 s the action waits\), and hf:.* is not in the Hugging Face cache at .*\. Without a token the Hub counts .*a token raises the limit/)
  })
})
