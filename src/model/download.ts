// One file from a URL into a temporary file, hashed while it streams. A dropped or stalled connection resumes with
// a conditional Range request (If-Range with the first answer's validator, and the answer's validators compared),
// so that a file changed on the server restarts from zero instead of being spliced; 408, 429 and 5xx are retried;
// a write that fails on this machine (full disk, quota, I/O) is fatal at once; a size or digest mismatch deletes
// the file and fails.
import * as core from '@actions/core'
import { createHash, type Hash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { ModelError } from '../errors.js'
import { abort, discard, type HttpResponse } from '../http/client.js'
import { HttpStatusError, redactUrl, request, RetryableError, withRetries, DEFAULT_RETRY, type Credential } from '../http/request.js'
import { isLocalWriteFailure, localWriteError, writeFullySync, WriteBehind } from '../util/disk.js'
import { YoungCollection } from '../util/young-collection.js'
import { ProgressReporter } from './progress.js'

export interface DownloadPlan {
  url: string
  credential?: Credential
  dest: string
  label: string
  expectedSize?: number
  /** `sha256:<hex>` */
  expectedDigest?: string
  /** Milliseconds without an answer or a byte before an attempt is given up and resumed. */
  timeoutMs: number
}

export interface Downloaded {
  digest: string
  size: number
  /** The version of the file that was stored, as its answer named it: ETag, else Last-Modified (see versionOf). */
  version: string | undefined
}

/** What identifies one version of the file on the server: a strong ETag, else Last-Modified. */
export interface Validators {
  etag: string | undefined
  lastModified: string | undefined
  /** The answer's version as a cache key takes it (versionOf). */
  version: string | undefined
}

/** The version an answer names, as a cache keys it: its ETag (weak or strong), else its Last-Modified. */
export function versionOf(response: Pick<HttpResponse, 'header'>): string | undefined {
  return response.header('etag') ?? response.header('last-modified') ?? undefined
}

export function validatorsOf(response: Pick<HttpResponse, 'header'>): Validators {
  const etag = response.header('etag') ?? undefined
  return { etag: etag && !etag.startsWith('W/') ? etag : undefined, lastModified: response.header('last-modified') ?? undefined, version: versionOf(response) }
}

/** The If-Range value for a resume, or undefined when nothing proves the file unchanged (then: start over). */
export function ifRange(v: Validators): string | undefined {
  return v.etag ?? v.lastModified
}

/** True when an answer's validators contradict those of the version being resumed. */
export function changedSince(first: Validators, now: Validators): boolean {
  if (first.etag && now.etag) return first.etag !== now.etag
  if (first.lastModified && now.lastModified) return first.lastModified !== now.lastModified
  return !!(first.etag || first.lastModified) && !(now.etag || now.lastModified)
}

export async function downloadFile(plan: DownloadPlan): Promise<Downloaded> {
  const handle = await fs.open(plan.dest, 'w', 0o644)
  let hash: Hash = createHash('sha256')
  let written = 0
  // Progress for the retry count is the furthest any attempt got: starting over is not progress.
  let furthest = 0
  let first: Validators | undefined
  const progress = new ProgressReporter(plan.label, plan.expectedSize, (line) => core.info(line))
  const writeBehind = new WriteBehind(handle, plan.dest)
  const young = new YoungCollection()
  const restart = async () => {
    await handle.truncate(0)
    hash = createHash('sha256')
    written = 0
  }
  try {
    await withRetries(
      `Downloading ${plan.label} from ${redactUrl(plan.url)}`,
      async () => {
        const condition = first && written > 0 ? ifRange(first) : undefined
        if (written > 0 && !condition) {
          core.info(`${plan.label}: the server gave no ETag or Last-Modified to prove the file unchanged; starting over`)
          await restart()
        }
        const resuming = written > 0
        const response = await request(plan.url, {
          credential: plan.credential,
          headers: resuming ? { range: `bytes=${written}-`, 'if-range': condition as string } : {},
          timeoutMs: plan.timeoutMs,
        })
        if (resuming && response.status === 416 && written === plan.expectedSize) {
          await discard(response)
          return
        }
        if (response.status !== 200 && response.status !== 206) {
          await discard(response)
          throw new HttpStatusError(plan.url, response.status, response)
        }
        const now = validatorsOf(response)
        if (resuming && response.status === 206 && first && changedSince(first, now)) {
          await discard(response)
          core.info(`${plan.label}: the file changed on the server since the download began; starting over`)
          await restart()
          first = undefined
          throw new RetryableError('the file changed on the server', 0)
        }
        if (response.status === 206 && !response.header('content-range')?.startsWith(`bytes ${written}-`)) {
          // A part, but not the one asked for: nothing of it is written; the next attempt asks for the whole file.
          await discard(response)
          await restart()
          first = undefined
          throw new RetryableError(`the server answered the range request with another range (${response.header('content-range') ?? 'none'})`, 0)
        }
        if (response.status === 200) {
          // The whole file (no Range support, or If-Range said it changed): start over.
          if (resuming) core.info(`${plan.label}: the server sent the whole file; starting over`)
          await restart()
          first = now
        } else {
          core.info(`${plan.label}: resuming at byte ${written}`)
        }
        first ??= now
        await receive(response)
      },
      DEFAULT_RETRY,
      () => `${furthest} of ${plan.expectedSize ?? 'an unknown number of'} bytes`,
    )
    await writeBehind.sync()
  } catch (error) {
    await handle.close()
    await fs.rm(plan.dest, { force: true })
    throw error
  }
  await handle.close()
  progress.done(written)
  const digest = `sha256:${hash.digest('hex')}`
  const problem =
    plan.expectedSize !== undefined && written !== plan.expectedSize
      ? `is ${written} bytes, expected ${plan.expectedSize}`
      : plan.expectedDigest !== undefined && digest !== plan.expectedDigest
        ? `has ${digest}, expected ${plan.expectedDigest}`
        : undefined
  if (problem) {
    await fs.rm(plan.dest, { force: true })
    throw new ModelError(`${plan.label} from ${redactUrl(plan.url)} ${problem}; the download was deleted`)
  }
  return { digest, size: written, version: first?.version }

  /** The body into the file; a network fault is retryable (what arrived is kept), a local write fault is not. */
  async function receive(response: HttpResponse): Promise<void> {
    const body = response.body
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        try {
          // Synchronously, as each piece arrives (see RangeFetcher.receive in parallel-download.ts): no thread hop
          // per piece, and the bytes are still in the CPU's cache for the hash below.
          writeFullySync(handle.fd, chunk, written)
        } catch (error) {
          abort(response)
          if (isLocalWriteFailure(error)) throw await localWriteError(error, plan.dest, plan.expectedSize)
          throw error
        }
        hash.update(chunk)
        writeBehind.wrote(chunk.length)
        young.received(chunk.length)
        written += chunk.length
        furthest = Math.max(furthest, written)
        if (plan.expectedSize !== undefined && written > plan.expectedSize) {
          abort(response)
          throw new ModelError(`${plan.label}: the server sent more than the expected ${plan.expectedSize} bytes`)
        }
        progress.update(written)
      }
    } catch (error) {
      if (error instanceof Error && (error.name === 'ModelError' || error.name === 'LocalWriteError')) throw error
      if (isLocalWriteFailure(error)) throw await localWriteError(error, plan.dest, plan.expectedSize)
      // The connection dropped or stalled mid-body: what arrived is kept, and the next attempt asks for the rest.
      throw new RetryableError(`the connection dropped or stalled after ${written} bytes (${(error as Error).message})`)
    }
    if (plan.expectedSize !== undefined && written < plan.expectedSize) {
      throw new RetryableError(`the body ended after ${written} of ${plan.expectedSize} bytes`)
    }
  }
}
