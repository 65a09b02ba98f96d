// Large files over several connections: CDNs (the Hub's among them) limit what one connection gets, so a large
// model is fetched as ranges, each a conditional GET (If-Range with the first answer's validator, and every
// answer's validators compared) written at its place in one preallocated temporary file, each resumable with the
// same retries as a single stream. The first range is the probe: a server that answers it with the whole file
// (no Range support) gets one stream instead, as do small files and files of unknown size. Only the first request
// goes to the URL given (for the Hub: one /resolve call, which its rate limit counts); the ranges go to where it
// redirected. The sha256 is computed in order as the written prefix grows (src/util/ordered-hash.ts).
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import { ModelError } from '../errors.js'
import { abort, discard, type HttpResponse } from '../http/client.js'
import { DEFAULT_RETRY, HttpStatusError, redactUrl, request, RetryableError, withRetries } from '../http/request.js'
import { isLocalWriteFailure, localWriteError, preallocate, writeFullySync, WriteBehind } from '../util/disk.js'
import { formatBytes } from '../util/format.js'
import { YoungCollection } from '../util/young-collection.js'
import { orderedHasher, type HashMode, type OrderedHasher } from '../util/ordered-hash.js'
import { changedSince, downloadFile, ifRange, validatorsOf, type DownloadPlan, type Downloaded, type Validators } from './download.js'
import { ProgressReporter } from './progress.js'

/** Connections for a large file when `download-connections` is empty. */
export const AUTO_CONNECTIONS = 8
/** Below this, automatic means one stream: a few seconds at most to gain, and a request per range to pay. */
export const PARALLEL_MIN_BYTES = 32 * 2 ** 20
const MIN_RANGE = 2 ** 20
const MAX_RANGE = 64 * 2 ** 20

export interface ModelDownloadPlan extends DownloadPlan {
  /** The `download-connections` input; undefined = automatic. */
  connections: number | undefined
  /** How a file fetched in ranges is hashed; the default is what the benchmark found fastest. */
  hashMode?: HashMode
}

/**
 * The ranges of a file of `size` bytes, in order, as [start, end] (inclusive). Each is what is left divided by
 * twice the connections, between 1 and 64 MiB (guided self-scheduling): large ranges while much is left, so that a
 * connection pays for a request (a round trip and the CDN's first byte) every 64 MiB, not every few; smaller and
 * smaller towards the end, so that the connections finish together rather than one of them fetching a last large
 * range alone. Twice, not once: a range then takes about half the time left, so the ranges end in the order they
 * start, and no large one is still arriving at the end while the bytes after it wait for the in-order sha256
 * (with what is left over the connections alone, the hash of 2 GiB over loopback ended a median 0.33 s after the
 * last byte; now 0.10 s). A last piece under 1 MiB goes with the range before it. Pure.
 */
export function planRanges(size: number, connections: number): [number, number][] {
  const ranges: [number, number][] = []
  for (let start = 0; start < size; ) {
    const left = size - start
    let length = Math.min(MAX_RANGE, Math.max(MIN_RANGE, Math.ceil(left / (2 * connections))))
    // What would be left after this range, if less than a range, goes with it.
    if (left - length < MIN_RANGE) length = left
    ranges.push([start, start + length - 1])
    start += length
  }
  return ranges
}

/** How many connections a file of `size` bytes gets: `setting` (the input) or automatic; 1 is one stream. Pure. */
export function connectionsFor(size: number | undefined, setting: number | undefined): number {
  if (size === undefined || setting === 1) return 1
  if (setting === undefined && size < PARALLEL_MIN_BYTES) return 1
  const wanted = setting ?? AUTO_CONNECTIONS
  return Math.max(1, Math.min(wanted, planRanges(size, wanted).length))
}

/** `bytes 0-99/1000` → its numbers; the total is undefined for `*`. Pure. */
export function parseContentRange(value: string | null): { start: number; end: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '')
  if (!m) return undefined
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) }
}

/** The file over `connections(plan)` connections, or one stream where that is what works. */
export async function downloadModelFile(plan: ModelDownloadPlan): Promise<Downloaded> {
  const connections = connectionsFor(plan.expectedSize, plan.connections)
  if (connections > 1) {
    const got = await downloadInRanges(plan, plan.expectedSize as number, connections)
    if (got) return got
  }
  return await downloadFile(plan)
}

interface Range {
  start: number
  /** Inclusive, as in a Range header. */
  end: number
  done: number
  finished: boolean
}

const rangeLength = (range: Range): number => range.end + 1 - range.start

/** The server answered a range with something else: the download goes on as one stream, from the start. */
class RangesNotHonoured extends Error {
  override name = 'RangesNotHonoured'
}

/** The download in ranges, or undefined when it should be one stream instead (nothing of it is kept). */
async function downloadInRanges(plan: ModelDownloadPlan, size: number, connections: number): Promise<Downloaded | undefined> {
  const ranges: Range[] = planRanges(size, connections).map(([start, end]) => ({ start, end, done: 0, finished: false }))
  const handle = await fs.open(plan.dest, 'w', 0o644)
  const stop = new AbortController()
  let hasher: OrderedHasher | undefined
  let kept = false
  try {
    await preallocate(handle, plan.dest, size)
    const probe = await probeRanges(plan, size, ranges[0] as Range, stop.signal)
    if (!probe) return undefined
    core.info(`${plan.label}: ${formatBytes(size)} over ${connections} connections, in ${ranges.length} ranges of ${formatBytes(rangeLength(ranges[0] as Range))} down to ${formatBytes(rangeLength(ranges.at(-1) as Range))}`)
    hasher = orderedHasher(plan.dest, plan.hashMode)
    const fetcher = new RangeFetcher(plan, handle, probe, size, stop.signal, new ProgressReporter(plan.label, size, (line) => core.info(line)))
    const writeBehind = new WriteBehind(handle, plan.dest)
    let next = 1
    let prefix = 0
    const finished = (range: Range) => {
      range.finished = true
      writeBehind.wrote(rangeLength(range))
      while (prefix < ranges.length && ranges[prefix]?.finished) prefix++
      hasher?.advance(prefix === ranges.length ? size : (ranges[prefix] as Range).start)
    }
    let failure: unknown
    const connection = async (first?: HttpResponse) => {
      try {
        if (first) {
          await fetcher.fetch(ranges[0] as Range, first)
          finished(ranges[0] as Range)
        }
        for (let range = ranges[next++]; range && !stop.signal.aborted; range = ranges[next++]) {
          await fetcher.fetch(range)
          finished(range)
        }
      } catch (error) {
        // The first failure is the one to report; the others are the aborts it caused.
        failure ??= error
        stop.abort()
      }
    }
    await Promise.all([connection(probe.response), ...Array.from({ length: connections - 1 }, () => connection())])
    if (failure instanceof RangesNotHonoured) {
      core.info(`${plan.label}: ${failure.message}; downloading it again as one stream`)
      return undefined
    }
    if (failure) throw failure
    // On disk and hashed: the hashing thread finishes the tail while the kernel writes the file back.
    const [, digest] = await Promise.all([writeBehind.sync(), hasher.digest(size)])
    if (plan.expectedDigest !== undefined && digest !== plan.expectedDigest) {
      throw new ModelError(`${plan.label} from ${redactUrl(plan.url)} has ${digest}, expected ${plan.expectedDigest}; the download was deleted`)
    }
    fetcher.progress.done(size)
    kept = true
    return { digest, size, version: probe.validators.version }
  } finally {
    await hasher?.close()
    await handle.close()
    if (!kept) await fs.rm(plan.dest, { force: true })
  }
}

interface Probe {
  response: HttpResponse
  /** Where the first request ended after redirects: the ranges go there. */
  url: string
  validators: Validators
}

/** Asks for the first range; undefined when the answer says one stream is the way. */
async function probeRanges(plan: ModelDownloadPlan, size: number, first: Range, signal: AbortSignal): Promise<Probe | undefined> {
  const response = await withRetries(
    `Downloading ${plan.label} from ${redactUrl(plan.url)}`,
    () => request(plan.url, { credential: plan.credential, headers: { range: `bytes=0-${first.end}` }, timeoutMs: plan.timeoutMs, signal }),
    DEFAULT_RETRY,
    undefined,
    signal,
  )
  const oneStream = async (why: string) => {
    await discard(response)
    core.info(`${plan.label}: ${why}; one stream`)
    return undefined
  }
  if (response.status === 200) return await oneStream('the server does not honour ranges')
  if (response.status !== 206) {
    await discard(response)
    throw new HttpStatusError(plan.url, response.status, response)
  }
  const range = parseContentRange(response.header('content-range'))
  if (range?.total !== undefined && range.total !== size) {
    await discard(response)
    throw new ModelError(`${plan.label} from ${redactUrl(plan.url)} is ${range.total} bytes, expected ${size}; nothing was kept`)
  }
  if (!range || range.start !== 0 || range.end !== first.end) return await oneStream(`the server answered a range with ${response.header('content-range') ?? 'no Content-Range'}`)
  const validators = validatorsOf(response)
  // Ranges of two versions of a file must never be spliced: a validator proves them one version, or a known
  // sha256 catches a splice before the file is kept.
  if (!ifRange(validators) && plan.expectedDigest === undefined) {
    return await oneStream('the server gives no ETag or Last-Modified (and no sha256 is known) to prove every range from one version of the file')
  }
  return { response, url: response.url, validators }
}

/** Fetches ranges into the file, each resumed where it stopped; shared by the connections. */
class RangeFetcher {
  private target: string
  private received = 0
  private readonly young = new YoungCollection()

  constructor(
    private readonly plan: ModelDownloadPlan,
    private readonly handle: fs.FileHandle,
    private readonly probe: Probe,
    /** The file's size, as the probe's answer gave it. */
    private readonly size: number,
    private readonly signal: AbortSignal,
    readonly progress: ProgressReporter,
  ) {
    this.target = probe.url
  }

  async fetch(range: Range, first?: HttpResponse): Promise<void> {
    let answer = first
    await withRetries(
      `Downloading ${this.plan.label} bytes ${range.start}-${range.end}`,
      async () => {
        const response = answer ?? (await this.ask(range))
        answer = undefined
        await this.receive(response, range)
      },
      DEFAULT_RETRY,
      () => range.done,
      this.signal,
    )
  }

  /** A conditional request for what is missing of `range`; the answer is checked to be those bytes, unchanged. */
  private async ask(range: Range): Promise<HttpResponse> {
    const from = range.start + range.done
    const url = this.target
    const condition = ifRange(this.probe.validators)
    const response = await request(url, {
      credential: this.plan.credential,
      headers: { range: `bytes=${from}-${range.end}`, ...(condition ? { 'if-range': condition } : {}) },
      timeoutMs: this.plan.timeoutMs,
      signal: this.signal,
    })
    if (response.status === 206) {
      const got = parseContentRange(response.header('content-range'))
      // The total too: another file of the same ETag (a CDN edge serving another object) would differ there.
      const sameTotal = got?.total === undefined || got.total === this.size
      if (got?.start === from && got.end === range.end && sameTotal && !changedSince(this.probe.validators, validatorsOf(response))) {
        this.target = response.url
        return response
      }
      await discard(response)
      throw new RangesNotHonoured(`the server answered bytes ${from}-${range.end} with ${response.header('content-range') ?? 'no Content-Range'} or another version of the file`)
    }
    await discard(response)
    if (response.status === 200) throw new RangesNotHonoured('the server sent the whole file for a range (the file changed on the server, or it stopped honouring ranges)')
    // A signed URL (where the Hub redirects) that expired: the URL given hands out a fresh one.
    if ([401, 403, 404, 410].includes(response.status) && url !== this.plan.url) {
      this.target = this.plan.url
      throw new RetryableError(`HTTP ${response.status} from ${redactUrl(url)}; asking ${redactUrl(this.plan.url)} again`, 0)
    }
    throw new HttpStatusError(url, response.status, response)
  }

  /**
   * The body at its place in the file, each piece written as it arrives, synchronously, as curl does: the bytes
   * are still in the CPU's cache, and no thread of the pool is woken (nor do several of them queue on the file's
   * lock) for each; the wait, when the disk cannot keep up, is the event loop's, which slows the sockets as it
   * should. A network fault is retryable (what arrived is kept); a local one is not.
   */
  private async receive(response: HttpResponse, range: Range): Promise<void> {
    const length = rangeLength(range)
    const body = response.body
    await new Promise<void>((resolve, reject) => {
      let settled = false
      const settle = (error?: unknown) => {
        if (settled) return
        settled = true
        if (error === undefined) return resolve()
        abort(response)
        reject(error)
      }
      body.on('data', (chunk: Buffer) => {
        if (settled) return
        if (range.done + chunk.length > length) return settle(new ModelError(`${this.plan.label}: the server sent more than bytes ${range.start}-${range.end}`))
        try {
          writeFullySync(this.handle.fd, chunk, range.start + range.done)
        } catch (error) {
          if (!isLocalWriteFailure(error)) return settle(error)
          settled = true
          abort(response)
          return void localWriteError(error, this.plan.dest, this.plan.expectedSize).then(reject, reject)
        }
        range.done += chunk.length
        this.received += chunk.length
        this.young.received(chunk.length)
        this.progress.update(this.received)
      })
      body.once('end', () => settle(range.done < length ? new RetryableError(`the body ended after ${range.done} of the ${length} bytes from ${range.start}`) : undefined))
      body.once('error', (error: Error) => {
        // The connection dropped or stalled mid-body: what arrived is written, and the next attempt asks for the rest.
        settle(new RetryableError(`the connection dropped or stalled after ${range.done} of the ${length} bytes from ${range.start} (${error.message})`))
      })
    })
  }
}
