// Node's compile cache for the action's bundle, through the runner harness: written on a first run into a private
// directory under the tool cache, used by the next, and never used where another could have planted code.
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { newJobDirs, runMain, runPost, type JobDirs } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')

function job(): { dirs: JobDirs; cache: string } {
  const dirs = newJobDirs()
  writeHeaderOnlyModel(path.join(dirs.workspace, 'tiny.gguf'))
  return { dirs, cache: path.join(dirs.toolCache, 'setup-llama-server', 'node-compile-cache') }
}

/** A provisioning run with Node saying what it does with the cache (on stderr). */
async function provision(dirs: JobDirs) {
  const run = await runMain({ dirs, inputs: { model: 'tiny.gguf', 'llama-server-path': fakeServer, start: 'false' }, env: { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' } })
  expect(run.errors).toEqual([])
  expect((await runPost(run)).exitCode).toBe(0)
  return run
}

describe('the compile cache', () => {
  it('is written into a directory of this user alone on the first run and used by the next', async () => {
    const { dirs, cache } = job()
    const first = await provision(dirs)
    expect(first.stderr).toContain('was not initialized')
    expect(statSync(cache).mode & 0o777).toBe(0o700)
    const [tagged] = readdirSync(cache)
    expect(tagged).toMatch(new RegExp(`^v${process.versions.node}-`))
    expect(readdirSync(path.join(cache, tagged as string)).length).toBeGreaterThan(0)
    const second = await provision(dirs)
    expect(second.stderr).toMatch(/main\/\d+\.index\.js was accepted/)
    expect(second.stderr).not.toContain('was not initialized')
  })

  it('is not used in a directory that others may write, and nothing is written there', async () => {
    const { dirs, cache } = job()
    mkdirSync(cache, { recursive: true })
    chmodSync(cache, 0o777)
    const run = await provision(dirs)
    expect(run.stderr).not.toMatch(/\[compile cache\] (resolved path|reading cache|creating cache directory)/)
    expect(readdirSync(cache)).toEqual([])
  })

  it('is not written on a runner the action refuses', async () => {
    const { dirs, cache } = job()
    const run = await runMain({ dirs, inputs: { model: 'tiny.gguf', 'llama-server-path': fakeServer }, env: { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' } })
    expect(run.exitCode).toBe(1)
    expect(existsSync(cache)).toBe(false)
  })
})
