// One file from a URL into a temporary file, hashed while it streams. A dropped connection resumes with a Range
// request; 408, 429 and 5xx are retried; a size or digest mismatch deletes the file and fails.
import * as core from '@actions/core'
import { createHash, type Hash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { ModelError } from '../errors.js'
import { causeMessage, HttpStatusError, redactUrl, request, RetryableError, withRetries, DEFAULT_RETRY, type Credential } from '../util/http.js'
import { ProgressReporter } from './progress.js'

export interface DownloadPlan {
  url: string
  credential?: Credential
  dest: string
  label: string
  expectedSize?: number
  /** `sha256:<hex>` */
  expectedDigest?: string
}

export interface Downloaded {
  digest: string
  size: number
  etag: string | undefined
  lastModified: string | undefined
}

export async function downloadFile(plan: DownloadPlan): Promise<Downloaded> {
  const handle = await fs.open(plan.dest, 'w', 0o644)
  let hash: Hash = createHash('sha256')
  let written = 0
  let etag: string | undefined
  let lastModified: string | undefined
  const progress = new ProgressReporter(plan.label, plan.expectedSize, (line) => core.info(line))
  try {
    await withRetries(
      `Downloading ${plan.label}`,
      async () => {
        const resuming = written > 0
        const response = await request(plan.url, {
          credential: plan.credential,
          headers: resuming ? { Range: `bytes=${written}-` } : {},
          timeoutMs: 24 * 3600_000,
        })
        if (resuming && response.status === 416 && written === plan.expectedSize) {
          await response.body?.cancel()
          return
        }
        if (response.status !== 200 && response.status !== 206) {
          await response.body?.cancel()
          throw new HttpStatusError(plan.url, response.status, response.headers)
        }
        if (response.status === 200 || !response.headers.get('content-range')?.startsWith(`bytes ${written}-`)) {
          // The server sent the whole file (no Range support): start over.
          if (resuming) core.info(`${plan.label}: the server does not resume; starting over`)
          await handle.truncate(0)
          hash = createHash('sha256')
          written = 0
        } else {
          core.info(`${plan.label}: resuming at byte ${written}`)
        }
        etag = response.headers.get('etag') ?? etag
        lastModified = response.headers.get('last-modified') ?? lastModified
        if (!response.body) throw new RetryableError(`no body from ${redactUrl(plan.url)}`)
        try {
          for await (const chunk of response.body) {
            hash.update(chunk)
            await handle.write(chunk, 0, chunk.length, written)
            written += chunk.length
            if (plan.expectedSize !== undefined && written > plan.expectedSize) {
              throw new ModelError(`${plan.label}: the server sent more than the expected ${plan.expectedSize} bytes`)
            }
            progress.update(written)
          }
        } catch (error) {
          if (error instanceof ModelError) throw error
          // The connection dropped mid-body: what arrived is kept, and the next attempt asks for the rest.
          throw new RetryableError(`the connection dropped after ${written} bytes (${causeMessage(error)})`)
        }
        if (plan.expectedSize !== undefined && written < plan.expectedSize) {
          throw new RetryableError(`the body ended after ${written} of ${plan.expectedSize} bytes`)
        }
      },
      DEFAULT_RETRY,
      () => written,
    )
    await handle.sync()
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
  return { digest, size: written, etag, lastModified }
}
