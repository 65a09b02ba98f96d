// Reading a small file found in a cache (a catalog, a manifest, a lease) that anyone with access could have
// replaced: never through a link, never from a FIFO or a device (which would block or never end), never more than
// a bound. Undefined when it is not such a file.
import { constants, promises as fs } from 'node:fs'

/** JSON from outside, or undefined when it is not JSON: the caller's schema decides the rest. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export async function readSmallFile(file: string, maxBytes: number): Promise<string | undefined> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (error) {
    if (['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EISDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return undefined
    throw error
  }
  try {
    const stat = await handle.stat()
    if (!stat.isFile() || stat.size > maxBytes) return undefined
    const buffer = Buffer.alloc(stat.size)
    const { bytesRead } = await handle.read(buffer, 0, stat.size, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}
