// The readiness poll's client against real local HTTP servers: the status, a refused port, a server that never
// answers, and the headers it sends.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { localStatus, NetworkError } from '../../src/http/client.js'

const servers: http.Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve))
})

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('localStatus', () => {
  it('answers the status, whatever the body, and sends the headers it is given', async () => {
    const seen: (string | undefined)[] = []
    const url = await serve((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(req.url === '/health' ? 503 : 404).end('{"error":{"code":503,"message":"Loading model"}}')
    })
    expect(await localStatus(`${url}/health`, { headers: { Authorization: 'Bearer k' }, timeoutMs: 2_000 })).toBe(503)
    expect(await localStatus(`${url}/other`, { timeoutMs: 2_000 })).toBe(404)
    expect(seen).toEqual(['Bearer k', undefined])
  })

  it('fails with a NetworkError naming the cause when nothing listens', async () => {
    // A port that was just free: a server listened there and closed.
    const url = await serve(() => undefined)
    await new Promise((resolve) => servers.pop()?.close(resolve))
    const error = await localStatus(`${url}/health`, { timeoutMs: 2_000 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NetworkError)
    expect((error as NetworkError).code).toBe('ECONNREFUSED')
  })

  it('gives up on a server that accepts and never answers', async () => {
    const url = await serve(() => undefined)
    const error = await localStatus(`${url}/health`, { timeoutMs: 200 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NetworkError)
    expect((error as NetworkError).code).toBe('ETIMEDOUT')
  })
})
