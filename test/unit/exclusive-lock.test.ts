// withExclusiveLock with real processes and the real flock(1): contenders never overlap, and a holder killed with
// SIGKILL lets the next one in without any staleness to wait out.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const LOCK_MODULE = new URL('../../src/store/lock.ts', import.meta.url).href

/** A process that takes the lock, writes `in <name>` to the log, holds it for `holdMs` (forever if -1), writes `out <name>`. */
function contender(lockPath: string, log: string, name: string, holdMs: number): ChildProcess {
  const script = `
    import { appendFileSync } from 'node:fs'
    const { withExclusiveLock } = await import(${JSON.stringify(LOCK_MODULE)})
    await withExclusiveLock(${JSON.stringify(lockPath)}, 'the test directory', async () => {
      appendFileSync(${JSON.stringify(log)}, 'in ${name}\\n')
      console.log('held')
      await new Promise((resolve) => setTimeout(resolve, ${holdMs < 0 ? 3_600_000 : holdMs}))
      appendFileSync(${JSON.stringify(log)}, 'out ${name}\\n')
    })`
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
const held = (child: ChildProcess) =>
  new Promise<void>((resolve) => child.stdout?.on('data', (data: Buffer) => data.toString().includes('held') && resolve()))

/** The log's lines, checked to be whole turns: every `in` followed by its own `out` before the next `in`. */
function expectTurns(log: string, names: string[]): void {
  const lines = readFileSync(log, 'utf8').trim().split('\n')
  const turns: string[] = []
  for (let i = 0; i < lines.length; i += 2) {
    expect(lines[i + 1]).toBe(lines[i]?.replace(/^in /, 'out '))
    turns.push((lines[i] as string).slice(3))
  }
  expect(turns.sort()).toEqual([...names].sort())
}

describe('withExclusiveLock', () => {
  it('lets one process at a time in', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-xlock-'))
    const log = path.join(dir, 'log')
    const names = ['a', 'b', 'c', 'd']
    const children = names.map((name) => contender(path.join(dir, 'build'), log, name, 150))
    expect(await Promise.all(children.map(exited))).toEqual([0, 0, 0, 0])
    expectTurns(log, names)
  }, 60_000)

  it('a holder killed with SIGKILL lets the waiting processes in, one at a time', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-xlock-'))
    const log = path.join(dir, 'log')
    const holder = contender(path.join(dir, 'build'), log, 'killed', -1)
    await held(holder)
    const waiting = ['x', 'y', 'z'].map((name) => contender(path.join(dir, 'build'), log, name, 150))
    // Let them all queue on the lock, then kill the holder mid-turn.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    holder.kill('SIGKILL')
    await exited(holder)
    expect(await Promise.all(waiting.map(exited))).toEqual([0, 0, 0])
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('in killed')
    expect(lines.filter((l) => l.includes('killed'))).toEqual(['in killed'])
    const rest = path.join(dir, 'rest')
    writeFileSync(rest, `${lines.slice(1).join('\n')}\n`)
    expectTurns(rest, ['x', 'y', 'z'])
  }, 60_000)
})
