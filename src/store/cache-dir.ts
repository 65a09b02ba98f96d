// The stores of one cache-dir together: what a running server holds, and what cache-max-size removes.
import * as core from '@actions/core'
import { EngineStore } from '../engine/store.js'
import type { ProvisionedEngine } from '../engine/provisioned.js'
import type { ActionInputs } from '../inputs.js'
import { formatBytes } from '../model/progress.js'
import type { ProvisionedModel } from '../model/provisioned.js'
import { modelEntryName, ModelStore } from '../model/store.js'
import { evictLeastRecentlyUsed } from './evict.js'

/** Keeps the stored model and engine from eviction for as long as `pid` (the server) lives. */
export async function leaseForServer(cacheDir: string, model: ProvisionedModel, engine: ProvisionedEngine, pid: number): Promise<void> {
  if (model.stored) await new ModelStore(cacheDir).lease(modelEntryName(model.digest), pid)
  if (engine.cacheKey) await new EngineStore(cacheDir).lease(engine.cacheKey, pid)
}

/** `cache-max-size`: after the run, least recently used entries that nothing uses are removed. */
export async function evictCache(inputs: Pick<ActionInputs, 'cacheDir' | 'cacheMaxSizeBytes'>): Promise<void> {
  if (inputs.cacheMaxSizeBytes === undefined) return
  const evicted = await evictLeastRecentlyUsed([new ModelStore(inputs.cacheDir), new EngineStore(inputs.cacheDir)], inputs.cacheMaxSizeBytes)
  for (const e of evicted) core.info(`cache-max-size ${formatBytes(inputs.cacheMaxSizeBytes)}: removed ${e.name} (${formatBytes(e.sizeBytes)})`)
}
