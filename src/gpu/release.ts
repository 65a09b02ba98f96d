// After post has stopped the server: did its GPU memory come back, and who else holds memory on this job's GPUs?
// A process that no live GPU lease accounts for is reported (pid, program, memory) so that a user sees an orphan
// before it breaks the next job; nothing here signals any process.
import * as core from '@actions/core'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { errorMessage } from '../errors.js'
import { readGpuState } from '../state.js'
import { lockIsHeld } from '../store/lease.js'
import { describeApp, describeHolders, gpuLeaseDir, liveHolders, removeLease, unleasedApps } from './leases.js'
import { queryComputeApps, type ComputeApp, type GpuInfo } from './nvidia-smi.js'
import { allocatedPerGpu, readServerAllocation } from './server-log.js'

/** The driver frees a dead process's memory at once, but its exit may take a moment: how long to look again. */
const RELEASE_WAIT_MS = 10_000

/**
 * Post, once the server is stopped: what llama-server said it allocated on this job's GPUs (its log, against what
 * the job reserved), then checkGpusReleased. A failure here is a warning: the server is already stopped.
 */
export async function checkServerGpus(server: { pid: number; logPath: string }): Promise<void> {
  const state = readGpuState()
  if (!state?.gpus.length) return
  try {
    const allocated = allocatedPerGpu(await readServerAllocation(server.logPath), state.gpus)
    for (const line of allocated) core.info(`llama-server had allocated on ${line}`)
    if (allocated.length && process.env.GITHUB_STEP_SUMMARY) {
      await core.summary.addHeading('llama-server GPU memory', 3).addList(allocated).write()
    }
    // The lease ended with the server; its file goes (one still locked stays: something still holds it).
    if (state.leaseFile && (await lockIsHeld(state.leaseFile)) === false) await removeLease(state.leaseFile)
    if (state.pidsComparable) await checkGpusReleased({ gpus: state.gpus, serverPid: server.pid })
    else core.info("nvidia-smi did not list llama-server under its pid (a container without the host's PID namespace, or nothing on the GPU): whether its GPU memory came back, and whose other processes are there, cannot be told here.")
  } catch (error) {
    core.warning(`Could not check this job's GPUs after stopping llama-server: ${errorMessage(error)}`)
  }
}

export interface JobGpus {
  gpus: Pick<GpuInfo, 'index' | 'uuid' | 'name'>[]
  serverPid: number
}

export async function checkGpusReleased(job: JobGpus): Promise<void> {
  const gpus = job.gpus
  const uuids = new Set(gpus.map((g) => g.uuid))
  let apps = await queryComputeApps()
  if (apps === undefined) {
    core.info('nvidia-smi cannot list compute processes here: whether the server gave its GPU memory back is not checked.')
    return
  }
  const deadline = Date.now() + RELEASE_WAIT_MS
  while (apps.some((a) => a.pid === job.serverPid && uuids.has(a.gpuUuid)) && Date.now() < deadline) {
    await sleep(250)
    apps = (await queryComputeApps()) ?? []
  }
  const still = apps.filter((a) => a.pid === job.serverPid && uuids.has(a.gpuUuid))
  if (still.length) core.warning(`llama-server (pid ${job.serverPid}) still holds GPU memory after it was stopped: ${still.map((a) => `${a.usedMib ?? '?'} MiB on GPU ${gpus.find((g) => g.uuid === a.gpuUuid)?.index}`).join(', ')}.`)
  else core.info(`llama-server's GPU memory was given back (nvidia-smi lists no process of it on GPU ${gpus.map((g) => g.index).join(', ')}).`)
  const dir = gpuLeaseDir(process.env)
  const holders = await liveHolders(dir)
  const others = describeHolders(holders, gpus)
  if (others.length) core.info(`Other jobs on this job's GPUs: ${others.join('; ')}`)
  for (const app of unleasedApps(apps, holders, gpus, [job.serverPid])) core.warning(orphanMessage(app, gpus))
}

function orphanMessage(app: ComputeApp, gpus: Pick<GpuInfo, 'index' | 'uuid'>[]): string {
  return (
    `${describeApp(app, gpus, programOf(app))}, a GPU this job used, and no job on this host has leased it: an orphan of an ` +
    `earlier job, or work outside these actions. It was not stopped; it will take memory from the next job.`
  )
}

/**
 * The program of a process (its argv[0], never its arguments: another job's command line may carry secrets),
 * where it can be read; else the name nvidia-smi gives.
 */
function programOf(app: ComputeApp): string {
  try {
    const program = readFileSync(`/proc/${app.pid}/cmdline`, 'utf8').split('\0')[0]
    if (program) return program.slice(0, 200)
  } catch {
    // not ours to read, or gone
  }
  return app.processName
}
