import { promises as fs } from 'node:fs'

/**
 * At --log-verbosity 4 (which the GPU placement asks for) llama-server logs `api_keys: ****` and the key's last
 * characters, which the runner's mask of the whole key does not cover. Pure.
 */
export function redactKeyTail(text: string): string {
  // To the end of the line: the key may hold spaces.
  return text.replace(/(api_keys: \*{4})[^\n]*/g, '$1(redacted)')
}

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
    return redactKeyTail(text.split('\n').slice(-lines).join('\n'))
  } finally {
    await handle.close()
  }
}
