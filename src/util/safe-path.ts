// A name becomes a path only here: checked to be one plain file name, joined, and checked to stay inside its root.
// Directories inside a cache are created one level at a time and must be real directories, never symbolic links,
// so that nothing planted in a cache (a link in leases/, locks/, tmp/, entries/) can make the action write or
// delete elsewhere. The cache's root itself may be a link: that is the user's choice.
import { promises as fs } from 'node:fs'
import path from 'node:path'

/** A name from outside (a server, a catalog, a URL) that cannot be used as a path. */
export class UnsafeNameError extends Error {
  override name = 'UnsafeNameError'
}

export const MAX_NAME_BYTES = 255

/** Why `name` is not one plain file name, or undefined. */
export function fileNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty'
  if (name === '.' || name === '..') return `it is '${name}'`
  if (/[/\\]/.test(name)) return "it has '/' or '\\'"
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'it has a NUL or control character'
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `it is longer than ${MAX_NAME_BYTES} bytes`
  return undefined
}

/** `name` when it is one plain file name; else UnsafeNameError naming `what` it is. */
export function plainFileName(name: string, what: string): string {
  const problem = fileNameProblem(name)
  if (problem) throw new UnsafeNameError(`${what} ${JSON.stringify(name.slice(0, 300))} cannot be a file name: ${problem}`)
  return name
}

/** `root/name` for a plain file name, checked to lie directly inside `root`. */
export function childPath(root: string, name: string, what: string): string {
  const file = path.join(root, plainFileName(name, what))
  const rel = path.relative(root, file)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep)) {
    throw new UnsafeNameError(`${what} ${JSON.stringify(name)} would leave ${root}`)
  }
  return file
}

/** A directory inside a cache that is a link or not a directory. */
export class CacheLayoutError extends Error {
  override name = 'CacheLayoutError'
}

/**
 * `root/a/b…` as a real directory: each level below `root` is created when missing and must not be a symbolic
 * link or anything but a directory. Returns the path.
 */
export async function realDirIn(root: string, ...names: string[]): Promise<string> {
  let dir = root
  await fs.mkdir(root, { recursive: true })
  for (const name of names) {
    dir = childPath(dir, name, 'A cache directory')
    const stat = await fs.lstat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined
      throw error
    })
    if (!stat) {
      await fs.mkdir(dir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
      })
      const made = await fs.lstat(dir)
      if (made.isDirectory() && !made.isSymbolicLink()) continue
    } else if (stat.isDirectory() && !stat.isSymbolicLink()) continue
    throw new CacheLayoutError(`${dir} is ${stat?.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; the action writes only into real directories inside its cache. Remove it (the action recreates it) or choose another cache-dir`)
  }
  return dir
}

/** True when `p` exists and is a real directory (not a link). */
export async function isRealDir(p: string): Promise<boolean> {
  const stat = await fs.lstat(p).catch(() => undefined)
  return !!stat && stat.isDirectory() && !stat.isSymbolicLink()
}
