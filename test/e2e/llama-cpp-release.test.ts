// The real llama.cpp from a release archive: v0.5.0 built as llama.cpp's release workflow builds its Linux archives
// (shared libraries and their links, the CPU backend a module loaded from beside the binary, RPATH $ORIGIN; built
// once per machine, test/support/llama-release.ts), packed as that workflow packs it, and published on the GitHub
// TEST DOUBLE (GitHub cannot be reached from here) as release b7000 of the commit that v0.5.0 (a release without
// archives, and "latest") also names. The action finds it, checks it, extracts it, and the real llama-server serves
// /completion from the engine store. The same build packed under llama.cpp's CUDA archive names (a TEST DOUBLE of a
// CUDA release: no GPU or CUDA here) shows that a CUDA engine whose backend does not load is refused.
import { lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fakeGpuHost } from '../support/fake-nvidia-smi.js'
import { GithubServer } from '../support/github-server.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { buildLlamaCppRelease, llamaCppRelease, RELEASE_TAG, type LlamaCppRelease } from '../support/llama-release.js'
import { packCudaLikeLlamaCpp } from '../support/release-archive.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type MainRun } from '../support/runner.js'
import { tinyModelBytes } from '../support/tiny-model.js'

let gh: GithubServer
let release: LlamaCppRelease
const dirs = newJobDirs()

beforeAll(async () => {
  gh = await GithubServer.start()
  release = llamaCppRelease(mkdtempSync(path.join(os.tmpdir(), 'sls-llama-release-')))
  gh.addRepo('ggml-org', 'llama.cpp', release.repo)
  gh.addRelease('ggml-org', 'llama.cpp', { tag: 'v0.5.0', assets: [] }, { latest: true })
  gh.addRelease('ggml-org', 'llama.cpp', { tag: RELEASE_TAG, assets: [{ name: release.assetName, body: release.archive }] })
  writeFileSync(path.join(dirs.workspace, 'tiny.gguf'), await tinyModelBytes())
}, 40 * 60_000)
afterAll(async () => {
  await gh.stop()
})

async function serve(): Promise<MainRun> {
  // llama-cpp-ref is left at its default, v0.5.0: the release of its commit is found through the b7000 tag.
  return await runMain({
    dirs,
    inputs: { model: 'tiny.gguf', 'llama-cpp-repo': gh.repoUrl('ggml-org', 'llama.cpp'), 'engine-source': 'release', 'remote-cache': 'none', 'ctx-size': '512' },
    env: gh.env(),
    timeoutMs: 5 * 60_000,
  })
}

async function complete(url: string, nPredict: number): Promise<number> {
  const response = await fetch(`${url}/completion`, { method: 'POST', body: JSON.stringify({ prompt: 'Hello, world', n_predict: nPredict, ignore_eos: true }) })
  expect(response.status).toBe(200)
  return ((await response.json()) as { tokens_predicted: number }).tokens_predicted
}

describe('real llama.cpp from a release archive', () => {
  it('extracts the archive with its libraries and links, and the real llama-server serves completions from the store', async () => {
    const run = await serve()
    expect(run.errors).toEqual([])
    expect(run.outputs).toMatchObject({ 'engine-provisioning-mode': 'release', 'engine-release-tag': RELEASE_TAG, 'engine-release-asset': release.assetName, 'engine-commit': release.commit, 'engine-cache-hit': 'false' })
    expect(run.outputs['engine-version']).toMatch(/^0\.5\.0-dev \(build \d+, commit de3ff81\)$/)
    expect(run.stdout).not.toContain('::group::Build')
    const bin = path.dirname(run.outputs['engine-path'] as string)
    const names = readdirSync(bin)
    // The CPU backend is a module found beside the binary; libllama comes with its versioned name and links.
    expect(names).toContain('libggml-cpu.so')
    expect(names.filter((n) => lstatSync(path.join(bin, n)).isSymbolicLink()).length).toBeGreaterThanOrEqual(3)
    expect(lstatSync(path.join(bin, 'libllama.so')).isSymbolicLink()).toBe(true)
    expect(await complete(run.outputs.url as string, 8)).toBe(8)
    const handoff = JSON.parse(readFileSync(run.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff).toMatchObject({ provisioning_mode: 'release', engine_release: { tag: RELEASE_TAG, asset: release.assetName } })
    expect((await runPost(run)).exitCode).toBe(0)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])

    const downloads = gh.downloads().length
    const warm = await serve()
    expect(warm.errors).toEqual([])
    expect(warm.outputs['engine-cache-hit']).toBe('true')
    expect(gh.downloads().length).toBe(downloads)
    expect(await complete(warm.outputs.url as string, 4)).toBe(4)
    await runPost(warm)
    expect(processesWithTrackingId(warm.trackingId)).toEqual([])
  }, 10 * 60_000)

  it('the real CPU llama-server packed under the CUDA names lists no CUDA device: release with backend cuda fails; auto takes the CPU archive', async () => {
    // packCudaLikeLlamaCpp adds a stand-in CUDA backend module and runtime: the real llama-server skips the module it
    // cannot load (as it would a real one without its driver) and runs on the CPU, which only --list-devices shows.
    const cuda = packCudaLikeLlamaCpp(buildLlamaCppRelease(), RELEASE_TAG, '12.8')
    gh.addRepo('cuda-org', 'llama.cpp', release.repo)
    gh.addRelease('cuda-org', 'llama.cpp', { tag: RELEASE_TAG, assets: [{ name: release.assetName, body: release.archive }, cuda.archive, cuda.runtime] })
    const host = fakeGpuHost([{ index: 0, name: 'NVIDIA L4', totalMib: 23034, freeMib: 22000, computeCap: '8.9' }])
    const job = newJobDirs()
    writeFileSync(path.join(job.workspace, 'tiny.gguf'), await tinyModelBytes())
    const provision = async (inputs: Record<string, string>) =>
      await runMain({
        dirs: job,
        inputs: { model: 'tiny.gguf', 'llama-cpp-repo': gh.repoUrl('cuda-org', 'llama.cpp'), 'engine-source': 'release', 'remote-cache': 'none', start: 'false', ...inputs },
        env: { ...gh.env(), ...host.env },
        timeoutMs: 5 * 60_000,
      })
    const refused = await provision({ backend: 'cuda' })
    expect(refused.exitCode).toBe(1)
    expect(refused.errors[0]).toMatch(/^'engine-source' is release, but the llama-server of \S+-cuda-12\.8-\w+\.tar\.gz \(release b7000\) cannot use the cuda backend here: \S+ --list-devices names no CUDA device \(it lists none\)/)
    expect(readdirSync(path.join(job.toolCache, 'setup-llama-server', 'engines', 'entries'))).toEqual([])

    const cpu = await provision({ backend: 'auto' })
    expect(cpu.errors).toEqual([])
    expect(cpu.stdout).toMatch(/::notice::No llama\.cpp CUDA release archive is used: \S+ \(release b7000\) did not run on this machine before \(.*names no CUDA device.*\), so it is not downloaded again .*Backend: auto chose cpu: /)
    expect(cpu.outputs).toMatchObject({ 'engine-provisioning-mode': 'release', 'engine-release-asset': release.assetName, 'engine-release-runtime-asset': '' })
  }, 5 * 60_000)
})
