// Reads a GGUF file's header with Hugging Face's maintained parser; rejects anything llama.cpp would not load.
import { promises as fs } from 'node:fs'
import { ModelError } from '../errors.js'

/** What the rest of the action needs from a model's header (the handoff, and later the VRAM estimate). */
export interface GgufInfo {
  version: number
  architecture: string
  contextLength: number | null
  blockCount: number | null
  embeddingLength: number | null
  headCount: number | null
  headCountKv: number | null
  /** Per-head sizes of K and V when the model says (else embedding / heads). */
  keyLength: number | null
  valueLength: number | null
  feedForwardLength: number | null
  vocabSize: number | null
  fileType: number | null
  tensorCount: number
}

export async function readGgufInfo(file: string): Promise<GgufInfo> {
  let parsed: Awaited<ReturnType<typeof import('@huggingface/gguf').gguf>>
  try {
    // Loaded when a header is parsed, not with the action: a warm run answers from what the store remembered.
    const { gguf } = await import('@huggingface/gguf')
    parsed = await gguf(file, { allowLocalFile: true })
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error)
    throw new ModelError(`${file} is not a GGUF model llama.cpp can load (${why})`)
  }
  const { metadata, tensorInfos } = parsed
  // llama.cpp reads GGUF versions 2 and 3; version 1 files predate 64-bit sizes and are refused.
  if (metadata.version !== 2 && metadata.version !== 3) {
    throw new ModelError(`${file} is GGUF version ${metadata.version}; llama.cpp needs version 2 or 3`)
  }
  const kv = metadata as Record<string, unknown>
  const architecture = kv['general.architecture']
  if (typeof architecture !== 'string' || architecture === '') {
    throw new ModelError(`${file} has no general.architecture in its GGUF header`)
  }
  const num = (key: string): number | null => {
    const value = kv[`${architecture}.${key}`]
    if (typeof value === 'number') return value
    if (typeof value === 'bigint') return Number(value)
    // Some models give a value per layer (head counts of hybrid models): the largest is what memory must hold.
    if (Array.isArray(value) && value.length && value.every((v) => typeof v === 'number')) return Math.max(...(value as number[]))
    return null
  }
  const fileType = kv['general.file_type']
  return {
    version: metadata.version,
    architecture,
    contextLength: num('context_length'),
    blockCount: num('block_count'),
    embeddingLength: num('embedding_length'),
    headCount: num('attention.head_count'),
    headCountKv: num('attention.head_count_kv'),
    keyLength: num('attention.key_length'),
    valueLength: num('attention.value_length'),
    feedForwardLength: num('feed_forward_length'),
    vocabSize: num('vocab_size') ?? (Array.isArray(kv['tokenizer.ggml.tokens']) ? (kv['tokenizer.ggml.tokens'] as unknown[]).length : null),
    fileType: typeof fileType === 'number' ? fileType : null,
    tensorCount: tensorInfos.length,
  }
}

/** The first 8 bytes of a GGUF file: magic and version. Enough for the parts after the first of a split model. */
export async function checkGgufMagic(file: string): Promise<void> {
  const handle = await fs.open(file, 'r')
  try {
    const head = Buffer.alloc(8)
    const { bytesRead } = await handle.read(head, 0, 8, 0)
    if (bytesRead < 8 || head.toString('latin1', 0, 4) !== 'GGUF') {
      throw new ModelError(`${file} is not a GGUF model llama.cpp can load (it does not start with the GGUF magic)`)
    }
    const version = head.readUInt32LE(4)
    if (version !== 2 && version !== 3) throw new ModelError(`${file} is GGUF version ${version}; llama.cpp needs version 2 or 3`)
  } finally {
    await handle.close()
  }
}
