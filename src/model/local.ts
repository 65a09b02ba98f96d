// A local model (`file:` or a plain path) is used in place, never copied, but checked like a fetched one.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../constants.js'
import { ModelError } from '../errors.js'
import { splitPartNames } from './fetch.js'
import { checkGgufMagic } from './gguf.js'
import type { ProvisionedModel } from './provisioned.js'
import { modelId, type ModelRef } from './ref.js'
import type { ModelStore } from './store.js'

export async function provisionLocalModel(
  ref: Extract<ModelRef, { kind: 'file' }>,
  expectedDigest: string | undefined,
  store: ModelStore,
  verify: 'quick' | 'full',
): Promise<ProvisionedModel> {
  const dir = path.dirname(ref.path)
  const parts = ref.split ? splitPartNames(path.basename(ref.path), ref.split.total).map((name) => path.join(dir, name)) : [ref.path]
  let sizeBytes = 0
  for (const part of parts) {
    const stat = await fs.stat(part).catch((error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? 'does not exist' : error.code === 'EACCES' ? 'cannot be read by this job (permission denied)' : `cannot be read (${error.code ?? error.message})`
      throw new ModelError(`Input '${Input.Model}': the model file ${part} ${why}; expected an existing GGUF file (a path relative to GITHUB_WORKSPACE, or absolute)`)
    })
    if (!stat.isFile()) throw new ModelError(`Input '${Input.Model}': ${part} is not a regular file`)
    sizeBytes += stat.size
  }
  const first = parts[0] as string
  // The header and the recorded digest are looked up side by side; hashing (when none is recorded) waits for the
  // header's checks, so that a file that is no model is refused before it is read whole.
  const [gguf, recorded] = await Promise.all([store.gguf.info(first, verify), store.recordedLocalDigest(first, verify)])
  for (const part of parts.slice(1)) await checkGgufMagic(part)
  const digest = recorded ?? (await store.localDigest(first, verify))
  if (expectedDigest !== undefined && digest !== expectedDigest) {
    throw new ModelError(`Input '${Input.ModelDigest}' is ${expectedDigest}, but ${first} has ${digest}`)
  }
  return { id: modelId(ref), path: first, parts, digest, sizeBytes, gguf, cacheHit: true, stored: false }
}

