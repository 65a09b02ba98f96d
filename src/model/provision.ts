// The model input, whatever its form, into a verified GGUF file on this machine.
import * as core from '@actions/core'
import type { ActionInputs } from '../inputs.js'
import { formatBytes } from '../util/format.js'
import { provisionHubModel } from './hf.js'
import { provisionLocalModel } from './local.js'
import type { ProvisionedModel } from './provisioned.js'
import { planRemoteModelSave, RemoteBackedModelStore, remoteModelSkipReason, remoteModelsWanted } from './remote.js'
import { ModelStore } from './store.js'
import { provisionUrlModel } from './url.js'

type ModelInputs = Pick<
  ActionInputs,
  | 'model'
  | 'modelDigest'
  | 'hfEndpoint'
  | 'hfToken'
  | 'verify'
  | 'cacheDir'
  | 'remoteCache'
  | 'remoteCacheMaxModelSizeBytes'
  | 'networkTimeoutMs'
  | 'downloadConnections'
  | 'hfCache'
>

export async function provisionModel(inputs: ModelInputs): Promise<ProvisionedModel> {
  const ref = inputs.model
  const remote = remoteModelsWanted(inputs)
  // With remote-cache model or all, a model the store lacks is looked for in the GitHub Actions cache first.
  const store = remote ? new RemoteBackedModelStore(inputs.cacheDir) : new ModelStore(inputs.cacheDir)
  const model =
    ref.kind === 'file'
      ? await provisionLocalModel(ref, inputs.modelDigest, store, inputs.verify)
      : ref.kind === 'hf'
        ? await provisionHubModel(ref, inputs, store)
        : await provisionUrlModel(ref, inputs, store)
  core.info(
    `Model: ${model.id} at ${model.path} (${model.gguf.architecture}, ${formatBytes(model.sizeBytes)}, ${model.digest}, ${model.cacheHit ? 'cache hit' : 'downloaded'})`,
  )
  if (remote) {
    const skip = remoteModelSkipReason(inputs, model)
    if (skip) core.notice(skip)
    // What this job downloaded; a model found in a store (local or remote) is already where it needs to be.
    else if (!model.cacheHit) await planRemoteModelSave(model, ref)
  }
  return model
}
