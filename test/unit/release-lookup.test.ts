// The pure parts of finding a llama.cpp release archive: where to ask, which tags point at the commit, which asset
// fits the runner (names as llama.cpp's release workflow gives them), pages and rate limits in GitHub's answers; and
// the bound on a paged list, against a real local HTTP server.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { apiList, nextLink, rateLimitReset } from '../../src/engine/release/api.js'
import type { BuiltBackend } from '../../src/engine/backend.js'
import { parseDevices } from '../../src/engine/devices.js'
import { chooseAsset, parseAssets, rocmMajorMinor, type ReleaseAsset, type Runner } from '../../src/engine/release/asset.js'
import { releaseHost, repoOnHost } from '../../src/engine/release/github.js'
import { releaseKey, sameRelease } from '../../src/engine/release/material.js'
import { tagsPointingAt } from '../../src/engine/release/tags.js'

const asset = (name: string): ReleaseAsset => ({ name, size: 1, digest: `sha256:${'a'.repeat(64)}`, url: `https://github.com/o/r/releases/download/b7000/${name}` })

/** What llama.cpp's release b7000 has (its workflow's names), Linux and otherwise. */
const B7000 = [
  'llama-b7000-bin-macos-arm64.tar.gz',
  'llama-b7000-bin-ubuntu-x64.tar.gz',
  'llama-b7000-bin-ubuntu-arm64.tar.gz',
  'llama-b7000-bin-ubuntu-s390x.tar.gz',
  'llama-b7000-bin-ubuntu-vulkan-x64.tar.gz',
  'llama-b7000-bin-ubuntu-vulkan-arm64.tar.gz',
  'llama-b7000-bin-ubuntu-rocm-7.2-x64.tar.gz',
  'llama-b7000-bin-ubuntu-rocm-6.4-x64.tar.gz',
  'llama-b7000-bin-ubuntu-openvino-2026.0-x64.tar.gz',
  'llama-b7000-bin-ubuntu-cuda-12.8-x64.tar.gz',
  'cudart-llama-b7000-bin-ubuntu-cuda-12.8-x64.tar.gz',
  'llama-b7000-bin-ubuntu-cuda-13.4-x64.tar.gz',
  'cudart-llama-b7000-bin-ubuntu-cuda-13.4-x64.tar.gz',
  'llama-b7000-bin-ubuntu-cuda-13.4-arm64.tar.gz',
  'cudart-llama-b7000-bin-ubuntu-cuda-13.4-arm64.tar.gz',
  'llama-b7000-bin-win-cuda-12.4-x64.zip',
  'cudart-llama-bin-win-cuda-12.4-x64.zip',
  'llama-b7000-bin-win-vulkan-x64.zip',
].map(asset)

const runner = (arch: string, backend: BuiltBackend, versions: { rocm?: string; cuda?: string } = {}): Runner => ({ arch, backend, rocmVersion: versions.rocm, cudaVersion: versions.cuda })

describe('chooseAsset', () => {
  it.each([
    ['x64', 'cpu', undefined, 'llama-b7000-bin-ubuntu-x64.tar.gz'],
    ['arm64', 'cpu', undefined, 'llama-b7000-bin-ubuntu-arm64.tar.gz'],
    ['x64', 'vulkan', undefined, 'llama-b7000-bin-ubuntu-vulkan-x64.tar.gz'],
    ['arm64', 'vulkan', undefined, 'llama-b7000-bin-ubuntu-vulkan-arm64.tar.gz'],
    ['x64', 'hip', '6.4', 'llama-b7000-bin-ubuntu-rocm-6.4-x64.tar.gz'],
    ['x64', 'hip', undefined, 'llama-b7000-bin-ubuntu-rocm-7.2-x64.tar.gz'],
  ] as const)('%s %s (ROCm %s): %s', (arch, backend, rocm, name) => {
    expect(chooseAsset(B7000, 'b7000', runner(arch, backend, { rocm }))).toEqual({ asset: asset(name) })
  })

  it.each([
    // The newest CUDA version the driver runs, with the runtime archive of the same version.
    ['x64', '13.4', '13.4'],
    ['x64', '14.0', '13.4'],
    ['x64', '13.0', '12.8'],
    ['x64', '12.8', '12.8'],
    ['arm64', '13.4', '13.4'],
  ] as const)('%s cuda, the driver runs CUDA %s: the %s archive and its runtime', (arch, driver, version) => {
    expect(chooseAsset(B7000, 'b7000', runner(arch, 'cuda', { cuda: driver }))).toEqual({
      asset: asset(`llama-b7000-bin-ubuntu-cuda-${version}-${arch}.tar.gz`),
      runtime: asset(`cudart-llama-b7000-bin-ubuntu-cuda-${version}-${arch}.tar.gz`),
      cudaVersion: version,
    })
  })

  it('cuda: an archive whose runtime is missing is passed over for an older one that has it', () => {
    const without134 = B7000.filter((a) => a.name !== 'cudart-llama-b7000-bin-ubuntu-cuda-13.4-x64.tar.gz')
    expect(chooseAsset(without134, 'b7000', runner('x64', 'cuda', { cuda: '13.4' }))).toMatchObject({ cudaVersion: '12.8' })
    const noRuntime = B7000.filter((a) => !a.name.startsWith('cudart-'))
    expect(chooseAsset(noRuntime, 'b7000', runner('x64', 'cuda', { cuda: '13.4' }))).toMatchObject({
      problem: expect.stringMatching(
        /^release b7000 has no CUDA runtime archive for llama-b7000-bin-ubuntu-cuda-13\.4-x64\.tar\.gz, llama-b7000-bin-ubuntu-cuda-12\.8-x64\.tar\.gz \(cudart-llama-b7000-bin-ubuntu-cuda-<version>-x64\.tar\.gz\) \(it has /,
      ),
    })
  })

  it('says why nothing fits, with what the release has', () => {
    expect(chooseAsset(B7000, 'b7000', runner('x64', 'cuda', { cuda: '12.4' }))).toEqual({
      problem: "release b7000 has CUDA 13.4, 12.8 archives, and this machine's driver runs CUDA 12.4 at most",
    })
    expect(chooseAsset(B7000, 'b7000', runner('arm64', 'cuda', { cuda: '13.0' }))).toEqual({
      problem: "release b7000 has CUDA 13.4 archives, and this machine's driver runs CUDA 13.0 at most",
    })
    expect(chooseAsset(B7000, 'b7000', runner('x64', 'cuda'))).toEqual({
      problem: 'release b7000 has CUDA 13.4, 12.8 archives, and nvidia-smi did not say which CUDA version the driver runs',
    })
    expect(chooseAsset(B7000.filter((a) => !a.name.includes('ubuntu-cuda')), 'b7000', runner('x64', 'cuda', { cuda: '13.4' }))).toMatchObject({
      problem: expect.stringMatching(/^release b7000 has no CUDA archive for x64 \(llama-b7000-bin-ubuntu-cuda-<version>-x64\.tar\.gz\) \(it has /),
    })
    expect(chooseAsset(B7000, 'b7000', runner('x64', 'hip', { rocm: '6.2' }))).toEqual({
      problem: 'release b7000 has ROCm 7.2, 6.4 archives, and this machine has ROCm 6.2',
    })
    expect(chooseAsset(B7000, 'b7000', runner('arm64', 'hip'))).toMatchObject({
      problem: expect.stringMatching(/^release b7000 has no ROCm archive for arm64 \(llama-b7000-bin-ubuntu-rocm-<version>-arm64\.tar\.gz\) \(it has llama-b7000-bin-macos-arm64\.tar\.gz, /),
    })
    expect(chooseAsset([], 'v0.5.0', runner('x64', 'cpu'))).toEqual({
      problem: 'release v0.5.0 has no llama-v0.5.0-bin-ubuntu-x64.tar.gz (it has no assets)',
    })
    // The tag of the release, not of another: an archive named for b6999 is not b7000's.
    expect(chooseAsset([asset('llama-b6999-bin-ubuntu-x64.tar.gz')], 'b7000', runner('x64', 'cpu'))).toHaveProperty('problem')
    expect(chooseAsset(B7000, 'b7000', runner('ia32', 'cpu'))).toHaveProperty('problem')
  })

  it('rocmMajorMinor reads ROCm .info/version', () => {
    expect(rocmMajorMinor('6.4.1-120\n')).toBe('6.4')
    expect(rocmMajorMinor('')).toBeUndefined()
  })
})

describe('parseAssets', () => {
  it('keeps uploaded assets with their digest, or null for one that is missing or malformed', () => {
    const items = [
      { name: 'a', size: 3, digest: `sha256:${'b'.repeat(64)}`, browser_download_url: 'https://x/a', state: 'uploaded' },
      { name: 'b', size: 3, digest: null, browser_download_url: 'https://x/b', state: 'uploaded' },
      { name: 'c', size: 3, digest: 'md5:abc', browser_download_url: 'https://x/c' },
      { name: 'd', size: 3, browser_download_url: 'https://x/d', state: 'open' },
      { name: 'e', size: -1, browser_download_url: 'https://x/e' },
      'garbage',
    ]
    expect(parseAssets(items)).toEqual([
      { name: 'a', size: 3, digest: `sha256:${'b'.repeat(64)}`, url: 'https://x/a' },
      { name: 'b', size: 3, digest: null, url: 'https://x/b' },
      { name: 'c', size: 3, digest: null, url: 'https://x/c' },
    ])
  })
})

describe('tagsPointingAt', () => {
  const commit = 'c'.repeat(40)
  const other = 'd'.repeat(40)
  const tagObject = 'e'.repeat(40)
  it('build tags newest first, then the others; annotated tags by the commit they peel to', () => {
    const output = [
      `${commit}\trefs/tags/b6999`,
      `${commit}\trefs/tags/b7000`,
      `${tagObject}\trefs/tags/v0.5.0`,
      `${commit}\trefs/tags/v0.5.0^{}`,
      `${other}\trefs/tags/b6998`,
      `${commit}\trefs/tags/b700`,
      `${commit}\trefs/heads/master`,
      `${tagObject}\trefs/tags/annotated-elsewhere`,
      `${other}\trefs/tags/annotated-elsewhere^{}`,
    ].join('\n')
    expect(tagsPointingAt(output, commit)).toEqual(['b7000', 'b6999', 'b700', 'v0.5.0'])
    // A name git would refuse is no tag to ask for, nor to show.
    expect(tagsPointingAt(`${commit}\trefs/tags/b1\r::error::x\n${commit}\trefs/tags/a b\n${commit}\trefs/tags/b2`, commit)).toEqual(['b2'])
    expect(tagsPointingAt(output, 'f'.repeat(40))).toEqual([])
  })
})

describe('releaseHost', () => {
  const token = 'ghs_token'
  it('github.com repositories are asked at api.github.com, with the job token when the runner is on github.com', () => {
    expect(releaseHost('https://github.com/ggml-org/llama.cpp', {}, token)).toEqual({
      host: { api: 'https://api.github.com', owner: 'ggml-org', repo: 'llama.cpp', credential: { origin: 'https://api.github.com', token } },
    })
    expect(releaseHost('git@github.com:ggml-org/llama.cpp.git', { GITHUB_SERVER_URL: 'https://github.com', GITHUB_API_URL: 'https://api.github.com' }, undefined)).toEqual({
      host: { api: 'https://api.github.com', owner: 'ggml-org', repo: 'llama.cpp', credential: undefined },
    })
  })

  it("a GHES runner asks its own API for its repositories, and github.com's without its token", () => {
    const env = { GITHUB_SERVER_URL: 'https://ghes.example', GITHUB_API_URL: 'https://ghes.example/api/v3' }
    expect(releaseHost('https://ghes.example/mirrors/llama.cpp.git', env, token)).toEqual({
      host: { api: 'https://ghes.example/api/v3', owner: 'mirrors', repo: 'llama.cpp', credential: { origin: 'https://ghes.example', token } },
    })
    expect(releaseHost('https://github.com/ggml-org/llama.cpp', env, token)).toEqual({
      host: { api: 'https://api.github.com', owner: 'ggml-org', repo: 'llama.cpp', credential: undefined },
    })
    expect(releaseHost('https://ghes.example/mirrors/llama.cpp', { GITHUB_SERVER_URL: 'https://ghes.example' }, undefined)).toMatchObject({ host: { api: 'https://ghes.example/api/v3' } })
  })

  it('anything else has no GitHub releases, and says why', () => {
    expect(releaseHost('/srv/llama.cpp', {}, token)).toEqual({ reason: "'llama-cpp-repo' is not a GitHub repository URL (https://<server>/<owner>/<repo>), so it has no GitHub releases" })
    expect(releaseHost('https://gitlab.example/a/llama.cpp', {}, token)).toEqual({
      reason: "'llama-cpp-repo' is on gitlab.example, which is neither this runner's GitHub (github.com) nor github.com, so it has no GitHub releases",
    })
    expect(repoOnHost('https://github.com/ggml-org/llama.cpp/tree/master')).toBeUndefined()
    expect(repoOnHost('https://github.com/ggml-org')).toBeUndefined()
  })
})

describe("GitHub's answers", () => {
  it('nextLink finds rel="next" among the others', () => {
    const link = '<https://api.github.com/r/1/assets?page=1>; rel="prev", <https://api.github.com/r/1/assets?page=3>; rel="next", <https://api.github.com/r/1/assets?page=5>; rel="last"'
    expect(nextLink(link)).toBe('https://api.github.com/r/1/assets?page=3')
    expect(nextLink('<https://x/?page=5>; rel="last"')).toBeUndefined()
    expect(nextLink(null)).toBeUndefined()
  })

  it('rateLimitReset tells a spent rate limit from another refusal', () => {
    const headers = (h: Record<string, string>) => ({ header: (name: string) => h[name] ?? null })
    const now = 1_000_000_000_000
    expect(rateLimitReset(headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1000000060' }), 403, now)).toBe(1_000_000_060_000)
    expect(rateLimitReset(headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1000000060' }), 429, now)).toBe(1_000_000_060_000)
    expect(rateLimitReset(headers({ 'retry-after': '30' }), 403, now)).toBe(now + 30_000)
    expect(rateLimitReset(headers({ 'x-ratelimit-remaining': '12' }), 403, now)).toBeUndefined()
    expect(rateLimitReset(headers({ 'x-ratelimit-remaining': '0' }), 404, now)).toBeUndefined()
  })
})

describe('apiList against a local HTTP server', () => {
  it('follows pages, and refuses a list whose pages together hold more JSON than allowed', async () => {
    // Every page is 1 KB and names the next: a server that pages without end.
    const server = http.createServer((req, res) => {
      const page = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('page') ?? 1)
      const body = JSON.stringify([{ name: `a${page}`, pad: 'x'.repeat(1000) }])
      res.writeHead(200, { 'content-type': 'application/json', link: `<http://127.0.0.1:${(server.address() as AddressInfo).port}/list?page=${page + 1}>; rel="next"` })
      res.end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const host = { api, owner: 'o', repo: 'r', credential: undefined }
      await expect(apiList(host, `${api}/list?page=1`, 5_000, 5_000)).rejects.toThrow(`${api}/list?… answered more than 5000 bytes of JSON across its pages`)
      await expect(apiList(host, `${api}/list?page=1`, 5_000)).rejects.toThrow(`${api}/list?… has more than 50 pages`)
    } finally {
      server.close()
    }
  })
})

describe('llama-server --list-devices', () => {
  it('names the devices that are not the CPU, as common/arg.cpp prints them', () => {
    const output = 'Available devices:\n  CUDA0: NVIDIA H100 80GB HBM3 (81090 MiB, 80627 MiB free)\n  CUDA1: NVIDIA L4 (22563 MiB, 22000 MiB free)\n\n0.00.000.759 I srv  llama_server: initializing ...\n'
    expect(parseDevices(output)).toEqual(['CUDA0', 'CUDA1'])
    expect(parseDevices('Available devices:\n  Vulkan0: llvmpipe (LLVM 15.0.6, 256 bits) (32036 MiB, 32036 MiB free)\n')).toEqual(['Vulkan0'])
    expect(parseDevices('Available devices:\n  (none)\n')).toEqual([])
  })
})

describe('release material', () => {
  it('a CUDA archive is keyed by both digests', () => {
    const digest = `sha256:${'1'.repeat(64)}`
    const runtime = `sha256:${'2'.repeat(64)}`
    expect(releaseKey(digest, runtime)).toMatch(/^llama-server-release-[0-9a-f]{64}$/)
    expect(releaseKey(digest, runtime)).not.toBe(releaseKey(digest))
    expect(releaseKey(digest, runtime)).not.toBe(releaseKey(digest, `sha256:${'3'.repeat(64)}`))
    expect(releaseKey(digest, runtime)).not.toBe(releaseKey(runtime, digest))
  })

  it('is keyed by the digest and matched by commit, backend, platform (and a pinned digest)', () => {
    const digest = `sha256:${'1'.repeat(64)}`
    const material = { source: 'release', repo: 'https://github.com/ggml-org/llama.cpp', commit: 'c'.repeat(40), backend: 'cpu', os: 'linux', arch: 'x64', tag: 'b1', asset: 'a', digest, url: 'u' }
    expect(releaseKey(digest)).toBe(`llama-server-release-${'1'.repeat(64)}`)
    const want = { repo: material.repo, commit: material.commit, backend: 'cpu' as const, os: 'linux', arch: 'x64' }
    expect(sameRelease(material, want, undefined)).toBe(true)
    expect(sameRelease(material, want, digest)).toBe(true)
    expect(sameRelease(material, want, `sha256:${'2'.repeat(64)}`)).toBe(false)
    expect(sameRelease(material, { ...want, backend: 'vulkan' }, undefined)).toBe(false)
    expect(sameRelease({ ...material, source: undefined, recipe: 1 }, want, undefined)).toBe(false)
  })
})
