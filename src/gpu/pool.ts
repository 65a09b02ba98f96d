// The host's GPUs as a pool shared by its jobs: estimate what the model needs, then, holding the placement lock,
// read the GPUs and the live leases, place the model and lease what it takes. When nothing fits while other jobs
// hold the GPUs, wait for them (gpu-wait-timeout), saying who holds what; then fail with POOL_UNAVAILABLE, naming them.
import * as core from '@actions/core'
import { setTimeout as sleep } from 'node:timers/promises'
import { Input } from '../constants.js'
import { errorMessage, ServerError } from '../errors.js'
import type { ActionInputs } from '../inputs.js'
import type { ProvisionedModel } from '../model/provisioned.js'
import { estimateVram, memoryArgs, type VramEstimate } from './estimate.js'
import { fitParamsBeside, projectWithFitParams } from './fit-params.js'
import { describeApp, describeHolders, gpuLeaseDir, jobName, liveHolders, roomsOf, takeGpuLease, unleasedApps, withPlacementLock, GPU_LEASES_VARIABLE, type GpuLease, type Holder } from './leases.js'
import { queryComputeApps, queryNvidiaGpus, type ComputeApp, type GpuInfo } from './nvidia-smi.js'
import { isShortfall, planPlacement, type GpuBackend, type GpuRoom, type Placement, type Shortfall } from './placement.js'

const POLL_MS = 2_000
/** How often a wait repeats who holds what when nothing changed. */
const REPEAT_MS = 30_000

export interface PoolRequest {
  backend: GpuBackend
  provisioningMode: 'source' | 'binary' | 'release'
  enginePath: string
  serverFits: boolean
  serverVerbosity: boolean
  inputs: Pick<ActionInputs, 'devices' | 'gpuPolicy' | 'gpuLayers' | 'ctxSize' | 'parallel' | 'serverArgs' | 'gpuWaitTimeoutSeconds'>
  model: Pick<ProvisionedModel, 'gguf' | 'sizeBytes' | 'path'>
  /** The GPUs as main read them (for the estimate); free memory is read again under the placement lock. */
  gpus: GpuInfo[]
}

export interface Placed {
  placement: Placement
  /** The lease the server must inherit (undefined: nothing leased). */
  lease: GpuLease | undefined
}

interface Look {
  result: Placement | Shortfall
  holders: Holder[]
  apps: ComputeApp[] | undefined
  /** Other jobs' servers still load on the GPUs of an allow-offload placement. */
  othersLoading: boolean
  lease?: GpuLease
}

export async function placeOnPool(request: PoolRequest): Promise<Placed> {
  const gpus = request.backend === 'cuda' ? request.gpus : []
  const estimate = gpus.length ? await estimateFor(request, gpus) : undefined
  if (gpus.length === 0) {
    const result = planPlacement({ ...request, rooms: [], estimate })
    if (isShortfall(result)) throw new ServerError(result.message)
    return { placement: result, lease: undefined }
  }
  const wait = request.inputs.gpuWaitTimeoutSeconds
  const deadline = Date.now() + wait * 1000
  let dir: string | undefined = gpuLeaseDir(process.env)
  // One look at the GPUs and the leases; a placement that may start now takes its lease before the lock is let go.
  const look = async (): Promise<Look> => {
    const [now, apps, holders] = await Promise.all([queryNvidiaGpus(), queryComputeApps(), dir ? liveHolders(dir) : []])
    const rooms = roomsOf(now, holders)
    const result = planPlacement({ ...request, rooms, estimate })
    const seen = { result, holders, apps, othersLoading: othersLoading(request, result, rooms) }
    if (isShortfall(result) || !dir || result.reservations.length === 0 || (seen.othersLoading && Date.now() < deadline)) return seen
    return { ...seen, lease: await takeGpuLease(dir, result.reservations, jobName(process.env), estimate?.source ?? 'none') }
  }
  let said = ''
  let saidAt = 0
  for (;;) {
    let seen: Look
    try {
      const locked = dir ? await withPlacementLock(dir, look) : undefined
      if (dir && !locked) {
        core.warning('flock(1) is not installed: GPUs are placed without leases, so jobs started at the same time on this host may pick the same GPU')
        dir = undefined
      }
      seen = locked ? locked.value : await look()
    } catch (error) {
      if (error instanceof ServerError || !dir) throw error
      core.warning(`The GPU lease directory ${dir} cannot be used (${errorMessage(error)}); GPUs are placed without leases. Set ${GPU_LEASES_VARIABLE} to a directory that every job on this host can write.`)
      dir = undefined
      continue
    }
    const { result, holders } = seen
    const held = describeHolders(holders, result.gpus)
    if (!isShortfall(result) && (!seen.othersLoading || Date.now() >= deadline)) {
      if (seen.othersLoading) core.warning(`Starting while other jobs still load on these GPUs (${held.join('; ')}): llama.cpp's fit may count memory they are about to take.`)
      return { placement: result, lease: seen.lease }
    }
    if (isShortfall(result) && (!result.couldFit || held.length === 0 || Date.now() >= deadline)) {
      throw new ServerError(shortfallMessage(result, held, unleasedApps(seen.apps, holders, result.gpus), wait, saidAt > 0))
    }
    const what = isShortfall(result) ? 'GPU memory' : "other jobs' servers to finish loading, so that llama.cpp's fit counts their memory"
    const line = `Waiting up to ${wait} s (${Input.GpuWaitTimeout}) for ${what}. Held by: ${held.join('; ')}`
    if (line !== said || Date.now() - saidAt >= REPEAT_MS) {
      core.info(line)
      said = line
      saidAt = Date.now()
    }
    await sleep(Math.max(100, Math.min(POLL_MS, deadline - Date.now())))
  }
}

/** Under allow-offload llama.cpp fits the model to the memory free when it loads: not while others still load. */
function othersLoading(request: PoolRequest, placement: Placement | Shortfall, rooms: GpuRoom[]): boolean {
  if (request.inputs.gpuPolicy !== 'allow-offload' || isShortfall(placement)) return false
  const uuids = new Set(placement.gpus.map((g) => g.uuid))
  return rooms.some((r) => uuids.has(r.gpu.uuid) && r.reservedByOthers > 0)
}

function shortfallMessage(shortfall: Shortfall, holders: string[], unleased: ComputeApp[], waitSeconds: number, waited: boolean): string {
  const parts = [shortfall.message]
  if (holders.length) parts.push(`${waited ? `After waiting ${waitSeconds} s (${Input.GpuWaitTimeout}), these` : 'These'} GPUs are held by: ${holders.join('; ')}.`)
  if (unleased.length) parts.push(`Processes on these GPUs that no lease names (nvidia-smi): ${unleased.map((a) => describeApp(a, shortfall.gpus)).join('; ')}.`)
  return parts.join(' ')
}

/**
 * The estimate: llama-fit-params' projection on the GPU the server would most likely get (the freest of those
 * it may use) where the engine has it, else the formula from the GGUF header.
 */
async function estimateFor(request: PoolRequest, gpus: GpuInfo[]): Promise<VramEstimate> {
  const { inputs, model } = request
  const args = memoryArgs(inputs.serverArgs)
  const formula = estimateVram({ model: model.gguf, modelBytes: model.sizeBytes, ctxSize: inputs.ctxSize, parallel: inputs.parallel, args })
  const binary = fitParamsBeside(request.enginePath)
  const devices = inputs.devices
  const allowed = Array.isArray(devices) ? gpus.filter((g) => devices.includes(g.index) || (g.uuid !== null && devices.includes(g.uuid))) : gpus
  const freest = [...allowed].sort((a, b) => b.memoryFreeMib - a.memoryFreeMib)[0]
  if (!binary || !freest) return formula
  const device = { CUDA_VISIBLE_DEVICES: freest.uuid ?? String(freest.index) }
  return (await projectWithFitParams(binary, { modelPath: model.path, ctxSize: inputs.ctxSize, parallel: inputs.parallel, args }, device, formula)) ?? formula
}
