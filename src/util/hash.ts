import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** `sha256:<hex>` of a file, streamed so that a multi-GB model never sits in memory. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer)
  return `sha256:${hash.digest('hex')}`
}
