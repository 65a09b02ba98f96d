// Engines from llama.cpp's release archives, through the runner harness, against the GitHub TEST DOUBLE
// (test/support/github-server.ts: GitHub cannot be reached from here). The archives are packed as llama.cpp's
// release workflow packs them, from the engine test double built as that workflow builds llama.cpp (shared
// libraries and their links beside llama-server, RPATH $ORIGIN). Where no archive fits, auto builds the test
// double's source, fetched over git's HTTP protocol from the same double. test/e2e/llama-cpp-release.test.ts does
// the same with the real llama.cpp.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fakeEngineRepo, GIT_ENV } from '../support/engine-fixture.js'
import { fakeGpuHost, type FakeGpuHost } from '../support/fake-nvidia-smi.js'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { GithubServer, type DownloadFault, type FakeAsset } from '../support/github-server.js'
import { handoffSchemaErrors } from '../support/handoff-schema.js'
import { assetArch, buildReleaseShapedFakeEngine, cpuAssetName, cudaAssetNames, packCudaLikeLlamaCpp, packLikeLlamaCpp, sha256Hex } from '../support/release-archive.js'
import { newJobDirs, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'
import { tarGz } from '../support/tar-writer.js'

const TAG = 'b100'
let gh: GithubServer
let archive: Buffer
let digest: string

/** Assets llama.cpp's release has besides the Linux CPU archive for this machine (names from its workflow). */
function otherAssets(tag: string): FakeAsset[] {
  const other = assetArch() === 'x64' ? 'arm64' : 'x64'
  const names = [
    `llama-${tag}-bin-macos-arm64.tar.gz`, `llama-${tag}-bin-macos-x64.tar.gz`, `llama-${tag}-xcframework.zip`,
    `llama-${tag}-bin-ubuntu-${other}.tar.gz`, `llama-${tag}-bin-ubuntu-s390x.tar.gz`,
    `llama-${tag}-bin-ubuntu-vulkan-x64.tar.gz`, `llama-${tag}-bin-ubuntu-vulkan-arm64.tar.gz`,
    `llama-${tag}-bin-ubuntu-rocm-7.2-x64.tar.gz`, `llama-${tag}-bin-ubuntu-openvino-2026.0-x64.tar.gz`,
    `llama-${tag}-bin-android-arm64.tar.gz`, `llama-${tag}-bin-win-cpu-x64.zip`, `llama-${tag}-bin-win-cpu-arm64.zip`,
    `llama-${tag}-bin-win-cuda-12.4-x64.zip`, `cudart-llama-bin-win-cuda-12.4-x64.zip`, `llama-${tag}-bin-win-cuda-13.3-x64.zip`,
    `cudart-llama-bin-win-cuda-13.3-x64.zip`, `llama-${tag}-bin-win-vulkan-x64.zip`, `llama-${tag}-bin-win-hip-radeon-x64.zip`,
    `llama-${tag}-ui.tar.gz`,
  ]
  return names.map((name) => ({ name, body: Buffer.from(`not the archive this runner needs: ${name}`) }))
}

/**
 * A repository {owner}/llama.cpp on the double: a fresh copy of the engine test double's source, tagged v1.0 (a
 * semver release without assets, also "latest") and `tags` (releases with `assets`).
 */
function publish(owner: string, releases: { tag: string; assets: FakeAsset[] }[]): { url: string; commit: string } {
  const source = fakeEngineRepo(mkdtempSync(path.join(os.tmpdir(), `sls-${owner}-`)))
  gh.addRepo(owner, 'llama.cpp', source.repo)
  gh.addRelease(owner, 'llama.cpp', { tag: 'v1.0', assets: [] }, { latest: true })
  for (const release of releases) {
    if (release.tag !== 'v1.0') execFileSync('git', ['-C', source.repo, 'tag', release.tag], { env: GIT_ENV })
    gh.addRelease(owner, 'llama.cpp', release)
  }
  return { url: gh.repoUrl(owner, 'llama.cpp'), commit: source.commit }
}

beforeAll(async () => {
  gh = await GithubServer.start()
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'sls-archive-')), cpuAssetName(TAG))
  archive = packLikeLlamaCpp(buildReleaseShapedFakeEngine(), TAG, out)
  digest = `sha256:${sha256Hex(archive)}`
})
afterAll(async () => {
  await gh.stop()
})

function jobDirs(): JobDirs {
  const dirs = newJobDirs()
  mkdirSync(path.join(dirs.workspace, 'models'))
  writeHeaderOnlyModel(path.join(dirs.workspace, 'models', 'tiny.gguf'))
  return dirs
}

async function provision(dirs: JobDirs, repo: string, inputs: Record<string, string> = {}, env: Record<string, string> = {}): Promise<MainRun> {
  return await runMain({
    dirs,
    inputs: { model: 'models/tiny.gguf', 'llama-cpp-repo': repo, 'llama-cpp-ref': 'v1.0', backend: 'cpu', start: 'false', 'remote-cache': 'none', ...inputs },
    env: { ...gh.env(), ...env },
  })
}

const built = (run: MainRun) => /Built llama-server in \d+ s/.test(run.stdout)
const enginesDir = (dirs: JobDirs) => path.join(dirs.toolCache, 'setup-llama-server', 'engines')
const entries = (dirs: JobDirs) => (existsSync(path.join(enginesDir(dirs), 'entries')) ? readdirSync(path.join(enginesDir(dirs), 'entries')) : [])

describe('an engine from a release archive', () => {
  it('finds the release of the commit by its tag, checks the archive, keeps its links, runs it from the store, reuses it', async () => {
    const repo = publish('ggml-org', [{ tag: TAG, assets: [...otherAssets(TAG), { name: cpuAssetName(TAG), body: archive }] }])
    const token = 'ghs_jobtoken1234567890'
    const dirs = jobDirs()
    const run = await provision(dirs, repo.url, { 'engine-source': 'release', 'github-token': token })
    expect(run.errors).toEqual([])
    expect(run.outputs).toMatchObject({
      'engine-provisioning-mode': 'release',
      'engine-release-tag': TAG,
      'engine-release-asset': cpuAssetName(TAG),
      'engine-commit': repo.commit,
      'engine-cache-hit': 'false',
      'engine-version': '0 (fixture)',
    })
    expect(built(run)).toBe(false)
    // Keyed by the archive's digest; the versioned library and its links as the archive had them.
    const entry = path.join(enginesDir(dirs), 'entries', `llama-server-release-${digest.slice(7)}`)
    expect(run.outputs['engine-path']).toBe(path.join(entry, 'bin', 'llama-server'))
    expect(readlinkSync(path.join(entry, 'bin', 'libfixture-version.so.0'))).toBe('libfixture-version.so.0.0.1')
    expect(readlinkSync(path.join(entry, 'bin', 'libfixture-version.so'))).toBe('libfixture-version.so.0')
    expect(lstatSync(path.join(entry, 'bin', 'libfixture-version.so.0.0.1')).isFile()).toBe(true)
    expect(readFileSync(path.join(entry, 'bin', 'LICENSE'), 'utf8')).toContain('MIT')
    // The release by its tag, the assets page by page; never "latest" (a semver release without archives here).
    const asked = gh.apiRequests().map((r) => r.path)
    expect(asked).toContain(`/repos/ggml-org/llama.cpp/releases/tags/${TAG}`)
    expect(asked.filter((p) => /\/assets\?per_page=\d+&page=[23]$/.test(p)).length).toBeGreaterThanOrEqual(1)
    expect(asked.some((p) => p.endsWith('/releases/latest'))).toBe(false)
    // The token went to the API, and nowhere else.
    expect(gh.apiRequests().every((r) => r.authorization === `Bearer ${token}`)).toBe(true)
    expect(gh.requests.filter((r) => r.host !== 'api' && r.authorization !== undefined)).toEqual([])
    expect(gh.downloads()).toHaveLength(1)
    expect(run.stdout).toContain(`Release ${TAG} of ggml-org/llama.cpp: ${cpuAssetName(TAG)}`)
    expect(run.stdout).toContain(`Build provenance of ${cpuAssetName(TAG)}: ggml-org/llama.cpp published no attestation for this archive, so none was verified`)
    expect(run.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain(token)

    const apiCalls = gh.apiRequests().length
    const warm = await provision(dirs, repo.url, { 'engine-source': 'release', start: 'true' })
    expect(warm.errors).toEqual([])
    expect(warm.outputs).toMatchObject({ 'engine-cache-hit': 'true', 'engine-path': run.outputs['engine-path'], 'engine-provisioning-mode': 'release' })
    expect(gh.apiRequests().length).toBe(apiCalls)
    expect(gh.downloads()).toHaveLength(1)
    const handoff = JSON.parse(readFileSync(warm.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff).toMatchObject({
      provisioning_mode: 'release',
      engine_commit: repo.commit,
      engine_release: { tag: TAG, asset: cpuAssetName(TAG), digest, url: `${repo.url}/releases/download/${TAG}/${cpuAssetName(TAG)}`, runtime: null },
    })
    expect((await fetch(`${warm.outputs.url}/health`)).status).toBe(200)
    expect((await runPost(warm)).exitCode).toBe(0)
  })

  it('auto: a commit whose only release (semver) has no archives is built, saying why', async () => {
    const repo = publish('semver-only', [])
    const dirs = jobDirs()
    const run = await provision(dirs, repo.url)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(true)
    expect(run.outputs['engine-provisioning-mode']).toBe('source')
    expect(run.stdout).toContain(`No llama.cpp release archive is used: no release of commit ${repo.commit} has an archive for this runner`)
    expect(run.stdout).toContain(`release v1.0 has no ${cpuAssetName('v1.0')} (it has no assets)`)
    const release = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(release.exitCode).toBe(1)
    expect(release.errors[0]).toMatch(/^'engine-source' is release, but no release of commit \w{40} has an archive for this runner/)
  })

  it('a download that does not match the digest GitHub recorded fails the step, in auto too, and stores nothing', async () => {
    const wrong = `sha256:${sha256Hex(Buffer.from('another archive'))}`
    const repo = publish('wrong-digest', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive, digest: wrong }] }])
    const dirs = jobDirs()
    const run = await provision(dirs, repo.url)
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      `${cpuAssetName(TAG)} from ${repo.url}/releases/download/${TAG}/${cpuAssetName(TAG)} has ${digest}, expected ${wrong}; the download was deleted and nothing was stored`,
    ])
    expect(built(run)).toBe(false)
    expect(entries(dirs)).toEqual([])
    expect(readdirSync(path.join(enginesDir(dirs), 'tmp'))).toEqual([])
  })

  it('an asset without a digest is not used unless one is pinned; a pinned one must match', async () => {
    const repo = publish('no-digest', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive, digest: null }] }])
    gh.addAttestations('no-digest', 'llama.cpp', digest, 1)
    const auto = await provision(jobDirs(), repo.url)
    expect(auto.errors).toEqual([])
    expect(built(auto)).toBe(true)
    expect(auto.stdout).toContain(
      `::notice::No llama.cpp release archive is used: ${cpuAssetName(TAG)} (release ${TAG}) has no digest in GitHub's releases API (it was uploaded before GitHub recorded them), and no archive is used unverified; pin its sha256 in 'release-digest' to use it`,
    )
    const unpinned = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(unpinned.errors[0]).toMatch(/^'engine-source' is release, but .* has no digest in GitHub's releases API/)

    const pinned = await provision(jobDirs(), repo.url, { 'engine-source': 'release', 'release-digest': digest })
    expect(pinned.errors).toEqual([])
    expect(pinned.outputs['engine-provisioning-mode']).toBe('release')
    expect(pinned.stdout).toContain(`to be checked against the digest pinned in 'release-digest' (the releases API records none): ${digest}`)
    expect(pinned.stdout).toContain(`Build provenance of ${cpuAssetName(TAG)}: 1 attestation(s) for this archive exist but were not verified`)

    const dirs = jobDirs()
    const mispinned = await provision(dirs, repo.url, { 'engine-source': 'release', 'release-digest': `sha256:${'0'.repeat(64)}` })
    expect(mispinned.errors[0]).toMatch(/has sha256:\w{64}, expected sha256:0{64}; the download was deleted and nothing was stored$/)
    expect(entries(dirs)).toEqual([])
  })

  it('no archive for the backend: auto builds; release fails, listing what the release has', async () => {
    const repo = publish('no-cpu', [{ tag: TAG, assets: otherAssets(TAG) }])
    const auto = await provision(jobDirs(), repo.url)
    expect(auto.errors).toEqual([])
    expect(built(auto)).toBe(true)
    const release = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(release.exitCode).toBe(1)
    expect(release.errors[0]).toContain(`release ${TAG} has no ${cpuAssetName(TAG)} (it has llama-${TAG}-bin-macos-arm64.tar.gz, `)
    expect(release.errors[0]).toContain(`llama-${TAG}-bin-ubuntu-vulkan-${assetArch()}.tar.gz`)
  })

  it('a download the host refuses (HTTP 4xx, a redirect to another scheme, a long rate limit): auto builds with a warning; release fails', async () => {
    const repo = publish('refused-download', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive }] }])
    const faults: [DownloadFault, string][] = [
      [{ kind: 'status', status: 403 }, 'HTTP 403 from '],
      [{ kind: 'redirect', location: 'file:///etc/passwd' }, 'redirected to a file: URL; only http(s) redirects are followed'],
      [{ kind: 'status', status: 429, headers: { 'retry-after': '3600' } }, 'longer than the 300 s the action waits'],
    ]
    for (const [fault, why] of faults) {
      gh.downloadFaults.push(fault)
      const dirs = jobDirs()
      const auto = await provision(dirs, repo.url)
      expect(auto.errors).toEqual([])
      expect(built(auto)).toBe(true)
      const warning = auto.stdout.split('\n').find((l) => l.startsWith('::warning::No llama.cpp release archive is used:'))
      expect(warning).toContain(`the download of the release archive ${cpuAssetName(TAG)} failed (`)
      expect(warning).toContain(why)
      expect(warning).toContain("; set 'engine-source: build' to build without trying it. Building from source instead.")
      expect(entries(dirs)).toEqual([expect.stringMatching(/^llama-server-cpu-/)])
      expect(readdirSync(path.join(enginesDir(dirs), 'tmp'))).toEqual([])
    }
    gh.downloadFaults.push({ kind: 'status', status: 404 })
    const release = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(release.exitCode).toBe(1)
    expect(release.errors[0]).toMatch(/^'engine-source' is release, but the download of the release archive \S+ failed \(HTTP 404 from .*\); set 'engine-source: build' to build without trying it$/)
  })

  it('a commit that many tags point at: the releases of five are asked for, build tags first', async () => {
    const tags = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7']
    const repo = publish('many-tags', tags.map((tag) => ({ tag, assets: otherAssets(tag) })))
    const run = await provision(jobDirs(), repo.url)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(true)
    const asked = gh.apiRequests().filter((r) => r.path.startsWith('/repos/many-tags/llama.cpp/releases/tags/')).map((r) => r.path.split('/').pop())
    expect(asked).toEqual(['b7', 'b6', 'b5', 'b4', 'b3'])
    expect(run.stdout).toContain('; 3 more tags point at it, which were not asked (at most 5 are). Building from source instead.')
  })

  it("names from GitHub's API reach the log on one line: an asset named to start a workflow command starts none", async () => {
    const evil = `${cpuAssetName(TAG)}\n::error::pwned by an asset name`
    const repo = publish('evil-names', [{ tag: TAG, assets: [{ name: evil, body: archive }] }])
    const run = await provision(jobDirs(), repo.url)
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(true)
    expect(run.stdout).toContain(`release ${TAG} has no ${cpuAssetName(TAG)} (it has ${cpuAssetName(TAG)} ::error::pwned by an asset name)`)
    expect(run.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([])
  })

  it('a spent API rate limit: waited for when it resets soon; else auto builds and release fails, with a notice', async () => {
    const repo = publish('rate-limited', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive }] }])
    gh.apiFaults.push({ kind: 'rate-limit', status: 403, resetInSeconds: 1 })
    const waited = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(waited.errors).toEqual([])
    expect(waited.stdout).toMatch(/::notice::GitHub's API rate limit is spent \(HTTP 403 from .*\); waiting \d+ s until it resets/)
    expect(waited.outputs['engine-provisioning-mode']).toBe('release')

    gh.apiFaults.push({ kind: 'rate-limit', status: 429, resetInSeconds: 3600 })
    const auto = await provision(jobDirs(), repo.url)
    expect(auto.errors).toEqual([])
    expect(built(auto)).toBe(true)
    expect(auto.stdout).toMatch(/::notice::No llama.cpp release archive is used: GitHub's API rate limit is spent \(HTTP 429 .*\) until \d{4}-.*Building from source instead\./)

    gh.apiFaults.push({ kind: 'rate-limit', status: 403, resetInSeconds: 3600 })
    const release = await provision(jobDirs(), repo.url, { 'engine-source': 'release' })
    expect(release.errors[0]).toMatch(/^'engine-source' is release, but GitHub's API rate limit is spent \(HTTP 403 .*\) until \d{4}-/)
  })

  it('an archive that reaches outside its folder is refused, in auto too, and nothing is written outside or stored', async () => {
    const hostile = tarGz([
      { name: `llama-${TAG}/`, type: '5' },
      { name: `llama-${TAG}/llama-server`, body: Buffer.from('#!/bin/sh\necho version: 0\n'), mode: 0o755 },
      { name: `llama-${TAG}/libllama.so`, type: '2', link: '/etc/passwd' },
    ])
    const repo = publish('hostile', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: hostile }] }])
    const dirs = jobDirs()
    const run = await provision(dirs, repo.url)
    expect(run.exitCode).toBe(1)
    expect(run.errors).toEqual([
      `${cpuAssetName(TAG)} (release ${TAG}) is refused: entry llama-${TAG}/libllama.so is a symbolic link to "/etc/passwd": only links to a relative path without '..' are kept. Nothing was stored; set 'engine-source: build' to build instead`,
    ])
    expect(entries(dirs)).toEqual([])
    expect(readdirSync(path.join(enginesDir(dirs), 'tmp'))).toEqual([])
  })

  it('build never asks GitHub; llama-server-path wins over release; a repository elsewhere has no releases', async () => {
    const repo = publish('elsewhere', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive }] }])
    const asked = gh.apiRequests().length
    const build = await provision(jobDirs(), repo.url, { 'engine-source': 'build' })
    expect(built(build)).toBe(true)
    expect(build.outputs['engine-provisioning-mode']).toBe('source')
    const given = await provision(jobDirs(), repo.url, { 'engine-source': 'release', 'llama-server-path': build.outputs['engine-path'] as string })
    expect(given.errors).toEqual([])
    expect(given.outputs['engine-provisioning-mode']).toBe('binary')
    expect(gh.apiRequests().length).toBe(asked)

    const local = fakeEngineRepo(mkdtempSync(path.join(os.tmpdir(), 'sls-local-')))
    const auto = await provision(jobDirs(), local.repo)
    expect(auto.stdout).toContain("No llama.cpp release archive is used: 'llama-cpp-repo' is not a GitHub repository URL")
    expect(built(auto)).toBe(true)
    const other = await provision(jobDirs(), repo.url, { 'engine-source': 'release' }, { GITHUB_SERVER_URL: 'https://ghes.example', GITHUB_API_URL: 'https://ghes.example/api/v3' })
    expect(other.errors).toEqual([
      `'engine-source' is release, but 'llama-cpp-repo' is on ${new URL(repo.url).host}, which is neither this runner's GitHub (ghes.example) nor github.com, so it has no GitHub releases`,
    ])
  })
})

// No GPU here: nvidia-smi is its test double (test/support/fake-nvidia-smi.ts), and the CUDA archives hold the engine
// test double with stand-ins of the CUDA backend module and runtime (packCudaLikeLlamaCpp says what they do).
describe('CUDA release archives', () => {
  const sha = (body: Buffer) => `sha256:${sha256Hex(body)}`
  const gpuEnv = (host: FakeGpuHost) => ({ ...host.env, SETUP_LLAMA_SERVER_GPU_LEASES: mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-')) })
  const L4 = { index: 0, name: 'NVIDIA L4', totalMib: 23034, freeMib: 22000, computeCap: '8.9' }

  it('auto on a GPU (with nvcc or without): the newest archive the driver runs, with its runtime, both checked, keyed by both, listing the GPU', async () => {
    const bin = buildReleaseShapedFakeEngine()
    const cuda128 = packCudaLikeLlamaCpp(bin, TAG, '12.8')
    const cuda134 = packCudaLikeLlamaCpp(bin, TAG, '13.4')
    const names = cudaAssetNames(TAG, '12.8')
    const repo = publish('cuda', [{ tag: TAG, assets: [...otherAssets(TAG), { name: cpuAssetName(TAG), body: archive }, cuda134.archive, cuda134.runtime, cuda128.archive, cuda128.runtime] }])
    // The driver runs CUDA 13.0: the 13.4 archive is too new for it, 12.8 is the newest it runs.
    const host = fakeGpuHost([L4], { version: '580.65.06', cuda: '13.0' })
    const dirs = jobDirs()
    const downloads = gh.downloads().length
    const run = await provision(dirs, repo.url, { backend: 'auto' }, gpuEnv(host))
    expect(run.errors).toEqual([])
    expect(built(run)).toBe(false)
    expect(run.stdout).toContain("Backend: auto chose cuda: nvidia-smi lists 0: NVIDIA L4, and llama.cpp's CUDA release archive needs only the driver")
    expect(run.stdout).toContain('The NVIDIA driver runs CUDA 13.0 at most')
    expect(run.outputs).toMatchObject({
      'engine-provisioning-mode': 'release',
      'engine-release-asset': names.archive,
      'engine-release-runtime-asset': names.runtime,
      'engine-cache-hit': 'false',
    })
    // Each archive against its own digest and size.
    const [d1, d2] = [sha(cuda128.archive.body), sha(cuda128.runtime.body)]
    expect(run.stdout).toContain(`: ${names.archive} (`)
    expect(run.stdout).toContain(`to be checked against the digest GitHub's releases API recorded at upload: ${d1}`)
    expect(run.stdout).toContain(`with its CUDA runtime ${names.runtime} (`)
    expect(run.stdout).toContain(`to be checked against its own digest: ${d2}`)
    expect(gh.downloads().length - downloads).toBe(2)
    // One entry keyed by both digests; the runtime's libraries beside llama-server, out of their own folder.
    const key = `llama-server-release-${createHash('sha256').update(`${d1}\n${d2}`).digest('hex')}`
    expect(entries(dirs)).toEqual([key])
    const entryBin = path.join(enginesDir(dirs), 'entries', key, 'bin')
    expect(run.outputs['engine-path']).toBe(path.join(entryBin, 'llama-server'))
    expect(readdirSync(entryBin).sort()).toEqual(
      ['LICENSE', 'libcublas.so.12', 'libcublasLt.so.12', 'libcudart.so.12', 'libfixture-version.so', 'libfixture-version.so.0', 'libfixture-version.so.0.0.1', 'libggml-cuda.so', 'llama-server'].sort(),
    )
    const manifest = JSON.parse(readFileSync(path.join(enginesDir(dirs), 'entries', key, 'engine.json'), 'utf8'))
    expect(manifest.material).toMatchObject({ backend: 'cuda', asset: names.archive, digest: d1, cudaVersion: '12.8', runtime: { asset: names.runtime, digest: d2 } })
    expect(manifest.files.map((f: { path: string }) => f.path)).toContain('bin/libcudart.so.12')
    // --list-devices named the GPU: the CUDA backend loads.
    expect(run.stdout).toContain(`The cuda backend of ${names.archive} loads here: llama-server lists CUDA0`)

    // Warm: found in the store without GitHub; the device list is remembered like --version, so emptying the GPUs
    // that a fresh --list-devices would see changes nothing (a reboot or a system library would ask again).
    writeFileSync(host.env.FAKE_GPU_DEVICES as string, '')
    const apiCalls = gh.apiRequests().length
    const warm = await provision(dirs, repo.url, { backend: 'auto', start: 'true' }, gpuEnv(host))
    expect(warm.errors).toEqual([])
    expect(warm.outputs).toMatchObject({ 'engine-cache-hit': 'true', 'engine-path': run.outputs['engine-path'], 'engine-release-runtime-asset': names.runtime })
    expect(gh.apiRequests().length).toBe(apiCalls)
    expect(gh.downloads().length - downloads).toBe(2)
    const handoff = JSON.parse(readFileSync(warm.outputs['handoff-path'] as string, 'utf8'))
    expect(handoffSchemaErrors(handoff)).toEqual([])
    expect(handoff).toMatchObject({
      backend: 'cuda',
      provisioning_mode: 'release',
      engine_release: { tag: TAG, asset: names.archive, digest: d1, runtime: { asset: names.runtime, digest: d2, url: `${repo.url}/releases/download/${TAG}/${names.runtime}` } },
    })
    expect(warm.summary).toContain(`release ${TAG}: ${names.archive} and ${names.runtime}`)
    expect((await runPost(warm)).exitCode).toBe(0)
  })

  it('a CUDA engine whose backend does not load lists no CUDA device: release fails, the entry is removed, and it is not downloaded again', async () => {
    // The runtime archive lacks libcudart: the backend module cannot load, and the server would run on the CPU.
    const cuda = packCudaLikeLlamaCpp(buildReleaseShapedFakeEngine(), TAG, '12.8', ['libcublas.so.12', 'libcublasLt.so.12'])
    const repo = publish('cuda-no-device', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body: archive }, cuda.archive, cuda.runtime] }])
    const host = fakeGpuHost([L4])
    const dirs = jobDirs()
    const downloads = gh.downloads().length
    const failed = await provision(dirs, repo.url, { backend: 'cuda', 'engine-source': 'release' }, gpuEnv(host))
    expect(failed.exitCode).toBe(1)
    expect(failed.errors).toHaveLength(1)
    expect(failed.errors[0]).toMatch(
      new RegExp(`^'engine-source' is release, but the llama-server of ${cuda.archive.name.replace(/\./g, '\\.')} \\(release ${TAG}\\) cannot use the cuda backend here: \\S+/bin/llama-server --list-devices names no CUDA device \\(it lists none\\): its cuda backend library did not load here, so it would run on the CPU$`),
    )
    expect(entries(dirs)).toEqual([])
    expect(gh.downloads().length - downloads).toBe(2)
    expect(readFileSync(path.join(enginesDir(dirs), 'refused-releases.json'), 'utf8')).toContain('names no CUDA device')

    // backend auto, engine-source release (which builds nothing): the CUDA archive is remembered as refused and not
    // downloaded again, and auto takes the CPU archive instead.
    const cpu = await provision(dirs, repo.url, { backend: 'auto', 'engine-source': 'release' }, gpuEnv(host))
    expect(cpu.errors).toEqual([])
    const notice = cpu.stdout.split('\n').find((l) => l.startsWith('::notice::No llama.cpp CUDA release archive is used:'))
    expect(notice).toContain(`${cuda.archive.name} (release ${TAG}) did not run on this machine before (`)
    expect(notice).toContain('so it is not downloaded again until the machine reboots or a system library is installed. Backend: auto chose cpu: ')
    expect(cpu.outputs).toMatchObject({ 'engine-provisioning-mode': 'release', 'engine-release-asset': cpuAssetName(TAG), 'engine-release-runtime-asset': '' })
    expect(gh.downloads().length - downloads).toBe(3)
  })

  it('an archive whose engine does not run here: auto builds with a warning, and the next run builds without downloading it', async () => {
    // The server without the shared library it loads: --version fails from the store.
    const broken = mkdtempSync(path.join(os.tmpdir(), 'sls-broken-'))
    cpSync(buildReleaseShapedFakeEngine(), broken, { recursive: true, verbatimSymlinks: true })
    for (const lib of readdirSync(broken).filter((n) => n.startsWith('libfixture-version'))) rmSync(path.join(broken, lib))
    const body = packLikeLlamaCpp(broken, TAG, path.join(broken, '..', `${path.basename(broken)}.tar.gz`))
    const repo = publish('does-not-run', [{ tag: TAG, assets: [{ name: cpuAssetName(TAG), body }] }])
    const dirs = jobDirs()
    const first = await provision(dirs, repo.url)
    expect(first.errors).toEqual([])
    expect(built(first)).toBe(true)
    expect(first.stdout).toMatch(new RegExp(`::warning::No llama.cpp release archive is used: the llama-server of ${cpuAssetName(TAG).replace(/\./g, '\\.')} does not run from the store, so it is not relocatable: `))
    const downloads = gh.downloads().length
    const second = await provision(dirs, repo.url)
    expect(second.errors).toEqual([])
    expect(second.outputs['engine-cache-hit']).toBe('true')
    expect(second.stdout).toContain(`::notice::No llama.cpp release archive is used: ${cpuAssetName(TAG)} (release ${TAG}) did not run on this machine before (the llama-server of`)
    expect(gh.downloads().length).toBe(downloads)
  })
})
