import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { gitRefProblem } from '../../src/util/git-ref.js'

// Each name is checked against git itself (`git check-ref-format --allow-onelevel`), so our rule cannot drift
// from git's. Leading '-' is ours alone: git would read it as an option.
function gitAccepts(name: string): boolean {
  try {
    execFileSync('git', ['check-ref-format', '--allow-onelevel', name], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const names = [
  'main', 'v0.5.0', 'b4567', 'feature/x', 'refs/pr/1', '0123456789abcdef0123456789abcdef01234567', 'a.b', 'release-1_2',
  '', 'a..b', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', '/a', 'a/', 'a//b', 'a.', '.a', 'a/.b', 'a.lock',
  'a/b.lock/c', '@', 'a@{1}', 'tab\there', 'nl\nx', 'del\x7f',
]

describe('gitRefProblem agrees with git check-ref-format', () => {
  it.each(names)('%j', (name) => {
    expect(gitRefProblem(name) === undefined).toBe(gitAccepts(name))
  })
  it("refuses a leading '-' that git would read as an option", () => {
    expect(gitRefProblem('--upload-pack=evil')).toMatch(/starts with '-'/)
  })
})
