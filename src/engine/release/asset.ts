// Which archive of a llama.cpp release fits this runner, by name, as llama.cpp's release workflow
// (.github/workflows/release.yml, v0.5.0) names them for Linux:
//   cpu     llama-<tag>-bin-ubuntu-<x64|arm64>.tar.gz                            (job ubuntu-cpu)
//   vulkan  llama-<tag>-bin-ubuntu-vulkan-<x64|arm64>.tar.gz                     (job ubuntu-vulkan)
//   hip     llama-<tag>-bin-ubuntu-rocm-<major.minor>-x64.tar.gz (the ROCm it was built with)
//   cuda    llama-<tag>-bin-ubuntu-cuda-<label>-<x64|arm64>.tar.gz, with its CUDA runtime beside it in
//           cudart-llama-<tag>-bin-ubuntu-cuda-<label>-<x64|arm64>.tar.gz       (job ubuntu-cuda: labels 12.8 and
//           13.4 for x64, 13.4 for arm64; built with the default CUDA architectures and GGML_BACKEND_DL)
// Each llama archive is `tar -czf … --transform "s,^\.,llama-<tag>," -C build/bin .`: one folder holding llama-server
// and the shared libraries (with their symbolic links) it loads from beside itself (RPATH $ORIGIN). The runtime
// archive holds libcudart.so.<major>, libcublas.so.<major> and libcublasLt.so.<major> in its own folder (named as
// the archive, without .tar.gz), to be extracted beside them. Pure.
import { z } from 'zod'
import { oneLine } from '../../util/redact.js'
import type { BuiltBackend } from '../backend.js'
import { compareVersions } from './material.js'

export interface ReleaseAsset {
  name: string
  size: number
  /** `sha256:<hex>` as GitHub recorded it at upload; null for assets uploaded before GitHub recorded digests. */
  digest: string | null
  url: string
}

export const ReleaseSchema = z.object({ id: z.number().int(), tag_name: z.string(), draft: z.boolean().optional() })

const AssetSchema = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  digest: z.string().nullish(),
  browser_download_url: z.string(),
  state: z.string().optional(),
})

/** The API's assets, those fully uploaded; anything malformed is left out. */
export function parseAssets(items: unknown[]): ReleaseAsset[] {
  const assets: ReleaseAsset[] = []
  for (const item of items) {
    const parsed = AssetSchema.safeParse(item)
    if (!parsed.success || (parsed.data.state !== undefined && parsed.data.state !== 'uploaded')) continue
    const { name, size, digest, browser_download_url: url } = parsed.data
    assets.push({ name, size, digest: digest && /^sha256:[0-9a-f]{64}$/.test(digest) ? digest : null, url })
  }
  return assets
}

export interface Runner {
  arch: string
  backend: BuiltBackend
  /** `7.2` when the machine's ROCm says which it is. */
  rocmVersion: string | undefined
  /** The newest CUDA the driver runs (`12.8`, from nvidia-smi), for cuda. */
  cudaVersion: string | undefined
}

/** The archive for the runner; for cuda also its runtime archive and the CUDA version they were built with. */
export interface ChosenAsset {
  asset: ReleaseAsset
  runtime?: ReleaseAsset
  cudaVersion?: string
}

const ARCH: Record<string, string> = { x64: 'x64', arm64: 'arm64' }

/** The versioned archives `<prefix><major.minor><suffix>` of a release, newest first. */
function versioned(assets: ReleaseAsset[], prefix: string, suffix: string): { a: ReleaseAsset; version: string }[] {
  return assets
    .map((a) => ({ a, version: a.name.startsWith(prefix) && a.name.endsWith(suffix) ? a.name.slice(prefix.length, -suffix.length) : '' }))
    .filter((r) => /^\d+\.\d+$/.test(r.version))
    .sort((x, y) => compareVersions(y.version, x.version))
}

/** The asset for the runner, or why none fits (with what the release has, so the user can see). */
export function chooseAsset(assets: ReleaseAsset[], tag: string, runner: Runner): ChosenAsset | { problem: string } {
  const arch = ARCH[runner.arch]
  // The names come from the API: shown on one line each, so that none can start a workflow command in the log.
  const has = assets.length ? assets.map((a) => oneLine(a.name)).join(', ') : 'no assets'
  const none = (why: string) => ({ problem: `release ${tag} has ${why} (it has ${has})` })
  if (!arch) return none(`no archive for ${runner.arch}`)
  const byName = (name: string) => assets.find((a) => a.name === name)
  if (runner.backend === 'cpu' || runner.backend === 'vulkan') {
    const name = `llama-${tag}-bin-ubuntu-${runner.backend === 'vulkan' ? 'vulkan-' : ''}${arch}.tar.gz`
    const asset = byName(name)
    return asset ? { asset } : none(`no ${name}`)
  }
  if (runner.backend === 'cuda') return chooseCuda(assets, tag, arch, runner.cudaVersion, byName, none)
  const prefix = `llama-${tag}-bin-ubuntu-rocm-`
  const suffix = `-${arch}.tar.gz`
  const rocm = versioned(assets, prefix, suffix)
  if (!rocm.length) return none(`no ROCm archive for ${arch} (${prefix}<version>${suffix})`)
  if (!runner.rocmVersion) return { asset: (rocm[0] as { a: ReleaseAsset }).a }
  const match = rocm.find((r) => r.version === runner.rocmVersion)
  if (match) return { asset: match.a }
  return { problem: `release ${tag} has ROCm ${rocm.map((r) => r.version).join(', ')} archives, and this machine has ROCm ${runner.rocmVersion}` }
}

/**
 * The newest CUDA archive built for a CUDA version the driver runs (a driver runs the programs of its own CUDA
 * version and older ones, not newer ones), with its runtime archive.
 */
function chooseCuda(
  assets: ReleaseAsset[],
  tag: string,
  arch: string,
  driverCuda: string | undefined,
  byName: (name: string) => ReleaseAsset | undefined,
  none: (why: string) => { problem: string },
): ChosenAsset | { problem: string } {
  const prefix = `llama-${tag}-bin-ubuntu-cuda-`
  const suffix = `-${arch}.tar.gz`
  const cuda = versioned(assets, prefix, suffix)
  if (!cuda.length) return none(`no CUDA archive for ${arch} (${prefix}<version>${suffix})`)
  const versions = cuda.map((r) => r.version).join(', ')
  if (!driverCuda) return { problem: `release ${tag} has CUDA ${versions} archives, and nvidia-smi did not say which CUDA version the driver runs` }
  const runnable = cuda.filter((r) => compareVersions(r.version, driverCuda) <= 0)
  if (!runnable.length) return { problem: `release ${tag} has CUDA ${versions} archives, and this machine's driver runs CUDA ${driverCuda} at most` }
  for (const { a, version } of runnable) {
    const runtime = byName(`cudart-${prefix}${version}${suffix}`)
    if (runtime) return { asset: a, runtime, cudaVersion: version }
  }
  return none(`no CUDA runtime archive for ${runnable.map((r) => r.a.name).join(', ')} (cudart-${prefix}<version>${suffix})`)
}

/** `6.4.1-120` (ROCm's .info/version) → `6.4`. */
export function rocmMajorMinor(text: string): string | undefined {
  return /^(\d+\.\d+)/.exec(text.trim())?.[1]
}
