// What this machine has for building llama.cpp: found once, before anything slow, so that every missing tool
// is reported together.
import * as io from '@actions/io'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

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
    const found = await io.which(candidate, false)
    if (found) return found
  }
  return undefined
}

export async function firstLine(binary: string, args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await execFileAsync(binary, args, { timeout: 30_000, encoding: 'utf8' })
    return `${stdout}\n${stderr}`.split('\n').map((l) => l.trim()).find(Boolean)
  } catch {
    return undefined
  }
}

/** `Cuda compilation tools, release 13.0, V13.0.48` → `13.0`. */
export function parseNvccVersion(output: string): string | undefined {
  return /release (\d+\.\d+)/.exec(output)?.[1]
}

export async function probeToolchain(env: NodeJS.ProcessEnv): Promise<Toolchain> {
  const tc: Toolchain = {}
  tc.git = await firstFound(['git'])
  tc.cmake = await firstFound(['cmake'])
  tc.cc = await firstFound([env.CC, 'cc', 'gcc', 'clang'])
  tc.cxx = await firstFound([env.CXX, 'c++', 'g++', 'clang++'])
  if (tc.cc) tc.ccVersion = await firstLine(tc.cc, ['--version'])
  if (tc.cxx) tc.cxxVersion = await firstLine(tc.cxx, ['--version'])
  tc.ninja = await firstFound(['ninja'])
  tc.make = await firstFound(['make'])
  tc.ccache = await firstFound(['ccache'])
  const cudaRoots = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda', '/opt/cuda'].filter((r): r is string => !!r)
  tc.nvcc = await firstFound(['nvcc', ...cudaRoots.map((r) => path.join(r, 'bin', 'nvcc'))])
  if (tc.nvcc) {
    const version = await execFileAsync(tc.nvcc, ['--version'], { timeout: 30_000, encoding: 'utf8' }).catch(() => undefined)
    tc.cudaVersion = version ? parseNvccVersion(version.stdout) : undefined
    const root = path.dirname(path.dirname(tc.nvcc))
    const arch = process.arch === 'arm64' ? 'sbsa-linux' : 'x86_64-linux'
    tc.cublasHeader = await firstFound([
      path.join(root, 'include', 'cublas_v2.h'),
      path.join(root, 'targets', arch, 'include', 'cublas_v2.h'),
      '/usr/include/cublas_v2.h',
    ])
  }
  const vulkanSdk = env.VULKAN_SDK
  tc.vulkanHeader = await firstFound([vulkanSdk && path.join(vulkanSdk, 'include', 'vulkan', 'vulkan.h'), '/usr/include/vulkan/vulkan.h'])
  tc.glslc = await firstFound(['glslc', vulkanSdk && path.join(vulkanSdk, 'bin', 'glslc')])
  tc.hipcc = await firstFound(['hipcc', env.ROCM_PATH && path.join(env.ROCM_PATH, 'bin', 'hipcc'), '/opt/rocm/bin/hipcc'])
  return tc
}
