// The engine inputs into a llama-server binary that runs here: the user's binary as it is, or llama.cpp built at
// a pinned commit for the chosen backend, once per cache key, kept in the engine store (and the remote cache).
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Input } from '../constants.js'
import { EngineError } from '../errors.js'
import type { GpuInfo } from '../handoff.js'
import type { ActionInputs } from '../inputs.js'
import { restoreFromRemote } from '../store/remote-cache.js'
import { addPendingRemoteSave } from '../state.js'
import { chooseBackend, type BuiltBackend } from './backend.js'
import { useExistingBinary } from './binary.js'
import { cmakeStep } from './build.js'
import { cudaArchitecturesOf } from './gpu.js'
import { cmakeBuildArgs, cmakeConfigureArgs, engineKey, ENGINE_RECIPE_VERSION, normalizeCmakeArgs, normalizeRepo, type KeyMaterial } from './plan.js'
import { missingTools, missingToolsMessage } from './preflight.js'
import type { ProvisionedEngine } from './provisioned.js'
import { resolveCommit } from './ref.js'
import { fetchSource } from './source.js'
import { BINARY, describeFiles, EngineStore, MANIFEST, readManifest } from './store.js'
import { probeToolchain, type Toolchain } from './toolchain.js'
import { checkNvccHostCompiler } from './cuda.js'

type EngineInputs = Pick<
  ActionInputs,
  'llamaServerPath' | 'llamaCppRepo' | 'llamaCppRef' | 'backend' | 'cudaArchitectures' | 'cmakeArgs' | 'buildJobs' | 'cacheDir' | 'verify' | 'remoteCache'
>

export async function provisionEngine(inputs: EngineInputs, gpus: GpuInfo[]): Promise<ProvisionedEngine> {
  if (inputs.llamaServerPath !== undefined) {
    // A given binary's backend cannot be asked; auto assumes what the machine has.
    const backend: BuiltBackend = inputs.backend !== 'auto' ? inputs.backend : gpus.length ? 'cuda' : 'cpu'
    const engine = await useExistingBinary(inputs.llamaServerPath, backend)
    core.info(`Engine: ${engine.path} (version ${engine.version}, given by '${Input.LlamaServerPath}')`)
    return engine
  }
  const plan = await planBuild(inputs, gpus)
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
    if (remote) addPendingRemoteSave({ name: key, dir: store.entryDir(key) })
    return done(built.binary, built.version, false)
  })
}

interface BuildPlan {
  tc: Toolchain
  key: string
  material: KeyMaterial
  backend: BuiltBackend
  fetchRef: string
  cudaArchitectures: string | undefined
}

/** Everything decided before a build: tools (all present), backend, CUDA architectures, commit, cache key. */
async function planBuild(inputs: EngineInputs, gpus: GpuInfo[]): Promise<BuildPlan> {
  const tc = await probeToolchain(process.env)
  const { backend, reason } = chooseBackend(inputs.backend, gpus, tc.nvcc)
  core.info(`Backend: ${reason}`)
  const missing = missingTools(backend, tc)
  if (missing.length) throw new EngineError(missingToolsMessage(backend, missing))
  const cudaArchitectures = backend === 'cuda' ? (inputs.cudaArchitectures ?? cudaArchitecturesOf(gpus)) : undefined
  if (backend === 'cuda') {
    if (!cudaArchitectures) {
      throw new EngineError(`No GPU reported a compute capability to build for: set '${Input.CudaArchitectures}' (e.g. 89 for an L4, 90 for an H100)`)
    }
    await checkNvccHostCompiler(tc.nvcc as string)
  }
  const { commit, fetchRef } = await resolveCommit(tc.git as string, inputs.llamaCppRepo, inputs.llamaCppRef)
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
  await fs.rm(work, { recursive: true, force: true })
  // Every file against the manifest, then --version from its final place; a bad entry is removed.
  return await store.find(key, 'full')
}

async function buildEngine(store: EngineStore, plan: BuildPlan, inputs: EngineInputs) {
  const { tc, key, material } = plan
  const started = Date.now()
  const work = path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', `build-${key}-${process.pid}`)
  const sourceDir = path.join(work, 'src')
  const buildDir = path.join(work, 'build')
  try {
    core.info(`Fetching llama.cpp ${material.commit} from ${inputs.llamaCppRepo}`)
    await fetchSource(tc.git as string, inputs.llamaCppRepo, material.commit, plan.fetchRef, sourceDir)
    const env: NodeJS.ProcessEnv = { ...process.env }
    if (tc.ccache) {
      // ccache keeps compiled objects under cache-dir, so that a nearby commit recompiles only what changed.
      Object.assign(env, {
        CCACHE_DIR: path.join(inputs.cacheDir, 'ccache'),
        CCACHE_BASEDIR: work,
        CCACHE_NOHASHDIR: 'true',
        CCACHE_COMPILERCHECK: 'content',
      })
    }
    const configure = cmakeConfigureArgs({
      sourceDir,
      buildDir,
      generator: tc.ninja ? 'Ninja' : 'Unix Makefiles',
      backend: material.backend,
      cudaArchitectures: plan.cudaArchitectures,
      ccache: tc.ccache,
      cmakeArgs: inputs.cmakeArgs,
    })
    await cmakeStep(tc.cmake as string, 'Configure', configure, env)
    await cmakeStep(tc.cmake as string, 'Build', cmakeBuildArgs(buildDir, inputs.buildJobs), env)
    const staged = path.join(await store.newWorkDir(), 'entry')
    const files = await stageEngine(path.join(buildDir, 'bin'), staged)
    // The source and build trees go before the engine is checked: it must run without them.
    await fs.rm(work, { recursive: true, force: true })
    const manifest = { key, material, files: await describeFiles(staged, files), built_at: new Date().toISOString() }
    const installed = await store.install(staged, manifest)
    await fs.rm(path.dirname(staged), { recursive: true, force: true })
    core.info(`Built llama-server in ${((Date.now() - started) / 1000).toFixed(0)} s`)
    return installed
  } finally {
    await fs.rm(work, { recursive: true, force: true })
  }
}

/** Copies llama-server and any shared library the build made into `staged/bin`; returns their relative paths. */
async function stageEngine(binDir: string, staged: string): Promise<string[]> {
  await fs.mkdir(path.join(staged, 'bin'), { recursive: true })
  const names = await fs.readdir(binDir).catch(() => [] as string[])
  if (!names.includes('llama-server')) throw new EngineError(`The build made no ${path.join(binDir, 'llama-server')}`)
  const wanted = names.filter((n) => n === 'llama-server' || /\.(so(\.\d+)*|dylib)$/.test(n))
  for (const name of wanted) await fs.copyFile(path.join(binDir, name), path.join(staged, 'bin', name))
  await fs.chmod(path.join(staged, BINARY), 0o755)
  return wanted.map((n) => path.join('bin', n))
}
