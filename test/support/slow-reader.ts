// Makes the jobs of a test read slowly, for real: every process whose environment carries the marker is stopped
// (SIGSTOP) and continued (SIGCONT) in turn, so that while it is stopped the server's bytes, and the end of the
// connection, pile up in its socket's buffer, and it meets them all at once, with its reader paused by
// backpressure. That is when an HTTP client that mishandles a close mid-body fails.
import { readdirSync, readFileSync } from 'node:fs'

export const SLOW_READER_VARIABLE = 'SLS_TEST_SLOW_READER'

export class SlowReader {
  private readonly pids = new Set<number>()
  private timer: NodeJS.Timeout | undefined
  private lastScan = 0
  private stopped = false

  /** `marker`: the value of SLS_TEST_SLOW_READER that the paced jobs get in their environment. */
  constructor(
    private readonly marker: string,
    private readonly stopMs = 40,
    private readonly runMs = 25,
  ) {}

  start(): void {
    const cycle = () => {
      if (Date.now() - this.lastScan > 250) this.scan()
      this.signal('SIGSTOP')
      this.stopped = true
      this.timer = setTimeout(() => {
        this.signal('SIGCONT')
        this.stopped = false
        this.timer = setTimeout(cycle, this.runMs)
      }, this.stopMs)
    }
    cycle()
  }

  /** Continues every process it stopped; a job is never left stopped. */
  end(): void {
    clearTimeout(this.timer)
    if (this.stopped) this.signal('SIGCONT')
    this.stopped = false
  }

  private scan(): void {
    this.lastScan = Date.now()
    for (const entry of readdirSync('/proc')) {
      if (/^\d+$/.test(entry) && this.carriesMarker(Number(entry))) this.pids.add(Number(entry))
    }
  }

  private carriesMarker(pid: number): boolean {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`${SLOW_READER_VARIABLE}=${this.marker}`)
    } catch {
      return false // gone, or not ours to read
    }
  }

  private signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    for (const pid of this.pids) {
      // Checked again each time: a pid that ended may have been reused by a process that is none of ours.
      if (signal === 'SIGSTOP' && !this.carriesMarker(pid)) {
        this.pids.delete(pid)
        continue
      }
      try {
        process.kill(pid, signal)
      } catch {
        this.pids.delete(pid)
      }
    }
  }
}
