// The NVIDIA GPUs of this machine, read once with nvidia-smi (absent: none).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { GpuInfo } from '../handoff.js'
import type { Backend } from '../inputs.js'

const execFileAsync = promisify(execFile)

export const NVIDIA_SMI_QUERY = ['--query-gpu=index,name,memory.total,memory.free,compute_cap', '--format=csv,noheader,nounits']

/** Parses `nvidia-smi --query-gpu=index,name,memory.total,memory.free,compute_cap --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(output: string): GpuInfo[] {
  const gpus: GpuInfo[] = []
  for (const line of output.split('\n')) {
    if (!line.trim()) continue
    const fields = line.split(',').map((f) => f.trim())
    if (fields.length < 5) continue
    const [index, name, total, free, cap] = fields as [string, string, string, string, string]
    const number = (s: string) => (/^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s)) : 0)
    gpus.push({
      index: number(index),
      name,
      memoryTotalMib: number(total),
      memoryFreeMib: number(free),
      computeCap: /^\d+\.\d+$/.test(cap) ? cap : null,
    })
  }
  return gpus
}

export async function queryNvidiaGpus(nvidiaSmi = 'nvidia-smi'): Promise<GpuInfo[]> {
  try {
    const { stdout } = await execFileAsync(nvidiaSmi, NVIDIA_SMI_QUERY, { timeout: 30_000, encoding: 'utf8' })
    return parseNvidiaSmi(stdout)
  } catch {
    // No nvidia-smi, or no driver: no NVIDIA GPU to use.
    return []
  }
}

/**
 * The GPUs, where they can matter: every backend but cpu reads them (auto to choose, cuda for its architectures
 * and free memory, all of them for the handoff). backend: cpu uses none, so nvidia-smi is not started for it.
 */
export async function gpusFor(backend: Backend): Promise<GpuInfo[]> {
  return backend === 'cpu' ? [] : await queryNvidiaGpus()
}

/** `8.9` → `89`: the CMAKE_CUDA_ARCHITECTURES value of each distinct compute capability, sorted. */
export function cudaArchitecturesOf(gpus: GpuInfo[]): string | undefined {
  const archs = [...new Set(gpus.map((g) => g.computeCap?.replace('.', '')).filter((a): a is string => !!a))].sort()
  return archs.length ? archs.join(';') : undefined
}
