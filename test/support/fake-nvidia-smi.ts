// TEST DOUBLE of nvidia-smi (there is no GPU here): a directory to put first on PATH, holding an `nvidia-smi` that
// answers the action's questions (--query-gpu and --query-compute-apps as csv,noheader[,nounits], and the plain
// table whose header names the driver and the CUDA version it runs) as the real one prints them. Its GPUs have a total and a baseline of free memory; processes hold memory on them through files in
// its `processes` directory, `<pid>` with lines `<GPU uuid or index> <MiB>`, written by the engine test double when
// it "loads" (--fixture-vram-mib, with FAKE_GPU_PROCESSES pointing here) or by a test (an orphan). A file counts
// only while its process lives, as the driver frees the memory of a process that died, however it died.
// The GPUs are also written to `devices` (name, total and free MiB, tab-separated), named by FAKE_GPU_DEVICES: the
// engine test double lists them for --list-devices as ggml's CUDA backend would, when that backend can load.
import { randomUUID } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface FakeGpu {
  index: number
  name: string
  totalMib: number
  freeMib: number
  computeCap: string
}

export interface FakeDriver {
  /** `570.86.10`, as `--query-gpu=driver_version` prints it. */
  version: string
  /** The header's `CUDA Version: 12.8`; null for a header without one (old drivers print none). */
  cuda: string | null
}

export interface FakeGpuHost {
  /** The directory to put first on PATH. */
  bin: string
  processes: string
  gpus: (FakeGpu & { uuid: string })[]
  /** What a job on this host has in its environment: PATH with the double first, FAKE_GPU_PROCESSES and FAKE_GPU_DEVICES. */
  env: Record<string, string>
}

export function fakeGpuHost(gpus: FakeGpu[], driver: FakeDriver = { version: '570.86.10', cuda: '12.8' }): FakeGpuHost {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-nvidia-smi-'))
  const bin = path.join(dir, 'bin')
  const processes = path.join(dir, 'processes')
  mkdirSync(bin)
  mkdirSync(processes)
  // Each host has GPUs of its own: leases of tests that run at the same time never name the same GPU.
  const withUuids = gpus.map((g) => ({ ...g, uuid: `GPU-${randomUUID()}` }))
  const config = path.join(dir, 'gpus.json')
  writeFileSync(config, JSON.stringify({ gpus: withUuids, processes, driver }))
  const devices = path.join(dir, 'devices')
  writeFileSync(devices, withUuids.map((g) => `${g.name}\t${g.totalMib}\t${g.freeMib}\n`).join(''))
  const script = path.join(bin, 'nvidia-smi')
  writeFileSync(script, `#!${process.execPath}\n// TEST DOUBLE of nvidia-smi: see test/support/fake-nvidia-smi.ts\n${SCRIPT.replace('CONFIG', JSON.stringify(config))}`)
  chmodSync(script, 0o755)
  return { bin, processes, gpus: withUuids, env: { PATH: `${bin}:${process.env.PATH}`, FAKE_GPU_PROCESSES: processes, FAKE_GPU_DEVICES: devices } }
}

/** A process of `pid` holding `mib` on the GPU `device` (its uuid or index), as nvidia-smi will list it. */
export function addComputeProcess(host: FakeGpuHost, pid: number, device: string | number, mib: number): void {
  writeFileSync(path.join(host.processes, String(pid)), `${device} ${mib}\n`)
}

const SCRIPT = `
const fs = require('node:fs')
const path = require('node:path')
const { gpus, processes, driver } = JSON.parse(fs.readFileSync(CONFIG, 'utf8'))
const args = process.argv.slice(2)
if (args.length === 0) {
  // The table's header, as the real one prints it (the rest of the table is not read by the action).
  const cuda = driver.cuda === null ? '' : 'CUDA Version: ' + driver.cuda
  console.log(new Date().toString().slice(0, 24) + '       ')
  console.log('+' + '-'.repeat(89) + '+')
  console.log(('| NVIDIA-SMI ' + driver.version + '              Driver Version: ' + driver.version + '      ' + cuda).padEnd(90) + '|')
  console.log('|' + '-'.repeat(41) + '+' + '-'.repeat(24) + '+' + '-'.repeat(22) + '+')
  process.exit(0)
}
const alive = (pid) => {
  try {
    const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8')
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2)[0])
  } catch {
    return false
  }
}
const program = (pid) => {
  try {
    return fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8').split('\\0')[0]
  } catch {
    return '[Not Found]'
  }
}
const apps = []
for (const name of fs.readdirSync(processes)) {
  if (!/^\\d+$/.test(name) || !alive(Number(name))) continue
  for (const line of fs.readFileSync(path.join(processes, name), 'utf8').split('\\n')) {
    const [device, mib] = line.trim().split(/\\s+/)
    const gpu = gpus.find((g) => g.uuid === device || String(g.index) === device)
    if (gpu) apps.push({ gpu_uuid: gpu.uuid, pid: Number(name), process_name: program(Number(name)), used_memory: Number(mib) })
  }
}
const used = (uuid) => apps.filter((a) => a.gpu_uuid === uuid).reduce((s, a) => s + a.used_memory, 0)
const rows = gpus.map((g) => ({ index: g.index, uuid: g.uuid, name: g.name, 'memory.total': g.totalMib, 'memory.free': Math.max(0, g.freeMib - used(g.uuid)), compute_cap: g.computeCap, driver_version: driver.version }))
const query = (kind) => args.find((a) => a.startsWith('--query-' + kind + '='))?.split('=')[1].split(',')
if (!args.includes('--format=csv,noheader,nounits') && !args.includes('--format=csv,noheader')) {
  console.error('fake nvidia-smi: unexpected arguments: ' + args.join(' '))
  process.exit(2)
}
const fields = query('gpu') ?? query('compute-apps')
const table = query('gpu') ? rows : apps
if (!fields || fields.some((f) => table.length && !(f in table[0]))) {
  console.error('fake nvidia-smi: unexpected arguments: ' + args.join(' '))
  process.exit(2)
}
for (const row of table) console.log(fields.map((f) => row[f]).join(', '))
`
