// Where Node's compile cache for the bundle lives, and when a directory is private enough to hold code. Real
// directories on a real filesystem.
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { compileCacheDir, defaultCacheDir, isPrivateDir } from '../../src/compile-cache.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'compile-cache-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('compileCacheDir', () => {
  it('lies under the default cache-dir: RUNNER_TOOL_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultCacheDir({ RUNNER_TOOL_CACHE: '/t', XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/t/setup-llama-server')
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/setup-llama-server')
    expect(defaultCacheDir({ RUNNER_TOOL_CACHE: '' }, '/home/u')).toBe('/home/u/.cache/setup-llama-server')
    expect(compileCacheDir({ RUNNER_TOOL_CACHE: '/t' }, '/home/u')).toBe('/t/setup-llama-server/node-compile-cache')
  })
})

describe('isPrivateDir', () => {
  const uid = process.getuid?.() ?? 0
  const check = (p: string) => isPrivateDir(lstatSync(p), uid)

  it('accepts a real directory of this user that no one else may read or write', () => {
    const own = path.join(dir, 'own')
    mkdirSync(own, { mode: 0o700 })
    chmodSync(own, 0o700)
    expect(check(own)).toBe(true)
  })

  it('refuses one that the group or others may read or write', () => {
    const open = path.join(dir, 'open')
    mkdirSync(open)
    for (const mode of [0o777, 0o770, 0o755, 0o750, 0o701]) {
      chmodSync(open, mode)
      expect(check(open), mode.toString(8)).toBe(false)
    }
  })

  it('refuses a link to a private directory, a file, and a directory of another user', () => {
    const own = path.join(dir, 'own')
    mkdirSync(own, { mode: 0o700 })
    const link = path.join(dir, 'link')
    symlinkSync(own, link)
    expect(check(link)).toBe(false)
    const file = path.join(dir, 'file')
    writeFileSync(file, '', { mode: 0o600 })
    expect(check(file)).toBe(false)
    expect(isPrivateDir(lstatSync(own), uid + 1)).toBe(false)
    if (uid === 0) {
      // As root, a directory planted by another user can be made for real.
      chownSync(own, 12345, 12345)
      expect(check(own)).toBe(false)
    }
  })
})
