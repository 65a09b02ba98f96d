// A real file server written on raw TCP sockets, for the faults that an HTTP library would smooth over: answers
// that end by closing the connection (HTTP/1.0, as many mirrors and simple file servers send them), bodies cut off
// mid-way by a FIN or a reset, answers that stall after some bytes, files that change between two requests,
// servers without HEAD or without Content-Length. Each connection carries one request and is closed after its
// answer. Ranges are served as a CDN does: `bytes=N-`, honoured unless If-Range names another version. Every
// request is recorded.
import net from 'node:net'

export interface ServedFile {
  body: Buffer
  etag?: string
  lastModified?: string
}

/** How a body is cut off after `bytes` of it: closed (FIN), reset (RST), or left hanging (nothing more sent). */
export type Cut = { kind: 'close' | 'reset' | 'stall'; bytes: number }

export interface RawServerOptions {
  /** The status line's version; both close the connection after the answer. Default HTTP/1.0. */
  protocol?: 'HTTP/1.0' | 'HTTP/1.1'
  /** HEAD answered with this status and no headers of the file (405, 501), as servers without HEAD do. */
  headStatus?: number
  /** Send Content-Length (default true); without it, the body ends where the connection closes. */
  contentLength?: boolean
  /** Honour Range requests (default true). */
  ranges?: boolean
  /** Pace every body to about this rate. */
  bytesPerSecond?: number
  /** Serve a range of the current version whatever If-Range says (a broken cache or server). */
  ignoreIfRange?: boolean
}

export interface RawRequest {
  method: string
  path: string
  range: string | undefined
  ifRange: string | undefined
  /** Host header, and the whole header block (lower-case names). */
  headers: Record<string, string>
  status: number
  /** Bytes of body sent, and how the answer ended. */
  sent: number
  cut?: Cut['kind']
}

export class RawFileServer {
  readonly files = new Map<string, ServedFile>()
  readonly requests: RawRequest[] = []
  /** Decides for each GET that gets a body whether, and where, it is cut off; `length` is the body's. */
  cut: (request: RawRequest, length: number) => Cut | undefined = () => undefined
  /** Runs once a GET's answer is over (to change a file between two attempts, say). */
  afterAnswer: (request: RawRequest) => void = () => undefined
  /** The next this many requests get no answer at all: read, then nothing sent (a stall before the headers). */
  unanswered = 0
  private readonly sockets = new Set<net.Socket>()
  private server!: net.Server

  private constructor(readonly options: RawServerOptions) {}

  static async start(options: RawServerOptions = {}, host = '127.0.0.1'): Promise<RawFileServer> {
    const s = new RawFileServer(options)
    s.server = net.createServer((socket) => s.onConnection(socket))
    await new Promise<void>((resolve) => s.server.listen(0, host, resolve))
    return s
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** `http://<host>:<port><path>`; the host defaults to the address the server listens on. */
  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${this.port}${path}`
  }

  gets(path?: string): RawRequest[] {
    return this.requests.filter((r) => r.method === 'GET' && (path === undefined || r.path === path))
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => undefined)
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      this.answer(socket, head.subarray(0, end).toString('latin1'))
    }
    socket.on('data', onData)
  }

  private answer(socket: net.Socket, head: string): void {
    const [requestLine = '', ...lines] = head.split('\r\n')
    const [method = '', target = ''] = requestLine.split(' ')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const path = new URL(target, 'http://x').pathname
    const request: RawRequest = { method, path, range: headers.range, ifRange: headers['if-range'], headers, status: 0, sent: 0 }
    this.requests.push(request)
    if (this.unanswered > 0) return void this.unanswered--
    const file = this.files.get(path)
    const o = { protocol: 'HTTP/1.0', contentLength: true, ranges: true, ...this.options }
    const reply = (status: number, reason: string, extra: Record<string, string>, body: Buffer) => {
      request.status = status
      const fields: Record<string, string> = { 'Content-Type': 'application/octet-stream', Date: new Date().toUTCString(), ...extra }
      if (o.protocol === 'HTTP/1.1') fields.Connection = 'close'
      if (o.contentLength && !('Content-Length' in fields)) fields['Content-Length'] = String(body.length)
      const text = `${o.protocol} ${status} ${reason}\r\n${Object.entries(fields).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
      socket.write(text, 'latin1')
      if (method === 'HEAD') return void socket.end()
      const cut = method === 'GET' && status < 300 ? this.cut(request, body.length) : undefined
      this.sendBody(socket, request, cut ? body.subarray(0, Math.min(cut.bytes, body.length)) : body, cut)
    }
    if (method === 'HEAD' && o.headStatus) return reply(o.headStatus, 'Not Allowed', { Allow: 'GET' }, Buffer.alloc(0))
    if (!file) return reply(404, 'Not Found', {}, Buffer.from('not found\n'))
    const validators: Record<string, string> = {}
    if (file.etag) validators.ETag = file.etag
    if (file.lastModified) validators['Last-Modified'] = file.lastModified
    if (o.ranges) validators['Accept-Ranges'] = 'bytes'
    const m = o.ranges ? /^bytes=(\d+)-$/.exec(request.range ?? '') : null
    const sameVersion = o.ignoreIfRange || request.ifRange === undefined || request.ifRange === file.etag || request.ifRange === file.lastModified
    if (m && sameVersion) {
      const start = Number(m[1])
      const size = file.body.length
      if (start >= size) return reply(416, 'Range Not Satisfiable', { 'Content-Range': `bytes */${size}` }, Buffer.alloc(0))
      return reply(206, 'Partial Content', { ...validators, 'Content-Range': `bytes ${start}-${size - 1}/${size}` }, file.body.subarray(start))
    }
    reply(200, 'OK', validators, file.body)
  }

  private sendBody(socket: net.Socket, request: RawRequest, body: Buffer, cut: Cut | undefined): void {
    const finish = () => {
      request.sent = body.length
      request.cut = cut?.kind
      this.afterAnswer(request)
      if (cut?.kind === 'stall') return // headers and some bytes, then nothing: the socket stays open
      // A reset discards what the client has not read yet (Linux purges the receive queue on RST): the bytes before
      // the cut are given time to be read first, so that there is something to resume from.
      if (cut?.kind === 'reset') return void setTimeout(() => socket.resetAndDestroy(), 300)
      socket.end() // the end of an HTTP/1.0 answer, or a body cut short by a FIN
    }
    const rate = this.options.bytesPerSecond
    if (!rate) return void socket.write(body, finish)
    const piece = Math.max(1, Math.floor(rate / 20))
    let offset = 0
    const tick = () => {
      if (socket.destroyed) return
      const chunk = body.subarray(offset, offset + piece)
      offset += chunk.length
      if (offset >= body.length) return void socket.write(chunk, finish)
      socket.write(chunk, () => setTimeout(tick, 50))
    }
    tick()
  }
}
