// Which archive of a llama.cpp release fits this runner, by name, as llama.cpp's release workflow
// (.github/workflows/release.yml) names them for Linux:
//   cpu     llama-<tag>-bin-ubuntu-<x64|arm64>.tar.gz
//   vulkan  llama-<tag>-bin-ubuntu-vulkan-<x64|arm64>.tar.gz
//   hip     llama-<tag>-bin-ubuntu-rocm-<major.minor>-x64.tar.gz (the ROCm it was built with)
//   cuda    none: CUDA archives are built for Windows only.
// Each is `tar -czf … --transform "s,^\.,llama-<tag>," -C build/bin .`: one folder holding llama-server and the
// shared libraries (with their symbolic links) it loads from beside itself (RPATH $ORIGIN). Pure.
import { z } from 'zod'
import { oneLine } from '../../util/redact.js'
import type { BuiltBackend } from '../backend.js'

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
}

const ARCH: Record<string, string> = { x64: 'x64', arm64: 'arm64' }

/** The asset for the runner, or why none fits (with what the release has, so the user can see). */
export function chooseAsset(assets: ReleaseAsset[], tag: string, runner: Runner): { asset: ReleaseAsset } | { problem: string } {
  const arch = ARCH[runner.arch]
  // The names come from the API: shown on one line each, so that none can start a workflow command in the log.
  const has = assets.length ? assets.map((a) => oneLine(a.name)).join(', ') : 'no assets'
  const none = (why: string) => ({ problem: `release ${tag} has ${why} (it has ${has})` })
  if (!arch) return none(`no archive for ${runner.arch}`)
  const byName = (name: string) => assets.find((a) => a.name === name)
  if (runner.backend === 'cuda') return { problem: `llama.cpp publishes no CUDA archive for Linux (its release workflow builds CUDA for Windows only)` }
  if (runner.backend === 'cpu' || runner.backend === 'vulkan') {
    const name = `llama-${tag}-bin-ubuntu-${runner.backend === 'vulkan' ? 'vulkan-' : ''}${arch}.tar.gz`
    const asset = byName(name)
    return asset ? { asset } : none(`no ${name}`)
  }
  const prefix = `llama-${tag}-bin-ubuntu-rocm-`
  const suffix = `-${arch}.tar.gz`
  const rocm = assets
    .map((a) => ({ a, version: a.name.startsWith(prefix) && a.name.endsWith(suffix) ? a.name.slice(prefix.length, -suffix.length) : '' }))
    .filter((r) => /^\d+\.\d+$/.test(r.version))
    .sort((x, y) => compareVersions(y.version, x.version))
  if (!rocm.length) return none(`no ROCm archive for ${arch} (${prefix}<version>${suffix})`)
  if (!runner.rocmVersion) return { asset: (rocm[0] as { a: ReleaseAsset }).a }
  const match = rocm.find((r) => r.version === runner.rocmVersion)
  if (match) return { asset: match.a }
  return { problem: `release ${tag} has ROCm ${rocm.map((r) => r.version).join(', ')} archives, and this machine has ROCm ${runner.rocmVersion}` }
}

function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number)
  const [b1 = 0, b2 = 0] = b.split('.').map(Number)
  return a1 - b1 || a2 - b2
}

/** `6.4.1-120` (ROCm's .info/version) → `6.4`. */
export function rocmMajorMinor(text: string): string | undefined {
  return /^(\d+\.\d+)/.exec(text.trim())?.[1]
}
