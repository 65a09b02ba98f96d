// Before a build: every tool it needs, checked at once, each missing one named with what it is for and how it is
// usually installed. Pure, over what probeToolchain found.
import type { BuiltBackend } from './backend.js'
import type { Toolchain } from './toolchain.js'

export interface MissingTool {
  tool: string
  purpose: string
  install: string
}

export function missingTools(backend: BuiltBackend, tc: Toolchain): MissingTool[] {
  const missing: MissingTool[] = []
  const need = (ok: unknown, tool: string, purpose: string, install: string) => {
    if (!ok) missing.push({ tool, purpose, install })
  }
  need(tc.git, 'git', 'fetches the llama.cpp source at its commit', 'apt-get install git')
  need(tc.cmake, 'cmake', "configures llama.cpp's build", 'apt-get install cmake, or pip install cmake')
  need(tc.cc, 'a C compiler (cc, gcc or clang; or CC)', 'compiles ggml', 'apt-get install gcc (build-essential)')
  need(tc.cxx, 'a C++ compiler (c++, g++ or clang++; or CXX)', 'compiles llama.cpp and llama-server', 'apt-get install g++ (build-essential)')
  need(tc.ninja || tc.make, 'ninja or make', 'runs the build', 'apt-get install ninja-build (preferred) or make')
  if (backend === 'cuda') {
    need(tc.nvcc, 'nvcc', 'compiles the CUDA kernels', 'install the CUDA toolkit (e.g. apt-get install cuda-toolkit-12-8) and put its bin/ on PATH or set CUDA_PATH')
    if (tc.nvcc) {
      need(tc.cublasHeader, 'cuBLAS (cublas_v2.h)', 'the CUDA backend links CUDA::cublas', 'install the CUDA toolkit\'s cuBLAS development package (e.g. apt-get install libcublas-dev-12-8)')
    }
  }
  if (backend === 'vulkan') {
    need(tc.vulkanHeader, 'the Vulkan headers (vulkan/vulkan.h)', 'the Vulkan backend', 'apt-get install libvulkan-dev, or the Vulkan SDK (set VULKAN_SDK)')
    need(tc.glslc, 'glslc', "compiles the Vulkan backend's shaders", 'apt-get install glslc, or the Vulkan SDK')
  }
  if (backend === 'hip') need(tc.hipcc, 'hipcc', 'compiles the HIP (ROCm) kernels', 'install ROCm (hipcc in /opt/rocm/bin, or set ROCM_PATH)')
  return missing
}

export function missingToolsMessage(backend: BuiltBackend, missing: MissingTool[]): string {
  const lines = missing.map((m) => `- ${m.tool}: ${m.purpose}. Usually: ${m.install}.`)
  return `Building llama-server for the ${backend} backend needs ${missing.length === 1 ? 'a tool that is' : `${missing.length} tools that are`} missing:\n${lines.join('\n')}\n(Or set 'llama-server-path' to use an existing binary.)`
}
