// The stores of one cache-dir together: what cache-max-size removes.
import * as core from '@actions/core'
import { EngineStore } from '../engine/store.js'
import type { ActionInputs } from '../inputs.js'
import { formatBytes } from '../util/format.js'
import { ModelStore } from '../model/store.js'
import { evictLeastRecentlyUsed } from './evict.js'

/** `cache-max-size`: after the run, least recently used entries that nothing uses are removed. */
export async function evictCache(inputs: Pick<ActionInputs, 'cacheDir' | 'cacheMaxSizeBytes'>): Promise<void> {
  if (inputs.cacheMaxSizeBytes === undefined) return
  const evicted = await evictLeastRecentlyUsed([new ModelStore(inputs.cacheDir), new EngineStore(inputs.cacheDir)], inputs.cacheMaxSizeBytes)
  for (const e of evicted) core.info(`cache-max-size ${formatBytes(inputs.cacheMaxSizeBytes)}: removed ${e.name} (${formatBytes(e.sizeBytes)})`)
}
