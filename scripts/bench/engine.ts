// Engine: a cold CPU build through the action (empty cache-dir, so an empty ccache too) against the same build by
// hand (the action's own CMake command lines, without ccache); a rebuild after a nearby commit with ccache warm
// (target: at most 0.3 × the cold build); a warm hit. The nearby commit is made in a copy of the test
// repository: two files changed (a message in libllama's sampler, one in the server), as a small upstream change
// would. Minutes of both cores per build: only when named (`npm run bench -- engine`).
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { cmakeBuildArgs, cmakeConfigureArgs } from '../../src/engine/plan.js'
import { llamaCppSource } from '../../test/support/llama-source.js'
import { runMain, type MainRun } from '../../test/support/runner.js'
import { now } from './by-hand.js'
import type { BenchContext, Benchmark } from './context.js'
import type { Section } from './report.js'
import { BENCH_DIR, benchFixture, jobDirsUnder } from './setup.js'
import { median } from './stats.js'

const DIR = path.join(BENCH_DIR, 'engine')
const NEARBY_CHANGES: [string, string, string][] = [
  ['src/llama-sampler.cpp', "does not have support for op %s needed for sampler '%s'", "cannot run op %s, which sampler '%s' needs"],
  ['tools/server/server-context.cpp', 'ctx_shift is not supported by multimodal, it will be disabled', 'ctx_shift does not work with multimodal models; disabled'],
]

const git = (repo: string, args: string[], env: Record<string, string> = {}, input?: string) =>
  execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, input, maxBuffer: 1 << 28 }).trim()

/** A bare copy of the test repository with one more commit on v0.5.0 that changes NEARBY_CHANGES; its SHA. */
export function repositoryWithNearbyCommit(repo: string): string {
  const index = path.join(repo, 'nearby-index')
  const env = { GIT_INDEX_FILE: index, GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@localhost', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@localhost' }
  git(repo, ['read-tree', 'v0.5.0'], env)
  for (const [file, from, to] of NEARBY_CHANGES) {
    const text = git(repo, ['show', `v0.5.0:${file}`])
    if (!text.includes(from)) throw new Error(`${file} at v0.5.0 no longer says ${JSON.stringify(from)}: update NEARBY_CHANGES`)
    const blob = git(repo, ['hash-object', '-w', '--stdin'], {}, `${text.replace(from, to)}\n`)
    git(repo, ['update-index', '--cacheinfo', `100644,${blob},${file}`], env)
  }
  const tree = git(repo, ['write-tree'], env)
  rmSync(index, { force: true })
  const commit = git(repo, ['commit-tree', tree, '-p', 'v0.5.0^{commit}', '-m', 'A nearby commit: two messages reworded'], env)
  // On a branch, as upstream commits are: a remote serves what its refs reach.
  git(repo, ['update-ref', 'refs/heads/nearby', commit])
  return commit
}

function ccacheStats(cacheDir: string): string {
  try {
    const text = execFileSync('ccache', ['--print-stats'], { encoding: 'utf8', env: { ...process.env, CCACHE_DIR: path.join(cacheDir, 'ccache') } })
    const get = (name: string) => Number(new RegExp(`^${name}\\t(\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
    const hits = get('direct_cache_hit') + get('preprocessed_cache_hit')
    return `${hits} hits, ${get('cache_miss')} misses`
  } catch {
    return 'ccache not installed'
  }
}

function byHandBuild(repo: string, work: string): number {
  rmSync(work, { recursive: true, force: true })
  const started = now()
  execFileSync('git', ['clone', '-q', '--depth', '1', '--branch', 'v0.5.0', `file://${repo}`, path.join(work, 'src')], { stdio: 'ignore' })
  const configure = cmakeConfigureArgs({ sourceDir: path.join(work, 'src'), buildDir: path.join(work, 'build'), generator: 'Ninja', backend: 'cpu', cudaArchitectures: undefined, ccache: undefined, cmakeArgs: [] })
  execFileSync('cmake', configure, { stdio: 'ignore' })
  execFileSync('cmake', cmakeBuildArgs(path.join(work, 'build'), 2), { stdio: 'ignore' })
  const seconds = (now() - started) / 1000
  rmSync(work, { recursive: true, force: true })
  return seconds
}

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 1
  const hitRuns = Math.max(3, runs)
  const f = await benchFixture(ctx.log)
  mkdirSync(DIR, { recursive: true })
  const repo = path.join(DIR, 'llama.cpp.git')
  rmSync(repo, { recursive: true, force: true })
  execFileSync('git', ['clone', '-q', '--mirror', llamaCppSource().repo, repo])
  const nearby = repositoryWithNearbyCommit(repo)
  const dirs = jobDirsUnder(path.join(DIR, 'job'))
  const step = async (cacheDir: string, ref: string | undefined, label: string): Promise<MainRun> => {
    const inputs: Record<string, string> = { model: f.model, 'llama-cpp-repo': repo, 'cache-dir': cacheDir, 'remote-cache': 'none', start: 'false', ...(ref ? { 'llama-cpp-ref': ref } : {}) }
    const result = await runMain({ dirs, inputs, timeoutMs: 60 * 60_000 })
    if (result.exitCode !== 0) throw new Error(`${label} failed:\n${result.errors.join('\n')}\n${result.stdout.slice(-4000)}`)
    return result
  }
  const seconds = (r: MainRun) => (r.closedAt - r.spawnedAt) / 1000
  const samples = { hand: [] as number[], cold: [] as number[], nearby: [] as number[], hit: [] as number[] }
  const stats: string[] = []
  for (let i = 0; i < runs; i++) {
    ctx.log(`engine ${i + 1}/${runs}: the same build by hand (minutes)`)
    samples.hand.push(byHandBuild(repo, path.join(DIR, 'by-hand')))
    ctx.log(`engine ${i + 1}/${runs}: by hand in ${samples.hand.at(-1)?.toFixed(0)} s; the cold build through the action (minutes)`)
    const cacheDir = path.join(DIR, 'cache')
    rmSync(cacheDir, { recursive: true, force: true })
    const cold = await step(cacheDir, undefined, 'the cold build')
    if (cold.outputs['engine-cache-hit'] !== 'false') throw new Error('the cold build was a cache hit')
    samples.cold.push(seconds(cold))
    stats.push(`cold: ${ccacheStats(cacheDir)}`)
    execFileSync('ccache', ['--zero-stats'], { env: { ...process.env, CCACHE_DIR: path.join(cacheDir, 'ccache') }, stdio: 'ignore' })
    ctx.log(`engine ${i + 1}/${runs}: cold in ${samples.cold.at(-1)?.toFixed(0)} s; the nearby commit ${nearby.slice(0, 12)}`)
    const rebuilt = await step(cacheDir, nearby, 'the rebuild after a nearby commit')
    if (rebuilt.outputs['engine-commit'] !== nearby) throw new Error(`the rebuild built ${rebuilt.outputs['engine-commit']}, not ${nearby}`)
    samples.nearby.push(seconds(rebuilt))
    stats.push(`nearby commit: ${ccacheStats(cacheDir)}`)
    ctx.log(`engine ${i + 1}/${runs}: nearby commit rebuilt in ${samples.nearby.at(-1)?.toFixed(0)} s`)
    if (i === runs - 1) {
      for (let j = 0; j < hitRuns; j++) {
        const hit = await step(cacheDir, nearby, 'the warm hit')
        if (hit.outputs['engine-cache-hit'] !== 'true') throw new Error('the warm run built again')
        samples.hit.push(seconds(hit))
      }
    }
  }
  return [
    {
      id: 'engine',
      title: 'Engine',
      command: `npm run bench -- engine --runs ${runs}`,
      intro:
        'llama.cpp v0.5.0 (the bundled source, in a bare copy of the test repository) built for cpu by the main step (`start: false`, ' +
        '`remote-cache: none`, `build-jobs` at its default: both CPUs), from an empty cache-dir, so with an empty ccache; by hand: ' +
        "`git clone --depth 1` and the action's own CMake configure and build command lines (src/engine/plan.ts), without ccache. " +
        'Then a commit on top of v0.5.0 that rewords a message in `src/llama-sampler.cpp` and one in ' +
        '`tools/server/server-context.cpp`, built with the same cache-dir (ccache warm); then that engine found in the store.',
      figures: [
        { name: 'cold CPU build (main step)', unit: 's', samples: samples.cold, anchor: { name: 'by hand: clone, configure, build', samples: samples.hand } },
        {
          name: 'rebuild after a nearby commit, ccache warm',
          unit: 's',
          samples: samples.nearby,
          anchor: { name: 'cold build', samples: samples.cold },
          target: { text: '≤ 0.3 × cold', met: median(samples.nearby) / median(samples.cold) <= 0.3 },
        },
        { name: 'warm hit (main step, start: false)', unit: 's', samples: samples.hit, anchor: { name: 'cold build', samples: samples.cold } },
      ],
      notes: [`ccache, per build: ${stats.join('; ')}.`],
    },
  ]
}

export const engine: Benchmark = { id: 'engine', about: 'cold CPU build, rebuild after a nearby commit with ccache warm, warm hit', onlyWhenNamed: true, run }
