// dist/ is what the runner executes; it must be exactly what `npm run build` makes from the committed source.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { expect, it } from 'vitest'
import { ROOT } from '../support/runner.js'

function files(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  )
}

it('dist/ equals a fresh build', () => {
  const fresh = path.join(mkdtempSync(path.join(os.tmpdir(), 'sls-dist-')), 'dist')
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), fresh], { cwd: ROOT, stdio: 'pipe' })
  const committed = path.join(ROOT, 'dist')
  expect(files(committed).sort()).toEqual(files(fresh).sort())
  for (const file of files(fresh)) {
    const same = readFileSync(path.join(committed, file)).equals(readFileSync(path.join(fresh, file)))
    expect(same, `dist/${file} differs from a fresh build: run npm run build and commit dist/`).toBe(true)
  }
}, 300_000)
