// Proxies as runners set them (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, either case), against a real forward proxy
// (test/support/forward-proxy.ts) that requires credentials and alone resolves models.proxy-only.test: a model
// fetched from that name went through the proxy. The local server's readiness never goes through it, and the
// proxy's credentials appear nowhere the job can show them.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ForwardProxy } from '../support/forward-proxy.js'
import { ggufWithPayload } from '../support/gguf-writer.js'
import { HubServer, sha256 } from '../support/hub-server.js'
import { RawFileServer } from '../support/raw-http-server.js'
import { runMain, runPost, type MainRun, type StepResult } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const PROXY_ONLY = 'models.proxy-only.test'
const PASSWORD = 'pr0xy-s3cret-9d2f'
const body = ggufWithPayload(128 * 1024)
const digest = `sha256:${sha256(body)}`

/** An address of this machine that is not loopback (a proxy would be used for it), or undefined. */
function outwardAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return undefined
}

let proxy: ForwardProxy
let files: RawFileServer
beforeAll(async () => {
  proxy = await ForwardProxy.start({ hosts: { [PROXY_ONLY]: '127.0.0.1' }, credentials: { user: 'runner', password: PASSWORD } })
  files = await RawFileServer.start({ protocol: 'HTTP/1.1' })
  files.files.set('/m.gguf', { body, etag: '"m1"' })
})
afterAll(async () => {
  await proxy.stop()
  await files.stop()
})

/** Files under `dir` whose content holds `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = []
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name)
    const stat = statSync(file, { throwIfNoEntry: false })
    if (stat?.isFile() && readFileSync(file).includes(needle)) found.push(file)
  }
  return found
}

/** The proxy's password is nowhere: not in the log (past the mask command), outputs, state, summary or files. */
function expectNoCredentials(run: MainRun, ...steps: StepResult[]): void {
  for (const step of [run, ...steps]) {
    const shown = step.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'))
    expect(shown.join('\n')).not.toContain(PASSWORD)
    expect(step.stderr).not.toContain(PASSWORD)
    expect(JSON.stringify([step.outputs, step.state, step.summary])).not.toContain(PASSWORD)
  }
  expect(run.stdout).toContain(`::add-mask::${PASSWORD}`)
  expect(filesHolding(run.dirs.root, PASSWORD)).toEqual([])
}

describe('models through the proxy', () => {
  it.each(['HTTP_PROXY', 'http_proxy'])('%s: the model through it, readiness of the local server not', async (variable) => {
    const host = outwardAddress() ?? '127.0.0.1'
    const before = proxy.log.length
    const run = await runMain({
      inputs: { model: `http://${PROXY_ONLY}:${files.port}/m.gguf`, 'model-digest': digest, 'llama-server-path': fakeServer, host },
      // NODE_USE_ENV_PROXY=1 makes Node's own clients proxy everything, loopback included: the action must not.
      env: { [variable]: proxy.url, NODE_USE_ENV_PROXY: '1' },
    })
    expect(run.errors).toEqual([])
    expect(readFileSync(run.outputs['model-path'] as string).equals(body)).toBe(true)
    const seen = proxy.log.slice(before)
    expect(seen).toEqual([
      { method: 'HEAD', target: `http://${PROXY_ONLY}:${files.port}/m.gguf`, authorized: true },
      { method: 'GET', target: `http://${PROXY_ONLY}:${files.port}/m.gguf`, authorized: true },
    ])
    // The server was ready (the step passed its readiness wait) and the proxy never saw it.
    expect(run.outputs.url).toBe(`http://${host}:${run.outputs.port}`)
    expect(seen.some((e) => e.target.includes('/health') || e.target.includes(`:${run.outputs.port}`))).toBe(false)
    expect((await fetch(`${run.outputs.url}/health`)).status).toBe(200)
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(proxy.log.slice(before)).toHaveLength(2)
    expectNoCredentials(run, post)
  })

  it('https through HTTPS_PROXY: a CONNECT tunnel to a name only the proxy resolves', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sls-tls-'))
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')]
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${PROXY_ONLY}`, '-addext', `subjectAltName=DNS:${PROXY_ONLY}`], { stdio: 'pipe' })
    const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      res.writeHead(req.url === '/m.gguf' ? 200 : 404, { 'Content-Length': String(body.length), ETag: '"t1"' })
      res.end(req.method === 'HEAD' ? undefined : body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const before = proxy.log.length
      const run = await runMain({
        inputs: { model: `https://${PROXY_ONLY}:${port}/m.gguf`, 'llama-server-path': fakeServer, start: 'false' },
        env: { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: cert },
      })
      expect(run.errors).toEqual([])
      expect(run.outputs['model-digest']).toBe(digest)
      const seen = proxy.log.slice(before)
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.every((e) => e.method === 'CONNECT' && e.target === `${PROXY_ONLY}:${port}` && e.authorized)).toBe(true)
      expectNoCredentials(run)
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('hf: the endpoint through the proxy with the token; the loopback blob host direct, without it', async () => {
    const hub = await HubServer.start()
    try {
      hub.addRepo('org/proxied', { 'm.gguf': body }, { private: true })
      hub.tokens.add('hf_proxied_token')
      const before = proxy.log.length
      const endpoint = `http://${PROXY_ONLY}:${new URL(hub.endpoint).port}`
      const run = await runMain({
        inputs: { model: 'hf:org/proxied/m.gguf', 'hf-endpoint': endpoint, 'hf-token': 'hf_proxied_token', 'llama-server-path': fakeServer, start: 'false' },
        env: { HTTP_PROXY: proxy.url },
      })
      expect(run.errors).toEqual([])
      expect(run.outputs['model-digest']).toBe(digest)
      const seen = proxy.log.slice(before)
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.every((e) => e.target.startsWith(`${endpoint}/org/proxied/resolve/`))).toBe(true)
      expect(hub.requests.filter((r) => r.host === 'hub').every((r) => r.authorization === 'Bearer hf_proxied_token')).toBe(true)
      expect(hub.blobGets()).toHaveLength(1)
      expect(hub.blobGets()[0]?.authorization).toBeUndefined()
      expectNoCredentials(run)
    } finally {
      await hub.stop()
    }
  })

  it.each([
    ['http', 'HTTP_PROXY (or http_proxy)'],
    ['https', 'HTTPS_PROXY (or https_proxy)'],
  ])('wrong proxy credentials for %s: a clear failure at once, naming the variable, never the password', async (scheme, variable) => {
    const wrong = proxy.url.replace(PASSWORD, 'not-the-password-1f3a')
    const model = `${scheme}://${PROXY_ONLY}:${files.port}/m.gguf`
    const before = proxy.log.length
    const run = await runMain({
      inputs: { model, 'llama-server-path': fakeServer, start: 'false' },
      env: { [`${scheme.toUpperCase()}_PROXY`]: wrong },
    })
    expect(run.exitCode).toBe(1)
    const bare = `http://127.0.0.1:${new URL(proxy.url).port}/`
    expect(run.errors).toEqual([`The proxy ${bare} refused to forward ${model} without other credentials (HTTP 407): the user and password in ${variable} are missing or wrong`])
    // Asked once: a refusal of the credentials is not retried.
    expect(proxy.log.slice(before)).toEqual([{ method: scheme === 'http' ? 'HEAD' : 'CONNECT', target: scheme === 'http' ? model : `${PROXY_ONLY}:${files.port}`, authorized: false }])
    expect(run.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')).not.toContain('not-the-password-1f3a')
  })
})

describe('NO_PROXY', () => {
  let outwardFiles: RawFileServer | undefined
  afterAll(async () => {
    await outwardFiles?.stop()
  })

  it.for<[string, string, (host: string) => string]>([
    ['NO_PROXY', 'the address', (host) => host],
    ['no_proxy', 'the address among others', (host) => `other.example, .internal,${host}`],
    ['NO_PROXY', 'the address and port', (host) => `${host}:${outwardFiles?.port ?? 0}`],
  ])('%s with %s: fetched directly; with other hosts only, through the proxy', async ([variable, , noProxy], ctx) => {
    const host = outwardAddress()
    if (!host) {
      console.log('SKIPPED: this machine has no non-loopback IPv4 address, and loopback is always direct')
      return ctx.skip('no non-loopback IPv4 address here')
    }
    outwardFiles ??= await RawFileServer.start({}, host)
    outwardFiles.files.set('/m.gguf', { body, etag: '"o1"' })
    const url = outwardFiles.url('/m.gguf', host)
    const before = proxy.log.length
    const direct = await runMain({ inputs: { model: url, 'llama-server-path': fakeServer, start: 'false' }, env: { HTTP_PROXY: proxy.url, [variable]: noProxy(host) } })
    expect(direct.errors).toEqual([])
    expect(direct.outputs['model-digest']).toBe(digest)
    expect(proxy.log.slice(before)).toEqual([])
    const proxied = await runMain({ inputs: { model: url, 'llama-server-path': fakeServer, start: 'false' }, env: { HTTP_PROXY: proxy.url, [variable]: 'other.example' } })
    expect(proxied.errors).toEqual([])
    expect(proxy.log.slice(before).map((e) => [e.method, e.target])).toEqual([
      ['HEAD', url],
      ['GET', url],
    ])
  })
})
