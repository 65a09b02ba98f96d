// What names an engine from a release archive: where it came from and, above all, the archive's digest, which is
// its store key. Recorded in the entry's manifest, so that a later run finds it for the same commit, backend and
// platform without asking GitHub again.
import type { BuiltBackend } from '../backend.js'

export interface ReleaseMaterial {
  source: 'release'
  /** llama-cpp-repo as the build's key sees it (normalizeRepo). */
  repo: string
  commit: string
  backend: BuiltBackend
  os: string
  arch: string
  tag: string
  asset: string
  /** `sha256:<hex>` of the archive. */
  digest: string
  url: string
}

/** The store key of a release archive's engine: its digest. */
export function releaseKey(digest: string): string {
  return `llama-server-release-${digest.replace(/^sha256:/, '')}`
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
    (digest === undefined || m.digest === digest)
  )
}
