// A tiny llama-architecture model with random weights and a real tokenizer (the SPM vocabulary that llama.cpp
// ships in models/ggml-vocab-llama-spm.gguf): about 17 MB, made in well under a second, loaded by a real
// llama-server, which generates (meaningless) tokens from it.
import { gguf, GGUFValueType } from '@huggingface/gguf'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ggufBytes, type GgufScalarType, type GgufTensor, type GgufValue } from './gguf-writer.js'
import { llamaCppFile } from './llama-source.js'

export const TINY = { embd: 64, layers: 2, heads: 4, headsKv: 2, ff: 128, ctx: 2048 }

const SCALAR: Partial<Record<number, GgufScalarType>> = {
  [GGUFValueType.UINT8]: 'u8', [GGUFValueType.INT8]: 'i8', [GGUFValueType.UINT16]: 'u16', [GGUFValueType.INT16]: 'i16',
  [GGUFValueType.UINT32]: 'u32', [GGUFValueType.INT32]: 'i32', [GGUFValueType.FLOAT32]: 'f32', [GGUFValueType.BOOL]: 'bool',
  [GGUFValueType.STRING]: 'str', [GGUFValueType.UINT64]: 'u64', [GGUFValueType.INT64]: 'i64', [GGUFValueType.FLOAT64]: 'f64',
}

/** The tokenizer.* metadata of llama.cpp's SPM vocabulary file, with their GGUF types. */
async function spmTokenizer(): Promise<{ metadata: [string, GgufValue][]; vocabSize: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vocab-'))
  try {
    const file = path.join(dir, 'vocab.gguf')
    writeFileSync(file, llamaCppFile('models/ggml-vocab-llama-spm.gguf'))
    const { typedMetadata } = await gguf(file, { allowLocalFile: true, typedMetadata: true })
    const metadata: [string, GgufValue][] = []
    let vocabSize = 0
    for (const [key, entry] of Object.entries(typedMetadata)) {
      if (!key.startsWith('tokenizer.')) continue
      const e = entry as { type: number; subType?: number; value: unknown }
      if (e.type === GGUFValueType.ARRAY) {
        const values = e.value as (number | string | boolean)[]
        if (key === 'tokenizer.ggml.tokens') vocabSize = values.length
        metadata.push([key, { type: 'arr', of: SCALAR[e.subType as number] as GgufScalarType, values }])
      } else {
        metadata.push([key, { type: SCALAR[e.type] as GgufScalarType, value: e.value as number | string | boolean }])
      }
    }
    return { metadata, vocabSize }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function randomF32(count: number, scale = 0.02): Buffer {
  const out = Buffer.alloc(count * 4)
  const noise = randomBytes(count * 2)
  for (let i = 0; i < count; i++) out.writeFloatLE(((noise.readUInt16LE(i * 2) / 65535) * 2 - 1) * scale, i * 4)
  return out
}

function ones(count: number): Buffer {
  const out = Buffer.alloc(count * 4)
  for (let i = 0; i < count; i++) out.writeFloatLE(1, i * 4)
  return out
}

export async function tinyModelBytes(): Promise<Buffer> {
  const { metadata: tokenizer, vocabSize } = await spmTokenizer()
  const { embd, layers, heads, headsKv, ff, ctx } = TINY
  const headDim = embd / heads
  const kv = headDim * headsKv
  const t = (name: string, shape: number[], data?: Buffer): GgufTensor => ({
    name,
    shape,
    type: 'f32',
    data: data ?? randomF32(shape.reduce((a, b) => a * b, 1)),
  })
  const tensors: GgufTensor[] = [t('token_embd.weight', [embd, vocabSize]), t('output_norm.weight', [embd], ones(embd)), t('output.weight', [embd, vocabSize])]
  for (let i = 0; i < layers; i++) {
    tensors.push(
      t(`blk.${i}.attn_norm.weight`, [embd], ones(embd)),
      t(`blk.${i}.attn_q.weight`, [embd, embd]),
      t(`blk.${i}.attn_k.weight`, [embd, kv]),
      t(`blk.${i}.attn_v.weight`, [embd, kv]),
      t(`blk.${i}.attn_output.weight`, [embd, embd]),
      t(`blk.${i}.ffn_norm.weight`, [embd], ones(embd)),
      t(`blk.${i}.ffn_gate.weight`, [embd, ff]),
      t(`blk.${i}.ffn_up.weight`, [embd, ff]),
      t(`blk.${i}.ffn_down.weight`, [ff, embd]),
    )
  }
  return ggufBytes(
    [
      ['general.architecture', { type: 'str', value: 'llama' }],
      ['general.name', { type: 'str', value: 'setup-llama-server tiny test model' }],
      ['general.file_type', { type: 'u32', value: 0 }],
      ['llama.context_length', { type: 'u32', value: ctx }],
      ['llama.embedding_length', { type: 'u32', value: embd }],
      ['llama.block_count', { type: 'u32', value: layers }],
      ['llama.feed_forward_length', { type: 'u32', value: ff }],
      ['llama.attention.head_count', { type: 'u32', value: heads }],
      ['llama.attention.head_count_kv', { type: 'u32', value: headsKv }],
      ['llama.rope.dimension_count', { type: 'u32', value: headDim }],
      ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
      ['llama.vocab_size', { type: 'u32', value: vocabSize }],
      ...tokenizer,
    ],
    tensors,
  )
}
