// llama-server's command line, from the inputs. Pure, so that tests can check it exactly. The API key is never
// here: it reaches the server as LLAMA_API_KEY in its environment.

export interface ServerArgvPlan {
  modelPath: string
  host: string
  port: number
  ctxSize: number | undefined
  gpuLayers: number | 'all' | undefined
  parallel: number
  /** What the GPU placement adds: --fit off, --split-mode, --tensor-split. */
  placement: string[]
  extra: string[]
}

export function serverArgv(plan: ServerArgvPlan): string[] {
  return [
    '--model', plan.modelPath,
    '--host', plan.host,
    '--port', String(plan.port),
    ...(plan.ctxSize === undefined ? [] : ['--ctx-size', String(plan.ctxSize)]),
    ...(plan.gpuLayers === undefined ? [] : ['--n-gpu-layers', String(plan.gpuLayers)]),
    '--parallel', String(plan.parallel),
    ...plan.placement,
    ...plan.extra,
  ]
}

/** The address to reach a server from this machine: a wildcard listen address is reached over loopback. */
export function localAddress(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::') return '::1'
  return host
}

export function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}
