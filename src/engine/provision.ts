// The engine inputs into a llama-server binary that runs here: the user's binary as it is, llama.cpp's release
// archive for the pinned commit (release/provision.ts), or llama.cpp built at that commit for the chosen backend,
// once per cache key, kept in the engine store (and the remote cache). In two parts: the plan (the binary's check,
// or the commit's resolution and, for a build, tools, backend and key), which needs nothing from the model and so
// runs while the model is looked up; then the store, a release archive, the remote cache or a build.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../constants.js'
import { EngineError } from '../errors.js'
import type { GpuInfo } from '../gpu/nvidia-smi.js'
import { restoreFromRemote } from '../store/remote-cache.js'
import { addPendingRemoteSave } from '../state.js'
import { chooseBackend, type BuiltBackend } from './backend.js'
import { useExistingBinary } from './binary.js'
import { buildEngine } from './build.js'
import { cudaArchitecturesOf } from './gpu.js'
import { engineKey, ENGINE_RECIPE_VERSION, normalizeCmakeArgs, normalizeRepo, type BuildPlan, type EngineInputs, type KeyMaterial } from './plan.js'
import { missingTools, missingToolsMessage } from './preflight.js'
import type { ProvisionedEngine } from './provisioned.js'
import { resolveCommit, type ResolvedRef } from './ref.js'
import { EngineStore, MANIFEST, readManifest } from './store.js'
import { engineOutput } from './version.js'
import { provisionFromRelease } from './release/provision.js'
import { probeToolchain, type Toolchain } from './toolchain.js'

/** The user's binary, checked; or what to look up in the store and build when it is not there. */
export type EnginePlan =
  | { mode: 'binary'; engine: ProvisionedEngine }
  | { mode: 'source'; plan: BuildPlan }
  /** A release archive first (engine-source auto or release), a build where none fits. */
  | { mode: 'release'; gpus: Promise<GpuInfo[]>; resolving: Promise<ResolvedRef>; toolchain: Promise<Toolchain> }

export async function planEngine(inputs: EngineInputs, gpus: Promise<GpuInfo[]>): Promise<EnginePlan> {
  const store = new EngineStore(inputs.cacheDir)
  if (inputs.llamaServerPath !== undefined) {
    // A given binary's backend cannot be asked; auto assumes what the machine has.
    const backend: BuiltBackend = inputs.backend !== 'auto' ? inputs.backend : (await gpus).length ? 'cuda' : 'cpu'
    const engine = await useExistingBinary(inputs.llamaServerPath, backend, store.outputs, inputs.verify)
    core.info(`Engine: ${engine.path} (version ${engine.version}, given by '${Input.LlamaServerPath}')`)
    return { mode: 'binary', engine }
  }
  // git asks the remote for the commit before anything else: it runs while the rest is probed, nvidia-smi answers
  // and the model is looked up. Without git, the preflight says so before this failure is looked at.
  const resolving = resolveCommit('git', inputs.llamaCppRepo, inputs.llamaCppRef)
  resolving.catch(() => undefined)
  // Both a release archive (nvcc decides its backend) and a build need the tools: looked up (a few stat calls, the
  // compilers' remembered --version) while the model is.
  const toolchain = probeToolchain(process.env, store.outputs)
  toolchain.catch(() => undefined)
  // A release archive is looked for after the model (it may download, which a failed model should not wait for).
  if (inputs.engineSource !== 'build') return { mode: 'release', gpus, resolving, toolchain }
  return { mode: 'source', plan: await planBuild(inputs, toolchain, gpus, resolving) }
}

export async function provisionEngine(inputs: EngineInputs, planned: EnginePlan): Promise<ProvisionedEngine> {
  if (planned.mode === 'binary') return planned.engine
  let plan: BuildPlan
  if (planned.mode === 'release') {
    const released = await provisionFromRelease(inputs, planned.gpus, planned.resolving, planned.toolchain)
    if (released) return released
    plan = await planBuild(inputs, planned.toolchain, planned.gpus, planned.resolving)
  } else {
    plan = planned.plan
  }
  const { key, backend } = plan
  const commit = plan.material.commit
  const store = new EngineStore(inputs.cacheDir)
  const remote = inputs.remoteCache === 'engine' || inputs.remoteCache === 'all'
  return await store.withEntryLock(key, `the engine ${key}`, async () => {
    const done = (binary: string, version: string, cacheHit: boolean): ProvisionedEngine => {
      core.info(`Engine: ${binary} (version ${version}, ${cacheHit ? 'cache hit' : 'built'})`)
      return { path: binary, version, commit, provisioningMode: 'source', backend, cacheHit, cacheKey: key }
    }
    const cached = await store.find(key, inputs.verify)
    if (cached) return done(cached.binary, cached.version, true)
    if (remote) {
      const restored = await restoreEngine(store, key)
      if (restored) return done(restored.binary, restored.version, true)
    }
    const built = await buildEngine(store, plan, inputs)
    if (remote) addPendingRemoteSave({ name: key, dir: store.entryDir(key), files: await store.entryFiles(key) })
    return done(built.binary, built.version, false)
  })
}

/** Preflight, backend, CUDA architectures, commit and cache key, before anything slow. */
async function planBuild(inputs: EngineInputs, toolchain: Promise<Toolchain>, gpuQuery: Promise<GpuInfo[]>, resolving: Promise<ResolvedRef>): Promise<BuildPlan> {
  const tc = await toolchain
  const gpus = await gpuQuery
  const { backend, reason } = chooseBackend(inputs.backend, gpus, tc.nvcc)
  core.info(`Backend: ${reason}`)
  const missing = missingTools(backend, tc)
  if (missing.length) throw new EngineError(missingToolsMessage(backend, missing))
  const cudaArchitectures = backend === 'cuda' ? (inputs.cudaArchitectures ?? cudaArchitecturesOf(gpus)) : undefined
  if (backend === 'cuda' && !cudaArchitectures) {
    throw new EngineError(`No GPU reported a compute capability to build for: set '${Input.CudaArchitectures}' (e.g. 89 for an L4, 90 for an H100)`)
  }
  const { commit, fetchRef } = await resolving
  core.info(`llama.cpp ${inputs.llamaCppRef} is commit ${commit}`)
  const material: KeyMaterial = {
    recipe: ENGINE_RECIPE_VERSION,
    repo: normalizeRepo(inputs.llamaCppRepo),
    commit,
    backend,
    cudaVersion: backend === 'cuda' ? (tc.cudaVersion ?? null) : null,
    cudaArchitectures: cudaArchitectures ?? null,
    cc: tc.ccVersion ?? null,
    cxx: tc.cxxVersion ?? null,
    cmakeArgs: normalizeCmakeArgs(inputs.cmakeArgs),
    os: process.platform,
    arch: process.arch,
  }
  const key = engineKey(material)
  core.info(`Engine cache key: ${key}\n  from ${JSON.stringify(material)}`)
  return { tc, key, material, backend, fetchRef, cudaArchitectures }
}

/** An engine from the GitHub Actions cache, checked like a built one before the local store takes it. */
async function restoreEngine(store: EngineStore, key: string) {
  const restored = await restoreFromRemote(key)
  if (!restored) return undefined
  const manifest = await readManifest(restored)
  if (manifest?.key !== key) {
    core.warning(`The GitHub Actions cache entry for ${key} has no matching ${MANIFEST}; building instead.`)
    await fs.rm(restored, { recursive: true, force: true })
    return undefined
  }
  const work = await store.newWorkDir()
  await fs.cp(restored, path.join(work, 'entry'), { recursive: true, preserveTimestamps: true })
  await fs.rm(restored, { recursive: true, force: true })
  await store.publish(path.join(work, 'entry'), key)
  await store.removeWorkDir(work)
  // Every file against the manifest, then --version from its final place; a bad entry is removed.
  return await store.find(key, 'full')
}

/** The engine's `--help`, remembered beside the engines like its --version: a warm run does not start it again. */
export async function engineHelp(binary: string, inputs: Pick<EngineInputs, 'cacheDir' | 'verify'>): Promise<string> {
  return await engineOutput(binary, ['--help'], new EngineStore(inputs.cacheDir).outputs, inputs.verify)
}
