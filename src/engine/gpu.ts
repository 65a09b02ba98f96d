// The CUDA architectures to build for, from the GPUs nvidia-smi lists (gpu/nvidia-smi.ts reads them).
import type { GpuInfo } from '../gpu/nvidia-smi.js'

/** `8.9` → `89`: the CMAKE_CUDA_ARCHITECTURES value of each distinct compute capability, sorted. */
export function cudaArchitecturesOf(gpus: GpuInfo[]): string | undefined {
  const archs = [...new Set(gpus.map((g) => g.computeCap?.replace('.', '')).filter((a): a is string => !!a))].sort()
  return archs.length ? archs.join(';') : undefined
}
