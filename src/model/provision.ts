// The model input, whatever its form, into a verified GGUF file on this machine.
import * as core from '@actions/core'
import type { ActionInputs } from '../inputs.js'
import { formatBytes } from './progress.js'
import { provisionHubModel } from './hf.js'
import { provisionLocalModel } from './local.js'
import type { ProvisionedModel } from './provisioned.js'
import { ModelStore } from './store.js'
import { provisionUrlModel } from './url.js'

type ModelInputs = Pick<ActionInputs, 'model' | 'modelDigest' | 'hfEndpoint' | 'hfToken' | 'verify' | 'cacheDir'>

export async function provisionModel(inputs: ModelInputs): Promise<ProvisionedModel> {
  const ref = inputs.model
  const model =
    ref.kind === 'file'
      ? await provisionLocalModel(ref, inputs.modelDigest)
      : ref.kind === 'hf'
        ? await provisionHubModel(ref, inputs, new ModelStore(inputs.cacheDir))
        : await provisionUrlModel(ref, inputs, new ModelStore(inputs.cacheDir))
  core.info(
    `Model: ${model.id} at ${model.path} (${model.gguf.architecture}, ${formatBytes(model.sizeBytes)}, ${model.digest}, ${model.cacheHit ? 'cache hit' : 'downloaded'})`,
  )
  return model
}

/** Keeps a stored model from eviction for as long as `pid` (the server) lives. Local files are not stored. */
export async function leaseModel(inputs: ModelInputs, model: ProvisionedModel, pid: number): Promise<void> {
  if (inputs.model.kind !== 'file') await new ModelStore(inputs.cacheDir).lease(model.digest, pid)
}

/** `cache-max-size`: after the run, least recently used models that nothing uses are removed. */
export async function evictModels(inputs: Pick<ActionInputs, 'cacheDir' | 'cacheMaxSizeBytes'>): Promise<void> {
  if (inputs.cacheMaxSizeBytes === undefined) return
  const removed = await new ModelStore(inputs.cacheDir).evict(inputs.cacheMaxSizeBytes)
  if (removed.length) core.info(`cache-max-size ${formatBytes(inputs.cacheMaxSizeBytes)}: removed ${removed.join(', ')}`)
}
