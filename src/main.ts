// The main step: read the inputs, provision model and engine, start the server, hand it to the job.
import * as core from '@actions/core'
import { provisionEngine } from './engine/provision.js'
import { queryNvidiaGpus } from './engine/gpu.js'
import { failStep } from './errors.js'
import { buildHandoff, writeHandoff } from './handoff.js'
import { readInputs } from './inputs.js'
import { provisionModel } from './model/provision.js'
import { setProvisionOutputs, setServerOutputs } from './outputs.js'
import { startServer, type RunningServer } from './server/start.js'
import { evictCache, leaseForServer } from './store/cache-dir.js'
import { writeSummary } from './summary.js'

export async function run(): Promise<void> {
  try {
    const inputs = readInputs()
    const gpus = await queryNvidiaGpus()
    const model = await provisionModel(inputs)
    const engine = await provisionEngine(inputs, gpus)
    setProvisionOutputs(model, engine)
    let server: RunningServer | undefined
    if (inputs.start) {
      server = await startServer(engine.path, model.path, inputs)
      await leaseForServer(inputs.cacheDir, model, engine, server.pid)
      const handoff = buildHandoff({ model, engine, server, poolId: inputs.poolId, parallel: inputs.parallel, devices: inputs.devices, gpus })
      await writeHandoff(inputs.handoffPath, handoff)
      core.info(`Handoff: ${inputs.handoffPath}`)
      setServerOutputs(server, inputs.handoffPath)
    } else {
      core.info('start is false: the model and the engine are ready; no server was started.')
    }
    await writeSummary(model, engine, server)
    await evictCache(inputs)
  } catch (error) {
    failStep(error)
  }
}
