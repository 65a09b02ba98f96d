// The Hugging Face cache's lock with a real holder (flock(1) holding it for a shell) on a real filesystem: how long
// a job waits depends on whether the holder's download grows, not on a fixed bound. The waits are shortened here
// through the function's own parameters; the defaults are minutes.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { withHfCacheLock } from '../../src/model/hf-cache-lock.js'
import { flockHolders } from '../../src/util/lock-holder.js'

function holding(lockFile: string, script: string): ChildProcess {
  writeFileSync(lockFile, '')
  return spawn('flock', ['--exclusive', lockFile, 'sh', '-c', script], { stdio: 'ignore' })
}

async function untilLocked(lockFile: string): Promise<void> {
  const { ino } = statSync(lockFile, { bigint: true })
  for (let i = 0; i < 200 && !readFileSync('/proc/locks', 'utf8').includes(`:${ino} `); i++) await sleep(10)
}

const inProgress = (file: string) => async () => {
  try {
    const stat = statSync(file)
    return [{ name: path.basename(file), size: stat.size, mtimeMs: stat.mtimeMs }]
  } catch {
    return []
  }
}

describe("the Hugging Face cache's lock", () => {
  it('waits for a holder whose download keeps growing, past the time that would mark a still one as hung', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-hflock-'))
    const lockFile = path.join(dir, 'x.lock')
    const temp = path.join(dir, 'x.incomplete')
    // Writes every 0.2 s for 3 s, then lets go: never still for the 2 s that count as hung here.
    const holder = holding(lockFile, `for i in $(seq 15); do echo x >> '${temp}'; sleep 0.2; done`)
    await untilLocked(lockFile)
    const ranWhileHeld = await withHfCacheLock({ file: lockFile, what: 'x', inProgress: inProgress(temp) }, async () => holder.exitCode === null, { maxWaitMs: 60_000, stallMs: 2_000, minWaitMs: 0 })
    expect(ranWhileHeld).toBe(false)
    expect(readFileSync(temp, 'utf8')).toBe('x\n'.repeat(15))
  })

  it('goes ahead beside a holder that has no download in progress once that has lasted the stall time', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-hflock-'))
    const lockFile = path.join(dir, 'x.lock')
    const holder = holding(lockFile, 'sleep 600')
    try {
      await untilLocked(lockFile)
      const ranWhileHeld = await withHfCacheLock({ file: lockFile, what: 'x', inProgress: async () => [] }, async () => holder.exitCode === null, { maxWaitMs: 60_000, stallMs: 1_000, minWaitMs: 0 })
      expect(ranWhileHeld).toBe(true)
    } finally {
      holder.kill()
    }
  })
})

describe('/proc/locks', () => {
  it('gives the pids of FLOCK holders of a device and inode, not their waiters nor other files', () => {
    const table = [
      '1: FLOCK  ADVISORY  WRITE 4242 fd:01:1577077 0 EOF',
      '1: -> FLOCK  ADVISORY  WRITE 4343 fd:01:1577077 0 EOF',
      '2: POSIX  ADVISORY  WRITE 4444 fd:01:1577077 0 EOF',
      '3: FLOCK  ADVISORY  WRITE 0 00:2d:1577077 0 EOF',
      '4: FLOCK  ADVISORY  READ 4545 103:02:99 0 EOF',
    ].join('\n')
    // dev_t of major 0xfd, minor 1; of major 0x103, minor 2 (a major above 255 uses the high bits).
    expect(flockHolders(table, (0xfdn << 8n) | 1n, 1577077n)).toEqual([4242])
    expect(flockHolders(table, (0x103n & 0xfffn) << 8n | 2n, 99n)).toEqual([4545])
    expect(flockHolders(table, 0x2dn, 1577077n)).toEqual([0])
    // Any device (overlayfs reports the upper one): every holder of that inode.
    expect(flockHolders(table, undefined, 1577077n)).toEqual([4242, 0])
  })
})
