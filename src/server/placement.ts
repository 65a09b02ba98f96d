// Where the model runs: which GPUs (devices), how many layers go to them, and, under gpu-policy vram-only,
// whether it fits in their free memory before anything starts. Pure.
import { Input } from '../constants.js'
import { ServerError } from '../errors.js'
import type { BuiltBackend } from '../engine/backend.js'
import type { GpuInfo } from '../handoff.js'
import type { ActionInputs } from '../inputs.js'
import type { ProvisionedModel } from '../model/provisioned.js'
import { cacheTypes, estimateVram, vramShortfall, type VramEstimate } from './vram.js'

export interface Placement {
  /** The GPUs the server may use. */
  gpus: GpuInfo[]
  /** The backend's device-selection variable, when `devices` is set. */
  env: Record<string, string>
  /** What --n-gpu-layers gets (undefined: not passed). */
  gpuLayers: number | 'all' | undefined
  estimate: VramEstimate | undefined
  /** Things the log should say. */
  notes: string[]
}

const DEVICE_VARIABLE: Record<Exclude<BuiltBackend, 'cpu'>, string> = {
  cuda: 'CUDA_VISIBLE_DEVICES',
  hip: 'HIP_VISIBLE_DEVICES',
  vulkan: 'GGML_VK_VISIBLE_DEVICES',
}

export interface PlacementInput {
  backend: BuiltBackend
  /** A binary we built (or a release archive) for cpu has no GPU code; a given binary may have. */
  provisioningMode: 'source' | 'binary' | 'release'
  gpus: GpuInfo[]
  inputs: Pick<ActionInputs, 'devices' | 'gpuPolicy' | 'gpuLayers' | 'ctxSize' | 'serverArgs'>
  model: Pick<ProvisionedModel, 'gguf' | 'sizeBytes'>
}

export function planPlacement({ backend, provisioningMode, gpus, inputs, model }: PlacementInput): Placement {
  const notes: string[] = []
  if (backend === 'cpu') {
    if (inputs.devices) notes.push(`'${Input.Devices}' is ignored on the cpu backend`)
    const gpuLayers = inputs.gpuLayers ?? (provisioningMode === 'binary' ? 0 : undefined)
    return { gpus: [], env: {}, gpuLayers, estimate: undefined, notes }
  }
  let selected = gpus
  const env: Record<string, string> = {}
  if (inputs.devices) {
    const known = new Set(gpus.map((g) => g.index))
    const unknown = inputs.devices.filter((d) => !known.has(d))
    if (gpus.length && unknown.length) {
      throw new ServerError(`Input '${Input.Devices}' is ${inputs.devices.join(',')}: this machine has no GPU ${unknown.join(', ')} (nvidia-smi lists ${[...known].join(', ')})`)
    }
    if (gpus.length) selected = gpus.filter((g) => inputs.devices?.includes(g.index))
    env[DEVICE_VARIABLE[backend]] = inputs.devices.join(',')
  }
  const layers = (model.gguf.blockCount ?? 0) + 1 // the repeating blocks and the output layer
  if (inputs.gpuPolicy === 'allow-offload') {
    return { gpus: selected, env, gpuLayers: inputs.gpuLayers ?? 'all', estimate: undefined, notes }
  }
  if (typeof inputs.gpuLayers === 'number' && inputs.gpuLayers < layers) {
    throw new ServerError(
      `Input '${Input.GpuLayers}' is ${inputs.gpuLayers}: partial offload is refused under gpu-policy: vram-only (the model has ${layers} layers); leave it empty, or set gpu-policy: allow-offload`,
    )
  }
  if (backend !== 'cuda') {
    notes.push(`gpu-policy vram-only: free VRAM cannot be read for ${backend} here, so it is not checked`)
    return { gpus: selected, env, gpuLayers: 'all', estimate: undefined, notes }
  }
  const types = cacheTypes(inputs.serverArgs)
  const estimate = estimateVram({ model: model.gguf, modelBytes: model.sizeBytes, ctxSize: inputs.ctxSize, cacheTypeK: types.k, cacheTypeV: types.v, gpuCount: selected.length })
  const shortfall = vramShortfall(estimate, selected)
  if (shortfall) throw new ServerError(shortfall)
  return { gpus: selected, env, gpuLayers: 'all', estimate, notes }
}
