import type { GgufInfo } from './gguf.js'

/** A model ready to serve: a verified GGUF file on this machine. */
export interface ProvisionedModel {
  id: string
  /** The file llama-server is given (the first part of a split model). */
  path: string
  /** Every part, in order (one entry unless the model is split). */
  parts: string[]
  digest: string
  sizeBytes: number
  gguf: GgufInfo
  cacheHit: boolean
  /** True when it lives in a store the action fetches into (its own, or the Hugging Face cache), false for a local file used in place. */
  stored: boolean
}
