// The NVIDIA GPUs of this host and the compute processes on them, as nvidia-smi reports them (absent: none).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Backend } from '../inputs.js'
import { onPath } from '../util/on-path.js'

const execFileAsync = promisify(execFile)

export interface GpuInfo {
  index: number
  /** `GPU-…`: names the GPU whatever order CUDA or a container gives the devices; null when not reported. */
  uuid: string | null
  name: string
  memoryTotalMib: number
  memoryFreeMib: number
  computeCap: string | null
}

/** A process that holds memory on a GPU. */
export interface ComputeApp {
  gpuUuid: string
  /** In the PID namespace nvidia-smi runs in (in a container without the host's, not the host's pids). */
  pid: number
  processName: string
  /** Null where the driver does not say (`[N/A]`). */
  usedMib: number | null
}

export const GPU_QUERY = ['--query-gpu=index,uuid,name,memory.total,memory.free,compute_cap', '--format=csv,noheader,nounits']
export const COMPUTE_APPS_QUERY = ['--query-compute-apps=gpu_uuid,pid,process_name,used_memory', '--format=csv,noheader,nounits']

const whole = (s: string | undefined): number | null => (s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s)) : null)

/** The lines of csv,noheader output as trimmed fields, those with at least `fields` of them. */
function csvRows(output: string, fields: number): string[][] {
  return output.split('\n').map((line) => line.split(',').map((f) => f.trim())).filter((row) => row.length >= fields)
}

/** Parses the answer to GPU_QUERY. A name may hold commas: it is what lies between the uuid and the numbers. */
export function parseGpus(output: string): GpuInfo[] {
  return csvRows(output, 6).flatMap((fields) => {
    const index = whole(fields[0])
    if (index === null) return []
    const [total, free, cap] = fields.slice(-3)
    const uuid = fields[1] ?? ''
    return [{
      index,
      uuid: /^(GPU|MIG)-[\w-]+$/.test(uuid) ? uuid : null,
      name: fields.slice(2, -3).join(', '),
      memoryTotalMib: whole(total) ?? 0,
      memoryFreeMib: whole(free) ?? 0,
      computeCap: /^\d+\.\d+$/.test(cap ?? '') ? (cap as string) : null,
    }]
  })
}

/** Parses the answer to COMPUTE_APPS_QUERY (nothing at all when no process uses a GPU). */
export function parseComputeApps(output: string): ComputeApp[] {
  return csvRows(output, 4).flatMap((fields) => {
    const pid = whole(fields[1])
    if (pid === null || !fields[0]) return []
    return [{ gpuUuid: fields[0], pid, processName: fields.slice(2, -1).join(', '), usedMib: whole(fields.at(-1)) }]
  })
}

async function nvidiaSmi(args: string[]): Promise<string | undefined> {
  // Most runners have no nvidia-smi: looked up first, since a spawn that fails still forks this process.
  const program = onPath('nvidia-smi', process.env.PATH ?? '')
  if (!program) return undefined
  try {
    const { stdout } = await execFileAsync(program, args, { timeout: 30_000, encoding: 'utf8' })
    return stdout
  } catch {
    // No nvidia-smi, or no driver: nothing to read.
    return undefined
  }
}

export async function queryNvidiaGpus(): Promise<GpuInfo[]> {
  return parseGpus((await nvidiaSmi(GPU_QUERY)) ?? '')
}

/** `CUDA Version: 12.8` in the header plain nvidia-smi prints: the newest CUDA the driver runs. */
export function parseDriverCudaVersion(output: string): string | undefined {
  return /CUDA Version:\s*(\d+\.\d+)/.exec(output)?.[1]
}

/**
 * The oldest Linux driver of each CUDA release (NVIDIA's CUDA release notes, "CUDA Toolkit and Corresponding Driver
 * Versions", GA releases), newest first: for a driver whose nvidia-smi prints no CUDA version. A driver newer than
 * the table knows counts as the newest CUDA in it, which is safe: it runs that CUDA's programs too.
 */
const DRIVER_CUDA: [driver: string, cuda: string][] = [
  ['580.65.06', '13.0'],
  ['575.51.03', '12.9'],
  ['570.26', '12.8'],
  ['560.28.03', '12.6'],
  ['555.42.02', '12.5'],
  ['550.54.14', '12.4'],
  ['545.23.06', '12.3'],
  ['535.54.03', '12.2'],
  ['530.30.02', '12.1'],
  ['525.60.13', '12.0'],
]

/** `570.86.10` → `12.8`: the newest CUDA release whose oldest driver is not newer than `driver`. */
export function cudaVersionOfDriver(driver: string): string | undefined {
  if (!/^\d+(\.\d+)*$/.test(driver.trim())) return undefined
  const parts = (v: string) => v.split('.').map(Number)
  const atLeast = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0)
    return true
  }
  return DRIVER_CUDA.find(([min]) => atLeast(parts(driver.trim()), parts(min)))?.[1]
}

/**
 * The newest CUDA version this host's driver runs: from the header of plain `nvidia-smi`, else from the driver
 * version (`--query-gpu=driver_version`) through NVIDIA's table; undefined without a driver.
 */
export async function queryDriverCudaVersion(): Promise<string | undefined> {
  const header = await nvidiaSmi([])
  const version = header === undefined ? undefined : parseDriverCudaVersion(header)
  if (version) return version
  const driver = await nvidiaSmi(['--query-gpu=driver_version', '--format=csv,noheader'])
  return cudaVersionOfDriver(driver?.split('\n')[0] ?? '')
}

/** The compute processes on the GPUs; undefined when nvidia-smi cannot tell. */
export async function queryComputeApps(): Promise<ComputeApp[] | undefined> {
  const output = await nvidiaSmi(COMPUTE_APPS_QUERY)
  return output === undefined ? undefined : parseComputeApps(output)
}

/** `GPU 1 (NVIDIA L4)`: how logs and errors name a GPU. */
export function gpuName(gpu: Pick<GpuInfo, 'index' | 'name'>): string {
  return `GPU ${gpu.index} (${gpu.name})`
}

/**
 * The GPUs, where they can matter: every backend but cpu reads them (auto to choose, cuda for its architectures
 * and free memory, all of them for the handoff). backend: cpu uses none, so nvidia-smi is not started for it.
 */
export async function gpusFor(backend: Backend): Promise<GpuInfo[]> {
  return backend === 'cpu' ? [] : await queryNvidiaGpus()
}
