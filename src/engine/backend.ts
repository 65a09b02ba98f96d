// Which backend to build for, and why. Pure.
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
