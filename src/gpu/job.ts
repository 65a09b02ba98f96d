// The GPU side of this job's server: placed and leased before it starts (its notes logged, what post needs saved),
// and once it has loaded, its lease marked allocated and what llama-server allocated reported.
import * as core from '@actions/core'
import { errorMessage } from '../errors.js'
import { saveGpuState, type GpuState } from '../state.js'
import { markAllocated } from './leases.js'
import { queryComputeApps } from './nvidia-smi.js'
import { gpusWithReservations } from './placement.js'
import { placeOnPool, type Placed, type PoolRequest } from './pool.js'
import { allocatedPerGpu, describeFit, readServerAllocation, type ServerAllocation } from './server-log.js'

export async function placeServer(request: PoolRequest): Promise<Placed> {
  const placed = await placeOnPool(request)
  const { placement } = placed
  for (const note of placement.notes) core.info(note)
  if (placement.gpus.length) saveGpuState(gpuState(placed, false))
  return placed
}

function gpuState(placed: Placed, pidsComparable: boolean): GpuState {
  const gpus = gpusWithReservations(placed.placement).map(({ index, uuid, name, reservedBytes }) => ({ index, uuid, name, reservedBytes }))
  return { gpus, leaseFile: placed.lease?.file ?? null, pidsComparable }
}

/** After /health: the lease's reservation is now allocated memory; the log says how much, and what fit decided. */
export async function serverLoaded(placed: Placed, server: { pid: number; logPath: string }): Promise<ServerAllocation | undefined> {
  const { placement, lease } = placed
  // Without the mark, other jobs count the reservation as still to come (the safe side): a warning, not a failure.
  if (lease) await markAllocated(lease, server.pid).catch((error: unknown) => core.warning(`Could not mark the GPU lease ${lease.file} as allocated: ${errorMessage(error)}`))
  if (placement.gpus.length) {
    const apps = await queryComputeApps()
    saveGpuState(gpuState(placed, apps?.some((a) => a.pid === server.pid) ?? false))
  }
  if (placement.gpus.length === 0 && !placement.llamaFits) return undefined
  const allocation = await readServerAllocation(server.logPath)
  for (const line of allocatedPerGpu(allocation, gpusWithReservations(placement))) core.info(`llama-server allocated on ${line}`)
  if (placement.llamaFits) core.info(`llama.cpp's fit decided (gpu-policy allow-offload): ${describeFit(allocation)}`)
  return allocation
}

