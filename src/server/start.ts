// Start llama-server for the job and wait until it can serve; on any failure, stop what was started.
import * as core from '@actions/core'
import os from 'node:os'
import path from 'node:path'
import { Input, STOP_GRACE_MS } from '../constants.js'
import { ServerError } from '../errors.js'
import type { Placement } from '../gpu/placement.js'
import type { ActionInputs } from '../inputs.js'
import { saveServerState } from '../state.js'
import { httpUrl, localAddress, serverArgv } from './argv.js'
import { waitForHealth } from './health.js'
import { jobEnv } from '../util/child-env.js'
import { RESERVED_SERVER_ENV, WEIGHT_PLACEMENT_ENV } from './reserved.js'
import { launchServer } from './launch.js'
import { logTail } from './log-tail.js'
import { findFreePort, portIsFree } from './port.js'
import { stopProcessGroup } from './stop.js'

export interface RunningServer {
  pid: number
  host: string
  port: number
  url: string
  argv: string[]
  logPath: string
  startedAt: string
  readyAfterMs: number
}

type ServerInputs = Pick<ActionInputs, 'host' | 'port' | 'ctxSize' | 'parallel' | 'serverArgs' | 'apiKey' | 'healthTimeoutSeconds' | 'poolId'>

const LOG_TAIL_LINES = 30
/** With port 0, how many free ports are tried when another process takes one before llama-server binds it. */
const PORT_ATTEMPTS = 3
// What llama-server (tools/server/server-http.cpp) logs when it cannot listen.
const BIND_FAILURE = "couldn't bind HTTP server socket"

/** `inherit`: descriptors the server keeps open while it lives (leases that keep its model and engine cached). */
export async function startServer(binary: string, modelPath: string, inputs: ServerInputs, placement: Placement, inherit: number[]): Promise<RunningServer> {
  if (inputs.port !== 0 && !(await portIsFree(inputs.host, inputs.port))) {
    throw new ServerError(`Input '${Input.Port}' is ${inputs.port}: that port is already in use on ${inputs.host}; choose another, or 0 for any free port`)
  }
  const logPath = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', `llama-server-${inputs.poolId}-${Date.now()}.log`)
  core.info(`llama-server's log: ${logPath}`)
  for (let attempt = 1; ; attempt++) {
    const port = inputs.port === 0 ? await findFreePort(inputs.host) : inputs.port
    try {
      return await startOnce(binary, modelPath, inputs, placement, port, logPath, inherit)
    } catch (error) {
      // The error carries the log's last lines, which say when the port was taken.
      const lostRace = (error as Error).message.includes(BIND_FAILURE) && inputs.port === 0 && attempt < PORT_ATTEMPTS
      if (!lostRace) throw error
      core.info(`Port ${port} was taken before llama-server could bind it; trying another`)
    }
  }
}

async function startOnce(binary: string, modelPath: string, inputs: ServerInputs, placement: Placement, port: number, logPath: string, inherit: number[]): Promise<RunningServer> {
  const argv = serverArgv({ modelPath, host: inputs.host, port, ctxSize: inputs.ctxSize, gpuLayers: placement.gpuLayers, parallel: inputs.parallel, placement: placement.args, extra: inputs.serverArgs })
  core.info(`Starting ${binary} ${argv.join(' ')}`)
  const startedAt = new Date().toISOString()
  const launched = launchServer(binary, argv, { ...serverEnv(process.env, inputs.apiKey, placement.weightsOnGpus), ...placement.env }, logPath, inherit)
  if (launched.pid === -1) {
    await launched.exited
    throw new ServerError(`could not start ${binary}`)
  }
  // Saved before waiting: if this step fails, times out or is cancelled from here on, post still stops it.
  saveServerState({ pid: launched.pid, startTime: launched.startTime, logPath })
  const url = httpUrl(inputs.host, port)
  core.info(`Waiting up to ${inputs.healthTimeoutSeconds} s for ${url}/health to answer 200`)
  try {
    const { readyAfterMs } = await waitForHealth({
      url: httpUrl(localAddress(inputs.host), port),
      apiKey: inputs.apiKey,
      timeoutMs: inputs.healthTimeoutSeconds * 1000,
      exited: launched.exited,
    })
    core.info(`llama-server is ready at ${url} after ${(readyAfterMs / 1000).toFixed(2)} s (pid ${launched.pid})`)
    return { pid: launched.pid, host: inputs.host, port, url, argv, logPath, startedAt, readyAfterMs }
  } catch (error) {
    await stopProcessGroup(launched.pid, STOP_GRACE_MS)
    const tail = await logTail(logPath, LOG_TAIL_LINES)
    const message = error instanceof Error ? error.message : String(error)
    throw new ServerError(`${message}. Last lines of ${logPath}:\n${tail || '(the log is empty)'}`)
  }
}

/**
 * The server's environment: the job's, without what the runner passes only to this action (its inputs, which
 * hold secrets, and its service tokens), plus the API key, which llama-server reads from LLAMA_API_KEY.
 * `weightsOnGpus` (gpu-policy vram-only on a GPU backend): without the variables that place weights elsewhere.
 */
export function serverEnv(env: NodeJS.ProcessEnv, apiKey: string | undefined, weightsOnGpus = false): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {}
  const dropped: string[] = []
  for (const [name, value] of Object.entries(jobEnv(env))) {
    // The environment form of a flag that an input owns would go around that input's checks.
    if (RESERVED_SERVER_ENV[name]) {
      dropped.push(`${name} (set '${RESERVED_SERVER_ENV[name]}' instead)`)
      continue
    }
    if (weightsOnGpus && WEIGHT_PLACEMENT_ENV.includes(name)) {
      dropped.push(`${name} (gpu-policy vram-only puts every weight on the GPUs)`)
      continue
    }
    result[name] = value
  }
  if (dropped.length) core.warning(`Not passed to llama-server: ${dropped.join(', ')}`)
  if (apiKey) result.LLAMA_API_KEY = apiKey
  return result
}
