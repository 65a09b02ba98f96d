// What a user would do without the action, as the anchors of the warm-start and post figures: start
// llama-server detached with its output in a log file and poll /health every 10 ms (as llama.cpp's own test
// harness does); stop it with SIGTERM to its process group.
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export const now = (): number => performance.timeOrigin + performance.now()

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** True when nothing listens on the port (a connection is refused). */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

/** Polls the port every `intervalMs` from now on; resolves with the time it was first found free. */
export async function whenPortFree(port: number, timeoutMs = 30_000, intervalMs = 2): Promise<number> {
  const deadline = now() + timeoutMs
  while (now() < deadline) {
    if (await portFree(port)) return now()
    await sleep(intervalMs)
  }
  throw new Error(`port ${port} was still in use after ${timeoutMs} ms`)
}

export interface HandStarted {
  child: ChildProcess
  port: number
  /** From spawn to the first 200 from /health, in seconds. */
  readySeconds: number
}

export async function startByHand(binary: string, argv: string[], port: number, logPath: string): Promise<HandStarted> {
  const log = openSync(logPath, 'a')
  const started = now()
  const child = spawn(binary, argv, { detached: true, stdio: ['ignore', log, log] })
  closeSync(log)
  let exited = false
  child.once('exit', () => (exited = true))
  for (;;) {
    if (exited) throw new Error(`llama-server exited before it was ready; see ${logPath}`)
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`)
      await response.arrayBuffer()
      if (response.status === 200) return { child, port, readySeconds: (now() - started) / 1000 }
    } catch {
      // not listening yet
    }
    if (now() - started > 60_000) throw new Error(`llama-server was not ready within 60 s; see ${logPath}`)
    await sleep(10)
  }
}

/** SIGTERM to the server's process group; seconds until its port is free. */
export async function stopByHand(server: HandStarted): Promise<number> {
  const started = now()
  process.kill(-(server.child.pid as number), 'SIGTERM')
  const free = await whenPortFree(server.port)
  if (server.child.exitCode === null && server.child.signalCode === null) await new Promise((r) => server.child.once('exit', r))
  return (free - started) / 1000
}
