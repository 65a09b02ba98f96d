// The engine inputs into a llama-server binary that runs here.
import * as core from '@actions/core'
import { Input } from '../constants.js'
import { NotSupportedError } from '../errors.js'
import type { ActionInputs } from '../inputs.js'
import { useExistingBinary } from './binary.js'
import type { ProvisionedEngine } from './provisioned.js'

export async function provisionEngine(
  inputs: Pick<ActionInputs, 'llamaServerPath' | 'llamaCppRepo' | 'llamaCppRef' | 'backend'>,
): Promise<ProvisionedEngine> {
  if (inputs.backend !== 'auto' && inputs.backend !== 'cpu') {
    throw new NotSupportedError(`Input '${Input.Backend}' is '${inputs.backend}': the ${inputs.backend} backend`)
  }
  if (inputs.llamaServerPath === undefined) {
    throw new NotSupportedError(
      `Building llama.cpp from ${inputs.llamaCppRepo} at ${inputs.llamaCppRef} (set '${Input.LlamaServerPath}' to use an existing binary)`,
    )
  }
  if (inputs.backend === 'auto') core.info(`Backend: auto chose cpu (GPU detection is not supported yet)`)
  const engine = await useExistingBinary(inputs.llamaServerPath, 'cpu')
  core.info(`Engine: ${engine.path} (version ${engine.version})`)
  return engine
}
