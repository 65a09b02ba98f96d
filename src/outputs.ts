import * as core from '@actions/core'
import { Output } from './constants.js'
import type { ProvisionedEngine } from './engine/provisioned.js'
import type { ProvisionedModel } from './model/provisioned.js'
import type { RunningServer } from './server/start.js'

export function setProvisionOutputs(model: ProvisionedModel, engine: ProvisionedEngine): void {
  core.setOutput(Output.ModelPath, model.path)
  core.setOutput(Output.ModelId, model.id)
  core.setOutput(Output.ModelDigest, model.digest)
  core.setOutput(Output.ModelCacheHit, String(model.cacheHit))
  core.setOutput(Output.EnginePath, engine.path)
  core.setOutput(Output.EngineVersion, engine.version)
  core.setOutput(Output.EngineCommit, engine.commit ?? '')
  core.setOutput(Output.EngineCacheHit, String(engine.cacheHit))
  core.setOutput(Output.EngineProvisioningMode, engine.provisioningMode)
  core.setOutput(Output.EngineReleaseTag, engine.release?.tag ?? '')
  core.setOutput(Output.EngineReleaseAsset, engine.release?.asset ?? '')
  core.setOutput(Output.EngineReleaseRuntimeAsset, engine.release?.runtime?.asset ?? '')
}

/** Where OpenAI-compatible clients (the `openai` SDKs' base_url, LangChain, curl) send their requests. */
export function openaiBaseUrl(url: string): string {
  return `${url}/v1`
}

export function setServerOutputs(server: RunningServer, handoffPath: string): void {
  core.setOutput(Output.Url, server.url)
  core.setOutput(Output.OpenaiBaseUrl, openaiBaseUrl(server.url))
  core.setOutput(Output.Host, server.host)
  core.setOutput(Output.Port, String(server.port))
  core.setOutput(Output.Pid, String(server.pid))
  core.setOutput(Output.LogPath, server.logPath)
  core.setOutput(Output.HandoffPath, handoffPath)
}
