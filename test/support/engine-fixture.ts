// Builds the engine TEST DOUBLE (test/fixtures/engine, a stand-in llama-server) with CMake, as a user's build would.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './runner.js'

export function buildFakeLlamaServer(): string {
  const source = path.join(ROOT, 'test', 'fixtures', 'engine')
  const build = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server-tests', 'fake-engine')
  execFileSync('cmake', ['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release'], { stdio: 'pipe' })
  execFileSync('cmake', ['--build', build, '--target', 'llama-server'], { stdio: 'pipe' })
  return path.join(build, 'bin', 'llama-server')
}

/**
 * A git repository of the engine TEST DOUBLE's source, tagged v1.0: a source that the action's real build recipe
 * (git fetch at a commit, CMake configure, build target llama-server, install) turns into an engine in seconds.
 */
export function fakeEngineRepo(root: string): { repo: string; commit: string } {
  const repo = path.join(root, 'fake-llama.cpp')
  mkdirSync(repo, { recursive: true })
  for (const file of ['CMakeLists.txt', 'fake_llama_server.c', 'fixture_version.c']) {
    copyFileSync(path.join(ROOT, 'test', 'fixtures', 'engine', file), path.join(repo, file))
  }
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: GIT_ENV }).trim()
  git('init', '-q')
  git('add', '.')
  git('commit', '-q', '-m', 'fake llama.cpp')
  git('tag', 'v1.0')
  return { repo, commit: git('rev-parse', 'HEAD') }
}

/** git commits with a fixed identity, whatever the machine's git config says. */
export const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'test',
  GIT_AUTHOR_EMAIL: 'test@example.invalid',
  GIT_COMMITTER_NAME: 'test',
  GIT_COMMITTER_EMAIL: 'test@example.invalid',
}
