import { describe, expect, it } from 'vitest'
import { httpUrl, localAddress, serverArgv } from '../../src/server/argv.js'
import { redactKeyTail } from '../../src/server/log-tail.js'
import { serverEnv } from '../../src/server/start.js'

describe('serverArgv', () => {
  const base = { modelPath: '/m.gguf', host: '127.0.0.1', port: 8080, ctxSize: undefined, gpuLayers: undefined, parallel: 1, placement: [], extra: [] }
  it('gives model, address and slots, and nothing the user did not ask for', () => {
    expect(serverArgv(base)).toEqual(['--model', '/m.gguf', '--host', '127.0.0.1', '--port', '8080', '--parallel', '1'])
  })
  it('adds ctx-size, gpu-layers, the placement and the extra arguments in order', () => {
    expect(serverArgv({ ...base, ctxSize: 4096, gpuLayers: 'all', parallel: 4, placement: ['--fit', 'off'], extra: ['--flash-attn', 'on'] })).toEqual([
      '--model', '/m.gguf', '--host', '127.0.0.1', '--port', '8080', '--ctx-size', '4096', '--n-gpu-layers', 'all',
      '--parallel', '4', '--fit', 'off', '--flash-attn', 'on',
    ])
  })
})

describe('addresses', () => {
  it.each([
    ['127.0.0.1', 9000, 'http://127.0.0.1:9000', '127.0.0.1'],
    ['0.0.0.0', 9000, 'http://0.0.0.0:9000', '127.0.0.1'],
    ['::1', 9000, 'http://[::1]:9000', '::1'],
    ['::', 9000, 'http://[::]:9000', '::1'],
    ['localhost', 80, 'http://localhost:80', 'localhost'],
  ])('%s', (host, port, url, local) => {
    expect(httpUrl(host, port)).toBe(url)
    expect(localAddress(host)).toBe(local)
  })
})

describe('serverEnv', () => {
  it("drops the action's inputs and runner tokens, and passes the API key as LLAMA_API_KEY", () => {
    const env = serverEnv(
      { PATH: '/bin', 'INPUT_API-KEY': 'k', 'INPUT_HF-TOKEN': 't', STATE_server: '{}', ACTIONS_RUNTIME_TOKEN: 'r', RUNNER_TRACKING_ID: 'id' },
      'k',
    )
    expect(env).toEqual({ PATH: '/bin', RUNNER_TRACKING_ID: 'id', LLAMA_API_KEY: 'k' })
  })
  it('under gpu-policy vram-only on GPUs, drops the variables that would keep weights in system memory', () => {
    const job = { PATH: '/bin', LLAMA_ARG_CPU_MOE: '1', LLAMA_ARG_N_CPU_MOE: '8', LLAMA_ARG_N_CPU_FFN: '2', LLAMA_ARG_OVERRIDE_TENSOR: 'exps=CPU', LLAMA_ARG_SPEC_DRAFT_CPU_MOE: '1', LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE: '2', LLAMA_ARG_THREADS: '4' }
    expect(serverEnv(job, undefined, true)).toEqual({ PATH: '/bin', LLAMA_ARG_THREADS: '4' })
    expect(serverEnv(job, undefined, false)).toEqual(job)
  })
})

describe('redactKeyTail', () => {
  it("hides the API key's last characters that llama-server logs at verbosity 4, and nothing else", () => {
    // The line as the pinned llama.cpp writes it (tools/server/server-http.cpp: SRV_TRC("api_keys: ****%s\n", ...)).
    const log = 'srv          init: api_keys: ****x9Qz\nsrv    load_model: loading model'
    expect(redactKeyTail(log)).toBe('srv          init: api_keys: ****(redacted)\nsrv    load_model: loading model')
    expect(redactKeyTail('srv init: api_keys: 2 keys loaded')).toBe('srv init: api_keys: 2 keys loaded')
    // A key whose last four characters hold a space: nothing of them is left.
    expect(redactKeyTail('srv init: api_keys: ****d e\nnext')).toBe('srv init: api_keys: ****(redacted)\nnext')
  })
})
