// GPU leases across the jobs of one host: a job that starts a server holds the GPUs it placed it on, with what it
// reserved on each, until that server stops. Host-wide, not per cache-dir (two runners may use different ones):
// one directory, $SETUP_LLAMA_SERVER_GPU_LEASES or /tmp/setup-llama-server-gpu-leases, which runners in
// containers must share with the host (the same directory mounted at the same path, or the variable set to
// where it is mounted).
//
// A lease is `<id>.lease`, a JSON file locked with flock(2) through a descriptor the server inherits (as the
// store's leases: store/lease.ts), so the kernel ends it with the server, however the server ends (kill -9
// included), and a job in another PID namespace sees the same lock. Once the server has loaded (its memory is
// then allocated, and nvidia-smi's free memory counts it), `<id>.server` says so, with the server's pid. A lease
// from before the last boot is dead: its GPUs' processes are gone. Choosing GPUs and writing the lease happen
// under one lock (`placement.lock`), so that two jobs never both count the same free memory.
import { closeSync, constants, openSync, promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { parseJson } from '../util/read-file.js'
import { processFileId, createLockedFile, isStaleTemp, lockIsHeld, tryLock, writtenUnderThisKernel } from '../store/lease.js'
import { writeFileAtomic } from '../util/atomic-write.js'
import type { ComputeApp, GpuInfo } from './nvidia-smi.js'
import type { GpuRoom, Reservation } from './placement.js'

export const GPU_LEASES_VARIABLE = 'SETUP_LLAMA_SERVER_GPU_LEASES'
export const DEFAULT_GPU_LEASES_DIR = '/tmp/setup-llama-server-gpu-leases'
/** Longest wait for the placement lock: it is held for a query of nvidia-smi and a file write. */
const PLACEMENT_LOCK_WAIT_S = 60

export function gpuLeaseDir(env: NodeJS.ProcessEnv): string {
  const dir = env[GPU_LEASES_VARIABLE]?.trim()
  return dir && path.isAbsolute(dir) ? dir : DEFAULT_GPU_LEASES_DIR
}

const LeaseRecord = z.object({
  boot_id: z.string(),
  pid: z.number().int(),
  created: z.string(),
  job: z.string().max(500),
  gpus: z.array(z.object({ uuid: z.string(), index: z.number().int(), name: z.string().max(200), reserved_bytes: z.number().nonnegative() })).max(64),
  estimate_source: z.string().max(40),
})
const ServerRecord = z.object({ pid: z.number().int().positive(), allocated_at: z.string() })

/** A live lease of some job on this host. */
export interface Holder {
  file: string
  job: string
  since: string
  gpus: { uuid: string; index: number; name: string; reservedBytes: number }[]
  /** Set once its server has loaded. */
  server: { pid: number; allocatedAt: string } | undefined
}

export interface GpuLease {
  file: string
  /** Held by this process, to hand to the server. */
  fd: number
}

/** Who runs this job, as other jobs' logs name it. */
export function jobName(env: NodeJS.ProcessEnv): string {
  const run = env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT && env.GITHUB_RUN_ATTEMPT !== '1' ? ` (attempt ${env.GITHUB_RUN_ATTEMPT})` : ''}` : ''
  const job = env.GITHUB_JOB ? ` job ${env.GITHUB_JOB}` : ''
  const runner = env.RUNNER_NAME ? ` on runner ${env.RUNNER_NAME}` : ''
  return `${env.GITHUB_REPOSITORY ?? 'a job'}${run}${job}${runner}`.slice(0, 500)
}

/**
 * The lease directory, created for every user of the host (mode 1777, as /tmp: anyone may add a lease, only its
 * owner may remove it). It must be a real directory: a link could send the writes elsewhere.
 */
async function leaseDir(dir: string): Promise<string> {
  const stat = await fs.lstat(dir).catch(() => undefined)
  if (!stat) {
    await fs.mkdir(dir, { recursive: true, mode: 0o1777 })
    await fs.chmod(dir, 0o1777).catch(() => undefined)
  } else if (!stat.isDirectory() || stat.isSymbolicLink()) {
    throw new Error(`${dir} is not a directory (a link, or a file); remove it or set ${GPU_LEASES_VARIABLE}`)
  }
  return dir
}

/**
 * Runs `fn` holding the host's placement lock; undefined (and `fn` not run) when no lock can be had here (no
 * flock(1)), so that the caller goes on without leases.
 */
export async function withPlacementLock<T>(dir: string, fn: () => Promise<T>): Promise<{ value: T } | undefined> {
  const file = path.join(await leaseDir(dir), 'placement.lock')
  await fs.writeFile(file, '', { flag: 'wx', mode: 0o644 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  // Read-only is enough for flock(2), and lets every user lock a file one of them created; never through a link.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    const locked = await tryLock(fd, PLACEMENT_LOCK_WAIT_S)
    if (locked === undefined) return undefined
    if (!locked) throw new Error(`another job held ${file} for more than ${PLACEMENT_LOCK_WAIT_S} s`)
    return { value: await fn() }
  } finally {
    closeSync(fd)
  }
}

/** The live leases in `dir`; dead ones (and their `.server` files) are removed on the way where this user may. */
export async function liveHolders(dir: string): Promise<Holder[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[])
  const holders: Holder[] = []
  for (const name of names) {
    const file = path.join(dir, name)
    const stat = await fs.lstat(file).catch(() => undefined)
    if (!stat) continue
    if (!name.endsWith('.lease')) {
      const orphanSidecar = name.endsWith('.server') && !names.includes(name.replace(/\.server$/, '.lease'))
      if (orphanSidecar || isStaleTemp(name, stat.mtimeMs)) await fs.rm(file, { force: true }).catch(() => undefined)
      continue
    }
    const holder = stat.isFile() ? await readHolder(file) : undefined
    if (holder) holders.push(holder)
    else await removeLease(file)
  }
  return holders
}

async function readHolder(file: string): Promise<Holder | undefined> {
  const content = await fs.readFile(file, 'utf8').catch(() => '')
  if (!writtenUnderThisKernel(content) || (await lockIsHeld(file)) !== true) return undefined
  const parsed = LeaseRecord.safeParse(parseJson(content))
  if (!parsed.success) return undefined
  const server = ServerRecord.safeParse(parseJson(await fs.readFile(sidecar(file), 'utf8').catch(() => '')))
  return {
    file,
    job: oneLine(parsed.data.job),
    since: oneLine(parsed.data.created),
    gpus: parsed.data.gpus.map((g) => ({ uuid: g.uuid, index: g.index, name: oneLine(g.name), reservedBytes: g.reserved_bytes })),
    server: server.success ? { pid: server.data.pid, allocatedAt: server.data.allocated_at } : undefined,
  }
}

/** Removes a lease and its `.server` file; another user's stay (the sticky directory keeps them) and are skipped. */
export async function removeLease(file: string): Promise<void> {
  for (const f of [file, sidecar(file)]) await fs.rm(f, { force: true }).catch(() => undefined)
}

const sidecar = (leaseFile: string) => leaseFile.replace(/\.lease$/, '.server')

/** Takes a lease on `reservations`, locked through a descriptor of this process; undefined without flock(1). */
export async function takeGpuLease(dir: string, reservations: Reservation[], job: string, estimateSource: string): Promise<GpuLease | undefined> {
  const id = processFileId()
  const record = {
    job,
    estimate_source: estimateSource,
    gpus: reservations.filter((r) => r.gpu.uuid).map((r) => ({ uuid: r.gpu.uuid, index: r.gpu.index, name: r.gpu.name, reserved_bytes: r.bytes })),
  }
  const file = path.join(dir, `${id}.lease`)
  const fd = await createLockedFile(file, record)
  if (fd === undefined) {
    await removeLease(file)
    return undefined
  }
  return { file, fd }
}

/** Records that the server has loaded: what it reserved is now allocated, and free memory shows it. */
export async function markAllocated(lease: GpuLease, serverPid: number): Promise<void> {
  await writeFileAtomic(sidecar(lease.file), `${JSON.stringify({ pid: serverPid, allocated_at: new Date().toISOString() })}\n`)
}

/**
 * Each GPU with what live holders reserved on it and have not allocated yet: the whole reservation until its
 * server has loaded (counted twice meanwhile, with what it already allocated: the safe side), none after. Pure.
 */
export function roomsOf(gpus: GpuInfo[], holders: Holder[]): GpuRoom[] {
  return gpus.map((gpu) => {
    let reservedByOthers = 0
    for (const holder of holders) {
      const reserved = holder.gpus.find((g) => g.uuid === gpu.uuid)
      if (!reserved || holder.server) continue
      reservedByOthers += reserved.reservedBytes
    }
    return { gpu, reservedByOthers }
  })
}

/** `octo/app run 7 job eval: 2.44 GiB on GPU 0, loading since 12:00:01Z`: who holds what, for logs and errors. */
export function describeHolders(holders: Holder[], gpus: Pick<GpuInfo, 'uuid'>[]): string[] {
  const uuids = new Set(gpus.map((g) => g.uuid))
  return holders
    .filter((h) => h.gpus.some((g) => uuids.has(g.uuid)))
    .map((h) => {
      const where = h.gpus.filter((g) => uuids.has(g.uuid)).map((g) => `${(g.reservedBytes / 2 ** 30).toFixed(2)} GiB on GPU ${g.index} (${g.name})`).join(', ')
      const state = h.server ? `llama-server pid ${h.server.pid} running` : 'loading'
      return `${h.job}: ${where}, ${state}, since ${h.since}`
    })
}

/** Compute processes on `gpus` that no live lease's server accounts for: orphans, or other tools' work. */
export function unleasedApps(apps: ComputeApp[] | undefined, holders: Holder[], gpus: Pick<GpuInfo, 'uuid'>[], alsoOurs: number[] = []): ComputeApp[] {
  const uuids = new Set(gpus.map((g) => g.uuid))
  const leased = new Set([...holders.map((h) => h.server?.pid), ...alsoOurs])
  return (apps ?? []).filter((a) => uuids.has(a.gpuUuid) && !leased.has(a.pid))
}

/** `pid 4242 (python3) holds 3000 MiB on GPU 0`. */
export function describeApp(app: ComputeApp, gpus: Pick<GpuInfo, 'uuid' | 'index'>[], program = app.processName): string {
  const gpu = gpus.find((g) => g.uuid === app.gpuUuid)
  const memory = app.usedMib === null ? 'memory (the driver does not say how much)' : `${app.usedMib} MiB`
  return `pid ${app.pid} (${program}) holds ${memory} on GPU ${gpu?.index ?? app.gpuUuid}`
}

/** Another user's lease is printed in this job's log: no line break or control character may make it a workflow command. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, ' ')
}

