// The README's workflows are ones GitHub accepts and that use only inputs the action has; its troubleshooting
// section names every error and warning the source can raise.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { actionYml, ROOT } from '../support/runner.js'
import { workflowErrors } from '../support/workflow-parser.js'

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** The README's yaml blocks that are whole workflows, each with the heading it is under. */
function workflows(): [string, string][] {
  const found: [string, string][] = []
  let heading = '(top)'
  for (const [, title, block] of readme.matchAll(/^#+ (.*)$|^```yaml\n([\s\S]*?)^```$/gm)) {
    if (title) heading = title
    else if (block && /^jobs:/m.test(block)) found.push([heading, block])
  }
  return found
}

interface Workflow {
  jobs: Record<string, { steps?: { uses?: string; with?: Record<string, unknown> }[] }>
}

describe('README workflows', () => {
  it('include the intro and every recipe', () => {
    const headings = workflows().map(([h]) => h)
    expect(headings[0]).toBe('setup-llama-server')
    const recipes = readme.split('\n## Recipes\n')[1]?.split(/\n## /)[0] ?? ''
    for (const [, title] of recipes.matchAll(/^### (.*)$/gm)) expect(headings).toContain(title)
  })

  it.each(workflows())('%s: GitHub parses it without a problem', async (heading, block) => {
    expect(await workflowErrors(`README (${heading}).yml`, block)).toEqual([])
  })

  it.each(workflows())('%s: uses the action at @v0 with inputs it declares', (_heading, block) => {
    const declared = Object.keys(actionYml().inputs)
    const steps = Object.values((parseYaml(block) as Workflow).jobs).flatMap((job) => job.steps ?? [])
    const ours = steps.filter((s) => s.uses?.includes('setup-llama-server'))
    expect(ours.length).toBeGreaterThan(0)
    for (const step of ours) {
      expect(step.uses).toBe('setup-llama-server/setup-llama-server@v0')
      expect(declared).toEqual(expect.arrayContaining(Object.keys(step.with ?? {})))
      expect(step.with).toHaveProperty('model')
    }
  })
})

/** The literal text of every error, warning and notice message in src/ (its longest piece between `${…}`). */
function messagesInSource(): { file: string; text: string }[] {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
  const call = /(?:throw new (?:\w+Error)|core\.(?:warning|notice|setFailed))\(\s*(`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*')/g
  const found: { file: string; text: string }[] = []
  for (const file of files(path.join(ROOT, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(call)) {
      const pieces = (m[1] as string).slice(1, -1).split(/\$\{(?:[^{}]|\{[^{}]*\})*\}/)
      const text = pieces.map((p) => (p.split('${')[0] ?? '').replace(/\\n/g, ' ').replace(/\\'/g, "'").trim()).sort((a, b) => b.length - a.length)[0] ?? ''
      found.push({ file: path.relative(ROOT, file), text })
    }
  }
  return found
}

describe('README troubleshooting', () => {
  const section = readme.split('\n## Troubleshooting\n')[1]?.split(/\n## /)[0] ?? ''
  const messages = messagesInSource().filter((m) => m.text.length >= 12)

  it('finds the messages of the source', () => {
    expect(messages.length).toBeGreaterThan(40)
  })

  it('names every error, warning and notice that the source raises', () => {
    const missing = messages.filter((m) => !section.includes(m.text)).map((m) => `${m.file}: ${m.text}`)
    expect(missing).toEqual([])
  })

  it('names the messages that are built outside a throw', () => {
    for (const text of ['POOL_UNAVAILABLE:', 'setup-llama-server supports Linux runners on x64 and arm64', 'is larger than \'remote-cache-max-model-size\'', "Input '<name>' is"]) {
      expect(section).toContain(text)
    }
  })
})
