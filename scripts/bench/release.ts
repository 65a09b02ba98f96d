// `npx tsx scripts/bench/release.ts [--runs N] [--build-runs N]`: the engine from llama.cpp's release archive against
// the cold build and the warm hit, through the main step (dist/, start: false, remote-cache: none), printed as a
// markdown section. The archive is v0.5.0 built and packed as llama.cpp's release workflow does
// (test/support/llama-release.ts, built once per machine), served by the GitHub TEST DOUBLE on loopback, so the
// download is as fast as this machine's disk: on a runner, add the archive's size over GitHub's download speed.
// The cold build fetches the same commit from the double over git's HTTP protocol, with an empty cache-dir (so an
// empty ccache): minutes of both cores per run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { GithubServer } from '../../test/support/github-server.js'
import { llamaCppRelease, RELEASE_TAG } from '../../test/support/llama-release.js'
import { newJobDirs, runMain, type MainRun } from '../../test/support/runner.js'
import { tinyModelBytes } from '../../test/support/tiny-model.js'

interface Figure {
  name: string
  /** Whole main step, seconds. */
  step: number[]
  /** Its engine phase, seconds (from the job summary). */
  engine: number[]
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}
const fmt = (s: number) => (s >= 60 ? `${(s / 60).toFixed(1)} min` : s >= 10 ? `${s.toFixed(0)} s` : `${s.toFixed(2)} s`)

function enginePhase(run: MainRun): number {
  const m = /engine \(resolve \+ build\)<\/td><td><code>([\d.]+) s</.exec(run.summary)
  return m ? Number(m[1]) : Number.NaN
}

export async function releaseBench(options: { runs: number; buildRuns: number; log: (line: string) => void }): Promise<string> {
  const { log } = options
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
    const step = async (cacheDir: string, source: 'release' | 'build', label: string): Promise<{ run: MainRun; seconds: number }> => {
      const started = performance.now()
      const run = await runMain({
        dirs,
        inputs: { model: 'tiny.gguf', 'llama-cpp-repo': gh.repoUrl('ggml-org', 'llama.cpp'), 'engine-source': source, 'cache-dir': cacheDir, 'remote-cache': 'none', start: 'false' },
        env: gh.env(),
        timeoutMs: 90 * 60_000,
      })
      const seconds = (performance.now() - started) / 1000
      load.push(os.loadavg()[0] as number)
      if (run.exitCode !== 0) throw new Error(`${label} failed:\n${run.errors.join('\n')}\n${run.stdout.slice(-4000)}`)
      log(`${label}: ${fmt(seconds)} (engine phase ${fmt(enginePhase(run))})`)
      return { run, seconds }
    }
    const figures: Figure[] = [
      { name: 'cold, from the release archive', step: [], engine: [] },
      { name: 'warm hit of that engine', step: [], engine: [] },
      { name: 'cold build from source (empty ccache)', step: [], engine: [] },
      { name: 'warm hit of the built engine', step: [], engine: [] },
    ]
    const add = (figure: Figure, r: { run: MainRun; seconds: number }, expect: { hit: boolean; mode: string }) => {
      if ((r.run.outputs['engine-cache-hit'] === 'true') !== expect.hit || r.run.outputs['engine-provisioning-mode'] !== expect.mode) {
        throw new Error(`${figure.name}: expected cache hit ${expect.hit} and mode ${expect.mode}, got ${JSON.stringify(r.run.outputs)}`)
      }
      figure.step.push(r.seconds)
      figure.engine.push(enginePhase(r.run))
    }
    for (let i = 0; i < options.runs; i++) {
      const cacheDir = path.join(work, `release-cache-${i}`)
      add(figures[0] as Figure, await step(cacheDir, 'release', `release ${i + 1}/${options.runs}: cold`), { hit: false, mode: 'release' })
      add(figures[1] as Figure, await step(cacheDir, 'release', `release ${i + 1}/${options.runs}: warm`), { hit: true, mode: 'release' })
      rmSync(cacheDir, { recursive: true, force: true })
    }
    for (let i = 0; i < options.buildRuns; i++) {
      const cacheDir = path.join(work, `build-cache-${i}`)
      add(figures[2] as Figure, await step(cacheDir, 'build', `build ${i + 1}/${options.buildRuns}: cold (minutes)`), { hit: false, mode: 'source' })
      add(figures[3] as Figure, await step(cacheDir, 'build', `build ${i + 1}/${options.buildRuns}: warm`), { hit: true, mode: 'source' })
      rmSync(cacheDir, { recursive: true, force: true })
    }
    const coldRelease = median(figures[0]?.step ?? [])
    const rows = figures
      .filter((f) => f.step.length)
      .map((f) => `| ${f.name} | ${fmt(median(f.step))} | ${fmt(median(f.engine))} | ${f.step.length} | ${f.step.map(fmt).join(', ')} | ${(median(f.step) / coldRelease).toFixed(1)}× |`)
    return [
      '## Engine from a release archive',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}.`,
      `The main step (\`start: false\`, \`remote-cache: none\`) for llama.cpp v0.5.0 on cpu: \`engine-source: release\` with an empty`,
      `cache-dir (${release.assetName}, ${(release.archive.length / 2 ** 20).toFixed(1)} MiB, packed as llama.cpp's release workflow`,
      'packs it from a shared-library build, served by the GitHub test double on loopback: add the download at GitHub\'s speed',
      'on a real runner), then again with that cache-dir; `engine-source: build` with an empty cache-dir (so an empty ccache,',
      'the source fetched from the same double over git\'s HTTP protocol), then again. "engine phase" is the job summary\'s',
      '`engine (resolve + build)` time; the step adds Node\'s start, the model (a local file) and the outputs.',
      `The 1-minute load average after each step was ${Math.min(...load).toFixed(1)} to ${Math.max(...load).toFixed(1)} (${os.cpus().length} CPUs).`,
      '',
      '| figure | main step (median) | engine phase (median) | runs | samples | × cold release |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `Command: \`npx tsx scripts/bench/release.ts --runs ${options.runs} --build-runs ${options.buildRuns}\`.`,
      '',
    ].join('\n')
  } finally {
    await gh.stop()
    rmSync(work, { recursive: true, force: true })
  }
}

function parseArgs(argv: string[]): { runs: number; buildRuns: number } {
  const value = (name: string, fallback: number) => {
    const i = argv.indexOf(name)
    const n = i >= 0 ? Number(argv[i + 1]) : fallback
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`)
    return n
  }
  return { runs: Math.max(1, value('--runs', 3)), buildRuns: value('--build-runs', 1) }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2))
  console.log(await releaseBench({ ...args, log: (line) => console.error(`[bench] ${line}`) }))
}
