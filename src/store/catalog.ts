// The catalog of a store: one JSON file, replaced atomically (a crash mid-write leaves the old one), changed only
// under its lock (read, change, write). It records; the files themselves are verified before use.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import { writeFileAtomic } from '../util/atomic-write.js'
import { withLock } from './lock.js'

export class Catalog<T extends object> {
  constructor(
    private readonly file: string,
    private readonly empty: () => T,
  ) {}

  async read(): Promise<T> {
    let text: string
    try {
      text = await fs.readFile(this.file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.empty()
      throw error
    }
    try {
      return { ...this.empty(), ...(JSON.parse(text) as T) }
    } catch {
      // Not one of our writes (they are atomic): someone edited it. The entries are re-verified from disk.
      core.warning(`${this.file} is not valid JSON; starting a new catalog`)
      return this.empty()
    }
  }

  async update<R>(change: (data: T) => R): Promise<R> {
    return await withLock(this.file, `the catalog ${this.file}`, async () => {
      const data = await this.read()
      const result = change(data)
      await writeFileAtomic(this.file, `${JSON.stringify(data, null, 1)}\n`)
      return result
    })
  }
}
