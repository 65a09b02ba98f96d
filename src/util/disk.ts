import { promises as fs } from 'node:fs'
import { ModelError } from '../errors.js'
import { formatBytes } from '../model/progress.js'

/** Fails before a download when the filesystem of `dir` has no room for `bytes` (and a small margin). */
export async function ensureFreeSpace(dir: string, bytes: number, what: string): Promise<void> {
  const stats = await fs.statfs(dir)
  const free = stats.bavail * stats.bsize
  const needed = bytes + Math.max(64 * 2 ** 20, bytes * 0.01)
  if (free < needed) {
    throw new ModelError(
      `Not enough disk space for ${what}: it needs ${formatBytes(needed)} (${bytes} bytes and a margin) in ${dir}, which has ${formatBytes(free)} free`,
    )
  }
}
