// What a model's GGUF header says is remembered in the model store (models/gguf-info.json) under the file's path
// and identity (device, inode, size, mtime and ctime in ns): a warm run answers from there instead of parsing the
// header again (the tokenizer alone is 32,000 to 150,000 and more strings). Any change to the file shows in its
// identity and it is parsed again; `verify: full` always parses. Only a header that parsed and passed every check
// is remembered, and only for a file that did not change while it was read and has not changed for a while: a
// filesystem's coarse clock may give a write that follows within the same tick the same timestamps.
import { z } from 'zod'
import { writeFileAtomic } from '../util/atomic-write.js'
import { fileIdentity } from '../util/file-identity.js'
import { parseJson, readSmallFile } from '../util/read-file.js'
import { readGgufInfo, type GgufInfo } from './gguf.js'

/** Older than the coarsest timestamps of a common filesystem (FAT's 2 s), so that a later write shows. */
export const SETTLED_NS = 3_000_000_000n

const MAX_FILE_BYTES = 4 * 2 ** 20

const Count = z.number().nullable()
const GgufInfoSchema = z.object({
  version: z.number(),
  architecture: z.string().min(1),
  contextLength: Count,
  blockCount: Count,
  embeddingLength: Count,
  headCount: Count,
  headCountKv: Count,
  keyLength: Count,
  valueLength: Count,
  feedForwardLength: Count,
  vocabSize: Count,
  fileType: Count,
  tensorCount: z.number(),
}) satisfies z.ZodType<GgufInfo>
const RecordSchema = z.object({ identity: z.string(), info: GgufInfoSchema })
type Remembered = z.infer<typeof RecordSchema>

/** True when a file whose ctime is `ctimeNs` may be remembered at `nowNs`: it has not changed for a while. */
export function settled(ctimeNs: bigint, nowNs: bigint): boolean {
  return nowNs - ctimeNs >= SETTLED_NS
}

/** The remembered header of a file whose identity is now `identity`, if the record is of that very file. */
export function recall(record: Remembered | undefined, identity: string | undefined): GgufInfo | undefined {
  return record !== undefined && identity !== undefined && record.identity === identity ? record.info : undefined
}

export interface RememberedGgufOptions {
  /** Checks (or makes) the file's directory before it is read or written, as a store's catalog does. */
  prepare?: () => Promise<unknown>
  parse?: (file: string) => Promise<GgufInfo>
  /** The wall clock, in ns since the epoch (what ctimes are measured on). */
  now?: () => bigint
}

export class RememberedGgufInfo {
  private known: Promise<Record<string, Remembered>> | undefined
  private readonly prepare: () => Promise<unknown>
  private readonly parse: (file: string) => Promise<GgufInfo>
  private readonly now: () => bigint

  constructor(
    private readonly file: string,
    options: RememberedGgufOptions = {},
  ) {
    this.prepare = options.prepare ?? (async () => undefined)
    this.parse = options.parse ?? readGgufInfo
    this.now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n)
  }

  /** The header of `model` (the file llama-server is given), remembered or parsed. */
  async info(model: string, verify: 'quick' | 'full'): Promise<GgufInfo> {
    const before = await fileIdentity(model)
    if (verify === 'quick') {
      // A store directory this job cannot use (not writable, a planted link) remembers nothing: the header is parsed.
      this.known ??= this.read().catch(() => Object.create(null) as Record<string, Remembered>)
      const remembered = recall((await this.known)[model], before?.key)
      if (remembered) return remembered
    }
    const info = await this.parse(model)
    const after = await fileIdentity(model)
    if (before && after?.key === before.key && settled(after.ctimeNs, this.now())) {
      // Remembering is an optimisation: a cache-dir this job cannot write costs a parse next time, nothing more.
      await this.remember(model, { identity: after.key, info }).catch(() => undefined)
    }
    return info
  }

  private async read(): Promise<Record<string, Remembered>> {
    await this.prepare()
    // Without a prototype: a key from the file is only ever a key.
    const records: Record<string, Remembered> = Object.create(null)
    // Input like any other file in cache-dir: what does not have the shape is dropped.
    const data = parseJson((await readSmallFile(this.file, MAX_FILE_BYTES)) ?? '')
    if (data && typeof data === 'object' && !Array.isArray(data)) {
      for (const [key, value] of Object.entries(data)) {
        const record = RecordSchema.safeParse(value)
        if (record.success) records[key] = record.data
      }
    }
    return records
  }

  /** No lock between processes: of two jobs writing at once one record is lost, and parsed again next time. */
  private async remember(model: string, record: Remembered): Promise<void> {
    const records = await this.read()
    records[model] = record
    // Records of files that are gone (a model removed from the store) are dropped on the way.
    for (const key of Object.keys(records)) if (key !== model && !(await fileIdentity(key))) delete records[key]
    await writeFileAtomic(this.file, `${JSON.stringify(records, null, 1)}\n`)
    this.known = Promise.resolve(records)
  }
}
