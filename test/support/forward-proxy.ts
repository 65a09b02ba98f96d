// A real forward proxy, as self-hosted runners sit behind: absolute-form HTTP requests (`GET http://host/path`)
// are forwarded, CONNECT opens a tunnel (for https). It can require credentials (Proxy-Authorization: Basic), and
// it resolves some host names that nothing else can (`models.proxy-only.test` → 127.0.0.1): a request that
// reached such a host went through the proxy. Every request is logged.
import http from 'node:http'
import net from 'node:net'

export interface ProxyLogEntry {
  method: string
  /** The absolute URL, or host:port for CONNECT. */
  target: string
  /** Whether it carried the right credentials (true when none are required). */
  authorized: boolean
}

export interface ForwardProxyOptions {
  /** Host names only this proxy resolves, to an address. */
  hosts?: Record<string, string>
  credentials?: { user: string; password: string }
}

export class ForwardProxy {
  readonly log: ProxyLogEntry[] = []
  private server!: http.Server
  private readonly sockets = new Set<net.Socket>()

  private constructor(private readonly options: ForwardProxyOptions) {}

  static async start(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
    const proxy = new ForwardProxy(options)
    proxy.server = http.createServer((req, res) => proxy.onRequest(req, res))
    proxy.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => proxy.onConnect(req, socket, head))
    proxy.server.on('connection', (socket: net.Socket) => {
      proxy.sockets.add(socket)
      socket.on('close', () => proxy.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
    return proxy
  }

  /** The proxy's URL as a runner's HTTP_PROXY gives it, with the credentials in it when it requires them. */
  get url(): string {
    const port = (this.server.address() as net.AddressInfo).port
    const c = this.options.credentials
    return `http://${c ? `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@` : ''}127.0.0.1:${port}`
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private authorized(req: http.IncomingMessage): boolean {
    const c = this.options.credentials
    if (!c) return true
    return req.headers['proxy-authorization'] === `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`
  }

  private resolve(host: string): string {
    return this.options.hosts?.[host.toLowerCase()] ?? host
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = req.url ?? ''
    const authorized = this.authorized(req)
    this.log.push({ method: req.method ?? '', target, authorized })
    const url = URL.parse(target)
    if (!url || url.protocol !== 'http:') {
      res.writeHead(400, { 'Content-Type': 'text/plain' })
      return void res.end('a proxy takes absolute-form requests\n')
    }
    if (!authorized) {
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="test proxy"' })
      return void res.end()
    }
    const headers = { ...req.headers }
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = http.request(
      { host: this.resolve(url.hostname), port: Number(url.port || 80), path: `${url.pathname}${url.search}`, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' })
      res.end(`proxy: ${error.message}\n`)
    })
    req.pipe(upstream)
  }

  private onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const target = req.url ?? ''
    const authorized = this.authorized(req)
    this.log.push({ method: 'CONNECT', target, authorized })
    socket.on('error', () => undefined)
    if (!authorized) return void socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test proxy"\r\n\r\n')
    const colon = target.lastIndexOf(':')
    const upstream = net.connect(Number(target.slice(colon + 1)), this.resolve(target.slice(0, colon)), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length) upstream.write(head)
      upstream.pipe(socket)
      socket.pipe(upstream)
    })
    upstream.on('error', () => socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'))
  }
}
