// Node reads a socket into a new 64 KiB buffer each time, and V8 frees those buffers only when it collects the
// small objects that hold them. During a download those objects are few, so the young generation fills slowly,
// the buffers pile up outside the heap, and V8 answers with a full (major) collection for every 64 MiB of them:
// 33 per 2 GiB, each marking the whole heap, on CPUs that the download and its hash already use. A minor
// collection after every few MiB received frees the buffers while they are young (6 major collections instead of
// 33, a tenth less CPU and a third less memory for a 2 GiB model: BENCHMARKS.md, "Download").
import v8 from 'node:v8'
import vm from 'node:vm'

type Collect = (options: { type: 'minor' }) => void

let collector: Collect | null | undefined

/**
 * V8's gc(), reached as the `expose-gc` package reaches it: the flag set only while one new context is made, so
 * that no global `gc` appears. Null where that does not work (then downloads only cost more CPU).
 */
export function minorCollector(): Collect | null {
  if (collector !== undefined) return collector
  // Node started with --expose-gc: the flag is left as it was.
  const exposed = (globalThis as { gc?: unknown }).gc
  if (typeof exposed === 'function') return (collector = exposed as Collect)
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc: unknown = vm.runInNewContext('gc')
    collector = typeof gc === 'function' ? (gc as Collect) : null
  } catch {
    collector = null
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
  return collector
}

/** Counts the bytes received and asks for a minor collection after every `every` of them. */
export class YoungCollection {
  private since = 0

  constructor(
    private readonly every = 16 * 2 ** 20,
    private readonly collect: Collect | null = minorCollector(),
  ) {}

  received(bytes: number): void {
    this.since += bytes
    if (this.since < this.every || !this.collect) return
    this.since = 0
    this.collect({ type: 'minor' })
  }
}
