// A real HTTP server that speaks the Hugging Face Hub's download protocol, for tests (not a double of our code:
// the action talks to it over TCP exactly as to huggingface.co). Two listeners, as on the real Hub: the
// endpoint answers /{owner}/{repo}/resolve/{revision}/{path} with a redirect to a second "blob host" and the
// headers X-Repo-Commit, X-Linked-Etag, X-Linked-Size, or with an X-Error-Code; the blob host serves bytes with
// Range support. Faults can be injected per request, and every request is recorded.
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HubRepo {
  /** revision name → commit */
  revisions: Record<string, string>
  /** commit → path → content */
  files: Record<string, Record<string, Buffer>>
  gated?: boolean
  private?: boolean
}

export type Fault =
  | { kind: 'drop-after'; bytes: number }
  | { kind: 'status'; status: number; retryAfter?: string; headers?: Record<string, string> }
  | { kind: 'wrong-bytes' }
  /** A Content-Range whose total is not the file's: what another file under the same ETag would answer. */
  | { kind: 'wrong-total' }
  | { kind: 'slow'; bytesPerSecond: number }

export interface RecordedRequest {
  host: 'hub' | 'blob'
  method: string
  path: string
  range: string | undefined
  ifRange: string | undefined
  authorization: string | undefined
  status: number
}

export class HubServer {
  readonly repos = new Map<string, HubRepo>()
  readonly tokens = new Set<string>()
  readonly requests: RecordedRequest[] = []
  /** Faults for the next blob requests, taken in order. */
  readonly blobFaults: Fault[] = []
  /** Faults for the next endpoint requests, taken in order. */
  readonly hubFaults: Fault[] = []
  /** URL path → content served by the blob host outside the Hub protocol (for http(s):// model refs). */
  readonly plainFiles = new Map<string, { body: Buffer; etag?: string }>()
  /** false: the blob host answers every Range request with the whole file (200), as some servers do. */
  honourRanges = true
  /** Bytes per second of each blob response, as CDNs limit each connection; undefined: as fast as it goes. */
  perConnectionRate: number | undefined
  /** Called as each blob GET arrives (a test changes a file on the server between two requests). */
  onBlobGet: ((count: number) => void) | undefined
  /** The most blob GETs that were in progress at once. */
  maxConcurrentBlobGets = 0
  private blobGetsInProgress = 0
  private blobGetCount = 0
  private readonly blobs = new Map<string, Buffer>()
  private hub!: http.Server
  private blob!: http.Server

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`
  }

  get blobOrigin(): string {
    return `http://127.0.0.1:${(this.blob.address() as AddressInfo).port}`
  }

  static async start(): Promise<HubServer> {
    const server = new HubServer()
    server.hub = http.createServer((req, res) => server.onHub(req, res))
    server.blob = http.createServer((req, res) => server.onBlob(req, res))
    await Promise.all([listen(server.hub), listen(server.blob)])
    return server
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.blob]) s.closeAllConnections()
    await Promise.all([this.hub, this.blob].map((s) => new Promise((r) => s.close(r))))
  }

  /** Adds a repo with one commit holding `files`, with `main` pointing at it; returns the commit. */
  addRepo(id: string, files: Record<string, Buffer>, options: { gated?: boolean; private?: boolean } = {}): string {
    const commit = randomBytes(20).toString('hex')
    this.repos.set(id, { revisions: { main: commit }, files: { [commit]: files }, ...options })
    for (const body of Object.values(files)) this.blobs.set(sha256(body), body)
    return commit
  }

  blobGets(): RecordedRequest[] {
    return this.requests.filter((r) => r.host === 'blob' && r.method === 'GET')
  }

  private record(host: 'hub' | 'blob', req: http.IncomingMessage, status: number): void {
    const ifRange = req.headers['if-range'] as string | undefined
    this.requests.push({ host, method: req.method ?? '', path: req.url ?? '', range: req.headers.range, ifRange, authorization: req.headers.authorization, status })
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const fault = this.hubFaults.shift()
    if (fault?.kind === 'status') return this.fail(req, res, 'hub', fault.status, undefined, fault.retryAfter, fault.headers)
    if (new URL(req.url ?? '/', 'http://x').pathname.startsWith('/api/models/')) return this.onApi(req, res)
    const m = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname)
    if (!m) return this.fail(req, res, 'hub', 404, 'RepoNotFound')
    const [, owner, name, rawRevision, rawPath] = m as unknown as [string, string, string, string, string]
    const repo = this.repos.get(`${owner}/${name}`)
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const authorized = token !== undefined && this.tokens.has(token)
    if (token !== undefined && !authorized) return this.fail(req, res, 'hub', 401, undefined)
    if (!repo || (repo.private && !authorized)) return this.fail(req, res, 'hub', repo ? 401 : 404, 'RepoNotFound')
    if (repo.gated && !authorized) return this.fail(req, res, 'hub', 401, 'GatedRepo')
    const revision = decodeURIComponent(rawRevision)
    const commit = repo.files[revision] ? revision : repo.revisions[revision]
    if (!commit) return this.fail(req, res, 'hub', 404, 'RevisionNotFound')
    const path = rawPath.split('/').map(decodeURIComponent).join('/')
    const body = repo.files[commit]?.[path]
    if (!body) return this.fail(req, res, 'hub', 404, 'EntryNotFound')
    const digest = sha256(body)
    res.writeHead(302, {
      Location: `${this.blobOrigin}/blobs/${digest}?X-Amz-Signature=${randomBytes(8).toString('hex')}`,
      'X-Repo-Commit': commit,
      'X-Linked-Etag': `"${digest}"`,
      'X-Linked-Size': String(body.length),
      ETag: `"${digest}"`,
      'Content-Length': '0',
    })
    res.end()
    this.record('hub', req, 302)
  }

  private onBlob(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === 'GET') {
      this.onBlobGet?.(++this.blobGetCount)
      this.maxConcurrentBlobGets = Math.max(this.maxConcurrentBlobGets, ++this.blobGetsInProgress)
      res.once('close', () => this.blobGetsInProgress--)
    }
    const url = new URL(req.url ?? '/', 'http://x')
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)
    const plain = this.plainFiles.get(url.pathname)
    const body = blob ? this.blobs.get(blob[1] as string) : plain?.body
    if (!body) return this.fail(req, res, 'blob', 404, undefined)
    const fault = req.method === 'GET' ? this.blobFaults.shift() : undefined
    if (fault?.kind === 'status') return this.fail(req, res, 'blob', fault.status, undefined, fault.retryAfter, fault.headers)
    // As CDNs do: blobs carry their digest as a strong ETag; If-Range that does not match gets the whole file.
    const etag = blob ? `"${blob[1]}"` : plain?.etag
    const ifRange = req.headers['if-range']
    const range = this.honourRanges && (ifRange === undefined || ifRange === etag) ? /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '') : null
    const start = range ? Number(range[1]) : 0
    const end = range?.[2] ? Math.min(Number(range[2]), body.length - 1) : body.length - 1
    const headers: Record<string, string> = { 'Accept-Ranges': this.honourRanges ? 'bytes' : 'none', 'Content-Length': String(end + 1 - start) }
    if (etag) headers.ETag = etag
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${fault?.kind === 'wrong-total' ? body.length * 2 : body.length}`
    const status = range ? 206 : 200
    res.writeHead(status, headers)
    this.record('blob', req, status)
    if (req.method === 'HEAD') return void res.end()
    let payload = body.subarray(start, end + 1)
    if (fault?.kind === 'wrong-bytes') payload = Buffer.from(payload.map((b) => b ^ 0xff))
    if (fault?.kind === 'drop-after') {
      res.write(payload.subarray(0, fault.bytes), () => res.destroy())
      return
    }
    if (fault?.kind === 'slow') return void streamSlowly(res, payload, fault.bytesPerSecond)
    if (this.perConnectionRate) return void streamSlowly(res, payload, this.perConnectionRate)
    res.end(payload)
  }

  /**
   * The two Hub API calls llama.cpp's downloader makes (common/hf-cache.cpp): the repository's branches, and its
   * files at a commit with each LFS file's sha256.
   */
  private onApi(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x')
    const m = /^\/api\/models\/([^/]+)\/([^/]+)\/(refs|tree\/([0-9a-f]{40}))$/.exec(url.pathname)
    const repo = m ? this.repos.get(`${m[1]}/${m[2]}`) : undefined
    if (!m || !repo || repo.private || repo.gated) return this.fail(req, res, 'hub', 404, 'RepoNotFound')
    const json = (value: unknown) => {
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(value))
      this.record('hub', req, 200)
    }
    if (m[3] === 'refs') {
      return json({ branches: Object.entries(repo.revisions).map(([name, commit]) => ({ name, ref: `refs/heads/${name}`, targetCommit: commit })), tags: [], converts: [] })
    }
    const files = repo.files[m[4] as string]
    if (!files) return this.fail(req, res, 'hub', 404, 'RevisionNotFound')
    json(Object.entries(files).map(([path, body]) => ({ type: 'file', path, size: body.length, oid: 'f'.repeat(40), lfs: { oid: sha256(body), size: body.length, pointerSize: 134 } })))
  }

  private fail(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    host: 'hub' | 'blob',
    status: number,
    code: string | undefined,
    retryAfter?: string,
    extra: Record<string, string> = {},
  ): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', ...extra }
    if (code) headers['X-Error-Code'] = code
    if (retryAfter) headers['Retry-After'] = retryAfter
    res.writeHead(status, headers)
    res.end(JSON.stringify({ error: code ?? `HTTP ${status}` }))
    this.record(host, req, status)
  }
}

function streamSlowly(res: http.ServerResponse, payload: Buffer, bytesPerSecond: number): void {
  const chunk = Math.max(1, Math.floor(bytesPerSecond / 10))
  let offset = 0
  const timer = setInterval(() => {
    if (res.destroyed) return clearInterval(timer)
    res.write(payload.subarray(offset, offset + chunk))
    offset += chunk
    if (offset >= payload.length) {
      clearInterval(timer)
      res.end()
    }
  }, 100)
  res.on('close', () => clearInterval(timer))
}

export function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}

async function listen(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
}
