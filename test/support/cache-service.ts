// TEST DOUBLE of the GitHub Actions cache service (nothing real can run here): an HTTP server speaking the v1
// protocol that @actions/cache uses with ACTIONS_CACHE_URL (the one nektos/act's cache server speaks too):
//   GET  _apis/artifactcache/cache?keys=…&version=…   → 200 {cacheKey, archiveLocation} or 204
//   POST _apis/artifactcache/caches {key, version}    → {cacheId}, or 409 when the key is taken
//   PATCH _apis/artifactcache/caches/:id (Content-Range) → 204, a chunk of the archive
//   POST _apis/artifactcache/caches/:id {size}        → 204, the entry is committed
//   GET  /archives/:id                                → the archive
// `failing` makes every request answer 500, as a broken service would.
import http from 'node:http'
import type { AddressInfo } from 'node:net'

interface Entry {
  key: string
  version: string
  chunks: { start: number; data: Buffer }[]
  archive?: Buffer
}

export class CacheServiceDouble {
  failing = false
  readonly requests: string[] = []
  private readonly entries = new Map<number, Entry>()
  private nextId = 1
  private server!: http.Server

  static async start(): Promise<CacheServiceDouble> {
    const service = new CacheServiceDouble()
    service.server = http.createServer((req, res) => void service.handle(req, res))
    await new Promise<void>((r) => service.server.listen(0, '127.0.0.1', r))
    return service
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`
  }

  /** The environment the runner gives a job that has the cache service. */
  env(): Record<string, string> {
    return { ACTIONS_CACHE_URL: this.url, ACTIONS_RUNTIME_TOKEN: 'test-runtime-token' }
  }

  committedKeys(): string[] {
    return [...this.entries.values()].filter((e) => e.archive).map((e) => e.key)
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((r) => this.server.close(r))
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
    })
    const url = new URL(req.url ?? '/', 'http://x')
    this.requests.push(`${req.method} ${url.pathname}`)
    const json = (status: number, value?: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(value === undefined ? '' : JSON.stringify(value))
    }
    if (this.failing) return json(500, { message: 'the cache service double is failing on purpose' })
    if (req.headers.authorization !== 'Bearer test-runtime-token' && !url.pathname.startsWith('/archives/')) return json(401)
    if (req.method === 'GET' && url.pathname === '/_apis/artifactcache/cache') {
      const keys = (url.searchParams.get('keys') ?? '').split(',')
      const version = url.searchParams.get('version')
      for (const [id, entry] of this.entries) {
        if (entry.archive && entry.version === version && keys.includes(entry.key)) {
          return json(200, { cacheKey: entry.key, scope: 'refs/heads/main', archiveLocation: `${this.url}archives/${id}` })
        }
      }
      return json(204)
    }
    if (req.method === 'POST' && url.pathname === '/_apis/artifactcache/caches') {
      const { key, version } = JSON.parse(body.toString()) as { key: string; version: string }
      if ([...this.entries.values()].some((e) => e.key === key && e.version === version)) {
        return json(409, { message: `Cache already exists. Scope: refs/heads/main, Key: ${key}, Version: ${version}` })
      }
      const id = this.nextId++
      this.entries.set(id, { key, version, chunks: [] })
      return json(201, { cacheId: id })
    }
    const m = /^\/_apis\/artifactcache\/caches\/(\d+)$/.exec(url.pathname)
    const entry = m ? this.entries.get(Number(m[1])) : undefined
    if (entry && req.method === 'PATCH') {
      const start = Number(/^bytes (\d+)-/.exec(req.headers['content-range'] ?? '')?.[1] ?? 0)
      entry.chunks.push({ start, data: body })
      return json(204)
    }
    if (entry && req.method === 'POST') {
      entry.archive = Buffer.concat(entry.chunks.sort((a, b) => a.start - b.start).map((c) => c.data))
      const { size } = JSON.parse(body.toString()) as { size: number }
      if (size !== entry.archive.length) return json(400, { message: `size ${size} is not ${entry.archive.length}` })
      return json(204)
    }
    const a = /^\/archives\/(\d+)$/.exec(url.pathname)
    const archive = a ? this.entries.get(Number(a[1]))?.archive : undefined
    if (archive && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(archive.length) })
      return void res.end(archive)
    }
    json(404)
  }
}
