// The handoff file: what the next steps need to use the server, in the shape of schema/handoff.schema.json.
import type { EngineRelease, ProvisionedEngine } from './engine/provisioned.js'
import { bytesNeeded } from './gpu/estimate.js'
import type { Placement } from './gpu/placement.js'
import type { ProvisionedModel } from './model/provisioned.js'
import { openaiBaseUrl } from './outputs.js'
import type { RunningServer } from './server/start.js'
import { writeFileAtomic } from './util/atomic-write.js'

export interface Handoff {
  schema_version: 1
  engine: 'llamacpp'
  engine_version: string
  engine_commit: string | null
  provisioning_mode: ProvisionedEngine['provisioningMode']
  /** The llama.cpp release archive the engine came from (and a CUDA archive's runtime); null unless provisioning_mode is release. */
  engine_release: EngineRelease | null
  backend: ProvisionedEngine['backend']
  url: string
  openai_base_url: string
  host: string
  port: number
  pid: number
  pool_id: string
  replica_id: string
  model: { id: string; path: string; digest: string; size_bytes: number; architecture: string; ctx_max: number | null }
  flags: string[]
  device_mask: string | null
  slots_total: number
  gpus: { index: number; uuid: string | null; name: string; memory_total_mib: number; memory_free_mib: number; compute_cap: string | null }[]
  /** Relative shares of the model per GPU (--tensor-split), when it is split over several. */
  tensor_split: number[] | null
  vram_estimate: VramEstimateRecord | null
  log_path: string
  started_at: string
}

/** What the placement counted on, and what it reserved on each GPU (the GPU lease records the same). */
export interface VramEstimateRecord {
  source: 'llama-fit-params' | 'formula'
  total_bytes: number
  weights_bytes: number
  kv_bytes: number
  kv_cells: number
  kv_types: string
  compute_bytes_per_gpu: number
  overhead_bytes_per_gpu: number
  reserved: { index: number; bytes: number }[]
}

export interface HandoffParts {
  model: ProvisionedModel
  engine: ProvisionedEngine
  server: RunningServer
  poolId: string
  parallel: number
  placement: Placement
}

export function buildHandoff({ model, engine, server, poolId, parallel, placement }: HandoffParts): Handoff {
  const e = placement.estimate
  return {
    schema_version: 1,
    engine: 'llamacpp',
    engine_version: engine.version,
    engine_commit: engine.commit,
    provisioning_mode: engine.provisioningMode,
    engine_release: engine.release ?? null,
    backend: engine.backend,
    url: server.url,
    openai_base_url: openaiBaseUrl(server.url),
    host: server.host,
    port: server.port,
    pid: server.pid,
    pool_id: poolId,
    replica_id: 'r0',
    model: {
      id: model.id,
      path: model.path,
      digest: model.digest,
      size_bytes: model.sizeBytes,
      architecture: model.gguf.architecture,
      ctx_max: model.gguf.contextLength,
    },
    flags: server.argv,
    device_mask: placement.deviceMask,
    slots_total: parallel,
    gpus: placement.gpus.map((g) => ({
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      memory_total_mib: g.memoryTotalMib,
      memory_free_mib: g.memoryFreeMib,
      compute_cap: g.computeCap,
    })),
    tensor_split: placement.tensorSplit ?? null,
    vram_estimate: e
      ? {
          source: e.source,
          total_bytes: bytesNeeded(e, Math.max(1, placement.gpus.length)),
          weights_bytes: e.weightsBytes,
          kv_bytes: e.kvBytes,
          kv_cells: e.kvCells,
          kv_types: e.kvTypes,
          compute_bytes_per_gpu: e.computeBytes,
          overhead_bytes_per_gpu: e.overheadBytes,
          reserved: placement.reservations.map((r) => ({ index: r.gpu.index, bytes: r.bytes })),
        }
      : null,
    log_path: server.logPath,
    started_at: server.startedAt,
  }
}

export async function writeHandoff(file: string, handoff: Handoff): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(handoff, null, 2)}\n`)
}
