// What main leaves for post, in one place. Post reads it by name; when main started no server, there is none.
import * as core from '@actions/core'

/** The server main started: enough for post to find it, check it is still ours, stop it and show its log. */
export interface ServerState {
  pid: number
  /** Start time of the pid when main started it (see processStartTime). */
  startTime: string
  logPath: string
}

const SERVER = 'server'

export function saveServerState(state: ServerState): void {
  core.saveState(SERVER, JSON.stringify(state))
}

export function readServerState(): ServerState | undefined {
  const raw = core.getState(SERVER)
  if (!raw) return undefined
  const parsed = JSON.parse(raw) as Partial<ServerState>
  if (typeof parsed.pid !== 'number' || typeof parsed.logPath !== 'string') return undefined
  return { pid: parsed.pid, startTime: parsed.startTime ?? '', logPath: parsed.logPath }
}

/** An entry that post saves to the GitHub Actions cache: its remote name and its directory in the store. */
export interface PendingRemoteSave {
  name: string
  dir: string
}

const REMOTE_SAVES = 'remote-saves'
const pending: PendingRemoteSave[] = []

export function addPendingRemoteSave(save: PendingRemoteSave): void {
  pending.push(save)
  core.saveState(REMOTE_SAVES, JSON.stringify(pending))
}

export function readPendingRemoteSaves(): PendingRemoteSave[] {
  const raw = core.getState(REMOTE_SAVES)
  return raw ? (JSON.parse(raw) as PendingRemoteSave[]) : []
}
