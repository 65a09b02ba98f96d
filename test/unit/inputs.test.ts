import { describe, expect, it } from 'vitest'
import { InputError } from '../../src/errors.js'
import { parseInputs, parseSize, secretsIn, splitArgs, type InputContext } from '../../src/inputs.js'
import { Invalid } from '../../src/util/invalid.js'

const ctx: InputContext = { env: { GITHUB_WORKSPACE: '/ws', RUNNER_TOOL_CACHE: '/tc' }, cpuCount: 6, homeDir: '/home/u' }

function problems(raw: Record<string, string>, context = ctx): string[] {
  try {
    parseInputs({ model: 'm.gguf', ...raw }, context)
  } catch (error) {
    expect(error).toBeInstanceOf(InputError)
    return (error as InputError).problems
  }
  throw new Error('parseInputs accepted it')
}

describe('parseInputs with only the model', () => {
  const inputs = parseInputs({ model: 'models/m.gguf' }, ctx)
  it('applies the defaults of the interface', () => {
    expect(inputs).toMatchObject({
      model: { kind: 'file', path: '/ws/models/m.gguf' },
      modelDigest: undefined,
      hfToken: undefined,
      hfEndpoint: 'https://huggingface.co',
      llamaCppRepo: 'https://github.com/ggml-org/llama.cpp',
      llamaCppRef: 'v0.5.0',
      llamaServerPath: undefined,
      backend: 'auto',
      cmakeArgs: [],
      buildJobs: 6,
      cacheDir: '/tc/setup-llama-server',
      cacheMaxSizeBytes: undefined,
      remoteCache: 'engine',
      verify: 'quick',
      start: true,
      host: '127.0.0.1',
      port: 0,
      ctxSize: undefined,
      gpuLayers: undefined,
      parallel: 1,
      serverArgs: [],
      apiKey: undefined,
      devices: undefined,
      gpuPolicy: 'vram-only',
      gpuWaitTimeoutSeconds: 300,
      healthTimeoutSeconds: 600,
      handoffPath: '/ws/.runtime/engines/llamacpp.json',
      poolId: 'default',
    })
  })
})

describe('parseInputs reads each input into its type', () => {
  it('numbers, booleans, enums, lists and sizes', () => {
    const inputs = parseInputs(
      {
        model: 'hf:org/repo/m.gguf',
        'model-digest': `sha256:${'a'.repeat(64)}`,
        start: 'False',
        port: '8080',
        'ctx-size': '8192',
        'gpu-layers': 'all',
        parallel: '4',
        'server-args': '--flash-attn on\n  --threads 2 ',
        'cmake-args': '-DGGML_CUDA_F16=ON\n-DX=1',
        'build-jobs': '3',
        'cache-max-size': '1.5G',
        'remote-cache': 'all',
        verify: 'full',
        backend: 'cuda',
        'cuda-architectures': '86-real, 89',
        devices: '0, 2',
        'gpu-policy': 'allow-offload',
        'health-timeout': '30',
        host: '::',
      },
      ctx,
    )
    expect(inputs).toMatchObject({
      model: { kind: 'hf', owner: 'org', repo: 'repo', revision: 'main', file: 'm.gguf' },
      modelDigest: `sha256:${'a'.repeat(64)}`,
      start: false,
      port: 8080,
      ctxSize: 8192,
      gpuLayers: 'all',
      parallel: 4,
      serverArgs: ['--flash-attn', 'on', '--threads', '2'],
      cmakeArgs: ['-DGGML_CUDA_F16=ON', '-DX=1'],
      buildJobs: 3,
      cacheMaxSizeBytes: Math.floor(1.5 * 2 ** 30),
      remoteCache: 'all',
      verify: 'full',
      backend: 'cuda',
      cudaArchitectures: '86-real;89',
      devices: [0, 2],
      gpuPolicy: 'allow-offload',
      healthTimeoutSeconds: 30,
      host: '::',
    })
  })

  it('devices: all, or indices and UUIDs (written as nvidia-smi writes them)', () => {
    expect(parseInputs({ model: 'm', devices: 'all' }, ctx).devices).toBe('all')
    expect(parseInputs({ model: 'm', devices: '1, gpu-5C1E3D4F-9A2B-4C1D-8E7F-0A1B2C3D4E5F' }, ctx).devices).toEqual([1, 'GPU-5c1e3d4f-9a2b-4c1d-8e7f-0a1b2c3d4e5f'])
    expect(parseInputs({ model: 'm', 'gpu-wait-timeout': '0' }, ctx).gpuWaitTimeoutSeconds).toBe(0)
  })

  it('takes hf-token and hf-endpoint from the environment when the inputs are empty', () => {
    const inputs = parseInputs({ model: 'hf:o/r/m.gguf' }, { ...ctx, env: { ...ctx.env, HF_TOKEN: 'hf_x', HF_ENDPOINT: 'http://127.0.0.1:9/' } })
    expect(inputs.hfToken).toBe('hf_x')
    expect(inputs.hfEndpoint).toBe('http://127.0.0.1:9')
    expect(parseInputs({ model: 'hf:o/r/m.gguf', 'hf-token': 'hf_in', 'hf-endpoint': 'https://mirror.example' }, { ...ctx, env: { ...ctx.env, HF_TOKEN: 'hf_x' } })).toMatchObject({
      hfToken: 'hf_in',
      hfEndpoint: 'https://mirror.example',
    })
  })

  it('uses HF_TOKEN for hf: models only; a bad one is named as HF_TOKEN, never as the input left empty', () => {
    const env = { ...ctx.env, HF_TOKEN: 'hf_bad token' }
    // A job that does not use the Hub neither uses nor checks it.
    expect(parseInputs({ model: 'm.gguf' }, { ...ctx, env }).hfToken).toBeUndefined()
    expect(problems({ model: 'hf:o/r/m.gguf' }, { ...ctx, env })).toEqual([
      "The HF_TOKEN environment variable is not valid (the input 'hf-token' is empty): expected printable ASCII without spaces (it is sent in an HTTP Authorization header); the value is not shown because it is secret.",
    ])
    expect(parseInputs({ model: 'hf:o/r/m.gguf', 'hf-token': 'hf_good' }, { ...ctx, env }).hfToken).toBe('hf_good')
  })

  it('engine-source defaults to auto; release-digest is a sha256; github-token falls back to GITHUB_TOKEN', () => {
    expect(parseInputs({ model: 'm.gguf' }, ctx)).toMatchObject({ engineSource: 'auto', releaseDigest: undefined, githubToken: undefined })
    expect(parseInputs({ model: 'm.gguf', 'engine-source': 'release', 'release-digest': `sha256:${'a'.repeat(64)}` }, ctx)).toMatchObject({
      engineSource: 'release',
      releaseDigest: `sha256:${'a'.repeat(64)}`,
    })
    expect(problems({ 'engine-source': 'prebuilt', 'release-digest': 'abc' })).toEqual([
      `Input 'engine-source' is "prebuilt": expected one of 'auto', 'release', 'build'.`,
      `Input 'release-digest' is "abc": expected sha256:<64 lowercase hex digits>.`,
    ])
    const env = { ...ctx.env, GITHUB_TOKEN: 'ghs_env' }
    expect(parseInputs({ model: 'm.gguf', 'github-token': 'ghs_in' }, { ...ctx, env }).githubToken).toBe('ghs_in')
    expect(parseInputs({ model: 'm.gguf' }, { ...ctx, env }).githubToken).toBe('ghs_env')
    // Outside a runner, action.yml's default arrives unevaluated: it is no token.
    expect(parseInputs({ model: 'm.gguf', 'github-token': '${{ github.token }}' }, ctx).githubToken).toBeUndefined()
    expect(secretsIn({ 'github-token': '${{ github.token }}' }, env)).toEqual(['ghs_env'])
    expect(problems({ 'github-token': 'ghs with space' })).toEqual([
      "Input 'github-token' is not valid: expected printable ASCII without spaces (it is sent in an HTTP Authorization header); the value is not shown because it is secret.",
    ])
  })

  it('puts cache-dir under XDG_CACHE_HOME or ~/.cache without RUNNER_TOOL_CACHE', () => {
    expect(parseInputs({ model: 'm' }, { ...ctx, env: { XDG_CACHE_HOME: '/xdg' } }).cacheDir).toBe('/xdg/setup-llama-server')
    expect(parseInputs({ model: 'm' }, { ...ctx, env: {} }).cacheDir).toBe('/home/u/.cache/setup-llama-server')
    expect(parseInputs({ model: 'm', 'cache-dir': 'c' }, ctx).cacheDir).toBe('/ws/c')
  })

  it('resolves paths against GITHUB_WORKSPACE and keeps absolute ones', () => {
    const inputs = parseInputs({ model: 'm', 'llama-server-path': 'bin/llama-server', 'handoff-path': '/abs/h.json' }, ctx)
    expect(inputs.llamaServerPath).toBe('/ws/bin/llama-server')
    expect(inputs.handoffPath).toBe('/abs/h.json')
  })

  it('gives each pool its own default handoff file, and keeps a path the user chose', () => {
    expect(parseInputs({ model: 'm', 'pool-id': 'gpu-a' }, ctx).handoffPath).toBe('/ws/.runtime/engines/llamacpp-gpu-a.json')
    expect(parseInputs({ model: 'm', 'pool-id': 'gpu-a', 'handoff-path': 'h.json' }, ctx).handoffPath).toBe('/ws/h.json')
  })
})

describe('parseInputs names the input, the value and what it expected', () => {
  it.each([
    [{ port: '70000' }, `Input 'port' is "70000": expected a whole number from 0 to 65535.`],
    [{ port: '80a' }, `Input 'port' is "80a": expected a whole number from 0 to 65535.`],
    [{ parallel: '0' }, `Input 'parallel' is "0": expected a whole number from 1 to 1024.`],
    [{ start: 'yes' }, `Input 'start' is "yes": expected 'true' or 'false'.`],
    [{ backend: 'metal' }, `Input 'backend' is "metal": expected one of 'auto', 'cpu', 'cuda', 'vulkan', 'hip'.`],
    [{ 'model-digest': 'sha256:ABC' }, `Input 'model-digest' is "sha256:ABC": expected sha256:<64 lowercase hex digits>.`],
    [{ 'cache-max-size': '200X' }, `Input 'cache-max-size' is "200X": expected a size of at least one byte, such as 200G, 512M or 1.5T (powers of 1024).`],
    [{ 'gpu-layers': '-1' }, `Input 'gpu-layers' is "-1": expected a whole number from 0 to 100000.`],
    [{ devices: '0,0' }, `Input 'devices' is "0,0": expected GPU indices or UUIDs separated by commas, each once (e.g. 0,1 or GPU-5c1e…), or 'all'.`],
    [{ devices: 'gpu0' }, `Input 'devices' is "gpu0": expected GPU indices or UUIDs separated by commas, each once (e.g. 0,1 or GPU-5c1e…), or 'all'.`],
    [{ 'gpu-wait-timeout': '-1' }, `Input 'gpu-wait-timeout' is "-1": expected a whole number from 0 to 86400.`],
    [{ host: 'bad host' }, `Input 'host' is "bad host": expected an IP address or a host name.`],
    [{ 'llama-cpp-ref': '--upload-pack=x' }, `Input 'llama-cpp-ref' is "--upload-pack=x": expected a tag, branch or commit that git accepts as a ref name, but it starts with '-'.`],
    [{ 'hf-endpoint': 'ftp://x' }, `Input 'hf-endpoint' is "ftp://x": expected an http(s):// URL.`],
    [{ 'pool-id': 'a/b' }, `Input 'pool-id' is "a/b": expected 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`],
    [{ 'server-args': '--port 9' }, `Input 'server-args' is "--port 9": expected llama-server arguments other than --port, which the 'port' input sets.`],
    [{ 'server-args': '--api-key=s' }, `Input 'server-args' is "--api-key=s": expected llama-server arguments other than --api-key, which the 'api-key' input sets.`],
    [{ 'server-args': '-hf org/repo' }, `Input 'server-args' is "-hf org/repo": expected llama-server arguments other than -hf, which the 'model' input sets.`],
    [{ 'cmake-args': `-DX="a b"` }, `Input 'cmake-args' is "-DX=\\"a b\\"": expected arguments separated by white space, without quotes (no shell reads them; -DX="a would keep its quote).`],
    [{ model: 'hf:org' }, `Input 'model' is "hf:org": expected hf:<owner>/<repo>[@<revision>]/<path/in/repo.gguf>: owner, repo and a file path.`],
    [{ 'cuda-architectures': 'sm_89' }, `Input 'cuda-architectures' is "sm_89": expected CUDA architectures such as '89', '86-real' or '75;86;89'.`],
  ])('%j', (raw, message) => {
    expect(problems(raw)).toEqual([message])
  })

  it('lists every bad input at once', () => {
    expect(problems({ port: 'x', parallel: 'y', model: '' })).toHaveLength(3)
  })

  it('never echoes a secret input', () => {
    // Both secrets accept any non-empty text; the rule is checked through the message of a failing neighbour.
    const all = problems({ 'api-key': 'sk-secret', 'hf-token': 'hf_secret', port: 'x' }).join('\n')
    expect(all).not.toContain('sk-secret')
    expect(all).not.toContain('hf_secret')
  })

  it('fails on a missing model', () => {
    expect(() => parseInputs({}, ctx)).toThrow(/Input 'model' is "": expected a model reference/)
  })
})

describe('splitArgs', () => {
  it('splits on spaces, tabs and new lines', () => {
    expect(splitArgs(' -a  b\n\t-c=d\r\n')).toEqual(['-a', 'b', '-c=d'])
  })
  it('keeps quotes inside a value that does not start with one', () => {
    expect(splitArgs(`--json-schema={"type":"object"}`)).toEqual([`--json-schema={"type":"object"}`])
  })
  it('refuses an argument that starts with a quote', () => {
    expect(() => splitArgs(`--alias "my model"`)).toThrow(Invalid)
  })
})

describe('parseSize', () => {
  it.each([
    ['200G', 200 * 2 ** 30],
    ['512M', 512 * 2 ** 20],
    ['1.5T', 1.5 * 2 ** 40],
    ['10GiB', 10 * 2 ** 30],
    ['10gb', 10 * 2 ** 30],
    ['4096', 4096],
  ])('%s', (text, bytes) => expect(parseSize(text)).toBe(bytes))
  it.each(['0', '-1G', 'G', '1.2.3M', '5P'])('refuses %s', (text) => expect(() => parseSize(text)).toThrow(Invalid))
})
