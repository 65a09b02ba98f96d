// Every workflow file and action.yml, parsed by GitHub's own parser: a broken one fails here, not on GitHub.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { ROOT } from '../support/runner.js'
import { actionErrors, workflowErrors } from '../support/workflow-parser.js'

const workflowDir = path.join(ROOT, '.github', 'workflows')
const workflows = readdirSync(workflowDir).filter((f) => /\.ya?ml$/.test(f))

describe('GitHub parses', () => {
  it('finds the workflows', () => {
    expect(workflows).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']))
  })

  it.each(workflows)('.github/workflows/%s without a problem', async (file) => {
    expect(await workflowErrors(file, readFileSync(path.join(workflowDir, file), 'utf8'))).toEqual([])
  })

  it('action.yml without a problem, with the name, branding and entry points the Marketplace shows', async () => {
    const { problems, action } = await actionErrors(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))
    expect(problems).toEqual([])
    expect(action?.name).toBe('setup-llama-server')
    expect(action?.description.length).toBeLessThanOrEqual(125)
    expect(action?.branding).toEqual({ icon: expect.any(String), color: expect.any(String) })
    expect(action?.runs).toMatchObject({ using: 'node24', main: 'dist/main/index.js', post: 'dist/post/index.js', postIf: 'always()' })
  })
})

// The parser must be able to fail: each of these is a mistake that GitHub rejects.
describe('GitHub rejects', () => {
  const job = (steps: string) => `on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n${steps}`

  it.each([
    ['an unknown event', 'on: pusj\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: [{ run: echo }]\n', "Unexpected value 'pusj'"],
    ['a misspelt step key', job('      - uses: ./\n        whith: { model: x }\n'), "Unexpected value 'whith'"],
    ['an unclosed expression', job('      - run: echo ${{ steps.a.outputs.url }\n'), 'The expression is not closed'],
    ['a job that needs a missing job', `${job('      - run: echo\n')}  b:\n    needs: build\n    runs-on: ubuntu-latest\n    steps: [{ run: echo }]\n`, "Job 'b' depends on unknown job 'build'"],
  ])('%s', async (_what, content, message) => {
    expect((await workflowErrors('broken.yml', content)).join('\n')).toContain(message)
  })

  it('an action.yml with an icon the Marketplace does not have and an unknown runtime', async () => {
    const { problems } = await actionErrors('name: x\ndescription: y\nbranding: { icon: coffee, color: purple }\nruns: { using: node18, main: a.js }\n')
    expect(problems.join('\n')).toMatch(/Unexpected value 'coffee'[\s\S]*Unexpected value 'node18'/)
  })
})

describe('.github/dependabot.yml', () => {
  it('updates npm and github-actions', () => {
    const config = parseYaml(readFileSync(path.join(ROOT, '.github', 'dependabot.yml'), 'utf8')) as { version: number; updates: { 'package-ecosystem': string; directory: string; schedule: { interval: string } }[] }
    expect(config.version).toBe(2)
    expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual(['github-actions', 'npm'])
    for (const u of config.updates) expect([u.directory, typeof u.schedule.interval]).toEqual(['/', 'string'])
  })
})
