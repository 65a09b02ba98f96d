import net from 'node:net'

/** Asks the OS for a port that is free on `host` now (`port: 0`). */
export async function findFreePort(host: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port)
        else reject(new Error(`could not get a free port on ${host}`))
      })
    })
  })
}

/** True when nothing listens on host:port now. */
export async function portIsFree(host: string, port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)))
  })
}
