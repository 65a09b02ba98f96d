// Release archives extracted on the real filesystem: those GNU tar makes as llama.cpp's workflow makes them (both
// of its --transform spellings, long names, pax headers), and hostile ones written entry by entry. A refused archive
// leaves nothing outside the directory it was extracted into.
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { ArchiveError, extractTarGz, nameParts, paxRecords } from '../../src/engine/release/tar.js'
import { paxEntry, tarBytes, tarGz, type TarEntry } from '../support/tar-writer.js'

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'sls-tar-'))
}

/** A build/bin as llama.cpp's release has it: the server, versioned libraries and their links. */
function buildBin(root: string): string {
  const bin = path.join(root, 'build', 'bin')
  mkdirSync(bin, { recursive: true })
  writeFileSync(path.join(bin, 'llama-server'), '#!/bin/sh\n')
  chmodSync(path.join(bin, 'llama-server'), 0o755)
  writeFileSync(path.join(bin, 'libllama.so.0.0.7000'), 'library')
  symlinkSync('libllama.so.0.0.7000', path.join(bin, 'libllama.so.0'))
  symlinkSync('libllama.so.0', path.join(bin, 'libllama.so'))
  writeFileSync(path.join(bin, 'libggml-cpu-haswell.so'), 'backend')
  writeFileSync(path.join(bin, 'LICENSE'), 'MIT')
  return bin
}

/** Extracts `archive` (bytes) into a fresh directory inside a fresh root; returns both. */
async function extract(archive: Buffer): Promise<{ root: string; dest: string; result: Awaited<ReturnType<typeof extractTarGz>> | ArchiveError }> {
  const root = tmp()
  const file = path.join(root, 'archive.tar.gz')
  writeFileSync(file, archive)
  const dest = path.join(root, 'dest')
  mkdirSync(dest)
  const result = await extractTarGz(file, dest).catch((error: unknown) => {
    if (error instanceof ArchiveError) return error
    throw error
  })
  return { root, dest, result }
}

describe('archives packed as llama.cpp packs them', () => {
  it.each([
    ['the current workflow', ['--transform', 's,^\\.,llama-b7000,']],
    ['the older workflow (a ./ entry)', ['--transform', 's,./,llama-b7000/,']],
    ['pax format', ['--format=posix', '--transform', 's,^\\.,llama-b7000,']],
  ])('%s: the folder content, links kept, execute bits kept', async (_what, flags) => {
    const root = tmp()
    const bin = buildBin(root)
    const file = path.join(root, 'a.tar.gz')
    execFileSync('tar', ['-czf', file, ...flags, '-C', bin, '.'])
    const dest = path.join(root, 'dest')
    mkdirSync(dest)
    const tree = await extractTarGz(file, dest)
    expect(tree.top).toBe('llama-b7000')
    expect(tree.files.sort()).toEqual(['LICENSE', 'libggml-cpu-haswell.so', 'libllama.so.0.0.7000', 'llama-server'])
    expect(tree.links.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: 'libllama.so', target: 'libllama.so.0' },
      { path: 'libllama.so.0', target: 'libllama.so.0.0.7000' },
    ])
    expect(readlinkSync(path.join(dest, 'libllama.so'))).toBe('libllama.so.0')
    expect(readFileSync(path.join(dest, 'libllama.so'), 'utf8')).toBe('library')
    expect(statSync(path.join(dest, 'llama-server')).mode & 0o777).toBe(0o755)
    expect(statSync(path.join(dest, 'LICENSE')).mode & 0o777).toBe(0o644)
  })

  it('long names (GNU headers), nested folders and hard links', async () => {
    const root = tmp()
    const bin = buildBin(root)
    const long = 'a'.repeat(120)
    mkdirSync(path.join(bin, 'sub', long), { recursive: true })
    writeFileSync(path.join(bin, 'sub', long, 'data.bin'), 'deep')
    execFileSync('ln', [path.join(bin, 'LICENSE'), path.join(bin, 'COPYING')])
    const file = path.join(root, 'a.tar.gz')
    execFileSync('tar', ['-czf', file, '--transform', 's,^\\.,llama-b1,', '-C', bin, '.'])
    const dest = path.join(root, 'dest')
    mkdirSync(dest)
    const tree = await extractTarGz(file, dest)
    expect(tree.files).toContain(`sub/${long}/data.bin`)
    expect(readFileSync(path.join(dest, 'sub', long, 'data.bin'), 'utf8')).toBe('deep')
    expect(readFileSync(path.join(dest, 'COPYING'), 'utf8')).toBe('MIT')
    // A copy, not a second name of the same inode.
    expect(statSync(path.join(dest, 'COPYING')).ino).not.toBe(statSync(path.join(dest, 'LICENSE')).ino)
  })

  it('a pax path longer than a header holds', async () => {
    const name = `llama-b1/${'x'.repeat(200)}`
    const { result, dest } = await extract(tarGz([{ name: 'llama-b1/', type: '5' }, paxEntry({ path: name }), { name: 'ignored', body: Buffer.from('hi') }]))
    expect(result).not.toBeInstanceOf(ArchiveError)
    expect(readFileSync(path.join(dest, 'x'.repeat(200)), 'utf8')).toBe('hi')
  })
})

const server: TarEntry = { name: 'llama-b1/llama-server', body: Buffer.from('bin'), mode: 0o755 }

describe('hostile archives are refused, and nothing lands outside', () => {
  it.each<[string, TarEntry[], RegExp]>([
    ['an absolute path', [server, { name: '/tmp/sls-evil', body: Buffer.from('x') }], /has an absolute path/],
    ['a .. in a path', [server, { name: 'llama-b1/../../evil', body: Buffer.from('x') }], /has a '\.\.' in its path/],
    ['a link to an absolute path', [server, { name: 'llama-b1/libllama.so', type: '2', link: '/etc/passwd' }], /only links to a relative path without '\.\.' are kept/],
    ['a link up and out', [server, { name: 'llama-b1/libllama.so', type: '2', link: '../../etc/passwd' }], /only links to a relative path without '\.\.' are kept/],
    ['a link to nothing', [server, { name: 'llama-b1/libllama.so', type: '2', link: 'libllama.so.0' }], /which is not a file of the archive/],
    ['a link to a folder', [server, { name: 'llama-b1/d/', type: '5' }, { name: 'llama-b1/l', type: '2', link: 'd' }], /which is not a file of the archive/],
    ['a link loop', [server, { name: 'llama-b1/a', type: '2', link: 'b' }, { name: 'llama-b1/b', type: '2', link: 'a' }], /which is not a file of the archive/],
    [
      'a file written through a link',
      [server, { name: 'llama-b1/d/', type: '5' }, { name: 'llama-b1/l', type: '2', link: 'd' }, { name: 'llama-b1/l/f', body: Buffer.from('x') }],
      /would be written through l, which is a symbolic link/,
    ],
    ['a name twice', [server, { name: 'llama-b1/llama-server', type: '2', link: 'x' }], /appears twice/],
    ['a hard link to something not extracted', [server, { name: 'llama-b1/h', type: '1', link: 'llama-b1/missing' }], /is a hard link to "llama-b1\/missing", which is not a file extracted before it/],
    ['a device', [server, { name: 'llama-b1/dev', type: '3' }], /is of tar type '3'/],
    ['a second folder', [server, { name: 'other/llama-server', body: Buffer.from('x') }], /lies outside the archive's one folder llama-b1\//],
    ['a file beside the folder', [{ name: 'llama-b1/', type: '5' }, { name: 'README', body: Buffer.from('x') }], /lies outside the archive's one folder/],
    ['a control character', [server, { name: 'llama-b1/a\u0007b', body: Buffer.from('x') }], /cannot be a file name: it has a NUL or control character/],
  ])('%s', async (_what, entries, message) => {
    const { root, result } = await extract(tarGz(entries))
    expect(result).toBeInstanceOf(ArchiveError)
    expect((result as Error).message).toMatch(message)
    expect(readdirSync(root).sort()).toEqual(['archive.tar.gz', 'dest'])
    expect(existsSync('/tmp/sls-evil')).toBe(false)
  })

  it('a wrong checksum, a truncated archive, and bytes that are not gzip', async () => {
    const good = tarBytes([server])
    const bad = Buffer.from(good)
    bad[0] = 0x4d
    expect((await extract(gzipSync(bad))).result).toMatchObject({ message: expect.stringMatching(/wrong checksum/) })
    expect((await extract(gzipSync(good.subarray(0, 700)))).result).toMatchObject({ message: 'the archive is truncated' })
    expect((await extract(Buffer.from('PK\u0003\u0004 a zip file'))).result).toMatchObject({ message: expect.stringMatching(/not a valid gzip stream/) })
  })

  it('limits: entries and unpacked bytes', async () => {
    const root = tmp()
    const file = path.join(root, 'a.tar.gz')
    writeFileSync(file, tarGz([server, { name: 'llama-b1/big', body: Buffer.alloc(4096) }]))
    mkdirSync(path.join(root, 'one'))
    await expect(extractTarGz(file, path.join(root, 'one'), { entries: 1, bytes: 1 << 20 })).rejects.toThrow('it has more than 1 entries')
    mkdirSync(path.join(root, 'two'))
    await expect(extractTarGz(file, path.join(root, 'two'), { entries: 10, bytes: 1000 })).rejects.toThrow('it unpacks to more than 1000 bytes')
  })

  it('hard links count the bytes of the file they copy: a few headers do not unpack to gigabytes', async () => {
    // The reviewer's bomb: one 4 MiB file and 50 hard links to it, 4.6 KB gzipped, 204 MiB once copied.
    const entries: TarEntry[] = [{ name: 'llama-b1/', type: '5' }, { name: 'llama-b1/llama-server', body: Buffer.alloc(4 * 2 ** 20), mode: 0o755 }]
    for (let i = 0; i < 50; i++) entries.push({ name: `llama-b1/copy${i}`, type: '1', link: 'llama-b1/llama-server' })
    const root = tmp()
    const file = path.join(root, 'a.tar.gz')
    writeFileSync(file, tarGz(entries))
    const dest = path.join(root, 'dest')
    mkdirSync(dest)
    await expect(extractTarGz(file, dest, { entries: 20_000, bytes: 8 * 2 ** 20 })).rejects.toThrow(`it unpacks to more than ${8 * 2 ** 20} bytes`)
    // The server and one copy fit in 8 MiB; the next copy is refused before it is made.
    const onDisk = readdirSync(dest).reduce((sum, f) => sum + statSync(path.join(dest, f)).size, 0)
    expect(onDisk).toBeLessThanOrEqual(8 * 2 ** 20)
    expect(readdirSync(dest).sort()).toEqual(['copy0', 'llama-server'])
  })

  it('an archive that declares more than the free space is refused before anything is written (a real 8 MiB tmpfs)', async (ctx) => {
    const root = tmp()
    const dest = path.join(root, 'dest')
    mkdirSync(dest)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dest], { stdio: 'pipe' })
    } catch (error) {
      const why = `SKIPPED: cannot mount an 8 MiB tmpfs here (${(error as Error).message.split('\n')[0]}); the test needs root and mount(8)`
      console.log(why)
      return ctx.skip(why)
    }
    try {
      const file = path.join(root, 'a.tar.gz')
      // 32 MiB of zeros: 32 KB gzipped, and the gzip trailer says 32 MiB and a few blocks.
      writeFileSync(file, tarGz([server, { name: 'llama-b1/libggml-cuda.so', body: Buffer.alloc(32 * 2 ** 20) }]))
      await expect(extractTarGz(file, dest)).rejects.toThrow(/^Not enough disk space for extracting a\.tar\.gz: it needs [\d.]+ MiB \(\d+ bytes and a margin\) in .*dest, which has [\d.]+ (KiB|MiB) free$/)
      expect(readdirSync(dest)).toEqual([])
    } finally {
      execFileSync('umount', [dest])
    }
  })

  it('the destination is not followed through a link planted before', async () => {
    const root = tmp()
    const outside = path.join(root, 'outside')
    mkdirSync(outside)
    const dest = path.join(root, 'dest')
    mkdirSync(dest)
    symlinkSync(outside, path.join(dest, 'd'))
    const file = path.join(root, 'a.tar.gz')
    writeFileSync(file, tarGz([server, { name: 'llama-b1/d/f', body: Buffer.from('x') }]))
    await expect(extractTarGz(file, dest)).rejects.toThrow(/EEXIST/)
    expect(readdirSync(outside)).toEqual([])
    expect(lstatSync(path.join(dest, 'd')).isSymbolicLink()).toBe(true)
  })
})

describe('names and pax records', () => {
  it('nameParts drops . and empty parts and refuses the rest', () => {
    expect(nameParts('./llama-b1//bin/./x')).toEqual(['llama-b1', 'bin', 'x'])
    expect(nameParts('.')).toEqual([])
    expect(() => nameParts('a\\b')).toThrow("it has '/' or '\\'")
  })

  it('paxRecords reads length-prefixed records, UTF-8 included', () => {
    const entry = paxEntry({ path: 'llama-b1/é', linkpath: 'x' })
    expect(paxRecords(entry.body as Buffer)).toEqual({ path: 'llama-b1/é', linkpath: 'x' })
    expect(() => paxRecords(Buffer.from('99 path=x\n'))).toThrow('a pax header is malformed')
  })
})
