// Writes real GGUF (version 3) files for tests: metadata and tensors, laid out as llama.cpp's gguf.c reads them.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'

export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'str' | 'u64' | 'i64' | 'f64'
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 'arr'; of: GgufScalarType; values: (number | bigint | boolean | string)[] }

export interface GgufTensor {
  name: string
  /** ggml order: the fastest-moving dimension first. */
  shape: number[]
  type: 'f32' | 'f16'
  data: Buffer
}

const TYPE_CODE: Record<GgufScalarType | 'arr', number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, str: 8, arr: 9, u64: 10, i64: 11, f64: 12,
}
const GGML_TYPE = { f32: 0, f16: 1 } as const
const ALIGNMENT = 32

class Out {
  private chunks: Buffer[] = []
  length = 0
  push(b: Buffer): void {
    this.chunks.push(b)
    this.length += b.length
  }
  u32(n: number): void {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    this.push(b)
  }
  u64(n: number | bigint): void {
    const b = Buffer.alloc(8)
    b.writeBigUInt64LE(BigInt(n))
    this.push(b)
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8')
    this.u64(b.length)
    this.push(b)
  }
  pad(): void {
    const rest = this.length % ALIGNMENT
    if (rest) this.push(Buffer.alloc(ALIGNMENT - rest))
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    const b = Buffer.alloc(8)
    switch (type) {
      case 'u8': return this.push(Buffer.from([Number(v)]))
      case 'i8': b.writeInt8(Number(v)); return this.push(b.subarray(0, 1))
      case 'u16': b.writeUInt16LE(Number(v)); return this.push(b.subarray(0, 2))
      case 'i16': b.writeInt16LE(Number(v)); return this.push(b.subarray(0, 2))
      case 'u32': b.writeUInt32LE(Number(v)); return this.push(b.subarray(0, 4))
      case 'i32': b.writeInt32LE(Number(v)); return this.push(b.subarray(0, 4))
      case 'f32': b.writeFloatLE(Number(v)); return this.push(b.subarray(0, 4))
      case 'bool': return this.push(Buffer.from([v ? 1 : 0]))
      case 'str': return this.str(String(v))
      case 'u64': return this.u64(BigInt(v as number | bigint))
      case 'i64': b.writeBigInt64LE(BigInt(v as number | bigint)); return this.push(b)
      case 'f64': b.writeDoubleLE(Number(v)); return this.push(b)
    }
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks)
  }
}

export function ggufBytes(metadata: [string, GgufValue][], tensors: GgufTensor[] = []): Buffer {
  const out = new Out()
  out.push(Buffer.from('GGUF'))
  out.u32(3)
  out.u64(tensors.length)
  out.u64(metadata.length)
  for (const [key, value] of metadata) {
    out.str(key)
    out.u32(TYPE_CODE[value.type])
    if (value.type === 'arr') {
      out.u32(TYPE_CODE[value.of])
      out.u64(value.values.length)
      for (const v of value.values) out.scalar(value.of, v)
    } else out.scalar(value.type, value.value)
  }
  let offset = 0
  for (const t of tensors) {
    out.str(t.name)
    out.u32(t.shape.length)
    for (const d of t.shape) out.u64(d)
    out.u32(GGML_TYPE[t.type])
    out.u64(offset)
    offset += Math.ceil(t.data.length / ALIGNMENT) * ALIGNMENT
  }
  out.pad()
  for (const t of tensors) {
    out.push(t.data)
    out.pad()
  }
  return out.buffer()
}

export function writeGguf(file: string, metadata: [string, GgufValue][], tensors: GgufTensor[] = []): void {
  writeFileSync(file, ggufBytes(metadata, tensors))
}

/** The shape a header-only llama model declares (a real model's header, without its tensors). */
export interface LlamaShape {
  contextLength: number
  blockCount: number
  embeddingLength: number
  headCount: number
  headCountKv: number
  vocabSize?: number
}

const TINY_SHAPE: LlamaShape = { contextLength: 4096, blockCount: 2, embeddingLength: 64, headCount: 4, headCountKv: 2 }

/** A header-only llama model: enough for the action's checks and for the engine test double, not for inference. */
export function writeHeaderOnlyModel(file: string, shape: Partial<LlamaShape> = {}): void {
  writeGguf(file, headerOnlyMetadata({ ...TINY_SHAPE, ...shape }))
}

/** A llama-architecture GGUF of about `bytes` bytes: the header above plus one tensor of random data. */
export function ggufWithPayload(bytes: number): Buffer {
  const floats = Math.max(8, Math.floor(bytes / 4))
  return ggufBytes(headerOnlyMetadata(TINY_SHAPE), [{ name: 'payload.weight', shape: [floats], type: 'f32', data: randomBytes(floats * 4) }])
}

function headerOnlyMetadata(shape: LlamaShape): [string, GgufValue][] {
  return [
    ['general.architecture', { type: 'str', value: 'llama' }],
    ['general.name', { type: 'str', value: 'header-only test model' }],
    ['general.file_type', { type: 'u32', value: 0 }],
    ['llama.context_length', { type: 'u32', value: shape.contextLength }],
    ['llama.block_count', { type: 'u32', value: shape.blockCount }],
    ['llama.embedding_length', { type: 'u32', value: shape.embeddingLength }],
    ['llama.attention.head_count', { type: 'u32', value: shape.headCount }],
    ['llama.attention.head_count_kv', { type: 'u32', value: shape.headCountKv }],
    ...(shape.vocabSize ? ([['llama.vocab_size', { type: 'u32', value: shape.vocabSize }]] as [string, GgufValue][]) : []),
  ]
}
