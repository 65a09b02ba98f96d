import { execFile } from 'node:child_process'
import { promises as fs, writeSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { formatBytes } from './format.js'

const execFileAsync = promisify(execFile)

/** Free bytes for an unprivileged writer on the filesystem of `dir`, or undefined when it cannot be read. */
export async function freeBytes(dir: string): Promise<number | undefined> {
  try {
    const stats = await fs.statfs(dir)
    return stats.bavail * stats.bsize
  } catch {
    return undefined
  }
}

/** Fails before a download when the filesystem of `dir` has no room for `bytes` (and a small margin). */
export async function ensureFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const free = await freeBytes(dir)
  const needed = bytes + Math.max(64 * 2 ** 20, bytes * 0.01)
  if (free !== undefined && free < needed) {
    throw new LocalWriteError(
      `Not enough disk space for ${what}: it needs ${formatBytes(needed)} (${bytes} bytes and a margin) in ${dir}, which has ${formatBytes(free)} free`,
    )
  }
}

/** A write on this machine failed (full disk, quota, I/O error, read-only): fatal, never retried. */
export class LocalWriteError extends Error {
  override name = 'LocalWriteError'
}

const LOCAL_WRITE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG', 'EACCES', 'EPERM'])

export function isLocalWriteFailure(error: unknown): boolean {
  return LOCAL_WRITE_CODES.has((error as NodeJS.ErrnoException).code ?? '')
}

/** The LocalWriteError for a failed write to `file`: the path, what the OS said, free space and what was needed. */
export async function localWriteError(error: unknown, file: string, neededBytes: number | undefined): Promise<LocalWriteError> {
  const code = (error as NodeJS.ErrnoException).code ?? 'error'
  const free = await freeBytes(path.dirname(file))
  const room = free === undefined ? '' : `; ${formatBytes(free)} free there`
  const need = neededBytes === undefined ? '' : `, ${formatBytes(neededBytes)} needed in all`
  return new LocalWriteError(`Could not write ${file} (${code}${room}${need}): free space on that filesystem or choose another cache-dir`)
}

/** Writes all of `data` at `position`, or throws: a short write is never taken for a whole one. */
export async function writeFully(handle: fs.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    if (bytesWritten <= 0) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' })
    done += bytesWritten
  }
}

/**
 * Reserves `size` bytes for `file` (open, empty): fallocate(1) allocates the blocks, so that a full disk fails here
 * rather than halfway through a download, and ranges written out of order do not fragment the file. Where that
 * cannot be done (no fallocate(1), a filesystem without it) the file is only extended, sparse. Node has no
 * posix_fallocate of its own.
 */
export async function preallocate(handle: fs.FileHandle, file: string, size: number): Promise<void> {
  try {
    await execFileAsync('fallocate', ['--length', String(size), '--', file], { timeout: 60_000 })
    return
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '')
    if (/No space left|Disk quota exceeded/i.test(stderr)) {
      throw await localWriteError(Object.assign(new Error(stderr.trim()), { code: /quota/i.test(stderr) ? 'EDQUOT' : 'ENOSPC' }), file, size)
    }
  }
  try {
    await handle.truncate(size)
  } catch (error) {
    if (isLocalWriteFailure(error)) throw await localWriteError(error, file, size)
    throw error
  }
}

/** Writes all of `data` at `position` before it returns, or throws: a short write is never taken for a whole one. */
export function writeFullySync(fd: number, data: Uint8Array, position: number): void {
  let done = 0
  while (done < data.length) {
    const written = writeSync(fd, data, done, data.length - done, position + done)
    if (written <= 0) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' })
    done += written
  }
}

/**
 * Writes a growing file back to disk as it grows (fdatasync in the thread pool after every `every` bytes, one at a
 * time), so that the fsync before the file is kept finds little left to write. Without it the kernel starts writing
 * only once a tenth of memory is dirty, and a model of a few GiB waits for its final fsync at the end.
 */
export class WriteBehind {
  private pending = 0
  private flushing: Promise<void> | undefined
  private failure: unknown

  constructor(
    private readonly handle: fs.FileHandle,
    /** The file's path, for the message of a write that failed. */
    private readonly file: string,
    private readonly every = 64 * 2 ** 20,
  ) {}

  wrote(bytes: number): void {
    this.pending += bytes
    if (this.pending < this.every || this.flushing) return
    this.pending = 0
    this.flushing = this.handle
      .datasync()
      .catch((error: unknown) => void (this.failure ??= error))
      .finally(() => (this.flushing = undefined))
  }

  /** The file on disk: the flush under way, then an fsync; what a flush met is thrown here, as a write's failure is. */
  async sync(): Promise<void> {
    try {
      await this.flushing
      if (this.failure !== undefined) throw this.failure
      await this.handle.sync()
    } catch (error) {
      throw isLocalWriteFailure(error) ? await localWriteError(error, this.file, undefined) : error
    }
  }
}
