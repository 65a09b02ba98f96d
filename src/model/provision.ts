// The model input, whatever its form, into a verified GGUF file on this machine.
import * as core from '@actions/core'
import { Input } from '../constants.js'
import { NotSupportedError } from '../errors.js'
import type { ActionInputs } from '../inputs.js'
import { provisionLocalModel } from './local.js'
import type { ProvisionedModel } from './provisioned.js'

export async function provisionModel(inputs: Pick<ActionInputs, 'model' | 'modelDigest'>): Promise<ProvisionedModel> {
  const ref = inputs.model
  switch (ref.kind) {
    case 'file': {
      const model = await provisionLocalModel(ref, inputs.modelDigest)
      core.info(`Model: ${model.path} (${model.gguf.architecture}, ${model.sizeBytes} bytes, ${model.digest})`)
      return model
    }
    case 'hf':
      throw new NotSupportedError(`Input '${Input.Model}': fetching from the Hugging Face Hub (hf:)`)
    case 'url':
      throw new NotSupportedError(`Input '${Input.Model}': fetching a model from a URL`)
  }
}
