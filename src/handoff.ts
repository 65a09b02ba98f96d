// The handoff file: what the next steps need to use the server, in the shape of schema/handoff.schema.json.
import type { ProvisionedEngine } from './engine/provisioned.js'
import type { ProvisionedModel } from './model/provisioned.js'
import { openaiBaseUrl } from './outputs.js'
import type { RunningServer } from './server/start.js'
import { writeFileAtomic } from './util/atomic-write.js'

export interface GpuInfo {
  index: number
  name: string
  memoryTotalMib: number
  memoryFreeMib: number
  computeCap: string | null
}

export interface Handoff {
  schema_version: 1
  engine: 'llamacpp'
  engine_version: string
  engine_commit: string | null
  provisioning_mode: 'source' | 'binary'
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
  gpus: { index: number; name: string; memory_total_mib: number; memory_free_mib: number; compute_cap: string | null }[]
  log_path: string
  started_at: string
}

export interface HandoffParts {
  model: ProvisionedModel
  engine: ProvisionedEngine
  server: RunningServer
  poolId: string
  parallel: number
  devices: number[] | undefined
  gpus: GpuInfo[]
}

export function buildHandoff({ model, engine, server, poolId, parallel, devices, gpus }: HandoffParts): Handoff {
  return {
    schema_version: 1,
    engine: 'llamacpp',
    engine_version: engine.version,
    engine_commit: engine.commit,
    provisioning_mode: engine.provisioningMode,
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
    device_mask: devices ? devices.join(',') : null,
    slots_total: parallel,
    gpus: gpus.map((g) => ({
      index: g.index,
      name: g.name,
      memory_total_mib: g.memoryTotalMib,
      memory_free_mib: g.memoryFreeMib,
      compute_cap: g.computeCap,
    })),
    log_path: server.logPath,
    started_at: server.startedAt,
  }
}

export async function writeHandoff(file: string, handoff: Handoff): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(handoff, null, 2)}\n`)
}
