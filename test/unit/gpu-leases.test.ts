// GPU leases with real files, real flock(2) locks and real processes: a lease lives exactly as long as some process
// holds its descriptor, however that process ends.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { describeHolders, gpuLeaseDir, liveHolders, markAllocated, roomsOf, takeGpuLease, unleasedApps, withPlacementLock, DEFAULT_GPU_LEASES_DIR } from '../../src/gpu/leases.js'
import type { GpuInfo } from '../../src/gpu/nvidia-smi.js'

const GiB = 2 ** 30
const gpu = (index: number): GpuInfo => ({ index, uuid: `GPU-${index}aaaaaaa-0000`, name: 'NVIDIA L4', memoryTotalMib: 23034, memoryFreeMib: 22000, computeCap: '8.9' })
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

/** A process that holds `fd` (as llama-server holds its lease) until it is killed. */
async function holder(fd: number): Promise<ChildProcess> {
  const child = spawn('sleep', ['600'], { stdio: ['ignore', 'ignore', 'ignore', fd] })
  children.push(child)
  await once(child, 'spawn')
  return child
}

describe('GPU leases', () => {
  it('live while a process holds the descriptor, dead (and removed) once it is killed with SIGKILL', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-'))
    const lease = await takeGpuLease(dir, [{ gpu: gpu(0), bytes: 5 * GiB }], 'octo/app run 7 job eval', 'formula')
    if (!lease) throw new Error('no flock here')
    const server = await holder(lease.fd)
    closeSync(lease.fd) // as main exits: only the server holds the lease now
    const [live] = await liveHolders(dir)
    expect(live).toMatchObject({ job: 'octo/app run 7 job eval', gpus: [{ uuid: gpu(0).uuid, index: 0, name: 'NVIDIA L4', reservedBytes: 5 * GiB }], server: undefined })
    server.kill('SIGKILL')
    await once(server, 'exit')
    expect(await liveHolders(dir)).toEqual([])
    expect(readdirSync(dir)).toEqual([])
  })

  it('counts a reservation as taken until its server has loaded, then nvidia-smi’s free memory shows it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-'))
    const lease = await takeGpuLease(dir, [{ gpu: gpu(0), bytes: 5 * GiB }, { gpu: gpu(1), bytes: 1 * GiB }], 'job a', 'formula')
    if (!lease) throw new Error('no flock here')
    const loading = await liveHolders(dir)
    expect(roomsOf([gpu(0), gpu(1), gpu(2)], loading).map((r) => r.reservedByOthers)).toEqual([5 * GiB, 1 * GiB, 0])
    expect(describeHolders(loading, [gpu(1)])).toEqual([`job a: 1.00 GiB on GPU 1 (NVIDIA L4), loading, since ${loading[0]?.since}`])
    await markAllocated(lease, 4242)
    const running = await liveHolders(dir)
    expect(running[0]?.server?.pid).toBe(4242)
    expect(roomsOf([gpu(0), gpu(1)], running).map((r) => r.reservedByOthers)).toEqual([0, 0])
    expect(describeHolders(running, [gpu(0)])[0]).toMatch(/^job a: 5\.00 GiB on GPU 0 \(NVIDIA L4\), llama-server pid 4242 running, since /)
    // Its server is accounted for; anything else on the GPU is not.
    const apps = [{ gpuUuid: gpu(0).uuid as string, pid: 4242, processName: 'llama-server', usedMib: 5000 }, { gpuUuid: gpu(0).uuid as string, pid: 99, processName: 'python3', usedMib: 100 }]
    expect(unleasedApps(apps, running, [gpu(0)]).map((a) => a.pid)).toEqual([99])
    closeSync(lease.fd)
    expect(await liveHolders(dir)).toEqual([])
  })

  it('a lease from before the last boot is dead, whatever its lock says', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-'))
    const lease = await takeGpuLease(dir, [{ gpu: gpu(0), bytes: GiB }], 'job a', 'formula')
    if (!lease) throw new Error('no flock here')
    const content = JSON.stringify({ boot_id: 'another-boot', host: 'h', pid: 1, created: '2026-01-01T00:00:00Z', job: 'old', gpus: [], estimate_source: 'formula' })
    writeFileSync(lease.file, content)
    expect(await liveHolders(dir)).toEqual([])
    closeSync(lease.fd)
  })

  it("another job's lease cannot put a workflow command into this job's log", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-'))
    const lease = await takeGpuLease(dir, [{ gpu: { ...gpu(0), name: 'L4\n::add-mask::x' }, bytes: GiB }], 'job\n::error::injected', 'formula')
    if (!lease) throw new Error('no flock here')
    const [holder] = await liveHolders(dir)
    expect(describeHolders([holder as NonNullable<typeof holder>], [gpu(0)])[0]).toMatch(/^job ::error::injected: 1\.00 GiB on GPU 0 \(L4 ::add-mask::x\), loading, since /)
    closeSync(lease.fd)
  })

  it('one job at a time holds the placement lock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-leases-'))
    const events: string[] = []
    let release: () => void = () => undefined
    const first = withPlacementLock(dir, async () => {
      events.push('first in')
      await new Promise<void>((resolve) => (release = resolve))
      events.push('first out')
    })
    while (!events.includes('first in')) await new Promise((r) => setTimeout(r, 10))
    const second = withPlacementLock(dir, async () => void events.push('second in'))
    // The second waits on flock(1) for as long as the first holds the lock, which it does until told.
    await new Promise((r) => setTimeout(r, 300))
    release()
    await Promise.all([first, second])
    expect(events).toEqual(['first in', 'first out', 'second in'])
  })

  it('lives in one host-wide directory, or where SETUP_LLAMA_SERVER_GPU_LEASES says', () => {
    expect(gpuLeaseDir({})).toBe(DEFAULT_GPU_LEASES_DIR)
    expect(gpuLeaseDir({ SETUP_LLAMA_SERVER_GPU_LEASES: '/shared/gpu-leases' })).toBe('/shared/gpu-leases')
    expect(gpuLeaseDir({ SETUP_LLAMA_SERVER_GPU_LEASES: 'relative' })).toBe(DEFAULT_GPU_LEASES_DIR)
  })
})
