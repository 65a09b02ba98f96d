// An engine from llama.cpp's release archive for the resolved commit, where one fits this runner: found through the
// tags that point at the commit (never "latest"), downloaded and checked against the size and sha256 that GitHub
// recorded (or the one pinned), extracted into the engine store under that digest, run with --version from its final
// place and, for a GPU backend, asked with --list-devices whether that backend loads here; then reused like a built
// engine. With engine-source auto, whatever keeps a release from fitting (no GitHub repository, no release or archive
// for the commit and backend, no digest, a spent rate limit, a refused download, an archive that does not run here)
// is said in the log and the engine is built instead; with engine-source release it fails the step. A download that
// does not match its digest, or an archive that tries to leave its folder, fails the step in both. An archive whose
// engine did not run here is remembered, so that later runs build without downloading it again.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../../constants.js'
import { EngineError, errorMessage } from '../../errors.js'
import { queryDriverCudaVersion, type GpuInfo } from '../../gpu/nvidia-smi.js'
import { RateLimitError, RequestError, RetriesExhaustedError } from '../../http/request.js'
import { formatBytes } from '../../util/format.js'
import { oneLine } from '../../util/redact.js'
import { chooseReleaseBackend, type BuiltBackend } from '../backend.js'
import { backendDevices } from '../devices.js'
import { normalizeRepo, type EngineInputs } from '../plan.js'
import type { ProvisionedEngine } from '../provisioned.js'
import type { ResolvedRef } from '../ref.js'
import { EngineStore, type StoredEngine } from '../store.js'
import type { Toolchain } from '../toolchain.js'
import { GitHubRateLimitError, ReleaseApiError, waitingForRateLimit } from './api.js'
import { rocmMajorMinor, type ReleaseAsset } from './asset.js'
import { ReleaseDownloadError } from './download.js'
import { releaseHost } from './github.js'
import { installRelease, ReleaseDoesNotRunError } from './install.js'
import { NoReleaseError, ReleaseLookup } from './lookup.js'
import { compareVersions, releaseKey, sameRelease, type ReleaseMaterial } from './material.js'
import { RefusedReleases } from './refused.js'

/** The engine from a release archive, or undefined when auto should build instead (the log says why). */
export async function provisionFromRelease(
  inputs: EngineInputs,
  gpus: Promise<GpuInfo[]>,
  resolving: Promise<ResolvedRef>,
  toolchain: Promise<Toolchain>,
): Promise<ProvisionedEngine | undefined> {
  try {
    return await fromRelease(inputs, gpus, resolving, toolchain)
  } catch (error) {
    const why = noReleaseReason(error)
    if (!why) throw error
    if (inputs.engineSource === 'release') throw new EngineError(`'${Input.EngineSource}' is release, but ${why.message}`)
    tell(why, `No llama.cpp release archive is used: ${why.message}. Building from source instead.`)
    return undefined
  }
}

/** Says `text` as loudly as `why` asks; core.info writes it as it is, so it goes on one line (names come from outside). */
function tell(why: NoReleaseError, text: string): void {
  const say = why.level === 'warning' ? core.warning : why.level === 'notice' ? core.notice : core.info
  say(oneLine(text))
}

function noReleaseReason(error: unknown): NoReleaseError | undefined {
  if (error instanceof NoReleaseError) return error
  if (error instanceof GitHubRateLimitError) {
    const when = new Date(error.resetAt).toISOString()
    return new NoReleaseError(`${error.message} until ${when}; set '${Input.GithubToken}' (its default, the job's token, raises the limit)`, 'notice')
  }
  if (error instanceof ReleaseDownloadError) return new NoReleaseError(`${error.message}; set '${Input.EngineSource}: build' to build without trying it`, 'warning')
  if (error instanceof ReleaseApiError || error instanceof RetriesExhaustedError || error instanceof RequestError || error instanceof RateLimitError) {
    return new NoReleaseError(`GitHub could not be asked for the release (${errorMessage(error)})`, 'warning')
  }
  return undefined
}

/** What every backend's look-up shares. */
interface Context {
  inputs: EngineInputs
  store: EngineStore
  refused: RefusedReleases
  lookup: ReleaseLookup
  want: Pick<ReleaseMaterial, 'repo' | 'commit' | 'os' | 'arch'>
}

async function fromRelease(inputs: EngineInputs, gpuQuery: Promise<GpuInfo[]>, resolving: Promise<ResolvedRef>, toolchain: Promise<Toolchain>): Promise<ProvisionedEngine> {
  if (inputs.cmakeArgs.length) throw new NoReleaseError(`'${Input.CmakeArgs}' is set, which only a build can apply`)
  if (inputs.cudaArchitectures) throw new NoReleaseError(`'${Input.CudaArchitectures}' is set, which only a build can apply`)
  const where = releaseHost(inputs.llamaCppRepo, process.env, inputs.githubToken)
  if ('reason' in where) throw new NoReleaseError(where.reason)
  const store = new EngineStore(inputs.cacheDir)
  const tc = await toolchain
  const choice = chooseReleaseBackend(inputs.backend, await gpuQuery, tc.nvcc, inputs.engineSource === 'auto')
  core.info(`Backend: ${choice.reason}`)
  if (!tc.git) throw new EngineError(`Resolving '${Input.LlamaCppRef}' to a commit needs git, which is missing. Usually: apt-get install git.`)
  const { commit } = await resolving
  core.info(`llama.cpp ${inputs.llamaCppRef} is commit ${commit}`)
  const ctx: Context = {
    inputs,
    store,
    refused: new RefusedReleases(path.join(store.root, 'refused-releases.json')),
    lookup: new ReleaseLookup(where.host, tc.git, inputs.llamaCppRepo, commit, inputs.networkTimeoutMs),
    want: { repo: normalizeRepo(inputs.llamaCppRepo), commit, os: process.platform, arch: process.arch },
  }
  try {
    return await releaseFor(ctx, choice.backend)
  } catch (error) {
    const why = noReleaseReason(error)
    if (!why || !choice.otherwise) throw error
    tell(why, `No llama.cpp CUDA release archive is used: ${why.message}. Backend: ${choice.otherwise}`)
    return await releaseFor(ctx, 'cpu')
  }
}

/** The release engine for `backend`: one in the store for this commit, or the archive's, downloaded. */
async function releaseFor(ctx: Context, backend: BuiltBackend): Promise<ProvisionedEngine> {
  const { inputs, store } = ctx
  const want = { ...ctx.want, backend }
  // Warm: an archive of this commit, backend and platform already in the store, found without asking GitHub (or the
  // driver: a CUDA engine that no longer loads its backend is refused by its device list, which a driver change asks
  // again). The newest CUDA version first.
  const known = Object.entries((await store.catalog.read()).entries)
    .filter(([, r]) => sameRelease(r.material, want, inputs.releaseDigest))
    .map(([key, r]) => ({ key, material: r.material as ReleaseMaterial }))
    .sort((a, b) => compareVersions(b.material.cudaVersion ?? '0', a.material.cudaVersion ?? '0'))
  for (const { key, material } of known) {
    const hit = await store.withEntryLock(key, `the engine ${key}`, async () => {
      const found = await store.find(key, inputs.verify)
      return found && (await checked(ctx, found, material, true))
    })
    if (hit) return hit
  }

  const cudaVersion = backend === 'cuda' ? await queryDriverCudaVersion() : undefined
  if (backend === 'cuda') core.info(`The NVIDIA driver runs CUDA ${cudaVersion ?? '(nvidia-smi did not say which)'} at most`)
  const runner = { arch: process.arch, backend, rocmVersion: backend === 'hip' ? await rocmVersion() : undefined, cudaVersion }
  const found = await waitingForRateLimit(() => ctx.lookup.find(runner))
  const { tag, asset, runtime } = found
  if (asset.digest && inputs.releaseDigest && asset.digest !== inputs.releaseDigest) {
    throw new EngineError(`Input '${Input.ReleaseDigest}' is ${inputs.releaseDigest}, but GitHub's releases API records ${asset.digest} for ${asset.name} (release ${tag}); nothing was downloaded`)
  }
  const digest = asset.digest ?? inputs.releaseDigest
  if (!digest) throw noDigest(asset, tag, `; pin its sha256 in '${Input.ReleaseDigest}' to use it`)
  // release-digest pins the llama archive; its CUDA runtime is used only with the digest GitHub recorded.
  if (runtime && !runtime.digest) throw noDigest(runtime, tag, '')
  const from = asset.digest ? "the digest GitHub's releases API recorded at upload" : `the digest pinned in '${Input.ReleaseDigest}' (the releases API records none)`
  core.info(`Release ${tag} of ${ctx.lookup.name}: ${asset.name} (${formatBytes(asset.size)}), to be checked against ${from}: ${digest}`)
  if (runtime) core.info(`  with its CUDA runtime ${runtime.name} (${formatBytes(runtime.size)}), to be checked against its own digest: ${runtime.digest}`)
  const material: ReleaseMaterial = {
    source: 'release',
    ...want,
    tag,
    asset: asset.name,
    digest,
    url: asset.url,
    runtime: runtime ? { asset: runtime.name, digest: runtime.digest as string, url: runtime.url } : null,
    cudaVersion: found.cudaVersion ?? null,
  }
  const key = releaseKey(digest, material.runtime?.digest)
  const before = await ctx.refused.why(key)
  if (before) {
    throw new NoReleaseError(
      `${asset.name} (release ${tag}) did not run on this machine before (${before}), so it is not downloaded again until the machine reboots or a system library is installed`,
      'notice',
    )
  }
  await ctx.lookup.provenanceNote(asset.name, digest)
  if (material.runtime) await ctx.lookup.provenanceNote(material.runtime.asset, material.runtime.digest)
  return await store.withEntryLock(key, `the engine ${key}`, async () => {
    const cached = await store.find(key, inputs.verify)
    if (cached) return await checked(ctx, cached, material, true)
    let installed: StoredEngine
    try {
      installed = await installRelease(store, material, { asset: asset.size, runtime: runtime?.size }, inputs.networkTimeoutMs)
    } catch (error) {
      if (!(error instanceof ReleaseDoesNotRunError)) throw error
      await ctx.refused.remember(key, error.message)
      throw new NoReleaseError(error.message, 'warning')
    }
    return await checked(ctx, installed, material, false)
  })
}

function noDigest(asset: ReleaseAsset, tag: string, pin: string): NoReleaseError {
  return new NoReleaseError(
    `${asset.name} (release ${tag}) has no digest in GitHub's releases API (it was uploaded before GitHub recorded them), and no archive is used unverified${pin}`,
    'notice',
  )
}

/**
 * The engine, once a GPU backend's engine has shown that it loads that backend here (--list-devices). One that does
 * not is removed from the store and remembered, and auto builds instead (called under the entry's lock).
 */
async function checked(ctx: Context, stored: StoredEngine, m: ReleaseMaterial, cacheHit: boolean): Promise<ProvisionedEngine> {
  if (m.backend !== 'cpu') {
    try {
      const devices = await backendDevices(stored.binary, m.backend, ctx.store.outputs, ctx.inputs.verify)
      core.info(`The ${m.backend} backend of ${m.asset} loads here: llama-server lists ${devices.join(', ')}`)
    } catch (error) {
      if (!(error instanceof EngineError)) throw error
      await ctx.store.remove(stored.key, error.message)
      await ctx.refused.remember(stored.key, error.message)
      throw new NoReleaseError(`the llama-server of ${m.asset} (release ${m.tag}) cannot use the ${m.backend} backend here: ${error.message}`, 'warning')
    }
  }
  core.info(`Engine: ${stored.binary} (version ${stored.version}, release ${m.tag}: ${m.asset}${m.runtime ? ` with ${m.runtime.asset}` : ''}, ${cacheHit ? 'cache hit' : 'downloaded'})`)
  return {
    path: stored.binary,
    version: stored.version,
    commit: m.commit,
    provisioningMode: 'release',
    backend: m.backend,
    cacheHit,
    cacheKey: stored.key,
    release: { tag: m.tag, asset: m.asset, digest: m.digest, url: m.url, runtime: m.runtime ?? null },
  }
}

async function rocmVersion(): Promise<string | undefined> {
  const root = process.env.ROCM_PATH || '/opt/rocm'
  const text = await fs.readFile(path.join(root, '.info', 'version'), 'utf8').catch(() => '')
  return rocmMajorMinor(text)
}
