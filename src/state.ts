// What main leaves for post, in one place. Post reads it by name; when main started no server, there is none.
import * as core from '@actions/core'

/** A process main started: with its start time (see processStartTime), it names that process even after its pid is reused. */
export interface ProcessRef {
  pid: number
  startTime: string
}

/** The server main started: enough for post to find it, check it is still ours, stop it and show its log. */
export interface ServerState extends ProcessRef {
  logPath: string
}

const SERVER = 'server'
/** The process that holds main's leases when no server was started (start: false). */
const KEEPER = 'lease-keeper'
/** The lease files main took on store entries: post gives them back. */
const LEASES = 'leases'

export function saveServerState(state: ServerState): void {
  core.saveState(SERVER, JSON.stringify(state))
}

export function readServerState(): ServerState | undefined {
  const ref = readProcessRef(SERVER)
  const logPath = (parseState(SERVER) as { logPath?: unknown } | undefined)?.logPath
  return ref && typeof logPath === 'string' ? { ...ref, logPath } : undefined
}

export function saveKeeperState(state: ProcessRef): void {
  core.saveState(KEEPER, JSON.stringify(state))
}

export function readKeeperState(): ProcessRef | undefined {
  return readProcessRef(KEEPER)
}

export function saveLeaseState(files: string[]): void {
  if (files.length) core.saveState(LEASES, JSON.stringify(files))
}

export function readLeaseState(): string[] {
  const parsed = parseState(LEASES)
  return Array.isArray(parsed) ? parsed.filter((f): f is string => typeof f === 'string') : []
}

function readProcessRef(name: string): ProcessRef | undefined {
  const parsed = parseState(name) as Partial<ProcessRef> | undefined
  if (typeof parsed?.pid !== 'number') return undefined
  return { pid: parsed.pid, startTime: typeof parsed.startTime === 'string' ? parsed.startTime : '' }
}

function parseState(name: string): unknown {
  const raw = core.getState(name)
  if (!raw) return undefined
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/**
 * An entry that post saves to the GitHub Actions cache: its remote name, its directory, and every file it must
 * hold with its sha256 as main verified it (a later step of the job could change the files before post runs).
 */
export interface PendingRemoteSave {
  name: string
  dir: string
  files: { path: string; digest: string }[]
}

const REMOTE_SAVES = 'remote-saves'
const pending: PendingRemoteSave[] = []

export function addPendingRemoteSave(save: PendingRemoteSave): void {
  pending.push(save)
  core.saveState(REMOTE_SAVES, JSON.stringify(pending))
}

export function readPendingRemoteSaves(): PendingRemoteSave[] {
  const parsed = parseState(REMOTE_SAVES)
  return Array.isArray(parsed) ? (parsed as PendingRemoteSave[]) : []
}

/** The GPUs main placed the server on, for post to check that their memory came back. */
export interface GpuState {
  gpus: { index: number; uuid: string | null; name: string; reservedBytes: number }[]
  /** The GPU lease, which post removes once the server is gone. */
  leaseFile: string | null
  /**
   * nvidia-smi listed the server under its pid: its pids are this job's (not so in a container without the host's
   * PID namespace, where post can then tell neither whether the memory came back nor whose other processes are).
   */
  pidsComparable: boolean
}

const GPUS = 'gpus'

export function saveGpuState(state: GpuState): void {
  core.saveState(GPUS, JSON.stringify(state))
}

export function readGpuState(): GpuState | undefined {
  const parsed = parseState(GPUS) as Partial<GpuState> | undefined
  if (!Array.isArray(parsed?.gpus)) return undefined
  const gpus = parsed.gpus.filter((g) => typeof g?.index === 'number' && (typeof g.uuid === 'string' || g.uuid === null) && typeof g.name === 'string' && typeof g.reservedBytes === 'number')
  return { gpus, leaseFile: typeof parsed.leaseFile === 'string' ? parsed.leaseFile : null, pidsComparable: parsed.pidsComparable === true }
}
