import { promises as fs } from 'node:fs'

/** The last `lines` lines of a log, read from its end (a long-running server's log can be large). */
export async function logTail(file: string, lines: number): Promise<string> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'r')
  } catch {
    return ''
  }
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, 64 * 1024)
    const buffer = Buffer.alloc(length)
    await handle.read(buffer, 0, length, size - length)
    const text = buffer.toString('utf8').replace(/\n+$/, '')
    return text.split('\n').slice(-lines).join('\n')
  } finally {
    await handle.close()
  }
}
