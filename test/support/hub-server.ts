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
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'wrong-bytes' }
  | { kind: 'slow'; bytesPerSecond: number }

export interface RecordedRequest {
  host: 'hub' | 'blob'
  method: string
  path: string
  range: string | undefined
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
    this.requests.push({ host, method: req.method ?? '', path: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization, status })
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const fault = this.hubFaults.shift()
    if (fault?.kind === 'status') return this.fail(req, res, 'hub', fault.status, undefined, fault.retryAfter)
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
    const url = new URL(req.url ?? '/', 'http://x')
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname)
    const plain = this.plainFiles.get(url.pathname)
    const body = blob ? this.blobs.get(blob[1] as string) : plain?.body
    if (!body) return this.fail(req, res, 'blob', 404, undefined)
    const fault = req.method === 'GET' ? this.blobFaults.shift() : undefined
    if (fault?.kind === 'status') return this.fail(req, res, 'blob', fault.status, undefined, fault.retryAfter)
    let start = 0
    // As CDNs do: blobs carry their digest as a strong ETag; If-Range that does not match gets the whole file.
    const etag = blob ? `"${blob[1]}"` : plain?.etag
    const ifRange = req.headers['if-range']
    const range = ifRange === undefined || ifRange === etag ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null
    if (range) start = Number(range[1])
    const headers: Record<string, string> = { 'Accept-Ranges': 'bytes', 'Content-Length': String(body.length - start) }
    if (etag) headers.ETag = etag
    if (range) headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`
    const status = range ? 206 : 200
    res.writeHead(status, headers)
    this.record('blob', req, status)
    if (req.method === 'HEAD') return void res.end()
    let payload = body.subarray(start)
    if (fault?.kind === 'wrong-bytes') payload = Buffer.from(payload.map((b) => b ^ 0xff))
    if (fault?.kind === 'drop-after') {
      res.write(payload.subarray(0, fault.bytes), () => res.destroy())
      return
    }
    if (fault?.kind === 'slow') return void streamSlowly(res, payload, fault.bytesPerSecond)
    res.end(payload)
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, host: 'hub' | 'blob', status: number, code: string | undefined, retryAfter?: string): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }
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
