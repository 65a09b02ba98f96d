import * as core from '@actions/core'
import type { ProvisionedEngine } from './engine/provisioned.js'
import type { ProvisionedModel } from './model/provisioned.js'
import type { RunningServer } from './server/start.js'

/** The job summary: what was started, from what. */
export async function writeSummary(model: ProvisionedModel, engine: ProvisionedEngine, server: RunningServer | undefined): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  const rows: [string, string][] = [
    ['Model', model.id],
    ['Model digest', model.digest],
    ['Model size', `${(model.sizeBytes / 2 ** 20).toFixed(1)} MiB`],
    ['Model cache hit', String(model.cacheHit)],
    ['Engine', engine.path],
    ['Engine version', engine.version],
    ['Engine commit', engine.commit ?? '(binary given)'],
    ['Backend', engine.backend],
  ]
  if (server) {
    rows.push(['URL', server.url], ['PID', String(server.pid)], ['Ready after', `${(server.readyAfterMs / 1000).toFixed(2)} s`])
  } else {
    rows.push(['Server', 'not started (start: false)'])
  }
  await core.summary
    .addHeading('llama-server', 3)
    .addTable([[{ data: 'What', header: true }, { data: 'Value', header: true }], ...rows.map(([k, v]) => [k, `<code>${escapeHtml(v)}</code>`])])
    .write()
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string)
}
