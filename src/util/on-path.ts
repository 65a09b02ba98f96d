// Looking a program up on PATH without starting it.
import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'

/**
 * The first executable file named `name` in the directories of `searchPath`, as a shell finds it. Synchronous
 * stat calls, stopping at the first hit: cheaper than a promise per directory (@actions/io's which), and than
 * starting a program that is not there (a failed spawn still forks this process).
 */
export function onPath(name: string, searchPath: string): string | undefined {
  if (name.includes(path.sep)) return undefined
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue
    const file = path.join(dir, name)
    try {
      // Most directories lack most tools: no exception is made for each of them.
      if (!statSync(file, { throwIfNoEntry: false })?.isFile()) continue
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not executable here, or a PATH entry that is not a directory
    }
  }
  return undefined
}
