// Readiness: llama-server answers /health with 503 while it loads the model and 200 once it can serve.
// /v1/models answers before the model is loaded, so it is never used for this.
import * as core from '@actions/core'
import { setTimeout as sleep } from 'node:timers/promises'
import { ServerError } from '../errors.js'
import { localStatus } from '../http/client.js'

export interface HealthWait {
  url: string
  apiKey: string | undefined
  timeoutMs: number
  /** Settles when the server process exits: waiting stops at once. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * The pause between two polls: 5 ms while a small model may become ready any moment (on a warm start every ms
 * of it is the job's), then 25 ms. A poll of a loopback /health costs the server next to nothing.
 */
export function pollDelayMs(elapsedMs: number): number {
  return elapsedMs < 2_000 ? 5 : 25
}

export async function waitForHealth(wait: HealthWait): Promise<{ readyAfterMs: number }> {
  const started = Date.now()
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let spawnError: unknown
  wait.exited.then(
    (e) => (exit = e),
    (error: unknown) => (spawnError = error),
  )
  const headers: Record<string, string> = wait.apiKey ? { Authorization: `Bearer ${wait.apiKey}` } : {}
  let last = 'no answer yet'
  let nextNotice = started + 10_000
  while (true) {
    if (spawnError) throw spawnError
    if (exit) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`
      throw new ServerError(`llama-server ${how} before it was ready`)
    }
    const elapsed = Date.now() - started
    if (elapsed > wait.timeoutMs) {
      throw new ServerError(`llama-server was not ready within ${wait.timeoutMs / 1000} s (last answer from ${wait.url}/health: ${last})`)
    }
    try {
      // Direct, never through the runner's proxy: the server is on this machine (or its network).
      const status = await localStatus(`${wait.url}/health`, { headers, timeoutMs: 2_000 })
      if (status === 200) return { readyAfterMs: Date.now() - started }
      last = `HTTP ${status}`
    } catch (error) {
      last = (error as Error).message
    }
    if (Date.now() >= nextNotice) {
      core.info(`Waiting for ${wait.url}/health: ${last} after ${Math.round((Date.now() - started) / 1000)} s`)
      nextNotice += 10_000
    }
    await Promise.race([sleep(pollDelayMs(Date.now() - started)), wait.exited.catch(() => undefined)])
  }
}
