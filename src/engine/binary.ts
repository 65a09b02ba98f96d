// Binary mode: `llama-server-path` names a binary to use as it is; nothing is built.
import { constants, promises as fs } from 'node:fs'
import { Input } from '../constants.js'
import { EngineError } from '../errors.js'
import type { ProvisionedEngine } from './provisioned.js'
import type { RememberedOutputs } from './remembered-output.js'
import { engineVersion } from './version.js'

export async function useExistingBinary(
  binary: string,
  backend: ProvisionedEngine['backend'],
  outputs: RememberedOutputs,
  verify: 'quick' | 'full',
): Promise<ProvisionedEngine> {
  const stat = await fs.stat(binary).catch(() => undefined)
  if (!stat?.isFile()) throw new EngineError(`Input '${Input.LlamaServerPath}' is ${JSON.stringify(binary)}: expected an existing llama-server binary`)
  await fs.access(binary, constants.X_OK).catch(() => {
    throw new EngineError(`Input '${Input.LlamaServerPath}' is ${JSON.stringify(binary)}: the file is not executable`)
  })
  const version = await engineVersion(binary, outputs, verify)
  return { path: binary, version, commit: null, provisioningMode: 'binary', backend, cacheHit: true }
}
