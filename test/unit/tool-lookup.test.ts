// Looking a build tool up on PATH, as a shell would: real directories and files, real permission bits.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { onPath } from '../../src/util/on-path.js'

let root: string
const dir = (name: string) => {
  const d = path.join(root, name)
  mkdirSync(d, { recursive: true })
  return d
}
const tool = (d: string, name: string, mode: number) => {
  const file = path.join(d, name)
  writeFileSync(file, '#!/bin/sh\n')
  chmodSync(file, mode)
  return file
}

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'on-path-'))
})
afterEach(() => rmSync(root, { recursive: true, force: true }))

describe('onPath', () => {
  it('finds the first executable file of that name, in PATH order', () => {
    const [a, b, c] = [dir('a'), dir('b'), dir('c')]
    const second = tool(b, 'cmake', 0o755)
    tool(c, 'cmake', 0o755)
    expect(onPath('cmake', [a, b, c].join(path.delimiter))).toBe(second)
    expect(onPath('cmake', [c, b].join(path.delimiter))).toBe(path.join(c, 'cmake'))
  })

  it('passes over a directory of that name and empty PATH entries; a name with a slash is never looked up', () => {
    const [a, b] = [dir('a'), dir('b')]
    mkdirSync(path.join(a, 'ninja'))
    const found = tool(b, 'ninja', 0o755)
    expect(onPath('ninja', ['', a, '', b].join(path.delimiter))).toBe(found)
    expect(onPath('b/ninja', root)).toBeUndefined()
    expect(onPath('nvcc', [a, b].join(path.delimiter))).toBeUndefined()
    expect(onPath('ninja', '')).toBeUndefined()
  })

  it('passes over a file no one may execute', () => {
    const [a, b] = [dir('a'), dir('b')]
    tool(a, 'make', 0o644)
    const found = tool(b, 'make', 0o700)
    expect(onPath('make', [a, b].join(path.delimiter))).toBe(found)
  })
})
