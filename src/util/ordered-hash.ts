// The sha256 of a file that is written out of order (ranges over several connections): the bytes are hashed in
// order as the written prefix grows, read back from the file (the page cache, as they were just written) in a
// worker thread, so that hashing overlaps the download on another core and the digest is ready moments after the
// last byte. Memory stays one read buffer, whatever the file's size. `after` hashes in one pass at the end
// instead; the benchmark (scripts/bench/download.ts) compares the two.
import { Worker } from 'node:worker_threads'
import { sha256File } from './hash.js'

export type HashMode = 'in-order' | 'after'

export interface OrderedHasher {
  /** The bytes before `offset` are final: they may be hashed. */
  advance(offset: number): void
  /** `sha256:<hex>` of the first `size` bytes, once every one of them was advanced past. */
  digest(size: number): Promise<string>
  /** Stops the worker (the download failed). */
  close(): Promise<void>
}

// Plain CommonJS, run with eval: no separate file for the bundle to carry. Reads are synchronous: they block only
// this thread. Messages are handled in order, so `digest` comes after every `upTo` before it.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash } = require('node:crypto')
const fd = fs.openSync(workerData.file, 'r')
const hash = createHash('sha256')
const buffer = Buffer.allocUnsafe(4 << 20)
let at = 0
parentPort.on('message', (m) => {
  while (at < m.upTo) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, m.upTo - at), at)
    if (n <= 0) throw new Error('the file ended at byte ' + at + ', before ' + m.upTo)
    hash.update(buffer.subarray(0, n))
    at += n
  }
  if (m.digest) {
    fs.closeSync(fd)
    parentPort.postMessage('sha256:' + hash.digest('hex'))
  }
})
`

class WorkerHasher implements OrderedHasher {
  private readonly worker: Worker
  private sent = 0
  private readonly result: Promise<string>

  constructor(file: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file } })
    this.result = new Promise((resolve, reject) => {
      this.worker.once('message', (digest: string) => resolve(digest))
      this.worker.once('error', reject)
      this.worker.once('exit', (code) => reject(new Error(`the hashing thread exited (code ${code}) before the digest`)))
    })
    // A failure nobody awaits yet (the download is still running) must not become an unhandled rejection.
    this.result.catch(() => undefined)
  }

  advance(offset: number): void {
    if (offset <= this.sent) return
    this.sent = offset
    this.worker.postMessage({ upTo: offset })
  }

  async digest(size: number): Promise<string> {
    this.worker.postMessage({ upTo: size, digest: true })
    try {
      return await this.result
    } finally {
      await this.worker.terminate()
    }
  }

  async close(): Promise<void> {
    await this.worker.terminate()
  }
}

class HashAfter implements OrderedHasher {
  constructor(private readonly file: string) {}
  advance(): void {}
  async digest(): Promise<string> {
    return await sha256File(this.file)
  }
  async close(): Promise<void> {}
}

export function orderedHasher(file: string, mode: HashMode = 'in-order'): OrderedHasher {
  return mode === 'in-order' ? new WorkerHasher(file) : new HashAfter(file)
}
