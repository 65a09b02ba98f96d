// What this machine has for building llama.cpp: found once, before anything slow, so that every missing tool
// is reported together. The tools are looked up on every run (a few stat calls); what the compilers say about
// their version is remembered with their identity (remembered-output.ts), so a warm run starts none of them.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { onPath } from '../util/on-path.js'
import type { RememberedOutputs } from './remembered-output.js'

export interface Toolchain {
  git?: string
  cmake?: string
  cc?: string
  cxx?: string
  /** First line of `cc --version` / `c++ --version`: part of the engine's cache key. */
  ccVersion?: string
  cxxVersion?: string
  ninja?: string
  make?: string
  ccache?: string
  nvcc?: string
  /** `13.0` from `nvcc --version`. */
  cudaVersion?: string
  cublasHeader?: string
  vulkanHeader?: string
  glslc?: string
  hipcc?: string
}

async function firstFound(candidates: (string | undefined)[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if (!candidate) continue
    if (path.isAbsolute(candidate)) {
      if (existsSync(candidate)) return candidate
      continue
    }
    const found = onPath(candidate, process.env.PATH ?? '')
    if (found) return found
  }
  return undefined
}

async function versionOutput(outputs: RememberedOutputs, binary: string): Promise<string | undefined> {
  return await outputs.output(binary, ['--version'], { timeoutMs: 30_000 }).catch(() => undefined)
}

function firstLine(output: string | undefined): string | undefined {
  return output?.split('\n').map((l) => l.trim()).find(Boolean)
}

/** `Cuda compilation tools, release 13.0, V13.0.48` → `13.0`. */
export function parseNvccVersion(output: string): string | undefined {
  return /release (\d+\.\d+)/.exec(output)?.[1]
}

export async function probeToolchain(env: NodeJS.ProcessEnv, outputs: RememberedOutputs): Promise<Toolchain> {
  const cudaRoots = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda', '/opt/cuda'].filter((r): r is string => !!r)
  const vulkanSdk = env.VULKAN_SDK
  // Independent lookups, side by side.
  const [git, cmake, cc, cxx, ninja, make, ccache, nvcc, vulkanHeader, glslc, hipcc] = await Promise.all([
    firstFound(['git']),
    firstFound(['cmake']),
    firstFound([env.CC, 'cc', 'gcc', 'clang']),
    firstFound([env.CXX, 'c++', 'g++', 'clang++']),
    firstFound(['ninja']),
    firstFound(['make']),
    firstFound(['ccache']),
    firstFound(['nvcc', ...cudaRoots.map((r) => path.join(r, 'bin', 'nvcc'))]),
    firstFound([vulkanSdk && path.join(vulkanSdk, 'include', 'vulkan', 'vulkan.h'), '/usr/include/vulkan/vulkan.h']),
    firstFound(['glslc', vulkanSdk && path.join(vulkanSdk, 'bin', 'glslc')]),
    firstFound(['hipcc', env.ROCM_PATH && path.join(env.ROCM_PATH, 'bin', 'hipcc'), '/opt/rocm/bin/hipcc']),
  ])
  const tc: Toolchain = { git, cmake, cc, cxx, ninja, make, ccache, nvcc, vulkanHeader, glslc, hipcc }
  const [ccOutput, cxxOutput, nvccOutput] = await Promise.all([
    cc && versionOutput(outputs, cc),
    cxx && versionOutput(outputs, cxx),
    nvcc && versionOutput(outputs, nvcc),
  ])
  tc.ccVersion = firstLine(ccOutput)
  tc.cxxVersion = firstLine(cxxOutput)
  if (nvcc) {
    tc.cudaVersion = nvccOutput ? parseNvccVersion(nvccOutput) : undefined
    const root = path.dirname(path.dirname(nvcc))
    const arch = process.arch === 'arm64' ? 'sbsa-linux' : 'x86_64-linux'
    tc.cublasHeader = await firstFound([
      path.join(root, 'include', 'cublas_v2.h'),
      path.join(root, 'targets', arch, 'include', 'cublas_v2.h'),
      '/usr/include/cublas_v2.h',
    ])
  }
  return tc
}
