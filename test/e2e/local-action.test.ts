// The action's TypeScript entry points run by @github/local-action (a real run of its CLI, with its stubs of the
// toolkit), as a contributor runs them with `npm run local-action`: main starts the server, post stops it, and the
// remote cache, which its @actions/cache stub cannot serve, is skipped with a notice.
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { expect, inject, it } from 'vitest'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { newJobDirs, processesWithTrackingId, ROOT } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hubServer = hubServerForFile()

it('runs main and post: the server starts, answers, and is stopped; remote-cache is skipped under the stub', async () => {
  const hub = hubServer()
  const commit = hub.addRepo('org/local-action', { 'tiny.gguf': ggufWithPayload(64 * 1024) })
  const dirs = newJobDirs()
  const trackingId = `local-action-${Date.now()}`
  const envFile = path.join(dirs.root, '.env')
  writeFileSync(
    envFile,
    [
      'INPUT_MODEL=hf:org/local-action/tiny.gguf',
      `INPUT_HF-ENDPOINT=${hub.endpoint}`,
      `INPUT_LLAMA-SERVER-PATH=${fakeServer}`,
      'INPUT_REMOTE-CACHE=all',
      `GITHUB_WORKSPACE=${dirs.workspace}`,
      `RUNNER_TEMP=${dirs.temp}`,
      `RUNNER_TOOL_CACHE=${dirs.toolCache}`,
      `RUNNER_TRACKING_ID=${trackingId}`,
      // The job's own Hugging Face cache, never the machine's.
      `HF_HOME=${path.join(dirs.root, 'hf-home')}`,
    ].join('\n'),
  )
  const { stdout } = await promisify(execFile)(path.join(ROOT, 'node_modules', '.bin', 'local-action'), ['run', '.', 'src/main.ts', envFile, '--post', 'src/post.ts'], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${path.join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}` },
    timeout: 120_000,
  })
  expect(stdout).not.toMatch(/::error::|does not export a run\(\) function/)
  expect(stdout).toContain(`::info::hf:org/local-action@main is commit ${commit}`)
  expect(stdout).toContain('::notice::The @actions/cache in use has no isFeatureAvailable (the stub of @github/local-action); remote-cache is skipped.')
  const url = /::set-output name=url::(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1]
  const pid = /::set-output name=pid::(\d+)/.exec(stdout)?.[1]
  expect(stdout).toContain(`::set-output name=openai-base-url::${url}/v1`)
  expect(stdout).toContain(`llama-server is ready at ${url} after`)
  // Post ran after main, in the same process, with main's state: it stopped the server main started.
  expect(stdout).toMatch(/Running Post Step[\s\S]*llama-server \(pid \d+\) stopped with SIGTERM\./)
  expect(stdout).toContain(`llama-server (pid ${pid}) stopped with SIGTERM.`)
  expect(processesWithTrackingId(trackingId)).toEqual([])
  await expect(fetch(`${url}/health`)).rejects.toThrow()
}, 180_000)
