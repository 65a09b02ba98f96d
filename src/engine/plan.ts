// The build of llama-server as data: CMake's command lines and the cache key with everything that went into it.
// Pure, so that tests can check the exact commands for every backend without a GPU.
import { createHash } from 'node:crypto'
import type { ActionInputs } from '../inputs.js'
import { redactValue } from '../util/redact.js'
import type { BuiltBackend } from './backend.js'
import type { Toolchain } from './toolchain.js'

/**
 * Bumped whenever the recipe below changes what a build produces, so that old cache entries are not reused.
 * 2: llama-fit-params is built beside llama-server where the source has it.
 */
export const ENGINE_RECIPE_VERSION = 2

/** The inputs that decide an engine. */
export type EngineInputs = Pick<
  ActionInputs,
  | 'llamaServerPath'
  | 'llamaCppRepo'
  | 'llamaCppRef'
  | 'backend'
  | 'cudaArchitectures'
  | 'cmakeArgs'
  | 'buildJobs'
  | 'cacheDir'
  | 'verify'
  | 'remoteCache'
  | 'engineSource'
  | 'releaseDigest'
  | 'githubToken'
  | 'networkTimeoutMs'
>

/** Everything decided before a build: tools (all present), backend, CUDA architectures, commit, cache key. */
export interface BuildPlan {
  tc: Toolchain
  key: string
  material: KeyMaterial
  backend: BuiltBackend
  fetchRef: string
  cudaArchitectures: string | undefined
}

export interface KeyMaterial {
  recipe: number
  repo: string
  commit: string
  backend: BuiltBackend
  cudaVersion: string | null
  cudaArchitectures: string | null
  cc: string | null
  cxx: string | null
  cmakeArgs: string[]
  os: string
  arch: string
}

export interface ConfigurePlan {
  sourceDir: string
  buildDir: string
  generator: 'Ninja' | 'Unix Makefiles'
  backend: BuiltBackend
  cudaArchitectures: string | undefined
  ccache: string | undefined
  cmakeArgs: string[]
}

export function cmakeConfigureArgs(plan: ConfigurePlan): string[] {
  const launcher = plan.ccache
    ? [`-DCMAKE_C_COMPILER_LAUNCHER=${plan.ccache}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${plan.ccache}`, ...(plan.backend === 'cuda' ? [`-DCMAKE_CUDA_COMPILER_LAUNCHER=${plan.ccache}`] : [])]
    : []
  const backend: Record<BuiltBackend, string[]> = {
    cpu: [],
    cuda: ['-DGGML_CUDA=ON', `-DCMAKE_CUDA_ARCHITECTURES=${plan.cudaArchitectures ?? ''}`],
    vulkan: ['-DGGML_VULKAN=ON'],
    hip: ['-DGGML_HIP=ON'],
  }
  return [
    '-S', plan.sourceDir,
    '-B', plan.buildDir,
    '-G', plan.generator,
    '-DCMAKE_BUILD_TYPE=Release',
    // Relocatable: llama.cpp's own libraries are linked into the binary; should a user turn shared libraries
    // back on, the build tree's RPATH is $ORIGIN, so the libraries copied beside the binary are found.
    '-DBUILD_SHARED_LIBS=OFF',
    '-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON',
    '-DLLAMA_BUILD_SERVER=ON',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    // The prebuilt web UI is downloaded at build time, from a source in no cache key: off, for reproducibility.
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    // A cached engine may run on another machine of the same kind: no -march=native unless asked for.
    '-DGGML_NATIVE=OFF',
    ...backend[plan.backend],
    ...launcher,
    ...plan.cmakeArgs,
  ]
}

/** `target`: llama-server, or a program built beside it (llama-fit-params, whose projection the GPU placement uses). */
export function cmakeBuildArgs(buildDir: string, jobs: number, target = 'llama-server'): string[] {
  return ['--build', buildDir, '--target', target, '--parallel', String(jobs)]
}

/**
 * cmake-args as the key sees them: a later -D of the same variable wins (as in CMake), and order does not
 * matter otherwise.
 */
export function normalizeCmakeArgs(args: string[]): string[] {
  const defines = new Map<string, string>()
  const others: string[] = []
  for (const arg of args) {
    const m = /^-D([^=:]+)(?::[^=]*)?=/.exec(arg)
    if (m) defines.set(m[1] as string, arg)
    else others.push(arg)
  }
  return [...defines.values(), ...others].sort()
}

/** The key names the engine by what it was built from; the material is printed with it. */
export function engineKey(material: KeyMaterial): string {
  const digest = createHash('sha256').update(JSON.stringify(material)).digest('hex')
  return `llama-server-${material.backend}-${material.commit.slice(0, 12)}-${digest.slice(0, 16)}`
}

/** A git URL as the key sees it: host in lower case, no trailing .git or '/'. Local paths stay as they are. */
export function normalizeRepo(repo: string): string {
  const url = URL.parse(repo)
  if (!url || !/^(https?|ssh|git):$/.test(url.protocol)) return redactValue(repo.replace(/\/+$/, ''))
  return `${url.protocol}//${url.host.toLowerCase()}${url.pathname.replace(/\/+$/, '').replace(/\.git$/, '')}`
}
