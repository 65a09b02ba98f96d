// What a new user meets first, through the runner harness: the OpenAI base URL, and a runner the action does not
// support, refused before any work.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { newJobDirs, runMain, runPost } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')

describe('openai-base-url', () => {
  it('is <url>/v1, in the outputs and in the handoff', async () => {
    const dirs = newJobDirs()
    writeHeaderOnlyModel(path.join(dirs.workspace, 'tiny.gguf'))
    const run = await runMain({ dirs, inputs: { model: 'tiny.gguf', 'llama-server-path': fakeServer } })
    expect(run.errors).toEqual([])
    expect(run.outputs['openai-base-url']).toBe(`${run.outputs.url}/v1`)
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff.openai_base_url).toBe(`http://127.0.0.1:${run.outputs.port}/v1`)
    await runPost(run)
  })
})

describe('a runner that is not Linux x64 or arm64', () => {
  it.each([
    ['macOS', 'ARM64'],
    ['Windows', 'X64'],
    ['Linux', 'ARM'],
  ])('%s %s: fails at once, naming it and what is supported; nothing is read, fetched or started', async (os, arch) => {
    const dirs = newJobDirs()
    // The model does not exist and the port is invalid: the runner check comes before the inputs are even read.
    const run = await runMain({ dirs, inputs: { model: 'missing.gguf', port: 'not-a-port', 'llama-server-path': fakeServer }, env: { RUNNER_OS: os, RUNNER_ARCH: arch } })
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      `setup-llama-server supports Linux runners on x64 and arm64; this runner is ${os} ${arch} (Node reports ${process.platform}/${process.arch}). ` +
        'Nothing was fetched, built or started. Run the job on a Linux runner: runs-on: ubuntu-latest (x64), ubuntu-24.04-arm (arm64), or a self-hosted Linux machine.',
    ])
    expect(run.outputs).toEqual({})
    expect(run.state).toEqual({})
    expect(readdirSync(dirs.toolCache)).toEqual([])
    expect(existsSync(path.join(dirs.temp, 'setup-llama-server'))).toBe(false)
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain('No server was started by this action: nothing to stop.')
  })
})
