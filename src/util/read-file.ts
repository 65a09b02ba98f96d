// Reading a small file found in a cache (a catalog, a manifest, a lease) that anyone with access could have
// replaced: never through a link, never from a FIFO or a device (which would block or never end), never more than
// a bound. Undefined when it is not such a file. The token file, which the runner's own environment names, may be
// reached through a link (followLinks); the rest holds for it too.
import { closeSync, constants, fstatSync, openSync, promises as fs, readSync, type Stats } from 'node:fs'

/** JSON from outside, or undefined when it is not JSON: the caller's schema decides the rest. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Open errors that mean "no such small file here" rather than a fault. */
const NOT_THERE = ['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EISDIR']

// O_NONBLOCK: opening a FIFO with no writer would wait for one; fstat then refuses it.
function openFlags(followLinks: boolean): number {
  return constants.O_RDONLY | constants.O_NONBLOCK | (followLinks ? 0 : constants.O_NOFOLLOW)
}

/** Why an opened file is not a small regular file, or undefined. */
function problemWith(stat: Stats, maxBytes: number): string | undefined {
  if (!stat.isFile()) return `it is not a regular file (${stat.isFIFO() ? 'a FIFO' : stat.isDirectory() ? 'a directory' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'a socket or other special file'})`
  if (stat.size > maxBytes) return `it is ${stat.size} bytes, more than the ${maxBytes} such a file can be`
  return undefined
}

export async function readSmallFile(file: string, maxBytes: number): Promise<string | undefined> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, openFlags(false))
  } catch (error) {
    if (NOT_THERE.includes((error as NodeJS.ErrnoException).code ?? '')) return undefined
    throw error
  }
  try {
    const stat = await handle.stat()
    if (problemWith(stat, maxBytes)) return undefined
    const buffer = Buffer.alloc(stat.size)
    const { bytesRead } = await handle.read(buffer, 0, stat.size, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/** What reading a small file gave: its text, nothing there (`missing`), or why it was not read. */
export type SmallFileRead = { kind: 'text'; text: string } | { kind: 'missing' } | { kind: 'refused'; why: string }

/** `readSmallFile`, synchronously, saying why a file that is there was not read. */
export function readSmallFileSync(file: string, maxBytes: number, options: { followLinks?: boolean } = {}): SmallFileRead {
  let fd: number
  try {
    fd = openSync(file, openFlags(options.followLinks ?? false))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' }
    return { kind: 'refused', why: code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be opened (${code})` }
  }
  try {
    const stat = fstatSync(fd)
    const problem = problemWith(stat, maxBytes)
    if (problem) return { kind: 'refused', why: problem }
    const buffer = Buffer.alloc(stat.size)
    const bytesRead = readSync(fd, buffer, 0, stat.size, 0)
    return { kind: 'text', text: buffer.subarray(0, bytesRead).toString('utf8') }
  } catch (error) {
    return { kind: 'refused', why: `it cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` }
  } finally {
    closeSync(fd)
  }
}
