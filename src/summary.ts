// The job summary: what was started, from what, on which GPUs, and how long each phase took.
import * as core from '@actions/core'
import type { ProvisionedEngine } from './engine/provisioned.js'
import type { ProvisionedModel } from './model/provisioned.js'
import { formatBytes } from './util/format.js'
import type { Phase } from './phases.js'
import type { Placement } from './server/placement.js'
import type { RunningServer } from './server/start.js'

export interface SummaryParts {
  model: ProvisionedModel
  engine: ProvisionedEngine
  server: RunningServer | undefined
  placement: Placement | undefined
  phases: readonly Phase[]
}

/** The summary's rows, section by section (pure, so that tests can read them). */
export function summaryRows({ model, engine, server, placement, phases }: SummaryParts): [string, string, string][] {
  const rows: [string, string, string][] = [
    ['Model', 'id', model.id],
    ['Model', 'digest', model.digest],
    ['Model', 'size', formatBytes(model.sizeBytes)],
    ['Model', 'cache hit', String(model.cacheHit)],
    ['Engine', 'path', engine.path],
    ['Engine', 'version', engine.version],
    ['Engine', 'commit', engine.commit ?? '(binary given)'],
    ['Engine', 'backend', engine.backend],
    ['Engine', 'cache hit', String(engine.cacheHit)],
    ['Engine', 'cache key', engine.cacheKey ?? '(none)'],
  ]
  if (server) {
    rows.push(['Server', 'URL', server.url], ['Server', 'pid', String(server.pid)])
    const gpus = placement?.gpus ?? []
    rows.push(['Server', 'GPUs', gpus.length ? gpus.map((g) => `${g.index}: ${g.name}`).join(', ') : 'none (cpu)'])
    if (placement?.estimate) {
      const free = gpus.reduce((s, g) => s + g.memoryFreeMib * 2 ** 20, 0)
      rows.push(['Server', 'VRAM estimate vs free', `${formatBytes(placement.estimate.totalBytes)} of ${formatBytes(free)}`])
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
