// A release archive into a file, hashed as it streams, and checked against the size and sha256 the releases API gave
// (or the user pinned): a mismatch deletes the file and fails the step. No token goes with it (the download host
// is not the API). A dropped connection starts the download over: archives are tens of MB. A host that refuses the
// download (an HTTP error, a redirect that is not followed, a long rate limit, retries spent) is a
// ReleaseDownloadError: the archive was never seen, so engine-source auto builds instead.
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { EngineError, errorMessage } from '../../errors.js'
import { abort, discard } from '../../http/client.js'
import { HttpStatusError, RateLimitError, redactUrl, request, RequestError, RetriesExhaustedError, RetryableError, withRetries } from '../../http/request.js'
import { isLocalWriteFailure, localWriteError, writeFully } from '../../util/disk.js'
import { YoungCollection } from '../../util/young-collection.js'

export interface AssetDownload {
  url: string
  dest: string
  label: string
  size: number
  digest: string
  timeoutMs: number
}

/** The download host did not give the archive: no byte of it was checked, so nothing says it is hostile. */
export class ReleaseDownloadError extends Error {
  override name = 'ReleaseDownloadError'
}

export async function downloadAsset(plan: AssetDownload): Promise<void> {
  try {
    const digest = await withRetries(`Downloading ${plan.label} from ${redactUrl(plan.url)}`, () => attempt(plan))
    if (digest !== plan.digest) throw new EngineError(`${plan.label} from ${redactUrl(plan.url)} has ${digest}, expected ${plan.digest}; the download was deleted and nothing was stored`)
  } catch (error) {
    await fs.rm(plan.dest, { force: true })
    if (error instanceof HttpStatusError || error instanceof RequestError || error instanceof RateLimitError || error instanceof RetriesExhaustedError) {
      throw new ReleaseDownloadError(`the download of the release archive ${plan.label} failed (${errorMessage(error)})`, { cause: error })
    }
    throw error
  }
}

/** One try from the first byte: the archive's sha256, once all of it (and no more) arrived. */
async function attempt(plan: AssetDownload): Promise<string> {
  const response = await request(plan.url, { headers: { accept: 'application/octet-stream', 'user-agent': 'setup-llama-server' }, timeoutMs: plan.timeoutMs })
  if (response.status !== 200) {
    await discard(response)
    throw new HttpStatusError(plan.url, response.status, response)
  }
  const hash = createHash('sha256')
  const handle = await fs.open(plan.dest, 'w', 0o644)
  let written = 0
  const young = new YoungCollection()
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      if (written + chunk.length > plan.size) {
        abort(response)
        throw new EngineError(`${plan.label} from ${redactUrl(plan.url)} is larger than the ${plan.size} bytes the releases API gave; the download was deleted and nothing was stored`)
      }
      await writeFully(handle, chunk, written).catch(async (error: unknown) => {
        abort(response)
        throw isLocalWriteFailure(error) ? await localWriteError(error, plan.dest, plan.size) : error
      })
      hash.update(chunk)
      young.received(chunk.length)
      written += chunk.length
    }
  } catch (error) {
    if (error instanceof Error && (error.name === 'EngineError' || error.name === 'LocalWriteError')) throw error
    throw new RetryableError(`the connection dropped or stalled after ${written} bytes (${(error as Error).message})`)
  } finally {
    await handle.close()
  }
  if (written < plan.size) throw new RetryableError(`the body ended after ${written} of ${plan.size} bytes`)
  return `sha256:${hash.digest('hex')}`
}
