// Who holds flock(2) on a file, for a log line: /proc/locks (Linux) names the process that took the lock, by its
// pid as this PID namespace sees it. That pid is believed only while the process still has the file open (a pid
// can be reused); a holder in another PID namespace shows as 0, one on another host (NFS) not at all, and a lock
// taken for its caller by flock(1), as this action takes its own, names flock(1), which has exited. Only the
// program's name is given, never its arguments (which might hold a secret).
import { promises as fs } from 'node:fs'

const NOT_SEEN = 'a process not visible from here (in another container or PID namespace, on another host, or a job of this action, whose flock(1) helper has exited)'

/** `pid 123 (python3)`, or what can be said when the holder cannot be seen. */
export async function describeLockHolder(file: string): Promise<string> {
  const real = await fs.realpath(file).catch(() => file)
  const stat = await fs.stat(real, { bigint: true }).catch(() => undefined)
  const table = await fs.readFile('/proc/locks', 'utf8').catch(() => '')
  if (!stat) return NOT_SEEN
  // On overlayfs (a container's root) /proc/locks gives the upper filesystem's device: then the inode alone, the
  // holder confirmed by its open descriptor of this very path.
  const exact = flockHolders(table, stat.dev, stat.ino)
  for (const pid of exact.length ? exact : flockHolders(table, undefined, stat.ino)) {
    if (pid > 0 && (await hasOpen(pid, real))) return `pid ${pid} (${await programName(pid)})`
  }
  return NOT_SEEN
}

/**
 * The pids /proc/locks gives for FLOCK locks held (not waited for) on the file of that inode, and of that device
 * unless `dev` is undefined. Pure.
 */
export function flockHolders(table: string, dev: bigint | undefined, ino: bigint): number[] {
  // Linux's dev_t: the major number in bits 8-19 and 32-43, the minor in bits 0-7 and 20-31.
  const device = dev === undefined ? undefined : `${((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)}:${(dev & 0xffn) | ((dev >> 12n) & ~0xffn)}`
  const pids: number[] = []
  // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1577077 0 EOF"; a waiter's line has "->" after the number.
  for (const m of table.matchAll(/^\d+: FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/gm)) {
    const here = `${BigInt(`0x${m[2]}`)}:${BigInt(`0x${m[3]}`)}`
    if (BigInt(m[4] as string) === ino && (device === undefined || here === device)) pids.push(Number(m[1]))
  }
  return pids
}

async function hasOpen(pid: number, file: string): Promise<boolean> {
  const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
  for (const fd of fds) if ((await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === file) return true
  return false
}

async function programName(pid: number): Promise<string> {
  const comm = (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()
  // A program name is the kernel's copy of at most 15 bytes; anything else in it is not shown.
  return /^[\x20-\x7e]{1,15}$/.test(comm) ? comm : 'its name is not readable'
}
