// Release: the engine from llama.cpp's release archive against the cold build and the warm hit, through the main
// step (dist/, start: false, remote-cache: none). The archive is v0.5.0 built and packed as llama.cpp's release
// workflow does (test/support/llama-release.ts, built once per machine), served by the GitHub TEST DOUBLE on
// loopback, so the download is as fast as this machine's disk: on a runner, add the archive's size over GitHub's
// download speed. The cold build fetches the same commit from the double over git's HTTP protocol, with an empty
// cache-dir (so an empty ccache): minutes of both cores per run, so only when named (`npm run bench -- release`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { GithubServer } from '../../test/support/github-server.js'
import { llamaCppRelease, RELEASE_TAG } from '../../test/support/llama-release.js'
import { newJobDirs, runMain, type MainRun } from '../../test/support/runner.js'
import { tinyModelBytes } from '../../test/support/tiny-model.js'
import type { BenchContext, Benchmark } from './context.js'
import { formatValue, type Section } from './report.js'
import { median } from './stats.js'

interface Series {
  /** Whole main step, seconds. */
  step: number[]
  /** Its engine phase, seconds (from the job summary). */
  engine: number[]
}

function enginePhase(run: MainRun): number {
  const m = /engine \(resolve \+ build\)<\/td><td><code>([\d.]+) s</.exec(run.summary)
  return m ? Number(m[1]) : Number.NaN
}

function wholeNumber(text: string | undefined, fallback: number, option: string): number {
  const n = text === undefined ? fallback : Number(text)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${option} takes a whole number, not ${JSON.stringify(text)}`)
  return n
}

async function run(ctx: BenchContext): Promise<Section[]> {
  const runs = ctx.runs ?? 3
  const buildRuns = wholeNumber(ctx.options['build-runs'], 1, 'build-runs')
  const { log } = ctx
  const work = mkdtempSync(path.join(os.tmpdir(), 'sls-bench-release-'))
  const release = llamaCppRelease(work, log)
  const gh = await GithubServer.start()
  try {
    gh.addRepo('ggml-org', 'llama.cpp', release.repo)
    gh.addRelease('ggml-org', 'llama.cpp', { tag: 'v0.5.0', assets: [] }, { latest: true })
    gh.addRelease('ggml-org', 'llama.cpp', { tag: RELEASE_TAG, assets: [{ name: release.assetName, body: release.archive }] })
    const dirs = newJobDirs()
    // Other work on the machine stretches a build far more than a download: say how busy it was.
    const load: number[] = []
    writeFileSync(path.join(dirs.workspace, 'tiny.gguf'), await tinyModelBytes())
    const seconds = (r: MainRun) => (r.closedAt - r.spawnedAt) / 1000
    const step = async (cacheDir: string, source: 'release' | 'build', label: string): Promise<MainRun> => {
      const run = await runMain({
        dirs,
        inputs: { model: 'tiny.gguf', 'llama-cpp-repo': gh.repoUrl('ggml-org', 'llama.cpp'), 'engine-source': source, 'cache-dir': cacheDir, 'remote-cache': 'none', start: 'false' },
        env: gh.env(),
        timeoutMs: 90 * 60_000,
      })
      load.push(os.loadavg()[0] as number)
      if (run.exitCode !== 0) throw new Error(`${label} failed:\n${run.errors.join('\n')}\n${run.stdout.slice(-4000)}`)
      log(`${label}: ${formatValue(seconds(run), 's')} (engine phase ${formatValue(enginePhase(run), 's')})`)
      return run
    }
    const series = { coldRelease: { step: [], engine: [] }, warmRelease: { step: [], engine: [] }, coldBuild: { step: [], engine: [] }, warmBuild: { step: [], engine: [] } } as Record<string, Series>
    const add = (name: string, r: MainRun, expect: { hit: boolean; mode: string }) => {
      if ((r.outputs['engine-cache-hit'] === 'true') !== expect.hit || r.outputs['engine-provisioning-mode'] !== expect.mode) {
        throw new Error(`${name}: expected cache hit ${expect.hit} and mode ${expect.mode}, got ${JSON.stringify(r.outputs)}`)
      }
      series[name]?.step.push(seconds(r))
      series[name]?.engine.push(enginePhase(r))
    }
    for (let i = 0; i < runs; i++) {
      const cacheDir = path.join(work, `release-cache-${i}`)
      add('coldRelease', await step(cacheDir, 'release', `release ${i + 1}/${runs}: cold`), { hit: false, mode: 'release' })
      add('warmRelease', await step(cacheDir, 'release', `release ${i + 1}/${runs}: warm`), { hit: true, mode: 'release' })
      rmSync(cacheDir, { recursive: true, force: true })
    }
    for (let i = 0; i < buildRuns; i++) {
      const cacheDir = path.join(work, `build-cache-${i}`)
      add('coldBuild', await step(cacheDir, 'build', `build ${i + 1}/${buildRuns}: cold (minutes)`), { hit: false, mode: 'source' })
      add('warmBuild', await step(cacheDir, 'build', `build ${i + 1}/${buildRuns}: warm`), { hit: true, mode: 'source' })
      rmSync(cacheDir, { recursive: true, force: true })
    }
    const { coldRelease, warmRelease, coldBuild, warmBuild } = series as Record<'coldRelease' | 'warmRelease' | 'coldBuild' | 'warmBuild', Series>
    const built = buildRuns > 0
    const rows: [string, Series][] = [
      ['cold, from the release archive', coldRelease],
      ['warm hit of that engine', warmRelease],
      ...(built ? ([['cold build from source (empty ccache)', coldBuild], ['warm hit of the built engine', warmBuild]] as [string, Series][]) : []),
    ]
    return [
      {
        id: 'release',
        title: 'Engine from a release archive',
        command: `npm run bench -- release --runs ${runs}${buildRuns !== 1 ? ` --build-runs ${buildRuns}` : ''}`,
        intro:
          'The main step (`start: false`, `remote-cache: none`) for llama.cpp v0.5.0 on cpu: `engine-source: release` with an empty cache-dir ' +
          `(${release.assetName}, ${formatValue(release.archive.length, 'bytes')}, packed as llama.cpp's release workflow packs it from a shared-library build, ` +
          "served by the GitHub test double on loopback: add the download at GitHub's speed on a real runner), then again with that cache-dir" +
          (built ? '; `engine-source: build` with an empty cache-dir (so an empty ccache; the source fetched from the same double over git\'s HTTP protocol), then again. ' : '. ') +
          `Times are the whole step, from the spawn of its process to its exit. The 1-minute load average after each step was ${Math.min(...load).toFixed(1)} to ${Math.max(...load).toFixed(1)} (${os.cpus().length} CPUs).`,
        figures: [
          built
            ? { name: 'cold engine from the release archive', unit: 's', samples: coldRelease.step, anchor: { name: 'cold build from source', samples: coldBuild.step } }
            : { name: 'cold engine from the release archive', unit: 's', samples: coldRelease.step },
          { name: 'warm hit of the release engine', unit: 's', samples: warmRelease.step, anchor: { name: 'cold from the release archive', samples: coldRelease.step } },
          ...(built
            ? [
                { name: 'cold build from source (empty ccache)', unit: 's' as const, samples: coldBuild.step },
                { name: 'warm hit of the built engine', unit: 's' as const, samples: warmBuild.step, anchor: { name: 'cold build from source', samples: coldBuild.step } },
              ]
            : []),
        ],
        tables: [
          {
            title: "The engine phase alone (the job summary's `engine (resolve + build)` time; the step adds Node's start, the model, a local file, and the outputs), medians",
            header: ['figure', 'main step', 'engine phase', 'runs'],
            rows: rows.map(([name, x]) => [name, formatValue(median(x.step), 's'), formatValue(median(x.engine), 's'), String(x.step.length)]),
          },
        ],
      },
    ]
  } finally {
    await gh.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

export const release: Benchmark = {
  id: 'release',
  about: "the engine from llama.cpp's release archive against the cold build and the warm hit",
  onlyWhenNamed: true,
  options: [{ name: 'build-runs', value: 'N', about: 'cold builds from source for the release benchmark (default 1; 0 skips them and their anchor)' }],
  run,
}
