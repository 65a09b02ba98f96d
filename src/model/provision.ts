// The model input, whatever its form, into a verified GGUF file on this machine.
import * as core from '@actions/core'
import type { ActionInputs } from '../inputs.js'
import { formatBytes } from './progress.js'
import { provisionHubModel } from './hf.js'
import { provisionLocalModel } from './local.js'
import type { ProvisionedModel } from './provisioned.js'
import { ModelStore } from './store.js'
import { provisionUrlModel } from './url.js'

type ModelInputs = Pick<ActionInputs, 'model' | 'modelDigest' | 'hfEndpoint' | 'hfToken' | 'verify' | 'cacheDir' | 'remoteCache' | 'networkTimeoutMs'>

export async function provisionModel(inputs: ModelInputs): Promise<ProvisionedModel> {
  const ref = inputs.model
  if ((inputs.remoteCache === 'model' || inputs.remoteCache === 'all') && ref.kind !== 'file') {
    core.notice(`remote-cache: ${inputs.remoteCache} does not send models through the GitHub Actions cache yet; they are kept in cache-dir only.`)
  }
  const store = new ModelStore(inputs.cacheDir)
  const model =
    ref.kind === 'file'
      ? await provisionLocalModel(ref, inputs.modelDigest, store, inputs.verify)
      : ref.kind === 'hf'
        ? await provisionHubModel(ref, inputs, store)
        : await provisionUrlModel(ref, inputs, store)
  core.info(
    `Model: ${model.id} at ${model.path} (${model.gguf.architecture}, ${formatBytes(model.sizeBytes)}, ${model.digest}, ${model.cacheHit ? 'cache hit' : 'downloaded'})`,
  )
  return model
}
