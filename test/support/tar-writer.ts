// Writes tar archives entry by entry, including ones no honest tool makes (absolute names, '..', links out of the
// folder, devices, duplicates), to test that extraction refuses them. Honest archives in the tests come from GNU tar
// itself (release-archive.ts).
import { gzipSync } from 'node:zlib'

export interface TarEntry {
  name: string
  /** '0' file (default), '1' hard link, '2' symbolic link, '3' character device, '5' directory, 'x' pax header. */
  type?: '0' | '1' | '2' | '3' | '5' | 'x'
  body?: Buffer
  link?: string
  mode?: number
}

function header(entry: TarEntry, size: number): Buffer {
  const block = Buffer.alloc(512)
  const put = (text: string, at: number, length: number) => block.write(text, at, length, 'utf8')
  const octal = (value: number, at: number, length: number) => put(`${value.toString(8).padStart(length - 1, '0')}\0`, at, length)
  put(entry.name, 0, 100)
  octal(entry.mode ?? (entry.type === '5' ? 0o755 : 0o644), 100, 8)
  octal(0, 108, 8)
  octal(0, 116, 8)
  octal(size, 124, 12)
  octal(0, 136, 12)
  block.fill(0x20, 148, 156)
  put(entry.type ?? '0', 156, 1)
  put(entry.link ?? '', 157, 100)
  put('ustar\u000000', 257, 8)
  let sum = 0
  for (const byte of block) sum += byte
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  return block
}

export function tarBytes(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const body = entry.body ?? Buffer.alloc(0)
    parts.push(header(entry, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

export function tarGz(entries: TarEntry[]): Buffer {
  return gzipSync(tarBytes(entries))
}

/** A pax extended header entry that gives the next entry `records` (path, linkpath, size). */
export function paxEntry(records: Record<string, string>): TarEntry {
  const lines = Object.entries(records).map(([key, value]) => {
    const rest = ` ${key}=${value}\n`
    let length = Buffer.byteLength(rest) + 1
    while (Buffer.byteLength(`${length}${rest}`) !== length) length = Buffer.byteLength(`${length}${rest}`)
    return `${length}${rest}`
  })
  return { name: 'PaxHeader', type: 'x', body: Buffer.from(lines.join('')) }
}
