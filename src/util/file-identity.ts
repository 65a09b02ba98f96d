// What tells one version of a file from another without reading it: device, inode, size, mtime and ctime in ns.
// A rewrite changes mtime and ctime, a replacement the inode; mtime can be set back (utimes), ctime cannot.
import { promises as fs } from 'node:fs'

export interface FileIdentity {
  /** `dev:ino:size:mtimeNs:ctimeNs` */
  key: string
  ctimeNs: bigint
}

/** The identity of `file` (links followed), or undefined when it cannot be stat'ed. */
export async function fileIdentity(file: string): Promise<FileIdentity | undefined> {
  const s = await fs.stat(file, { bigint: true }).catch(() => undefined)
  return s ? { key: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, ctimeNs: s.ctimeNs } : undefined
}
