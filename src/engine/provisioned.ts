/** A llama-server binary that runs on this machine. */
export interface ProvisionedEngine {
  path: string
  version: string
  /** The llama.cpp commit it was built from; null for a binary the user supplied. */
  commit: string | null
  provisioningMode: 'source' | 'binary' | 'release'
  backend: 'cpu' | 'cuda' | 'vulkan' | 'hip'
  cacheHit: boolean
  /** The engine store's key (for a built engine, or one from a release). */
  cacheKey?: string
  /** The llama.cpp release archive it came from (provisioningMode 'release'). */
  release?: EngineRelease
}

export interface EngineRelease {
  tag: string
  asset: string
  /** `sha256:<hex>` of the archive. */
  digest: string
  url: string
  /** The CUDA runtime archive extracted beside a CUDA archive's llama-server (`cudart-llama-…`); null otherwise. */
  runtime: { asset: string; digest: string; url: string } | null
}
