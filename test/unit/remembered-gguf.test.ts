// What a GGUF header says, remembered with the identity of the file it was read from. Real GGUF files on a real
// filesystem, parsed by the real parser; a counter around it shows whether a call parsed.
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readGgufInfo } from '../../src/model/gguf.js'
import { recall, RememberedGgufInfo, settled, SETTLED_NS } from '../../src/model/remembered-gguf.js'
import { ggufBytes, writeHeaderOnlyModel } from '../support/gguf-writer.js'

let dir: string
let model: string
let memo: string
let parses: number

const countingParse = async (file: string) => {
  parses++
  return await readGgufInfo(file)
}
/** A clock that runs ahead of the files' ctimes by more than the settling time, so that a new file is remembered. */
const later = () => BigInt(Date.now()) * 1_000_000n + SETTLED_NS + 1_000_000_000n
const remembered = (now = later) => new RememberedGgufInfo(memo, { parse: countingParse, now })
/**
 * The clock above lets a file be remembered the moment it is written; the action waits for the settling time
 * instead. A change that follows within the filesystem's clock tick would keep the timestamps: past one here.
 */
const pastClockTick = () => sleep(50)

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'remembered-gguf-'))
  model = path.join(dir, 'model.gguf')
  memo = path.join(dir, 'store', 'gguf-info.json')
  parses = 0
  writeHeaderOnlyModel(model, { contextLength: 4096 })
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('settled and recall', () => {
  it('a file changed less than the settling time ago is not settled', () => {
    const ctime = 1_700_000_000_000_000_000n
    expect(settled(ctime, ctime)).toBe(false)
    expect(settled(ctime, ctime + SETTLED_NS - 1n)).toBe(false)
    expect(settled(ctime, ctime + SETTLED_NS)).toBe(true)
    // A ctime in the future (another host's clock) is never settled.
    expect(settled(ctime + 60_000_000_000n, ctime)).toBe(false)
  })

  it('answers only for the very identity it was remembered with', () => {
    const info = { version: 3, architecture: 'llama', contextLength: 1, blockCount: 1, embeddingLength: 1, headCount: 1, headCountKv: 1, keyLength: null, valueLength: null, feedForwardLength: null, vocabSize: null, fileType: 0, tensorCount: 0 }
    const record = { identity: '1:2:3:4:5', info }
    expect(recall(record, '1:2:3:4:5')).toEqual(info)
    for (const other of ['9:2:3:4:5', '1:9:3:4:5', '1:2:9:4:5', '1:2:3:9:5', '1:2:3:4:9']) expect(recall(record, other)).toBeUndefined()
    expect(recall(record, undefined)).toBeUndefined()
    expect(recall(undefined, '1:2:3:4:5')).toBeUndefined()
  })
})

describe('RememberedGgufInfo', () => {
  it('parses a header once, then answers from what it remembered, across instances (runs of the action)', async () => {
    const first = await remembered().info(model, 'quick')
    expect(first.contextLength).toBe(4096)
    expect(await remembered().info(model, 'quick')).toEqual(first)
    expect(parses).toBe(1)
    expect(Object.keys(JSON.parse(readFileSync(memo, 'utf8')))).toEqual([model])
  })

  it('parses again when the file was rewritten in place with the same size and its mtime set back', async () => {
    await remembered().info(model, 'quick')
    const { size, mtime } = statSync(model)
    await pastClockTick()
    writeHeaderOnlyModel(model, { contextLength: 8192 })
    utimesSync(model, mtime, mtime)
    expect(statSync(model).size).toBe(size)
    expect((await remembered().info(model, 'quick')).contextLength).toBe(8192)
    expect(parses).toBe(2)
  })

  it('parses again when another file was renamed over it', async () => {
    await remembered().info(model, 'quick')
    await pastClockTick()
    const next = `${model}.new`
    writeHeaderOnlyModel(next, { contextLength: 8192 })
    const { mtime } = statSync(model)
    utimesSync(next, mtime, mtime)
    renameSync(next, model)
    expect((await remembered().info(model, 'quick')).contextLength).toBe(8192)
    expect(parses).toBe(2)
  })

  it('always parses under verify: full, and remembers what it found', async () => {
    await remembered().info(model, 'full')
    await remembered().info(model, 'full')
    expect(parses).toBe(2)
    await remembered().info(model, 'quick')
    expect(parses).toBe(2)
  })

  it('does not remember a file that changed within the settling time', async () => {
    const now = () => BigInt(Date.now()) * 1_000_000n
    await remembered(now).info(model, 'quick')
    await remembered(now).info(model, 'quick')
    expect(parses).toBe(2)
    expect(() => readFileSync(memo)).toThrow()
  })

  it('remembers nothing for a file that is not a GGUF model, and keeps failing on it', async () => {
    writeFileSync(model, '<html>not a model</html>')
    await expect(remembered().info(model, 'quick')).rejects.toThrow(/not a GGUF model/)
    await expect(remembered().info(model, 'quick')).rejects.toThrow(/not a GGUF model/)
    expect(parses).toBe(2)
  })

  it('ignores a damaged or hostile memo file and parses instead', async () => {
    await remembered().info(model, 'quick')
    const good = JSON.parse(readFileSync(memo, 'utf8'))[model]
    for (const content of ['not json', '[]', JSON.stringify({ [model]: { identity: good.identity, info: { architecture: 'llama' } } })]) {
      writeFileSync(memo, content)
      expect((await remembered().info(model, 'quick')).contextLength).toBe(4096)
    }
    expect(parses).toBe(4)
  })

  it('parses, and remembers nothing, where the store directory cannot be used', async () => {
    const refuse = async () => {
      throw new Error('the store directory is a symbolic link')
    }
    const memoOf = () => new RememberedGgufInfo(memo, { parse: countingParse, now: later, prepare: refuse })
    expect((await memoOf().info(model, 'quick')).contextLength).toBe(4096)
    expect((await memoOf().info(model, 'quick')).contextLength).toBe(4096)
    expect(parses).toBe(2)
    expect(() => readFileSync(memo)).toThrow()
  })

  it('drops the records of files that are gone when it writes', async () => {
    const other = path.join(dir, 'other.gguf')
    writeFileSync(other, ggufBytes([['general.architecture', { type: 'str', value: 'llama' }]]))
    await remembered().info(other, 'quick')
    rmSync(other)
    await remembered().info(model, 'quick')
    expect(Object.keys(JSON.parse(readFileSync(memo, 'utf8')))).toEqual([model])
  })
})
