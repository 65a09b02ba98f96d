// The post step (runs always): stop the server that main started, if it still is ours, show its log, and save
// to the GitHub Actions cache what main built.
import * as core from '@actions/core'
import { STOP_GRACE_MS } from './constants.js'
import { errorMessage } from './errors.js'
import { checkServerGpus } from './gpu/release.js'
import { logTail } from './server/log-tail.js'
import { groupAlive, processStartTime } from './server/process-identity.js'
import { stopProcessGroup } from './server/stop.js'
import { giveBackLeases } from './store/lease.js'
import { saveToRemote } from './store/remote-cache.js'
import { readKeeperState, readLeaseState, readPendingRemoteSaves, readServerState } from './state.js'
import { printInert } from './util/inert-log.js'

export async function run(): Promise<void> {
  try {
    const server = readServerState()
    if (server) {
      await stopServer(server.pid, server.startTime)
      await checkServerGpus(server)
      const tail = await logTail(server.logPath, 100)
      core.startGroup(`llama-server log (last 100 lines of ${server.logPath})`)
      await printInert(tail || '(empty)')
      core.endGroup()
      core.info(`The whole log: ${server.logPath}`)
    } else {
      core.info('No server was started by this action: nothing to stop.')
    }
    const keeper = readKeeperState()
    if (keeper && processStartTime(keeper.pid) === keeper.startTime) {
      // It held main's leases for start: false; the job is over, so they go.
      await stopProcessGroup(keeper.pid, STOP_GRACE_MS)
    }
    for (const save of readPendingRemoteSaves()) await saveToRemote(save.name, save.dir, save.files ?? [])
    await giveBackLeases(readLeaseState())
  } catch (error) {
    // A post step that cannot clean up must say so loudly: the next job on this runner would inherit the mess.
    core.setFailed(`Could not stop llama-server: ${errorMessage(error)}`)
  }
}

async function stopServer(pid: number, startTime: string): Promise<void> {
  const now = processStartTime(pid)
  if (now !== undefined && now !== startTime) {
    core.warning(`pid ${pid} is no longer the llama-server this job started (its start time differs); not signalling it.`)
    return
  }
  // The leader may be gone while processes it forked still hold its group; a group id is not reused while any
  // member lives, so the group is still ours.
  if (now === undefined && !groupAlive(pid)) {
    core.info(`llama-server (pid ${pid}) had already exited.`)
    return
  }
  const result = await stopProcessGroup(pid, STOP_GRACE_MS)
  const how = { 'not-running': 'had already exited', terminated: 'stopped with SIGTERM', killed: `did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM and was killed` }[result]
  core.info(`llama-server (pid ${pid}) ${how}.`)
}
