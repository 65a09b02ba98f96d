// The main step: read the inputs, provision model and engine, place and start the server, hand it to the job.
import * as core from '@actions/core'
import { engineHelp, planEngine, provisionEngine } from './engine/provision.js'
import { failStep } from './errors.js'
import { placeServer, serverLoaded } from './gpu/job.js'
import { gpusFor } from './gpu/nvidia-smi.js'
import type { Placement } from './gpu/placement.js'
import { LOG_VERBOSITY_FLAG, type ServerAllocation } from './gpu/server-log.js'
import { buildHandoff, writeHandoff } from './handoff.js'
import { checkInputPaths } from './input-paths.js'
import { readInputs } from './inputs.js'
import { provisionModel } from './model/provision.js'
import { setProvisionOutputs, setServerOutputs } from './outputs.js'
import { phaseTimes, recordPhase, timed } from './phases.js'
import { serverKnownFlags } from './server/features.js'
import { startServer, type RunningServer } from './server/start.js'
import { evictCache } from './store/cache-dir.js'
import { heldLeaseDescriptors, takenLeaseFiles } from './store/lease.js'
import { spawnLeaseKeeper } from './store/lease-keeper.js'
import { processStartTime } from './server/process-identity.js'
import { saveKeeperState, saveLeaseState } from './state.js'
import { unsupportedRunner } from './supported-runner.js'
import { writeSummary } from './summary.js'

// performance.mark()s name the points of the warm path that `npm run bench` breaks the step's time down by.
const mark = (name: string) => performance.mark(`setup-llama-server:${name}`)

export async function run(): Promise<void> {
  mark('run')
  try {
    const unsupported = unsupportedRunner({ platform: process.platform, arch: process.arch, env: process.env })
    if (unsupported) return core.setFailed(unsupported)
    const inputs = readInputs()
    await checkInputPaths(inputs)
    mark('inputs')
    // Neither the GPUs nor the engine's plan (its binary checked, or tools, commit and key) depend on the model:
    // they are found while the model is looked up. The plan's failure is reported after the model's.
    const gpuQuery = gpusFor(inputs.backend)
    const engineQuery = planEngine(inputs, gpuQuery)
    engineQuery.catch(() => undefined)
    const model = await timed('model (resolve + fetch)', () => provisionModel(inputs))
    mark('model')
    const engine = await timed('engine (resolve + build)', async () => provisionEngine(inputs, await engineQuery))
    mark('engine')
    const gpus = await gpuQuery
    // Post gives the store leases back once their holder (the server, or the keeper) is stopped.
    saveLeaseState(takenLeaseFiles())
    setProvisionOutputs(model, engine)
    let server: RunningServer | undefined
    let placement: Placement | undefined
    let allocation: ServerAllocation | undefined
    if (inputs.start) {
      // GPUs (gpu/): chosen, split and leased against the host's other jobs; the lease goes to the server.
      // What the server can be told (its --help): llama.cpp's own fit, and the log level that shows its allocations.
      const known = engine.backend === 'cpu' ? new Set<string>() : await serverKnownFlags(() => engineHelp(engine.path, inputs), ['--fit', LOG_VERBOSITY_FLAG])
      const serverFlags = { serverFits: known.has('--fit'), serverVerbosity: known.has(LOG_VERBOSITY_FLAG) }
      const placed = await timed('place (GPUs)', () => placeServer({ backend: engine.backend, provisioningMode: engine.provisioningMode, enginePath: engine.path, ...serverFlags, inputs, model, gpus }))
      placement = placed.placement
      const gpuLease = placed.lease ? [placed.lease.fd] : []
      // The server inherits the leases on its model, engine and GPUs: they hold while it lives, however it ends.
      server = await timed('start', () => startServer(engine.path, model.path, inputs, placed.placement, [...heldLeaseDescriptors(), ...gpuLease]))
      recordPhase('load (until /health answered 200)', server.readyAfterMs)
      allocation = await serverLoaded(placed, server)
      const handoff = buildHandoff({ model, engine, server, poolId: inputs.poolId, parallel: inputs.parallel, placement })
      await writeHandoff(inputs.handoffPath, handoff)
      core.info(`Handoff: ${inputs.handoffPath}`)
      setServerOutputs(server, inputs.handoffPath)
    } else {
      core.info('start is false: the model and the engine are ready; no server was started.')
      // Until the post step, nothing may evict what this step just provided.
      const keeper = spawnLeaseKeeper(heldLeaseDescriptors())
      if (keeper) saveKeeperState({ pid: keeper.pid, startTime: processStartTime(keeper.pid) ?? '' })
    }
    await writeSummary({ model, engine, server, placement, allocation, phases: phaseTimes() })
    await evictCache(inputs)
  } catch (error) {
    failStep(error)
  }
}
