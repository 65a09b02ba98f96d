// Which backend to build for, or to look for a release archive of, and why. Pure.
import type { GpuInfo } from '../gpu/nvidia-smi.js'
import type { Backend } from '../inputs.js'

export type BuiltBackend = Exclude<Backend, 'auto'>

export function chooseBackend(requested: Backend, gpus: GpuInfo[], nvcc: string | undefined): { backend: BuiltBackend; reason: string } {
  if (requested !== 'auto') return { backend: requested, reason: `backend: ${requested} was asked for` }
  if (gpus.length === 0) return { backend: 'cpu', reason: 'auto chose cpu: nvidia-smi lists no NVIDIA GPU' }
  const names = gpus.map((g) => `${g.index}: ${g.name}`).join(', ')
  if (!nvcc) {
    return { backend: 'cpu', reason: `auto chose cpu: nvidia-smi lists ${names}, but no nvcc was found (on PATH, in CUDA_PATH or /usr/local/cuda); install the CUDA toolkit or set backend: cuda to be told what is missing` }
  }
  return { backend: 'cuda', reason: `auto chose cuda: nvidia-smi lists ${names}, and nvcc is ${nvcc}` }
}

/**
 * The backend whose release archive is looked for first (engine-source auto or release), and, where auto chose cuda
 * for the archive alone, why cpu follows when the CUDA archive cannot be used. With an NVIDIA GPU, auto looks for
 * llama.cpp's CUDA archive, which needs only the driver; where that archive cannot be used, a CUDA build follows
 * when nvcc can make one and a build is allowed (engine-source auto), else the CPU engine (its archive, or a build).
 */
export function chooseReleaseBackend(
  requested: Backend,
  gpus: GpuInfo[],
  nvcc: string | undefined,
  canBuild: boolean,
): { backend: BuiltBackend; reason: string; otherwise?: string } {
  if (requested !== 'auto' || gpus.length === 0) return chooseBackend(requested, gpus, nvcc)
  const names = gpus.map((g) => `${g.index}: ${g.name}`).join(', ')
  const reason = `auto chose cuda: nvidia-smi lists ${names}, and llama.cpp's CUDA release archive needs only the driver`
  if (nvcc && canBuild) return { backend: 'cuda', reason: `${reason}; where none can be used, nvcc (${nvcc}) builds the engine` }
  const why = nvcc ? "'engine-source' is release, so no CUDA engine can be built" : 'no nvcc was found (on PATH, in CUDA_PATH or /usr/local/cuda) to build a CUDA engine'
  return { backend: 'cuda', reason, otherwise: `auto chose cpu: ${why}` }
}
