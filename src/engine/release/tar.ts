// A release archive (tar.gz) extracted into an empty directory, every entry treated as hostile. The archive holds one
// folder (llama-<tag>/, with or without a leading './' entry): its content lands in the directory, and anything
// outside it fails. Names must be relative, without '..', each part a plain file name. Only directories, regular
// files and symbolic links are made; a link's target must be relative and without '..' (so that no chain of links
// can lead out), and must lead to a file of the archive; nothing is written through a link, and files are created
// exclusively, so that no entry replaces another. A hard link becomes a copy of a file extracted before it, and
// counts as many bytes as that file: a few bytes of headers must not unpack to gigabytes. Before anything is
// written, the size the gzip stream declares must fit in the free space.
import { constants, createReadStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { createGunzip } from 'node:zlib'
import { ensureFreeSpace, isLocalWriteFailure, localWriteError, writeFully } from '../../util/disk.js'
import { childPath, fileNameProblem } from '../../util/safe-path.js'

/** The archive is malformed or tries something no release archive needs. */
export class ArchiveError extends Error {
  override name = 'ArchiveError'
}

export interface ExtractedTree {
  /** The archive's folder, e.g. `llama-b7000`. */
  top: string
  /** Regular files, relative to the directory, '/'-separated. */
  files: string[]
  links: { path: string; target: string }[]
}

export interface ExtractLimits {
  entries: number
  bytes: number
}

/** llama.cpp's CPU archive unpacks to tens of MB, a CUDA one with its runtime to a few hundred MB. */
const LIMITS: ExtractLimits = { entries: 20_000, bytes: 4 * 2 ** 30 }
const BLOCK = 512

/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
  private chunks: Buffer[] = []
  private length = 0

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.length < n) {
      const next = await this.source.next()
      if (next.done) return
      this.chunks.push(next.value)
      this.length += next.value.length
    }
  }

  /** Exactly n bytes; undefined at the end of the stream; a partial block is a truncated archive. */
  async take(n: number): Promise<Buffer | undefined> {
    await this.fill(n)
    if (this.length === 0) return undefined
    if (this.length < n) throw new ArchiveError('the archive is truncated')
    const all = Buffer.concat(this.chunks)
    this.chunks = all.length > n ? [all.subarray(n)] : []
    this.length = all.length - n
    return all.subarray(0, n)
  }

  /** n bytes as they arrive, in pieces. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n
    while (left > 0) {
      if (this.length === 0) await this.fill(1)
      const first = this.chunks[0]
      if (!first) throw new ArchiveError('the archive is truncated')
      const piece = first.length <= left ? first : first.subarray(0, left)
      if (piece === first) this.chunks.shift()
      else this.chunks[0] = first.subarray(left)
      this.length -= piece.length
      left -= piece.length
      yield piece
    }
  }

  async skip(n: number): Promise<void> {
    for await (const piece of this.pieces(n)) void piece
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length)
  const end = field.indexOf(0)
  return field.subarray(0, end === -1 ? length : end).toString('utf8')
}

/** An octal number field, or GNU's base-256 form for large values. */
function number(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length)
  if ((field[0] as number) & 0x80) {
    let value = (field[0] as number) & 0x7f
    for (const byte of field.subarray(1)) value = value * 256 + byte
    return value
  }
  const digits = field.toString('latin1').replace(/[\0 ]+$/, '').trim()
  if (!/^[0-7]*$/.test(digits)) throw new ArchiveError(`a header has ${JSON.stringify(digits)} where a number belongs`)
  return digits ? parseInt(digits, 8) : 0
}

function checksumOk(block: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number)
  return number(block, 148, 8) === sum
}

/** pax extended header records: `<length> <key>=<value>\n`. */
export function paxRecords(data: Buffer): Record<string, string> {
  const records: Record<string, string> = {}
  let at = 0
  while (at < data.length) {
    const space = data.indexOf(0x20, at)
    const length = Number(data.subarray(at, space).toString('latin1'))
    if (space === -1 || !Number.isInteger(length) || length <= 0 || at + length > data.length) throw new ArchiveError('a pax header is malformed')
    const record = data.subarray(space + 1, at + length - 1).toString('utf8')
    const eq = record.indexOf('=')
    if (eq > 0) records[record.slice(0, eq)] = record.slice(eq + 1)
    at += length
  }
  return records
}

/** The parts of an entry's name: relative, no '..', each a plain name; '.' and empty parts dropped. */
export function nameParts(name: string): string[] {
  if (name.startsWith('/')) throw new ArchiveError(`entry ${JSON.stringify(name)} has an absolute path`)
  const parts = name.split('/').filter((p) => p !== '' && p !== '.')
  for (const part of parts) {
    if (part === '..') throw new ArchiveError(`entry ${JSON.stringify(name)} has a '..' in its path`)
    const problem = fileNameProblem(part)
    if (problem) throw new ArchiveError(`entry ${JSON.stringify(name.slice(0, 300))} has a part that cannot be a file name: ${problem}`)
  }
  return parts
}

type Kind = 'dir' | 'file' | 'link'

/**
 * What the gzip stream says it unpacks to: its trailer's ISIZE, the size modulo 2^32 (exact below 4 GiB). Only a
 * hint for the free-space check: a hostile archive may lie, and the limit is enforced on what is really written.
 */
async function gzipDeclaredSize(archive: string): Promise<number> {
  const handle = await fs.open(archive, 'r')
  try {
    const { size } = await handle.stat()
    if (size < 18) return 0
    const trailer = Buffer.alloc(4)
    await handle.read(trailer, 0, 4, size - 4)
    return trailer.readUInt32LE(0)
  } finally {
    await handle.close()
  }
}

export async function extractTarGz(archive: string, dest: string, limits: ExtractLimits = LIMITS): Promise<ExtractedTree> {
  await ensureFreeSpace(dest, Math.min(await gzipDeclaredSize(archive), limits.bytes), `extracting ${path.basename(archive)}`)
  const gunzip = createReadStream(archive).pipe(createGunzip())
  try {
    return await extract(new ByteReader(gunzip[Symbol.asyncIterator]()), dest, limits)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'Z_DATA_ERROR' || (error as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') {
      throw new ArchiveError(`it is not a valid gzip stream (${(error as Error).message})`)
    }
    throw error
  } finally {
    gunzip.destroy()
  }
}

async function extract(reader: ByteReader, dest: string, limits: ExtractLimits): Promise<ExtractedTree> {
  const kinds = new Map<string, Kind>()
  const targets = new Map<string, string>()
  /** Each regular file's size: a hard link to it is a copy of as many bytes. */
  const sizes = new Map<string, number>()
  const tree: ExtractedTree = { top: '', files: [], links: [] }
  let entries = 0
  let bytes = 0
  let pax: Record<string, string> = {}
  let longName: string | undefined
  let longLink: string | undefined

  const destOf = (rel: string) => rel.split('/').reduce((dir, part) => childPath(dir, part, 'An archive entry'), dest)
  const makeParents = async (rel: string) => {
    const parts = rel.split('/')
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/')
      const kind = kinds.get(prefix)
      if (kind === undefined) {
        await fs.mkdir(destOf(prefix), { mode: 0o755 })
        kinds.set(prefix, 'dir')
      } else if (kind !== 'dir') {
        throw new ArchiveError(`entry ${rel} would be written through ${prefix}, which is a ${kind === 'link' ? 'symbolic link' : 'file'}`)
      }
    }
  }
  /** The archive name as a path inside the folder; '' for the folder itself, undefined for a '.' entry. */
  const relative = (name: string, isDir: boolean): string | undefined => {
    const parts = nameParts(name)
    if (parts.length === 0) {
      if (!isDir) throw new ArchiveError(`entry ${JSON.stringify(name)} is not a directory`)
      return undefined
    }
    tree.top ||= parts[0] as string
    if (parts[0] !== tree.top || (parts.length === 1 && !isDir)) {
      throw new ArchiveError(`entry ${JSON.stringify(name)} lies outside the archive's one folder ${tree.top}/`)
    }
    return parts.slice(1).join('/')
  }
  const fresh = (rel: string) => {
    if (kinds.has(rel)) throw new ArchiveError(`entry ${tree.top}/${rel} appears twice`)
  }
  const count = (size: number) => {
    bytes += size
    if (bytes > limits.bytes) throw new ArchiveError(`it unpacks to more than ${limits.bytes} bytes`)
  }
  const written = async (file: string, write: () => Promise<unknown>) => {
    await write().catch(async (error: unknown) => {
      throw isLocalWriteFailure(error) ? await localWriteError(error, file, bytes) : error
    })
  }

  for (;;) {
    const header = await reader.take(BLOCK)
    if (!header || header.every((b) => b === 0)) break
    if (!checksumOk(header)) throw new ArchiveError('a header has a wrong checksum: not a tar archive, or a damaged one')
    if (++entries > limits.entries) throw new ArchiveError(`it has more than ${limits.entries} entries`)
    const type = String.fromCharCode(header[156] as number)
    const size = pax.size !== undefined ? Number(pax.size) : number(header, 124, 12)
    if (!Number.isSafeInteger(size) || size < 0) throw new ArchiveError('a header has an invalid size')
    const padded = Math.ceil(size / BLOCK) * BLOCK
    // Extended headers name (or size) the entry that follows.
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > 1 << 20) throw new ArchiveError('an extended header is larger than 1 MiB')
      const data = (await reader.take(padded)) ?? Buffer.alloc(0)
      if (type === 'x') pax = paxRecords(data.subarray(0, size))
      else if (type === 'L') longName = text(data, 0, size)
      else if (type === 'K') longLink = text(data, 0, size)
      continue
    }
    const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? text(header, 345, 155) : ''
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100))
    const linkName = pax.linkpath ?? longLink ?? text(header, 157, 100)
    const mode = number(header, 100, 8)
    pax = {}
    longName = longLink = undefined

    if (type === '5') {
      const rel = relative(name, true)
      if (rel) {
        const kind = kinds.get(rel)
        if (kind !== undefined && kind !== 'dir') throw new ArchiveError(`entry ${tree.top}/${rel} appears twice`)
        if (kind === undefined) {
          await makeParents(rel)
          await fs.mkdir(destOf(rel), { mode: 0o755 })
          kinds.set(rel, 'dir')
        }
      }
      await reader.skip(padded)
    } else if (type === '0' || type === '\0' || type === '7') {
      const rel = relative(name, false) as string
      fresh(rel)
      count(size)
      await makeParents(rel)
      // 'wx': never through an existing file or link; only the execute bits are taken from the archive.
      const handle = await fs.open(destOf(rel), 'wx', mode & 0o111 ? 0o755 : 0o644)
      try {
        let at = 0
        for await (const piece of reader.pieces(size)) {
          await written(destOf(rel), () => writeFully(handle, piece, at))
          at += piece.length
        }
      } finally {
        await handle.close()
      }
      await reader.skip(padded - size)
      kinds.set(rel, 'file')
      sizes.set(rel, size)
      tree.files.push(rel)
    } else if (type === '2') {
      const rel = relative(name, false) as string
      fresh(rel)
      if (!linkName || linkName.startsWith('/') || linkName.split('/').includes('..')) {
        throw new ArchiveError(`entry ${tree.top}/${rel} is a symbolic link to ${JSON.stringify(linkName)}: only links to a relative path without '..' are kept`)
      }
      nameParts(linkName)
      await makeParents(rel)
      await fs.symlink(linkName, destOf(rel))
      kinds.set(rel, 'link')
      targets.set(rel, linkName)
      tree.links.push({ path: rel, target: linkName })
      await reader.skip(padded)
    } else if (type === '1') {
      const rel = relative(name, false) as string
      fresh(rel)
      const source = relative(linkName, false) as string
      if (kinds.get(source) !== 'file') throw new ArchiveError(`entry ${tree.top}/${rel} is a hard link to ${JSON.stringify(linkName)}, which is not a file extracted before it`)
      const size = sizes.get(source) as number
      count(size)
      await makeParents(rel)
      await written(destOf(rel), () => fs.copyFile(destOf(source), destOf(rel), constants.COPYFILE_EXCL))
      kinds.set(rel, 'file')
      sizes.set(rel, size)
      tree.files.push(rel)
      await reader.skip(padded)
    } else {
      throw new ArchiveError(`entry ${JSON.stringify(name.slice(0, 300))} is of tar type '${type}' (a device, FIFO or sparse file), which a release archive has no use for`)
    }
  }
  if (!tree.top) throw new ArchiveError('it is empty')
  for (const link of tree.links) {
    if (resolve(link.path, kinds, targets) !== 'file') {
      throw new ArchiveError(`entry ${tree.top}/${link.path} is a symbolic link to ${JSON.stringify(link.target)}, which is not a file of the archive`)
    }
  }
  return tree
}

/** What a path inside the tree resolves to, following its links; undefined when it leads nowhere. */
function resolve(rel: string, kinds: Map<string, Kind>, targets: Map<string, string>, depth = 0): Kind | undefined {
  if (depth > 40) return undefined
  const parts = rel.split('/').filter((p) => p !== '' && p !== '.')
  let at = ''
  for (let i = 0; i < parts.length; i++) {
    const here = at ? `${at}/${parts[i]}` : (parts[i] as string)
    const kind = kinds.get(here)
    if (kind === undefined || (kind === 'file' && i < parts.length - 1)) return undefined
    if (kind === 'link') {
      // Targets have no '..' (checked): joined to the link's directory, they stay inside the tree.
      const target = path.posix.join(at || '.', targets.get(here) as string)
      return resolve([target, ...parts.slice(i + 1)].join('/'), kinds, targets, depth + 1)
    }
    at = here
  }
  return at ? kinds.get(at) : 'dir'
}
