// The job summary: what was started, from what, on which GPUs, and how long each phase took.
import * as core from '@actions/core'
import type { ProvisionedEngine } from './engine/provisioned.js'
import { gpusWithReservations, type Placement } from './gpu/placement.js'
import { allocatedPerGpu, describeFit, type ServerAllocation } from './gpu/server-log.js'
import type { ProvisionedModel } from './model/provisioned.js'
import { formatBytes } from './util/format.js'
import type { Phase } from './phases.js'
import type { RunningServer } from './server/start.js'

export interface SummaryParts {
  model: ProvisionedModel
  engine: ProvisionedEngine
  server: RunningServer | undefined
  placement: Placement | undefined
  /** What llama-server's log says it allocated (GPU backends). */
  allocation?: ServerAllocation
  phases: readonly Phase[]
}

/** The summary's rows, section by section (pure, so that tests can read them). */
export function summaryRows({ model, engine, server, placement, allocation, phases }: SummaryParts): [string, string, string][] {
  const rows: [string, string, string][] = [
    ['Model', 'id', model.id],
    ['Model', 'digest', model.digest],
    ['Model', 'size', formatBytes(model.sizeBytes)],
    ['Model', 'cache hit', String(model.cacheHit)],
    ['Engine', 'path', engine.path],
    ['Engine', 'version', engine.version],
    ['Engine', 'commit', engine.commit ?? '(binary given)'],
    ['Engine', 'backend', engine.backend],
    ['Engine', 'from', engine.release ? `release ${engine.release.tag}: ${[engine.release.asset, engine.release.runtime?.asset].filter(Boolean).join(' and ')}` : engine.provisioningMode === 'binary' ? 'llama-server-path' : 'built from source'],
    ['Engine', 'cache hit', String(engine.cacheHit)],
    ['Engine', 'cache key', engine.cacheKey ?? '(none)'],
  ]
  if (server) {
    rows.push(['Server', 'URL', server.url], ['Server', 'pid', String(server.pid)])
    const gpus = placement?.gpus ?? []
    rows.push(['Server', 'GPUs', gpus.length ? gpus.map((g) => `${g.index}: ${g.name}`).join(', ') : 'none (cpu)'])
    if (placement?.estimate && placement.reservations.length) {
      const free = gpus.reduce((s, g) => s + g.memoryFreeMib * 2 ** 20, 0)
      const reserved = placement.reservations.reduce((s, r) => s + r.bytes, 0)
      const source = placement.estimate.source === 'formula' ? 'the GGUF header' : 'llama-fit-params'
      rows.push(['Server', 'VRAM estimate vs free', `${formatBytes(reserved)} of ${formatBytes(free)} (from ${source})`])
    }
    if (placement?.tensorSplit) rows.push(['Server', 'tensor split', placement.tensorSplit.join(',')])
    if (placement && allocation) {
      for (const line of allocatedPerGpu(allocation, gpusWithReservations(placement))) rows.push(['Server', 'allocated (its log)', line])
      if (placement.llamaFits) rows.push(['Server', "llama.cpp's fit decided", describeFit(allocation)])
    }
  } else {
    rows.push(['Server', 'started', 'no (start: false)'])
  }
  for (const phase of phases) rows.push(['Time', phase.name, `${(phase.ms / 1000).toFixed(2)} s`])
  return rows
}

export async function writeSummary(parts: SummaryParts): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary
    .addHeading('llama-server', 3)
    .addTable([
      [{ data: '', header: true }, { data: 'What', header: true }, { data: 'Value', header: true }],
      ...summaryRows(parts).map(([section, what, value]) => [section, what, `<code>${escapeHtml(value)}</code>`]),
    ])
    .write()
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)
}
