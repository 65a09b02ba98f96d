// Builds the engine TEST DOUBLE (test/fixtures/engine, a stand-in llama-server) with CMake, as a user's build would.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { ROOT } from './runner.js'

export function buildFakeLlamaServer(): string {
  const source = path.join(ROOT, 'test', 'fixtures', 'engine')
  const build = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server-tests', 'fake-engine')
  execFileSync('cmake', ['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release'], { stdio: 'pipe' })
  execFileSync('cmake', ['--build', build, '--target', 'llama-server'], { stdio: 'pipe' })
  return path.join(build, 'llama-server')
}
