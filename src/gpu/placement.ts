// Where the model runs: which GPUs (devices, or the fewest that hold the estimate, freest first), how the model is
// split over them, how many layers go to them, and, under gpu-policy vram-only, whether it fits in their free
// memory less what other jobs have reserved and not yet allocated. Pure: a snapshot of the GPUs in, a decision out.
import { Input } from '../constants.js'
import { ServerError } from '../errors.js'
import type { ActionInputs } from '../inputs.js'
import type { ProvisionedModel } from '../model/provisioned.js'
import { WEIGHT_PLACEMENT_FLAGS } from '../server/reserved.js'
import { bytesNeeded, layerBytes, perGpuBytes, splitBytes, type VramEstimate } from './estimate.js'
import { gpuName, type GpuInfo } from './nvidia-smi.js'
import { ALLOCATION_LOG_ARGS } from './server-log.js'

const MiB = 2 ** 20

export type GpuBackend = 'cpu' | 'cuda' | 'vulkan' | 'hip'

/** A GPU as placement sees it: its free memory less what live holders reserved and have not allocated yet. */
export interface GpuRoom {
  gpu: GpuInfo
  /** Bytes. */
  reservedByOthers: number
}

export interface Reservation {
  gpu: GpuInfo
  bytes: number
}

export interface Placement {
  /** The GPUs the server may use, in the order it sees them. */
  gpus: GpuInfo[]
  /** The backend's device-selection variable. */
  env: Record<string, string>
  /** The GPUs' indices, `0,1`, as the handoff gives them; null when none were selected. */
  deviceMask: string | null
  /** What --n-gpu-layers gets (undefined: not passed). */
  gpuLayers: number | 'all' | undefined
  /** llama-server arguments of the placement: --fit off, --split-mode and --tensor-split, the log level. */
  args: string[]
  /** llama.cpp's own fit decides context and layers (allow-offload, with a server that has --fit). */
  llamaFits: boolean
  /** gpu-policy vram-only on a GPU backend: nothing may place weights elsewhere (WEIGHT_PLACEMENT_ENV is dropped). */
  weightsOnGpus: boolean
  /** Relative shares of the split, one per GPU, when the model is split over several. */
  tensorSplit: number[] | undefined
  estimate: VramEstimate | undefined
  /** What the GPU lease records for each GPU (empty: nothing to lease). */
  reservations: Reservation[]
  /** How the GPUs were picked. */
  selection: 'chosen' | 'given' | 'all' | 'none'
  /** Things the log should say. */
  notes: string[]
}

/** Nothing fits now: the POOL_UNAVAILABLE message, and whether waiting for other jobs could change that. */
export interface Shortfall {
  message: string
  /** GPUs the model could use once others leave them (the candidates). */
  gpus: GpuInfo[]
  /** False when the candidates' total memory could never hold it. */
  couldFit: boolean
}

const DEVICE_VARIABLE: Record<Exclude<GpuBackend, 'cpu'>, string> = {
  cuda: 'CUDA_VISIBLE_DEVICES',
  hip: 'HIP_VISIBLE_DEVICES',
  vulkan: 'GGML_VK_VISIBLE_DEVICES',
}

export interface PlacementInput {
  backend: GpuBackend
  /** A binary we built (or a release archive) for cpu has no GPU code; a given binary may have. */
  provisioningMode: 'source' | 'binary' | 'release'
  /** Every NVIDIA GPU of the host, with what other jobs hold on it. */
  rooms: GpuRoom[]
  inputs: Pick<ActionInputs, 'devices' | 'gpuPolicy' | 'gpuLayers' | 'serverArgs'>
  model: Pick<ProvisionedModel, 'gguf'>
  estimate: VramEstimate | undefined
  /** The server knows --fit (llama.cpp's own fitting to free memory, on by default where it exists). */
  serverFits: boolean
  /** The server knows --log-verbosity: its allocation lines, which the job reports, need ALLOCATION_LOG_ARGS. */
  serverVerbosity: boolean
}

export function planPlacement(input: PlacementInput): Placement | Shortfall {
  const { backend, provisioningMode, inputs } = input
  const notes: string[] = []
  if (backend === 'cpu') {
    if (inputs.devices) notes.push(`'${Input.Devices}' is ignored on the cpu backend`)
    const gpuLayers = inputs.gpuLayers ?? (provisioningMode === 'binary' ? 0 : undefined)
    return { ...NO_GPUS, gpuLayers, notes }
  }
  const vramOnly = inputs.gpuPolicy === 'vram-only'
  const layers = (input.model.gguf.blockCount ?? 0) + 1 // the repeating blocks and the output layer
  if (vramOnly && typeof inputs.gpuLayers === 'number' && inputs.gpuLayers < layers) {
    throw new ServerError(
      `Input '${Input.GpuLayers}' is ${inputs.gpuLayers}: partial offload is refused under gpu-policy: vram-only (the model has ${layers} layers); leave it empty, or set gpu-policy: allow-offload`,
    )
  }
  const fitArg = inputs.serverArgs.find((a) => /^(-fit|--fit)(=|$)/.test(a))
  if (vramOnly && fitArg !== undefined) {
    throw new ServerError(`Input '${Input.ServerArgs}' has ${fitArg}: under gpu-policy: vram-only the action checks the fit itself and turns llama.cpp's off; set gpu-policy: allow-offload to let llama.cpp fit`)
  }
  const placing = inputs.serverArgs.map((a) => a.split('=')[0] as string).find((flag) => WEIGHT_PLACEMENT_FLAGS.includes(flag))
  if (vramOnly && placing !== undefined) {
    throw new ServerError(
      `Input '${Input.ServerArgs}' has ${placing}, which places weights itself (in system memory, or on devices the action did not choose): under gpu-policy: vram-only every weight goes to the GPUs the action chose and checked; set gpu-policy: allow-offload to place them yourself`,
    )
  }
  // Under vram-only everything goes to the GPUs and llama.cpp may not move any of it back behind the user's
  // back; under allow-offload an empty gpu-layers leaves the choice to llama.cpp's fit (where it has one).
  const gpuLayers = vramOnly ? 'all' : (inputs.gpuLayers ?? (input.serverFits ? undefined : 'all'))
  const fitOff = vramOnly && input.serverFits ? ['--fit', 'off'] : []
  const llamaFits = !vramOnly && input.serverFits
  // The job reports what the server allocated on the GPUs it leased, and what llama.cpp's fit decided, from its log.
  const logged = (reported: boolean) => (reported && input.serverVerbosity ? ALLOCATION_LOG_ARGS : [])
  if (backend !== 'cuda' || input.rooms.length === 0) {
    // No nvidia-smi to read: devices by index, no memory check, nothing to lease.
    const env: Record<string, string> = {}
    if (Array.isArray(inputs.devices)) {
      const uuid = inputs.devices.find((d) => typeof d === 'string')
      if (uuid !== undefined) throw new ServerError(`Input '${Input.Devices}' names ${uuid}: GPU UUIDs are read with nvidia-smi, which lists no GPU here; give indices`)
      env[DEVICE_VARIABLE[backend]] = inputs.devices.join(',')
    }
    if (backend === 'cuda' && vramOnly) return { message: poolMessage(input.estimate, [], 1, 'no GPU was found'), gpus: [], couldFit: false }
    if (vramOnly) notes.push(`gpu-policy vram-only: free VRAM cannot be read for ${backend} here, so it is not checked`)
    const deviceMask = Array.isArray(inputs.devices) ? inputs.devices.join(',') : null
    return { ...NO_GPUS, env, deviceMask, gpuLayers, args: [...fitOff, ...logged(llamaFits)], llamaFits, weightsOnGpus: vramOnly, notes, selection: inputs.devices ? 'given' : 'none' }
  }
  const candidates = selectCandidates(input.rooms, inputs.devices)
  const selection = inputs.devices === undefined ? 'chosen' : inputs.devices === 'all' ? 'all' : 'given'
  const estimate = input.estimate as VramEstimate
  const fitted = selection === 'chosen' ? fewestThatHold(estimate, candidates) : splitOver(estimate, candidates)
  if (!fitted.fits && vramOnly) {
    // Chosen: what the fewest GPUs (one) would need; given: what those GPUs need together.
    return { message: poolMessage(estimate, candidates, selection === 'chosen' ? 1 : candidates.length), gpus: candidates.map((r) => r.gpu), couldFit: couldEverFit(estimate, candidates, selection === 'chosen') }
  }
  if (!fitted.fits) notes.push(`No set of GPUs holds the estimate now; llama.cpp's fit keeps what does not fit in system memory`)
  const gpus = fitted.split.map((s) => s.room.gpu)
  const env = { [DEVICE_VARIABLE.cuda]: gpus.every((g) => g.uuid) ? gpus.map((g) => g.uuid).join(',') : gpus.map((g) => g.index).join(',') }
  // Under allow-offload llama.cpp's fit sets the split itself (and gives up on a split the user set).
  const tensorSplit = vramOnly && gpus.length > 1 ? fitted.split.map((s) => Math.max(1, Math.floor(s.share / MiB))) : undefined
  const args = [...fitOff, ...(tensorSplit ? ['--split-mode', 'layer', '--tensor-split', tensorSplit.join(',')] : []), ...logged(true)]
  // Under allow-offload the server takes at most what is free; the rest stays in system memory.
  const reservations = fitted.split.map((s) => ({ gpu: s.room.gpu, bytes: vramOnly ? s.bytes : Math.min(s.bytes, Math.max(0, available(s.room))) }))
  return { gpus, env, deviceMask: gpus.map((g) => g.index).join(','), gpuLayers, args, llamaFits, weightsOnGpus: vramOnly, tensorSplit, estimate, reservations, selection, notes }
}

const NO_GPUS: Placement = { gpus: [], env: {}, deviceMask: null, gpuLayers: undefined, args: [], llamaFits: false, weightsOnGpus: false, tensorSplit: undefined, estimate: undefined, reservations: [], selection: 'none', notes: [] }

export function isShortfall(result: Placement | Shortfall): result is Shortfall {
  return 'message' in result
}

/** The placement's GPUs, each with what it reserved there. */
export function gpusWithReservations(placement: Placement): (GpuInfo & { reservedBytes: number })[] {
  return placement.gpus.map((g) => ({ ...g, reservedBytes: placement.reservations.find((r) => r.gpu.index === g.index)?.bytes ?? 0 }))
}

/** The GPUs `devices` names (indices or UUIDs), or all of them. */
function selectCandidates(rooms: GpuRoom[], devices: ActionInputs['devices']): GpuRoom[] {
  if (devices === undefined || devices === 'all') return rooms
  const found = devices.map((d) => rooms.find((r) => (typeof d === 'number' ? r.gpu.index === d : r.gpu.uuid === d)))
  const unknown = devices.filter((_, i) => found[i] === undefined)
  if (unknown.length) {
    throw new ServerError(`Input '${Input.Devices}' is ${devices.join(',')}: this machine has no GPU ${unknown.join(', ')} (nvidia-smi lists ${rooms.map((r) => `${r.gpu.index} (${r.gpu.uuid ?? 'no UUID'})`).join(', ')})`)
  }
  return found as GpuRoom[]
}

function available(room: GpuRoom): number {
  return room.gpu.memoryFreeMib * MiB - room.reservedByOthers
}

interface Split {
  fits: boolean
  /** Per GPU, in index order: its part of the split weights and KV cache, and all it needs. */
  split: { room: GpuRoom; share: number; bytes: number }[]
}

/** The fewest GPUs that hold the estimate, freest first (the freest k hold the most of any k); else all of them. */
function fewestThatHold(estimate: VramEstimate, rooms: GpuRoom[]): Split {
  const freest = [...rooms].sort((a, b) => available(b) - available(a) || a.gpu.index - b.gpu.index)
  for (let k = 1; k <= freest.length; k++) {
    const split = splitOver(estimate, freest.slice(0, k))
    if (split.fits) return split
  }
  return splitOver(estimate, rooms)
}

/**
 * The weights and KV cache split over `rooms` in proportion to the room each has left once its own compute
 * buffers, overhead and a layer of rounding are counted, so that every GPU is as full as the others.
 */
function splitOver(estimate: VramEstimate, rooms: GpuRoom[]): Split {
  const ordered = [...rooms].sort((a, b) => a.gpu.index - b.gpu.index)
  const fixed = perGpuBytes(estimate) + (ordered.length > 1 ? layerBytes(estimate) : 0)
  const room = ordered.map((r) => Math.max(0, available(r) - fixed))
  const total = room.reduce((s, r) => s + r, 0)
  const toSplit = splitBytes(estimate)
  const split = ordered.map((r, i) => {
    const share = total > 0 ? (toSplit * (room[i] as number)) / total : toSplit / ordered.length
    return { room: r, share, bytes: Math.ceil(share + fixed) }
  })
  return { fits: ordered.length > 0 && room.every((r) => r > 0) && total >= toSplit, split }
}

/** Whether the GPUs' whole memory (with nothing else on them) could hold the estimate: else waiting is pointless. */
function couldEverFit(estimate: VramEstimate, rooms: GpuRoom[], anySubset: boolean): boolean {
  const totals = rooms.map((r) => r.gpu.memoryTotalMib * MiB).sort((a, b) => b - a)
  const counts = anySubset ? totals.map((_, i) => i + 1) : [totals.length]
  return counts.some((k) => bytesNeeded(estimate, k) <= totals.slice(0, k).reduce((s, t) => s + t, 0))
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`

/** The POOL_UNAVAILABLE message: what the model needs, part by part, and what each GPU has. */
export function poolMessage(estimate: VramEstimate | undefined, rooms: GpuRoom[], gpuCount: number, noGpu?: string): string {
  const free = rooms.reduce((s, r) => s + available(r), 0)
  const perGpu = noGpu ?? rooms.map(describeRoom).join('; ')
  const needs = estimate
    ? `about ${gib(bytesNeeded(estimate, Math.max(1, gpuCount)))} of VRAM (${describeEstimate(estimate)})`
    : 'VRAM'
  return (
    `POOL_UNAVAILABLE: the model needs ${needs}, but the selected GPUs have ${gib(Math.max(0, free))} free: ${perGpu}. ` +
    `Lower ctx-size, select other devices, or set gpu-policy: allow-offload to let llama.cpp keep layers in system memory.`
  )
}

export function describeEstimate(e: VramEstimate): string {
  return (
    `weights ${gib(e.weightsBytes)}, KV cache ${gib(e.kvBytes)} for ${e.kvCells} tokens in ${e.kvTypes}, ` +
    `compute buffers ${gib(e.computeBytes)} and overhead ${gib(e.overheadBytes)} per GPU; ${e.source === 'formula' ? 'estimated from the GGUF header' : 'projected by llama-fit-params'}`
  )
}

function describeRoom(room: GpuRoom): string {
  const reserved = room.reservedByOthers > 0 ? `, of which ${gib(room.reservedByOthers)} reserved by other jobs` : ''
  return `${gpuName(room.gpu)}: ${gib(room.gpu.memoryFreeMib * MiB)} free of ${gib(room.gpu.memoryTotalMib * MiB)}${reserved}`
}
