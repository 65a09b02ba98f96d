// What a program says about its version, remembered with what it rests on. Real programs on a real filesystem:
// a script that counts its own runs, so that the test sees whether it ran.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseLoadedObjects, RememberedOutputs } from '../../src/engine/remembered-output.js'

let dir: string
let program: string
const runs = () => readFileSync(path.join(dir, 'runs'), 'utf8').length

function writeProgram(version: string, exitCode = 0): void {
  writeFileSync(program, `#!/bin/sh\nprintf x >> "${path.join(dir, 'runs')}"\necho "version: ${version}"\nexit ${exitCode}\n`)
  chmodSync(program, 0o755)
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'remembered-'))
  program = path.join(dir, 'bin', 'tool')
  writeFileSync(path.join(dir, 'runs'), '')
  mkdirSync(path.dirname(program))
  writeProgram('1.0')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const options = { timeoutMs: 10_000 }

describe('RememberedOutputs', () => {
  it('runs a program once, then answers from what it remembered, across instances (runs of the action)', async () => {
    const file = path.join(dir, 'store', 'programs.json')
    expect(await new RememberedOutputs(file).output(program, ['--version'], options)).toContain('version: 1.0')
    expect(await new RememberedOutputs(file).output(program, ['--version'], options)).toContain('version: 1.0')
    expect(runs()).toBe(1)
  })

  it('remembers every program when several are asked at once', async () => {
    const file = path.join(dir, 'programs.json')
    const outputs = new RememberedOutputs(file)
    await Promise.all(['-a', '-b', '-c', '-d'].map((arg) => outputs.output(program, [arg], options)))
    await Promise.all(['-a', '-b', '-c', '-d'].map((arg) => new RememberedOutputs(file).output(program, [arg], options)))
    expect(runs()).toBe(4)
  })

  it('runs it again when the program changed, even at the same path with the same size and mtime', async () => {
    const file = path.join(dir, 'programs.json')
    await new RememberedOutputs(file).output(program, ['--version'], options)
    const mtime = new Date(1_700_000_000_000)
    utimesSync(program, mtime, mtime)
    await new RememberedOutputs(file).output(program, ['--version'], options)
    expect(runs()).toBe(2)
    // Replaced by another file of the same size and mtime: the inode and ctime differ.
    const next = `${program}.new`
    writeFileSync(next, readFileSync(program, 'utf8').replace('1.0', '2.0'))
    chmodSync(next, 0o755)
    utimesSync(next, mtime, mtime)
    renameSync(next, program)
    expect(await new RememberedOutputs(file).output(program, ['--version'], options)).toContain('version: 2.0')
    expect(runs()).toBe(3)
  })

  it('runs it again when a file appears beside it, for other arguments, and when asked to run it fresh', async () => {
    const file = path.join(dir, 'programs.json')
    await new RememberedOutputs(file).output(program, ['--version'], options)
    writeFileSync(path.join(path.dirname(program), 'libextra.so'), '')
    await new RememberedOutputs(file).output(program, ['--version'], options)
    expect(runs()).toBe(2)
    await new RememberedOutputs(file).output(program, ['-V'], options)
    expect(runs()).toBe(3)
    await new RememberedOutputs(file).output(program, ['--version'], { ...options, fresh: true })
    expect(runs()).toBe(4)
  })

  it('remembers no failure: a program that fails fails every time', async () => {
    const file = path.join(dir, 'programs.json')
    writeProgram('1.0', 3)
    await expect(new RememberedOutputs(file).output(program, ['--version'], options)).rejects.toMatchObject({ code: 3 })
    await expect(new RememberedOutputs(file).output(program, ['--version'], options)).rejects.toMatchObject({ code: 3 })
    expect(runs()).toBe(2)
  })

  it('keeps the libraries a dynamic program loads in its snapshot', async () => {
    const file = path.join(dir, 'programs.json')
    await new RememberedOutputs(file).output('/bin/sh', ['-c', 'echo ok'], { ...options, libraries: true })
    const recorded = JSON.parse(readFileSync(file, 'utf8')).programs
    const libraries = (Object.values(recorded)[0] as { snapshot: { libraries: [string, string][] } }).snapshot.libraries.map(([f]) => f)
    expect(libraries.some((f) => /\/libc\.so\.6$/.test(f))).toBe(true)
  })

  it('starts again from a file it cannot read', async () => {
    const file = path.join(dir, 'programs.json')
    writeFileSync(file, '{ not json')
    await new RememberedOutputs(file).output(program, ['--version'], options)
    expect(runs()).toBe(1)
  })
})

describe('parseLoadedObjects', () => {
  it('takes the resolved paths of what ldd lists, and the loader itself', () => {
    const ldd = [
      '\tlinux-vdso.so.1 (0x00007ffd5a5f2000)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f3c5a000000)',
      '\tlibgomp.so.1 => /lib/x86_64-linux-gnu/libgomp.so.1 (0x00007f3c59fb0000)',
      '\tlibmissing.so.1 => not found',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f3c5a5f4000)',
    ].join('\n')
    expect(parseLoadedObjects(ldd)).toEqual(['/lib/x86_64-linux-gnu/libgomp.so.1', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib64/ld-linux-x86-64.so.2'])
  })
})
