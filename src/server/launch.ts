// Starts llama-server so that it outlives this step: detached in its own process group (so post can stop it
// and everything it forks), output to a log file (never the step's pipes, which would keep the step open).
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync } from 'node:fs'
import path from 'node:path'
import { ServerError } from '../errors.js'
import { processStartTime } from './process-identity.js'

export interface LaunchedServer {
  pid: number
  /** With pid, identifies the process even if the pid is later reused. */
  startTime: string
  logPath: string
  /** Settles when the process exits while this step is still running. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** `inherit`: descriptors the server keeps open for its whole life (the leases on its model and engine). */
export function launchServer(binary: string, argv: string[], env: NodeJS.ProcessEnv, logPath: string, inherit: number[] = []): LaunchedServer {
  mkdirSync(path.dirname(logPath), { recursive: true })
  const log = openSync(logPath, 'a')
  let child
  try {
    child = spawn(binary, argv, { detached: true, stdio: ['ignore', log, log, ...inherit], env })
  } finally {
    closeSync(log)
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (error) => reject(new ServerError(`could not start ${binary}: ${error.message}`)))
  })
  // Nobody may wait on an unhandled rejection: health checks race against this promise.
  exited.catch(() => undefined)
  if (child.pid === undefined) {
    // spawn failed synchronously enough that there is no pid; `exited` carries the reason.
    return { pid: -1, startTime: '', logPath, exited }
  }
  child.unref()
  return { pid: child.pid, startTime: processStartTime(child.pid) ?? '', logPath, exited }
}
