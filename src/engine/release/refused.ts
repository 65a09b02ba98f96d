// Release engines that did not run on this host (--version failed, or --list-devices named no device of their
// backend), remembered in the engine store (engines/refused-releases.json) by their store key, which is the
// archive's digest (with a CUDA runtime's): a later run on this host builds at once instead of downloading the same
// archive again. What made it fail may be fixed by a driver or a system library: a record holds only while the host
// has not rebooted and /etc/ld.so.cache (rewritten whenever a system library is installed) is the same. A file that
// does not have this shape is dropped; two jobs writing at once lose one record, which costs one download.
import os from 'node:os'
import { z } from 'zod'
import { writeFileAtomic } from '../../util/atomic-write.js'
import { parseJson, readSmallFile } from '../../util/read-file.js'
import { bootId, identity } from '../remembered-output.js'

const RefusalSchema = z.object({ host: z.string(), boot: z.string(), ldCache: z.string(), reason: z.string(), at: z.string() })
const FileSchema = z.object({ version: z.literal(1), refused: z.record(z.string(), z.unknown()) })
type Refusal = z.infer<typeof RefusalSchema>

/** The most records kept: the oldest go first. */
const MAX_RECORDS = 100

export class RefusedReleases {
  constructor(private readonly file: string) {}

  /** Why the engine of `key` did not run on this host, when that still holds. */
  async why(key: string): Promise<string | undefined> {
    const record = (await this.read())[`${os.hostname()} ${key}`]
    if (!record) return undefined
    const [boot, ldCache] = await Promise.all([bootId(), identity('/etc/ld.so.cache')])
    return record.boot === boot && record.ldCache === ldCache ? record.reason : undefined
  }

  async remember(key: string, reason: string): Promise<void> {
    const records = await this.read()
    const [boot, ldCache] = await Promise.all([bootId(), identity('/etc/ld.so.cache')])
    records[`${os.hostname()} ${key}`] = { host: os.hostname(), boot, ldCache, reason: reason.slice(0, 2000), at: new Date().toISOString() }
    const kept = Object.entries(records).sort(([, a], [, b]) => b.at.localeCompare(a.at)).slice(0, MAX_RECORDS)
    // Only a saving: a full disk or a read-only cache-dir must not turn "build instead" into a failed step.
    await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, refused: Object.fromEntries(kept) }, null, 1)}\n`).catch(() => undefined)
  }

  private async read(): Promise<Record<string, Refusal>> {
    const file = FileSchema.safeParse(parseJson((await readSmallFile(this.file, 2 ** 20).catch(() => undefined)) ?? ''))
    const records: Record<string, Refusal> = {}
    for (const [key, value] of Object.entries(file.success ? file.data.refused : {})) {
      const record = RefusalSchema.safeParse(value)
      if (record.success) records[key] = record.data
    }
    return records
  }
}
