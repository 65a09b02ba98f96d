// action.yml is the contract; the code's names and defaults, and the README's tables, must say the same.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Input, Output } from '../../src/constants.js'
import { INPUT_DEFAULTS } from '../../src/inputs.js'
import { actionYml, ROOT } from '../support/runner.js'

const action = actionYml()
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')

/** Rows of the README table that follows `heading`: first cell (without backticks) → second cell. */
function readmeTable(heading: string): Map<string, string> {
  const section = readme.split(heading)[1]?.split(/\n#{2,3} /)[0] ?? ''
  const rows = new Map<string, string>()
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length < 4 || !cells[1]?.startsWith('`')) continue
    rows.set(cells[1].replace(/`/g, ''), (cells[2] ?? '').replace(/`/g, ''))
  }
  return rows
}

describe('action.yml', () => {
  it('runs on node24 with a main and an always-run post step from dist/', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/main/index.js', post: 'dist/post/index.js', 'post-if': 'always()' })
  })

  it('declares exactly the inputs the code reads, each with a description', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.values(Input).sort())
    for (const spec of Object.values(action.inputs)) expect(spec.description.length).toBeGreaterThan(10)
  })

  it('declares the defaults the code applies', () => {
    for (const [name, spec] of Object.entries(action.inputs)) {
      if (name === Input.Model) expect(spec.required).toBe(true)
      else expect([name, spec.default]).toEqual([name, INPUT_DEFAULTS[name as keyof typeof INPUT_DEFAULTS] ?? ''])
    }
  })

  it('declares exactly the outputs the code sets', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(Object.values(Output).sort())
  })
})

describe('README', () => {
  it('lists every input with its default as action.yml declares it', () => {
    const table = readmeTable('## Inputs')
    expect([...table.keys()].sort()).toEqual(Object.keys(action.inputs).sort())
    for (const [name, spec] of Object.entries(action.inputs)) {
      const shown = table.get(name)
      if (spec.default) expect([name, shown]).toEqual([name, spec.default])
    }
  })

  it('lists every output', () => {
    expect([...readmeTable('## Outputs').keys()].sort()).toEqual(Object.keys(action.outputs).sort())
  })

  it('starts with what the action does and a uses: example', () => {
    const start = readme.slice(0, 2500)
    expect(start).toMatch(/llama-server/)
    expect(start).toMatch(/uses: [\w-]+\/setup-llama-server@/)
  })
})
