// TEST DOUBLE of GitHub, which cannot be reached from here: three local HTTP servers, as github.com has them, that
// the action talks to over TCP exactly as to GitHub (GITHUB_SERVER_URL and GITHUB_API_URL point at them).
//   api      (api.github.com) GET /repos/{owner}/{repo}/releases/tags/{tag}, /releases/latest, /releases/{id}/assets
//            (paged with Link headers, at most `pageSize` per page, which tests keep small so that llama.cpp's
//            ~25 assets span pages), /attestations/{digest}; x-ratelimit-* headers; injected rate limits.
//   server   (github.com) git over HTTP through git's own `git http-backend` (a real git server, for ls-remote and
//            fetch), and /{owner}/{repo}/releases/download/{tag}/{name}, redirecting to the objects host as GitHub does
//            (or answering an injected fault: an HTTP status, a redirect elsewhere).
//   objects  (release-assets.githubusercontent.com) the archives' bytes.
// Every request is recorded with its host, path and Authorization header.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'

export interface FakeAsset {
  name: string
  body: Buffer
  /** What the API says: by default the body's sha256; null for an asset uploaded before GitHub recorded digests. */
  digest?: string | null
}

export interface FakeRelease {
  tag: string
  assets: FakeAsset[]
}

export type ApiFault = { kind: 'rate-limit'; status: 403 | 429; resetInSeconds: number }

/** How the next download (github.com's /releases/download/…) is answered instead of the redirect to the bytes. */
export type DownloadFault = { kind: 'status'; status: number; headers?: Record<string, string> } | { kind: 'redirect'; location: string }

export interface GithubRequest {
  host: 'api' | 'server' | 'objects'
  method: string
  path: string
  authorization: string | undefined
  status: number
}

interface Repo {
  releases: (FakeRelease & { id: number; assetIds: number[] })[]
  latest: string | undefined
  attestations: Map<string, number>
}

export class GithubServer {
  readonly requests: GithubRequest[] = []
  readonly apiFaults: ApiFault[] = []
  readonly downloadFaults: DownloadFault[] = []
  pageSize = 10
  private readonly repos = new Map<string, Repo>()
  private readonly objects = new Map<number, Buffer>()
  private readonly gitRoot = mkdtempSync(path.join(os.tmpdir(), 'sls-github-git-'))
  private nextId = 1
  private api!: http.Server
  private server!: http.Server
  private objectsHost!: http.Server

  static async start(): Promise<GithubServer> {
    const gh = new GithubServer()
    gh.api = http.createServer((req, res) => gh.onApi(req, res))
    gh.server = http.createServer((req, res) => gh.onServer(req, res))
    gh.objectsHost = http.createServer((req, res) => gh.onObjects(req, res))
    await Promise.all([gh.api, gh.server, gh.objectsHost].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))))
    return gh
  }

  async stop(): Promise<void> {
    const all = [this.api, this.server, this.objectsHost]
    for (const s of all) s.closeAllConnections()
    await Promise.all(all.map((s) => new Promise((r) => s.close(r))))
  }

  origin(which: 'api' | 'server' | 'objects'): string {
    const s = which === 'api' ? this.api : which === 'server' ? this.server : this.objectsHost
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`
  }

  /** What the runner sets: GITHUB_SERVER_URL and GITHUB_API_URL. */
  env(): Record<string, string> {
    return { GITHUB_SERVER_URL: this.origin('server'), GITHUB_API_URL: this.origin('api') }
  }

  repoUrl(owner: string, name: string): string {
    return `${this.origin('server')}/${owner}/${name}`
  }

  /** Serves the git repository at `gitDir` (bare or not) as {owner}/{name}, with no releases yet. */
  addRepo(owner: string, name: string, gitDir: string): void {
    mkdirSync(path.join(this.gitRoot, owner), { recursive: true })
    symlinkSync(gitDir, path.join(this.gitRoot, owner, name))
    this.repos.set(`${owner}/${name}`, { releases: [], latest: undefined, attestations: new Map() })
  }

  addRelease(owner: string, name: string, release: FakeRelease, options: { latest?: boolean } = {}): void {
    const repo = this.repo(owner, name)
    const assetIds = release.assets.map((a) => {
      const id = this.nextId++
      this.objects.set(id, a.body)
      return id
    })
    repo.releases.push({ ...release, id: this.nextId++, assetIds })
    if (options.latest) repo.latest = release.tag
  }

  /** Says that `count` build-provenance attestations exist for `digest`. */
  addAttestations(owner: string, name: string, digest: string, count: number): void {
    this.repo(owner, name).attestations.set(digest, count)
  }

  private repo(owner: string, name: string): Repo {
    const repo = this.repos.get(`${owner}/${name}`)
    if (!repo) throw new Error(`no repository ${owner}/${name} in the GitHub test double`)
    return repo
  }

  apiRequests(): GithubRequest[] {
    return this.requests.filter((r) => r.host === 'api')
  }

  downloads(): GithubRequest[] {
    return this.requests.filter((r) => r.host === 'objects')
  }

  private record(host: GithubRequest['host'], req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry: GithubRequest = { host, method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization, status: 0 }
    this.requests.push(entry)
    res.on('finish', () => (entry.status = res.statusCode))
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

  private assetJson(owner: string, name: string, release: Repo['releases'][number], index: number): unknown {
    const asset = release.assets[index] as FakeAsset
    const id = release.assetIds[index] as number
    return {
      id,
      name: asset.name,
      state: 'uploaded',
      content_type: 'application/gzip',
      size: asset.body.length,
      digest: asset.digest === undefined ? `sha256:${createHash('sha256').update(asset.body).digest('hex')}` : asset.digest,
      url: `${this.origin('api')}/repos/${owner}/${name}/releases/assets/${id}`,
      browser_download_url: `${this.origin('server')}/${owner}/${name}/releases/download/${release.tag}/${encodeURIComponent(asset.name)}`,
    }
  }

  private releaseJson(owner: string, name: string, release: Repo['releases'][number]): unknown {
    return {
      id: release.id,
      tag_name: release.tag,
      name: release.tag,
      draft: false,
      prerelease: false,
      assets_url: `${this.origin('api')}/repos/${owner}/${name}/releases/${release.id}/assets`,
      assets: release.assets.map((_, i) => this.assetJson(owner, name, release, i)),
    }
  }

  private onApi(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('api', req, res)
    const fault = this.apiFaults.shift()
    const reset = Math.floor(Date.now() / 1000) + (fault?.resetInSeconds ?? 3600)
    if (fault) {
      this.json(res, fault.status, { message: 'API rate limit exceeded for 127.0.0.1.' }, { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) })
      return
    }
    const limits = { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': String(reset) }
    const url = new URL(req.url ?? '/', this.origin('api'))
    const m = /^\/repos\/([^/]+)\/([^/]+)\/(.+)$/.exec(url.pathname)
    const repo = m && this.repos.get(`${m[1]}/${m[2]}`)
    if (!m || !repo) return this.json(res, 404, { message: 'Not Found' }, limits)
    const [, owner, name, rest] = m as unknown as [string, string, string, string]
    const byTag = /^releases\/tags\/(.+)$/.exec(rest)
    const assets = /^releases\/(\d+)\/assets$/.exec(rest)
    const attestation = /^attestations\/(.+)$/.exec(rest)
    if (byTag || rest === 'releases/latest') {
      const tag = byTag ? decodeURIComponent(byTag[1] as string) : repo.latest
      const release = repo.releases.find((r) => r.tag === tag)
      return release ? this.json(res, 200, this.releaseJson(owner, name, release), limits) : this.json(res, 404, { message: 'Not Found' }, limits)
    }
    if (assets) {
      const release = repo.releases.find((r) => r.id === Number(assets[1]))
      if (!release) return this.json(res, 404, { message: 'Not Found' }, limits)
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100, this.pageSize)
      const page = Number(url.searchParams.get('page') ?? 1)
      const pages = Math.max(1, Math.ceil(release.assets.length / perPage))
      const items = release.assets.map((_, i) => this.assetJson(owner, name, release, i)).slice((page - 1) * perPage, page * perPage)
      const link = (p: number) => `<${this.origin('api')}/repos/${owner}/${name}/releases/${release.id}/assets?per_page=${perPage}&page=${p}>`
      const links = [...(page < pages ? [`${link(page + 1)}; rel="next"`, `${link(pages)}; rel="last"`] : []), ...(page > 1 ? [`${link(1)}; rel="first"`] : [])]
      return this.json(res, 200, items, { ...limits, ...(links.length ? { link: links.join(', ') } : {}) })
    }
    if (attestation) {
      const count = repo.attestations.get(decodeURIComponent(attestation[1] as string)) ?? 0
      if (!count) return this.json(res, 404, { message: 'Not Found' }, limits)
      return this.json(res, 200, { attestations: Array.from({ length: count }, () => ({ repository_id: 1, bundle: {} })) }, limits)
    }
    this.json(res, 404, { message: 'Not Found' }, limits)
  }

  private onServer(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('server', req, res)
    const url = new URL(req.url ?? '/', this.origin('server'))
    const download = /^\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\/([^/]+)$/.exec(url.pathname)
    if (download) {
      const repo = this.repos.get(`${download[1]}/${download[2]}`)
      const release = repo?.releases.find((r) => r.tag === decodeURIComponent(download[3] as string))
      const index = release?.assets.findIndex((a) => a.name === decodeURIComponent(download[4] as string)) ?? -1
      if (!release || index < 0) return this.json(res, 404, { message: 'Not Found' })
      const fault = this.downloadFaults.shift()
      if (fault?.kind === 'status') return this.json(res, fault.status, { message: `fault ${fault.status}` }, fault.headers)
      if (fault?.kind === 'redirect') {
        res.writeHead(302, { location: fault.location })
        res.end()
        return
      }
      // GitHub answers with a short-lived signed URL on another host.
      res.writeHead(302, { location: `${this.origin('objects')}/${release.assetIds[index]}?sig=signed-for-a-minute` })
      res.end()
      return
    }
    this.gitHttpBackend(req, res, url)
  }

  private onObjects(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('objects', req, res)
    const body = this.objects.get(Number(new URL(req.url ?? '/', this.origin('objects')).pathname.slice(1)))
    if (!body) return this.json(res, 404, { message: 'Not Found' })
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
    res.end(body)
  }

  /** git's smart HTTP protocol, answered by `git http-backend` as a CGI program. */
  private gitHttpBackend(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        GIT_PROJECT_ROOT: this.gitRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    req.pipe(child.stdin)
    let head: Buffer | undefined = Buffer.alloc(0)
    child.stdout.on('data', (chunk: Buffer) => {
      if (!head) return void res.write(chunk)
      head = Buffer.concat([head, chunk])
      const crlf = head.indexOf('\r\n\r\n')
      const end = crlf >= 0 ? crlf + 4 : head.indexOf('\n\n') >= 0 ? head.indexOf('\n\n') + 2 : -1
      if (end < 0) return
      let status = 200
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':')
        if (colon <= 0) continue
        const key = line.slice(0, colon).trim()
        const value = line.slice(colon + 1).trim()
        if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0])
        else res.setHeader(key, value)
      }
      res.writeHead(status)
      const rest = head.subarray(end)
      head = undefined
      if (rest.length) res.write(rest)
    })
    child.stdout.on('end', () => res.end())
    child.on('error', () => res.destroy())
  }
}
