// A build of llama-server: the source at its commit in a work directory, CMake configure and build of the
// llama-server target (the output in collapsed log groups, a failure with the last compiler lines), then the
// binary staged and installed into the engine store.
import * as core from '@actions/core'
import { existsSync, promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { EngineError } from '../errors.js'
import { withExclusiveLock } from '../store/lock.js'
import { FIT_PARAMS_BINARY as FIT_PARAMS } from '../gpu/fit-params.js'
import { withInertOutput } from '../util/inert-log.js'
import { redactValue } from '../util/redact.js'
import { jobEnv } from '../util/child-env.js'
import { realDirIn } from '../util/safe-path.js'
import { run } from '../util/run.js'
import { checkNvccHostCompiler } from './cuda.js'
import { cmakeBuildArgs, cmakeConfigureArgs, type BuildPlan, type EngineInputs } from './plan.js'
import { fetchSource } from './source.js'
import { BINARY, describeFiles, type EngineStore, type StoredEngine } from './store.js'

async function cmakeStep(cmake: string, what: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const result = await cmakeRun(cmake, what, args, env)
  if (result.code !== 0) throw new EngineError(`${what} of llama.cpp failed (cmake exit code ${result.code}). Last lines:\n${result.tail}`)
}

/**
 * One place for every build on this runner: llama.cpp's unity sources (libllama's models) #include their parts by
 * absolute path, so ccache can reuse their objects only when the tree is where the last build had it. The lock
 * keeps two builds that share a temporary directory out of each other's way.
 */
function workDir(): string {
  return path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', 'build')
}

function cmakeRun(cmake: string, what: string, args: string[], env: NodeJS.ProcessEnv) {
  // The compiler's output comes from the fetched source: none of its lines may act as a workflow command.
  return core.group(`${what}: cmake ${args.join(' ')}`, () => withInertOutput(() => run(cmake, args, { env, tailLines: 40 })))
}

/**
 * llama-fit-params, where this llama.cpp has it: its projection of the model's memory is the GPU placement's
 * estimate. Without it the placement uses its formula, so a failure here is a warning, not a failed build.
 */
async function buildFitParams(cmake: string, sourceDir: string, buildDir: string, jobs: number, env: NodeJS.ProcessEnv): Promise<void> {
  if (!existsSync(path.join(sourceDir, 'tools', 'fit-params', 'CMakeLists.txt'))) return
  const result = await cmakeRun(cmake, `Build ${FIT_PARAMS}`, cmakeBuildArgs(buildDir, jobs, FIT_PARAMS), env)
  if (result.code !== 0) core.warning(`${FIT_PARAMS} did not build (cmake exit code ${result.code}); the GPU placement estimates memory with its formula. Last lines:\n${result.tail}`)
}

export async function buildEngine(store: EngineStore, plan: BuildPlan, inputs: EngineInputs): Promise<StoredEngine> {
  // Only a build needs nvcc to accept the host compiler: a cached engine is used without compiling anything.
  if (plan.material.backend === 'cuda') await checkNvccHostCompiler(plan.tc.nvcc as string)
  const work = workDir()
  return await withExclusiveLock(work, `the build directory ${work}`, async () => {
    // What a killed build left there goes first.
    await fs.rm(work, { recursive: true, force: true })
    try {
      return await buildIn(work, store, plan, inputs)
    } finally {
      await fs.rm(work, { recursive: true, force: true })
    }
  })
}

async function buildIn(work: string, store: EngineStore, plan: BuildPlan, inputs: EngineInputs): Promise<StoredEngine> {
  const { tc, key, material } = plan
  const started = Date.now()
  const sourceDir = path.join(work, 'src')
  const buildDir = path.join(work, 'build')
  core.info(`Fetching llama.cpp ${material.commit} from ${redactValue(inputs.llamaCppRepo)}`)
  await fetchSource(tc.git as string, inputs.llamaCppRepo, material.commit, plan.fetchRef, sourceDir)
  const env: NodeJS.ProcessEnv = jobEnv(process.env)
  if (tc.ccache) {
    // ccache keeps compiled objects under cache-dir, so that a nearby commit recompiles only what changed.
    Object.assign(env, {
      // A real directory of the cache, never a link planted there: ccache writes and cleans up inside it.
      CCACHE_DIR: await realDirIn(inputs.cacheDir, 'ccache'),
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
  await buildFitParams(tc.cmake as string, sourceDir, buildDir, inputs.buildJobs, env)
  const staged = path.join(await store.newWorkDir(), 'entry')
  const files = await stageEngine(path.join(buildDir, 'bin'), staged)
  // The source and build trees go before the engine is checked: it must run without them.
  await fs.rm(work, { recursive: true, force: true })
  const manifest = { key, material, files: await describeFiles(staged, files), built_at: new Date().toISOString() }
  const installed = await store.install(staged, manifest)
  await store.removeWorkDir(path.dirname(staged))
  core.info(`Built llama-server in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return installed
}

/** Copies llama-server and any shared library the build made into `staged/bin`; returns their relative paths. */
async function stageEngine(binDir: string, staged: string): Promise<string[]> {
  await fs.mkdir(path.join(staged, 'bin'), { recursive: true })
  const names = await fs.readdir(binDir).catch(() => [] as string[])
  if (!names.includes('llama-server')) throw new EngineError(`The build made no ${path.join(binDir, 'llama-server')}`)
  const wanted = names.filter((n) => n === 'llama-server' || n === FIT_PARAMS || /\.(so(\.\d+)*|dylib)$/.test(n))
  for (const name of wanted) await fs.copyFile(path.join(binDir, name), path.join(staged, 'bin', name))
  await fs.chmod(path.join(staged, BINARY), 0o755)
  return wanted.map((n) => path.join('bin', n))
}
