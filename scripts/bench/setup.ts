// What the benchmarks share, kept between runs under node_modules/.cache/setup-llama-server/bench: one job's
// directories, a cache-dir holding llama-server built from the bundled llama.cpp source (built once, by the
// action itself, on the first run), and the tiny real model the tests use.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { llamaCppSource } from '../../test/support/llama-source.js'
import { ROOT, runMain, runPost, type JobDirs } from '../../test/support/runner.js'
import { tinyModelBytes } from '../../test/support/tiny-model.js'

export const BENCH_DIR = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server', 'bench')

export interface BenchFixture {
  dirs: JobDirs
  cacheDir: string
  /** The tiny model, a local file in the job's workspace. */
  model: string
  repo: string
  /** llama-server in the engine store of `cacheDir` (source mode's cached engine). */
  engine: string
}

export function jobDirsUnder(root: string): JobDirs {
  const dirs = { root, workspace: path.join(root, 'workspace'), temp: path.join(root, 'temp'), toolCache: path.join(root, 'tool-cache') }
  for (const dir of [dirs.workspace, dirs.temp, dirs.toolCache]) mkdirSync(dir, { recursive: true })
  return dirs
}

/** The inputs of a source-mode job on the fixture: the bundled source at the action's default ref. */
export function sourceInputs(f: Pick<BenchFixture, 'model' | 'repo' | 'cacheDir'>): Record<string, string> {
  return { model: f.model, 'llama-cpp-repo': f.repo, 'cache-dir': f.cacheDir, 'remote-cache': 'none' }
}

let fixture: BenchFixture | undefined

/** The shared fixture; the first call on a machine builds llama-server through the action (minutes). */
export async function benchFixture(log: (line: string) => void): Promise<BenchFixture> {
  if (fixture) return fixture
  const dirs = jobDirsUnder(path.join(BENCH_DIR, 'job'))
  const model = path.join(dirs.workspace, 'tiny.gguf')
  if (!existsSync(model)) writeFileSync(model, await tinyModelBytes())
  const { repo } = llamaCppSource()
  const partial = { dirs, cacheDir: path.join(BENCH_DIR, 'cache'), model, repo }
  log(`fixture: llama-server from ${repo} in ${partial.cacheDir} (built once: minutes on the first run)`)
  const run = await runMain({ dirs, inputs: { ...sourceInputs(partial), start: 'false' }, timeoutMs: 60 * 60_000 })
  if (run.exitCode !== 0) throw new Error(`the fixture's engine could not be provisioned:\n${run.errors.join('\n')}\n${run.stdout.slice(-4000)}`)
  // start: false leaves a process holding the engine's lease until post: a live lease every warm run would check.
  await runPost(run)
  if (run.outputs['engine-cache-hit'] === 'false') log('fixture: llama-server built')
  fixture = { ...partial, engine: run.outputs['engine-path'] as string }
  return fixture
}
