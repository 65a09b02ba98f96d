// What a new user meets first, through the runner harness.
import { readFileSync } from 'node:fs'
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
