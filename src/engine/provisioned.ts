/** A llama-server binary that runs on this machine. */
export interface ProvisionedEngine {
  path: string
  version: string
  /** The llama.cpp commit it was built from; null for a binary the user supplied. */
  commit: string | null
  provisioningMode: 'source' | 'binary'
  backend: 'cpu' | 'cuda' | 'vulkan' | 'hip'
  cacheHit: boolean
  /** The engine store's key (for a built engine). */
  cacheKey?: string
}
