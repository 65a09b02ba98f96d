// Progress of a long download in the log: a line every 10 s or every 10 %, whichever comes first, never one
// per chunk.
import { formatBytes, formatDuration } from '../util/format.js'

/** One progress line: done of total (percent), rate, ETA. Pure. */
export function progressLine(label: string, done: number, total: number | undefined, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0
  const mbps = `${(rate / 1e6).toFixed(1)} MB/s`
  if (!total) return `${label}: ${formatBytes(done)}, ${mbps}`
  const percent = Math.floor((done / total) * 100)
  const eta = rate > 0 ? `ETA ${formatDuration(((total - done) / rate) * 1000)}` : 'ETA unknown'
  return `${label}: ${formatBytes(done)} of ${formatBytes(total)} (${percent}%), ${mbps}, ${eta}`
}

export class ProgressReporter {
  private readonly started = Date.now()
  private lastAt = this.started
  private lastPercentStep = 0

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly log: (line: string) => void,
    private readonly everyMs = 10_000,
  ) {}

  update(done: number): void {
    const now = Date.now()
    const step = this.total ? Math.floor((done / this.total) * 10) : 0
    if (now - this.lastAt >= this.everyMs || (step > this.lastPercentStep && step < 10)) {
      this.lastAt = now
      this.lastPercentStep = step
      this.log(progressLine(this.label, done, this.total, now - this.started))
    }
  }

  done(bytes: number): void {
    this.log(`${progressLine(this.label, bytes, this.total, Date.now() - this.started)} - done`)
  }
}
