// The catalog of a store: one JSON file, replaced atomically (a crash mid-write leaves the old one), changed only
// under its lock (read, change, write). It is input, not truth: it is parsed with a schema, an entry that fails is
// dropped with a warning, and a file of the wrong shape or not JSON at all is rebuilt from the entries on disk
// (each verified), so that a damaged catalog costs a re-hash, never a download.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../util/atomic-write.js'
import { fileNameProblem } from '../util/safe-path.js'
import { readSmallFile } from '../util/read-file.js'
import { isStaleTemp } from './lease.js'
import { withLock } from './lock.js'

const MAX_CATALOG_BYTES = 256 * 2 ** 20

export interface CatalogSpec<T> {
  file: string
  empty: () => T
  /** The whole file's shape, with `entries` as any record: entries are checked one by one with `entry`. */
  shape: z.ZodType<T>
  entry: z.ZodType<unknown>
  /** Rebuilds the catalog from what is on disk, when the file cannot be used. */
  rebuild: () => Promise<T>
  /** Checks (or makes) the directory the file lives in before it is read or written. */
  prepare: () => Promise<unknown>
}

const warned = new Set<string>()
function warnOnce(message: string): void {
  if (warned.has(message)) return
  warned.add(message)
  core.warning(message)
}

type WithEntries = { entries: Record<string, unknown> }

export class Catalog<T extends WithEntries> {
  constructor(private readonly spec: CatalogSpec<T>) {}

  get file(): string {
    return this.spec.file
  }

  async read(): Promise<T> {
    await this.spec.prepare()
    const parsed = await this.parse()
    if (parsed !== 'damaged') return parsed
    // Rebuilt under the lock, once: the next reader finds the repaired file.
    return await withLock(this.spec.file, `the catalog ${this.spec.file}`, async () => {
      const again = await this.parse()
      if (again !== 'damaged') return again
      warnOnce(`${this.spec.file} is damaged (not JSON, or not a catalog); rebuilding it from the entries on disk`)
      const rebuilt = await this.spec.rebuild()
      await this.write(rebuilt)
      return rebuilt
    })
  }

  async update<R>(change: (data: T) => R): Promise<R> {
    await this.spec.prepare()
    return await withLock(this.spec.file, `the catalog ${this.spec.file}`, async () => {
      let data = await this.parse()
      if (data === 'damaged') {
        warnOnce(`${this.spec.file} is damaged (not JSON, or not a catalog); rebuilding it from the entries on disk`)
        data = await this.spec.rebuild()
      }
      const result = change(data)
      await this.write(data)
      return result
    })
  }

  private async write(data: T): Promise<void> {
    await writeFileAtomic(this.spec.file, `${JSON.stringify(data, null, 1)}\n`)
    // A writer killed between its temporary file and the rename left one behind: it goes after a minute.
    const dir = path.dirname(this.spec.file)
    for (const name of await fs.readdir(dir)) {
      if (!name.startsWith(`.${path.basename(this.spec.file)}.`)) continue
      const stat = await fs.lstat(path.join(dir, name)).catch(() => undefined)
      if (stat?.isFile() && isStaleTemp(name, stat.mtimeMs)) await fs.rm(path.join(dir, name), { force: true })
    }
  }

  private async parse(): Promise<T | 'damaged'> {
    const exists = await fs.lstat(this.spec.file).then(() => true, () => false)
    if (!exists) return this.spec.empty()
    // Not a regular file (a link, a FIFO), or absurdly large: damaged, rebuilt; never followed or waited on.
    const text = await readSmallFile(this.spec.file, MAX_CATALOG_BYTES)
    if (text === undefined) return 'damaged'
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch {
      return 'damaged'
    }
    const whole = this.spec.shape.safeParse(raw)
    if (!whole.success) return 'damaged'
    const data = whole.data
    for (const [name, entry] of Object.entries(data.entries)) {
      const problem = fileNameProblem(name) ?? (this.spec.entry.safeParse(entry).success ? undefined : 'its record has the wrong shape')
      if (problem) {
        warnOnce(`${this.spec.file}: the entry ${JSON.stringify(name.slice(0, 200))} is dropped (${problem})`)
        delete data.entries[name]
      }
    }
    return data
  }
}
