// An engine from llama.cpp's release archive for the resolved commit, where one fits this runner: found through the
// tags that point at the commit (never "latest"), downloaded and checked against the size and sha256 that GitHub
// recorded (or the one pinned), extracted into the engine store under that digest, run with --version from its final
// place, and reused like a built engine. With engine-source auto, whatever keeps a release from fitting (no GitHub
// repository, no release or archive for the commit and backend, no digest, a spent rate limit, an archive that does
// not run here) is said in the log and the engine is built instead; with engine-source release it fails the step.
// A download that does not match its digest, or an archive that tries to leave its folder, fails the step in both.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../../constants.js'
import { EngineError, errorMessage } from '../../errors.js'
import type { GpuInfo } from '../../gpu/nvidia-smi.js'
import { RetriesExhaustedError } from '../../http/request.js'
import { formatBytes } from '../../util/format.js'
import { chooseBackend, type BuiltBackend } from '../backend.js'
import { normalizeRepo, type EngineInputs } from '../plan.js'
import type { ProvisionedEngine } from '../provisioned.js'
import type { ResolvedRef } from '../ref.js'
import { describeFiles, type EngineManifest, EngineStore, type StoredEngine } from '../store.js'
import type { Toolchain } from '../toolchain.js'
import { apiGet, apiList, GitHubRateLimitError, ReleaseApiError, waitingForRateLimit } from './api.js'
import { chooseAsset, parseAssets, ReleaseSchema, rocmMajorMinor, type ReleaseAsset } from './asset.js'
import { downloadAsset } from './download.js'
import { releaseHost, type ReleaseHost } from './github.js'
import { releaseKey, sameRelease, type ReleaseMaterial } from './material.js'
import { tagsAt } from './tags.js'
import { ArchiveError, extractTarGz } from './tar.js'

/** Why no release archive is used; `level` is how loudly auto says it before it builds. */
export class NoReleaseError extends Error {
  override name = 'NoReleaseError'
  constructor(
    message: string,
    readonly level: 'info' | 'notice' | 'warning' = 'info',
  ) {
    super(message)
  }
}

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
    const say = why.level === 'warning' ? core.warning : why.level === 'notice' ? core.notice : core.info
    say(`No llama.cpp release archive is used: ${why.message}. Building from source instead.`)
    return undefined
  }
}

function noReleaseReason(error: unknown): NoReleaseError | undefined {
  if (error instanceof NoReleaseError) return error
  if (error instanceof GitHubRateLimitError) {
    const when = new Date(error.resetAt).toISOString()
    return new NoReleaseError(`${error.message} until ${when}; set '${Input.GithubToken}' (its default, the job's token, raises the limit)`, 'notice')
  }
  if (error instanceof ReleaseApiError || error instanceof RetriesExhaustedError) {
    return new NoReleaseError(`GitHub could not be asked for the release (${errorMessage(error)})`, 'warning')
  }
  return undefined
}

async function fromRelease(inputs: EngineInputs, gpuQuery: Promise<GpuInfo[]>, resolving: Promise<ResolvedRef>, toolchain: Promise<Toolchain>): Promise<ProvisionedEngine> {
  if (inputs.cmakeArgs.length) throw new NoReleaseError(`'${Input.CmakeArgs}' is set, which only a build can apply`)
  if (inputs.cudaArchitectures) throw new NoReleaseError(`'${Input.CudaArchitectures}' is set, which only a build can apply`)
  const where = releaseHost(inputs.llamaCppRepo, process.env, inputs.githubToken)
  if ('reason' in where) throw new NoReleaseError(where.reason)
  const store = new EngineStore(inputs.cacheDir)
  const tc = await toolchain
  const { backend, reason } = chooseBackend(inputs.backend, await gpuQuery, tc.nvcc)
  core.info(`Backend: ${reason}`)
  if (backend === 'cuda') throw new NoReleaseError('llama.cpp publishes no CUDA archive for Linux (its release workflow builds CUDA for Windows only)')
  if (!tc.git) throw new EngineError(`Resolving '${Input.LlamaCppRef}' to a commit needs git, which is missing. Usually: apt-get install git.`)
  const { commit } = await resolving
  core.info(`llama.cpp ${inputs.llamaCppRef} is commit ${commit}`)
  const want = { repo: normalizeRepo(inputs.llamaCppRepo), commit, backend, os: process.platform, arch: process.arch }

  // Warm: an archive of this commit, backend and platform already in the store, found without asking GitHub.
  const known = Object.entries((await store.catalog.read()).entries).find(([, r]) => sameRelease(r.material, want, inputs.releaseDigest))
  if (known) {
    const [key, record] = known
    const hit = await store.withEntryLock(key, `the engine ${key}`, () => store.find(key, inputs.verify))
    if (hit) return provisioned(hit, record.material as ReleaseMaterial, true)
  }

  const { host } = where
  const { tag, asset } = await waitingForRateLimit(() => findAsset(host, tc.git as string, inputs, commit, backend))
  if (asset.digest && inputs.releaseDigest && asset.digest !== inputs.releaseDigest) {
    throw new EngineError(`Input '${Input.ReleaseDigest}' is ${inputs.releaseDigest}, but GitHub's releases API records ${asset.digest} for ${asset.name} (release ${tag}); nothing was downloaded`)
  }
  const digest = asset.digest ?? inputs.releaseDigest
  if (!digest) {
    throw new NoReleaseError(
      `${asset.name} (release ${tag}) has no digest in GitHub's releases API (it was uploaded before GitHub recorded them), and no archive is used unverified; pin its sha256 in '${Input.ReleaseDigest}' to use it`,
      'notice',
    )
  }
  const from = asset.digest ? "the digest GitHub's releases API recorded at upload" : `the digest pinned in '${Input.ReleaseDigest}' (the releases API records none)`
  core.info(`Release ${tag} of ${host.owner}/${host.repo}: ${asset.name} (${formatBytes(asset.size)}), to be checked against ${from}: ${digest}`)
  await provenanceNote(host, digest, inputs.networkTimeoutMs)
  const material: ReleaseMaterial = { source: 'release', ...want, tag, asset: asset.name, digest, url: asset.url }
  const key = releaseKey(digest)
  return await store.withEntryLock(key, `the engine ${key}`, async () => {
    const cached = await store.find(key, inputs.verify)
    if (cached) return provisioned(cached, material, true)
    return provisioned(await installRelease(store, material, asset.size, inputs.networkTimeoutMs), material, false)
  })
}

/** The first release among the tags at `commit` (build tags first) that has an archive for this runner. */
async function findAsset(host: ReleaseHost, git: string, inputs: EngineInputs, commit: string, backend: BuiltBackend): Promise<{ tag: string; asset: ReleaseAsset }> {
  const tags = await tagsAt(git, inputs.llamaCppRepo, commit)
  if (!tags.length) throw new NoReleaseError(`no tag of ${host.owner}/${host.repo} points at commit ${commit}, so it has no release`)
  const repoApi = `${host.api}/repos/${encodeURIComponent(host.owner)}/${encodeURIComponent(host.repo)}`
  const runner = { arch: process.arch, backend, rocmVersion: backend === 'hip' ? await rocmVersion() : undefined }
  const problems: string[] = []
  for (const tag of tags) {
    const answer = await apiGet(host, `${repoApi}/releases/tags/${encodeURIComponent(tag)}`, inputs.networkTimeoutMs)
    if (answer.status === 404) {
      problems.push(`tag ${tag} has no release`)
      continue
    }
    const release = ReleaseSchema.safeParse(answer.json)
    if (!release.success || release.data.tag_name !== tag) throw new ReleaseApiError(`the release of tag ${tag} is not what GitHub's API answers for a release`)
    const assets = parseAssets(await apiList(host, `${repoApi}/releases/${release.data.id}/assets?per_page=100`, inputs.networkTimeoutMs))
    const choice = chooseAsset(assets, tag, runner)
    if ('asset' in choice) return { tag, asset: choice.asset }
    problems.push(choice.problem)
  }
  throw new NoReleaseError(`no release of commit ${commit} has an archive for this runner (Linux ${process.arch}, ${backend}): ${problems.join('; ')}`)
}

/** Says whether the archive's build provenance was verified: it never is here (no Sigstore trust root is fetched). */
async function provenanceNote(host: ReleaseHost, digest: string, timeoutMs: number): Promise<void> {
  const repo = `${host.owner}/${host.repo}`
  let count: number
  try {
    const answer = await apiGet(host, `${host.api}/repos/${encodeURIComponent(host.owner)}/${encodeURIComponent(host.repo)}/attestations/${digest}`, timeoutMs)
    const list = (answer.json as { attestations?: unknown } | undefined)?.attestations
    count = Array.isArray(list) ? list.length : 0
  } catch (error) {
    core.info(`Build provenance: not verified; GitHub's attestations API could not be asked (${errorMessage(error)}). The archive is trusted by its sha256 digest alone.`)
    return
  }
  if (count === 0) {
    core.info(`Build provenance: ${repo} published no attestation for this archive, so none was verified; it is trusted by its sha256 digest alone.`)
  } else {
    core.info(
      `Build provenance: ${count} attestation(s) for this archive exist but were not verified: that needs Sigstore's trust root, which this action does not fetch. ` +
        `It is trusted by its sha256 digest alone; to check the attestations: gh attestation verify <archive> --repo ${repo}`,
    )
  }
}

async function rocmVersion(): Promise<string | undefined> {
  const root = process.env.ROCM_PATH || '/opt/rocm'
  const text = await fs.readFile(path.join(root, '.info', 'version'), 'utf8').catch(() => '')
  return rocmMajorMinor(text)
}

/** Download, digest, extraction into a work directory of the store, then install: nothing is stored unless it runs. */
async function installRelease(store: EngineStore, material: ReleaseMaterial, size: number, timeoutMs: number): Promise<StoredEngine> {
  const work = await store.newWorkDir()
  try {
    const archive = path.join(work, 'archive.tar.gz')
    const started = Date.now()
    await downloadAsset({ url: material.url, dest: archive, label: material.asset, size, digest: material.digest, timeoutMs })
    const staged = path.join(work, 'entry')
    await fs.mkdir(path.join(staged, 'bin'), { recursive: true })
    const tree = await extractTarGz(archive, path.join(staged, 'bin')).catch((error: unknown) => {
      if (!(error instanceof ArchiveError)) throw error
      throw new EngineError(`${material.asset} (release ${material.tag}) is refused: ${error.message}. Nothing was stored; set '${Input.EngineSource}: build' to build instead`)
    })
    await fs.rm(archive)
    if (!tree.files.includes('llama-server')) {
      throw new EngineError(`${material.asset} (release ${material.tag}) has no llama-server file in its folder ${tree.top}/. Nothing was stored; set '${Input.EngineSource}: build' to build instead`)
    }
    const manifest: EngineManifest = {
      key: releaseKey(material.digest),
      material,
      files: await describeFiles(staged, tree.files.map((f) => `bin/${f}`)),
      links: tree.links.map((l) => ({ path: `bin/${l.path}`, target: l.target })),
      built_at: new Date().toISOString(),
    }
    core.info(`Downloaded and extracted ${material.asset} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${tree.files.length} files, ${tree.links.length} symbolic links`)
    try {
      return await store.install(staged, manifest, `the llama-server of ${material.asset}`)
    } catch (error) {
      if (error instanceof EngineError) throw new NoReleaseError(error.message, 'warning')
      throw error
    }
  } finally {
    await store.removeWorkDir(work)
  }
}

function provisioned(stored: StoredEngine, m: ReleaseMaterial, cacheHit: boolean): ProvisionedEngine {
  core.info(`Engine: ${stored.binary} (version ${stored.version}, release ${m.tag}: ${m.asset}, ${cacheHit ? 'cache hit' : 'downloaded'})`)
  return {
    path: stored.binary,
    version: stored.version,
    commit: m.commit,
    provisioningMode: 'release',
    backend: m.backend,
    cacheHit,
    cacheKey: stored.key,
    release: { tag: m.tag, asset: m.asset, digest: m.digest, url: m.url },
  }
}
