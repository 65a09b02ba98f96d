// What names an engine from a release archive: where it came from and, above all, the archive's digest (with a CUDA
// archive, its CUDA runtime archive's digest too), which is its store key. Recorded in the entry's manifest, so that
// a later run finds it for the same commit, backend and platform without asking GitHub again.
import { createHash } from 'node:crypto'
import type { BuiltBackend } from '../backend.js'

/** One archive of a release: its name, `sha256:<hex>` and download URL. */
export interface ReleaseFile {
  asset: string
  digest: string
  url: string
}

export interface ReleaseMaterial extends ReleaseFile {
  source: 'release'
  /** llama-cpp-repo as the build's key sees it (normalizeRepo). */
  repo: string
  commit: string
  backend: BuiltBackend
  os: string
  arch: string
  tag: string
  /**
   * A CUDA archive's runtime (`cudart-llama-…`: libcudart, libcublas, libcublasLt), extracted beside llama-server;
   * null otherwise (and absent from entries made before CUDA archives were used).
   */
  runtime?: ReleaseFile | null
  /** The CUDA version a CUDA archive was built with (`12.8`, from its name); null otherwise. */
  cudaVersion?: string | null
}

/** The store key of a release archive's engine: its digest; with a CUDA runtime archive, both digests hashed. */
export function releaseKey(digest: string, runtimeDigest?: string): string {
  const hex = digest.replace(/^sha256:/, '')
  if (!runtimeDigest) return `llama-server-release-${hex}`
  return `llama-server-release-${createHash('sha256').update(`${digest}\n${runtimeDigest}`).digest('hex')}`
}

/** `12.8` ≤ `13.0`: versions of the form major.minor compared as numbers. */
export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number)
  const [b1 = 0, b2 = 0] = b.split('.').map(Number)
  return a1 - b1 || a2 - b2
}

/** True when `material` is a release's for this commit, backend and platform (and digest, when one is pinned). */
export function sameRelease(material: unknown, want: Pick<ReleaseMaterial, 'repo' | 'commit' | 'backend' | 'os' | 'arch'>, digest: string | undefined): boolean {
  const m = material as Partial<ReleaseMaterial> | undefined
  return (
    m?.source === 'release' &&
    m.repo === want.repo &&
    m.commit === want.commit &&
    m.backend === want.backend &&
    m.os === want.os &&
    m.arch === want.arch &&
    // The catalog is input: the newest-CUDA sort reads this as a version string.
    (m.cudaVersion === undefined || m.cudaVersion === null || typeof m.cudaVersion === 'string') &&
    (digest === undefined || m.digest === digest)
  )
}
