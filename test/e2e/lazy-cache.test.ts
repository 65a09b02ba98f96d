// @actions/cache (with the Azure SDK under it, most of the bundle) is loaded only when an entry goes to or comes
// from the GitHub Actions cache: a run that needs no remote entry must work without that code at all. Shown with
// a copy of dist/ from which the chunk holding @actions/cache is removed.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, inject, it } from 'vitest'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { newJobDirs, processesWithTrackingId, ROOT } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')

it('main and post run without the @actions/cache chunk when nothing goes through the remote cache', () => {
  const dist = path.join(mkdtempSync(path.join(os.tmpdir(), 'sls-lazy-')), 'dist')
  cpSync(path.join(ROOT, 'dist'), dist, { recursive: true })
  const chunks = (entry: string) =>
    readdirSync(path.join(dist, entry)).filter((f) => /^\d+\.index\.js$/.test(f) && readFileSync(path.join(dist, entry, f), 'utf8').includes('function isFeatureAvailable('))
  for (const entry of ['main', 'post']) {
    expect(readFileSync(path.join(dist, entry, 'index.js'), 'utf8')).not.toContain('function isFeatureAvailable(')
    expect(chunks(entry)).toHaveLength(1)
    for (const chunk of chunks(entry)) rmSync(path.join(dist, entry, chunk))
  }

  const dirs = newJobDirs()
  writeHeaderOnlyModel(path.join(dirs.workspace, 'tiny.gguf'))
  const trackingId = `lazy-${Date.now()}`
  // No GITHUB_OUTPUT or GITHUB_STATE: the toolkit prints outputs and state as commands, read back below.
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    GITHUB_WORKSPACE: dirs.workspace,
    RUNNER_TEMP: dirs.temp,
    RUNNER_TOOL_CACHE: dirs.toolCache,
    RUNNER_TRACKING_ID: trackingId,
    INPUT_MODEL: 'tiny.gguf',
    'INPUT_LLAMA-SERVER-PATH': fakeServer,
    'INPUT_REMOTE-CACHE': 'all',
  }
  const main = spawnSync(process.execPath, [path.join(dist, 'main', 'index.js')], { env, cwd: dirs.workspace, encoding: 'utf8', timeout: 60_000 })
  expect(main.stdout).not.toContain('::error::')
  expect([main.status, main.stderr]).toEqual([0, ''])
  expect(main.stdout).toMatch(/llama-server is ready at http:\/\/127\.0\.0\.1:\d+/)
  const state = /::save-state name=server::(.*)/.exec(main.stdout)?.[1] as string
  const post = spawnSync(process.execPath, [path.join(dist, 'post', 'index.js')], { env: { ...env, STATE_server: state }, encoding: 'utf8', timeout: 60_000 })
  expect([post.status, post.stderr]).toEqual([0, ''])
  expect(post.stdout).toMatch(/llama-server \(pid \d+\) stopped with SIGTERM\./)
  expect(processesWithTrackingId(trackingId)).toEqual([])
})
