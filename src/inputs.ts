// Every input is read and validated here, once, into one typed object. Nothing else calls core.getInput.
import * as core from '@actions/core'
import { isIP } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import {
  DEFAULT_GITHUB_TOKEN,
  DEFAULT_HANDOFF_PATH,
  DEFAULT_HF_ENDPOINT,
  DEFAULT_LLAMA_CPP_REF,
  DEFAULT_LLAMA_CPP_REPO,
  DEFAULT_POOL_ID,
  DEFAULT_REMOTE_CACHE_MAX_MODEL_SIZE,
  Input,
  type InputName,
} from './constants.js'
import { defaultCacheDir } from './compile-cache.js'
import { InputError } from './errors.js'
import { hfCacheLocation, hfTokenPath, type HfCacheLocation } from './model/hf-paths.js'
import { parseModelRef, type ModelRef } from './model/ref.js'
import { proxyUrls } from './http/proxy.js'
import { RESERVED_SERVER_FLAGS } from './server/reserved.js'
import { gitRefProblem } from './util/git-ref.js'
import { readSmallFileSync } from './util/read-file.js'
import { redactValue } from './util/redact.js'
import { Invalid, parseUrl } from './util/invalid.js'

export type Backend = 'auto' | 'cpu' | 'cuda' | 'vulkan' | 'hip'
export type RemoteCache = 'none' | 'engine' | 'model' | 'all'
/** Where the engine comes from: llama.cpp's release archive for the commit when there is one (auto), always, or never. */
export type EngineSource = 'auto' | 'release' | 'build'

export interface ActionInputs {
  model: ModelRef
  modelDigest: string | undefined
  hfToken: string | undefined
  hfEndpoint: string
  llamaCppRepo: string
  llamaCppRef: string
  llamaServerPath: string | undefined
  engineSource: EngineSource
  /** `sha256:<hex>` the release archive must match (required where GitHub records no digest for it). */
  releaseDigest: string | undefined
  /** For GitHub's API only (rate limits); never sent anywhere else. */
  githubToken: string | undefined
  backend: Backend
  cudaArchitectures: string | undefined
  cmakeArgs: string[]
  buildJobs: number
  cacheDir: string
  cacheMaxSizeBytes: number | undefined
  remoteCache: RemoteCache
  remoteCacheMaxModelSizeBytes: number
  verify: 'quick' | 'full'
  start: boolean
  host: string
  port: number
  ctxSize: number | undefined
  gpuLayers: number | 'all' | undefined
  parallel: number
  serverArgs: string[]
  apiKey: string | undefined
  /** GPU indices and UUIDs, `all`, or undefined: choose (gpu/placement.ts). */
  devices: 'all' | (number | string)[] | undefined
  gpuPolicy: 'vram-only' | 'allow-offload'
  gpuWaitTimeoutSeconds: number
  healthTimeoutSeconds: number
  /** Milliseconds without an answer or a byte before a download attempt is given up. */
  networkTimeoutMs: number
  /** Connections for one large download; undefined = automatic. */
  downloadConnections: number | undefined
  /** Where hf: models live (the Hugging Face cache), or undefined with `hf-cache: false`. */
  hfCache: HfCacheLocation | undefined
  handoffPath: string
  poolId: string
}

/** Defaults that action.yml declares too (a test keeps the two equal); applied when an input is empty. */
export const INPUT_DEFAULTS: Partial<Record<InputName, string>> = {
  [Input.LlamaCppRepo]: DEFAULT_LLAMA_CPP_REPO,
  [Input.LlamaCppRef]: DEFAULT_LLAMA_CPP_REF,
  [Input.EngineSource]: 'auto',
  [Input.GithubToken]: DEFAULT_GITHUB_TOKEN,
  [Input.Backend]: 'auto',
  [Input.RemoteCache]: 'engine',
  [Input.RemoteCacheMaxModelSize]: DEFAULT_REMOTE_CACHE_MAX_MODEL_SIZE,
  [Input.Verify]: 'quick',
  [Input.Start]: 'true',
  [Input.Host]: '127.0.0.1',
  [Input.Port]: '0',
  [Input.Parallel]: '1',
  [Input.GpuPolicy]: 'vram-only',
  [Input.GpuWaitTimeout]: '300',
  [Input.HealthTimeout]: '600',
  [Input.NetworkTimeout]: '30',
  [Input.HfCache]: 'true',
  [Input.HandoffPath]: DEFAULT_HANDOFF_PATH,
  [Input.PoolId]: DEFAULT_POOL_ID,
}

const SECRET_INPUTS: ReadonlySet<InputName> = new Set([Input.HfToken, Input.ApiKey, Input.GithubToken])
/** What huggingface_hub takes the token from when it is given none. */
const HF_TOKEN_VARIABLE = 'HF_TOKEN'

/** What the parser needs from the runner's environment. */
export interface InputContext {
  env: NodeJS.ProcessEnv
  cpuCount: number
  homeDir: string
}

/**
 * Reads every declared input from the runner, masks the secrets first, and parses them. Only an hf: model uses
 * the Hub (and hf-endpoint): then, without hf-token or HF_TOKEN, the token comes from huggingface_hub's token file.
 */
export function readInputs(): ActionInputs {
  const raw = {} as Record<InputName, string>
  for (const name of Object.values(Input)) raw[name] = core.getInput(name)
  const homeDir = os.homedir()
  for (const secret of secretsIn(raw, process.env)) core.setSecret(secret)
  const inputs = parseInputs(raw, { env: process.env, cpuCount: os.availableParallelism(), homeDir })
  if (inputs.model.kind === 'hf' && inputs.hfToken === undefined) inputs.hfToken = readTokenFile(hfTokenPath(process.env, homeDir))
  return inputs
}

/** More than any token; a bigger file is not one. */
const TOKEN_FILE_MAX_BYTES = 4096

/**
 * The token `hf auth login` saved, masked before it is used; undefined when there is none (as for huggingface_hub, a
 * missing file is no error). A file that is not a token is a warning naming the file, never its content: the job
 * goes on without a token, as it would without the file. Links are followed: the runner's own environment names
 * this file, and secrets mounted by Kubernetes or Docker are links; what is read must still be a small regular file
 * (a FIFO or a device would block the step or never end).
 */
function readTokenFile(file: string): string | undefined {
  const read = readSmallFileSync(file, TOKEN_FILE_MAX_BYTES, { followLinks: true })
  if (read.kind === 'missing') return undefined
  const token = read.kind === 'text' ? read.text.trim() : ''
  const problem = read.kind === 'refused' ? read.why : !token ? 'it is empty' : !HEADER_SAFE.test(token) ? 'it does not hold a token: printable ASCII without spaces (the content is not shown)' : undefined
  if (problem) {
    core.warning(`The Hugging Face token file ${file} is not used: ${problem}; going on without a token`)
    return undefined
  }
  core.setSecret(token)
  return token
}

/**
 * Every secret the inputs and the environment hold, to mask before anything is printed: the tokens, and the
 * credentials inside URLs (user info of the model, hf-endpoint, llama-cpp-repo and proxy URLs, and a model URL's
 * query string, where signed URLs carry their signature). Pure.
 */
export function secretsIn(raw: Partial<Record<InputName, string>>, env: NodeJS.ProcessEnv): string[] {
  const secrets: string[] = []
  for (const name of SECRET_INPUTS) if (raw[name]?.trim() && raw[name].trim() !== DEFAULT_GITHUB_TOKEN) secrets.push(raw[name].trim())
  for (const token of [env.HF_TOKEN, env.GITHUB_TOKEN]) if (token?.trim()) secrets.push(token.trim())
  const urls = [raw[Input.Model], raw[Input.HfEndpoint], raw[Input.LlamaCppRepo], env.HF_ENDPOINT, ...proxyUrls(env)]
  for (const text of urls) secrets.push(...urlSecrets(text?.trim().replace(/^hf:/, '') ?? ''))
  return [...new Set(secrets)].filter((s) => s.length > 0)
}

function urlSecrets(text: string): string[] {
  const url = URL.parse(text)
  if (!url) return []
  const found: string[] = []
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  }
  if (url.password) found.push(url.password, decode(url.password))
  else if (url.username) found.push(url.username, decode(url.username))
  if (url.hash.length > 1) found.push(url.hash.slice(1))
  if (url.search.length > 1) {
    found.push(url.search.slice(1))
    // Each value long enough to be a credential; masking short ones ('1', 'main') would blank the whole log.
    for (const value of url.searchParams.values()) if (value.length >= 8) found.push(value)
  }
  return found
}


/** Pure: raw input strings in, one typed object out, or an InputError that lists every bad input. */
export function parseInputs(raw: Partial<Record<InputName, string>>, ctx: InputContext): ActionInputs {
  const values = {} as Record<InputName, string>
  for (const name of Object.values(Input)) values[name] = (raw[name] ?? '').trim() || (INPUT_DEFAULTS[name] ?? '')
  const result = schema(ctx).safeParse(values)
  if (result.success) return result.data
  // Longest first, so that a secret inside another is not left half shown.
  const secrets = secretsIn(raw, ctx.env).sort((a, b) => b.length - a.length)
  const masked = (text: string, minLength = 1) => secrets.reduce((t, secret) => (secret.length >= minLength ? t.split(secret).join('***') : t), text)
  const problems = result.error.issues.map((issue) => {
    if (issue.path[0] === HF_TOKEN_VARIABLE) return `The ${HF_TOKEN_VARIABLE} environment variable is not valid (the input '${Input.HfToken}' is empty): expected ${issue.message}.`
    const name = String(issue.path[0]) as InputName
    const given = SECRET_INPUTS.has(name) ? 'is not valid' : `is ${JSON.stringify(masked(redactValue(values[name])))}`
    // What was expected may quote a piece of the value too (the argument that keeps a quote): masked as well, but
    // not for secrets so short that they would blank ordinary words.
    return `Input '${name}' ${given}: expected ${masked(issue.message, 6)}.`
  })
  throw new InputError(problems)
}

// A field: the trimmed string goes through `parse`, which returns the typed value or throws Invalid.
function field<T>(parse: (value: string) => T) {
  return z.string().transform((value, ctx): T => {
    try {
      return parse(value)
    } catch (error) {
      if (!(error instanceof Invalid)) throw error
      ctx.addIssue({ code: 'custom', message: error.expected })
      return z.NEVER
    }
  })
}

const optional =
  <T>(parse: (value: string) => T) =>
  (value: string): T | undefined =>
    value === '' ? undefined : parse(value)

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new Invalid(`a whole number from ${min} to ${max}`)
    }
    return Number(value)
  }
}

function oneOf<const T extends string>(choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new Invalid(`one of ${choices.map((c) => `'${c}'`).join(', ')}`)
    return value as T
  }
}

// YAML 1.2 core schema booleans, as core.getBooleanInput accepts them; anything else is an error, not false.
function boolean(value: string): boolean {
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new Invalid("'true' or 'false'")
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }
/** `200G`, `512M`, `1.5T`, `200GiB`, `200GB`, or bytes; units are powers of 1024. */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value)
  const unit = SIZE_UNITS[(m?.[2] ?? '').toUpperCase()]
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : 0
  if (bytes < 1) throw new Invalid('a size of at least one byte, such as 200G, 512M or 1.5T (powers of 1024)')
  return bytes
}

/**
 * Splits `cmake-args` or `server-args` on white space and new lines. There is no shell: quotes would reach the
 * program as literal characters, so an argument that starts with a quote or splits a quoted value is refused
 * rather than silently mangled.
 */
export function splitArgs(value: string): string[] {
  const args = value.split(/\s+/).filter((a) => a !== '')
  const odd = (a: string, q: string) => (a.split(q).length - 1) % 2 === 1
  // Shell quoting: a quote that opens or closes an argument or a value, or one left open by a split.
  const quoted = args.find((a) => /^["']|["']$|=["']/.test(a) || odd(a, '"') || odd(a, "'"))
  if (quoted !== undefined) {
    throw new Invalid(`arguments separated by white space, without quotes (no shell reads them; ${quoted} would keep its quote)`)
  }
  return args
}

function serverArgs(value: string): string[] {
  const args = splitArgs(value)
  for (const arg of args) {
    const flag = arg.split('=')[0] ?? arg
    const input = RESERVED_SERVER_FLAGS[flag]
    if (input) throw new Invalid(`llama-server arguments other than ${flag}, which the '${input}' input sets`)
  }
  return args
}

/** What a token that goes into an HTTP header (Authorization: Bearer …) may hold: printable ASCII, no white space. */
const HEADER_SAFE = /^[\x21-\x7e]+$/

const TOKEN_EXPECTED = 'printable ASCII without spaces (it is sent in an HTTP Authorization header); the value is not shown because it is secret'

function headerSafe(value: string | undefined): string | undefined {
  if (value !== undefined && !HEADER_SAFE.test(value)) throw new Invalid(TOKEN_EXPECTED)
  return value
}

/**
 * github-token's value, else GITHUB_TOKEN. Outside a runner (local-action, tests) the default arrives as the
 * unevaluated expression: that is no token.
 */
function githubToken(value: string, env: NodeJS.ProcessEnv): string | undefined {
  const given = value === DEFAULT_GITHUB_TOKEN ? '' : value
  return headerSafe(given || env.GITHUB_TOKEN?.trim() || undefined)
}

function host(value: string): string {
  const hostname = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i
  if (isIP(value) === 0 && !hostname.test(value)) throw new Invalid('an IP address or a host name')
  return value
}

function gpuLayers(value: string): number | 'all' {
  if (value === 'all') return 'all'
  return integer(0, 100_000)(value)
}

function devices(value: string): 'all' | (number | string)[] {
  if (value === 'all') return 'all'
  const list = value.split(',').map((d) => d.trim())
  // nvidia-smi's UUIDs: GPU-<hex groups>, or MIG-… for a MIG instance.
  if (!list.every((d) => /^\d+$/.test(d) || /^(GPU|MIG)-[0-9a-f-]{8,}$/i.test(d)) || new Set(list).size !== list.length) {
    throw new Invalid("GPU indices or UUIDs separated by commas, each once (e.g. 0,1 or GPU-5c1e…), or 'all'")
  }
  // As nvidia-smi writes them: the prefix in capitals, the hex digits in lower case.
  return list.map((d) => (/^\d+$/.test(d) ? Number(d) : `${d.slice(0, 4).toUpperCase()}${d.slice(4).toLowerCase()}`))
}

function digest(value: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(value)) throw new Invalid('sha256:<64 lowercase hex digits>')
  return value
}

function httpUrl(value: string): string {
  const url = parseUrl(value, 'an http(s):// URL')
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Invalid('an http(s):// URL')
  if (url.username || url.password || url.search) throw new Invalid(`an http(s):// URL without credentials or a query string (give the token in '${Input.HfToken}')`)
  return url.href.replace(/\/+$/, '')
}

function gitRef(value: string): string {
  const problem = gitRefProblem(value)
  if (problem) throw new Invalid(`a tag, branch or commit that git accepts as a ref name, but ${problem}`)
  return value
}

/** A git URL (scheme://… or user@host:path) as given; a local path resolved against the workspace. */
function repo(value: string, workspace: string): string {
  if (value.startsWith('-')) throw new Invalid("a git URL or a local path, not starting with '-'")
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw new Invalid('a git URL or a local path without control characters')
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? URL.parse(value) : null
  if (url && url.password && url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Invalid('a git URL with credentials only over http(s) (they go to git as a header, never in its argv); use an ssh key for ssh')
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^[\w.-]+@[\w.-]+:/.test(value)) return value
  return path.resolve(workspace, value)
}

function poolId(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw new Invalid("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
  }
  return value
}

function cudaArchitectures(value: string): string {
  // CMAKE_CUDA_ARCHITECTURES: '86', '86-real', '75;86;89', 'native', 'all', 'all-major'.
  const list = value.split(/[;,\s]+/).filter(Boolean)
  if (list.length === 0 || !list.every((a) => /^(\d{2,3}[a-z]?(-real|-virtual)?|native|all|all-major)$/.test(a))) {
    throw new Invalid("CUDA architectures such as '89', '86-real' or '75;86;89'")
  }
  return list.join(';')
}

function schema(ctx: InputContext) {
  const workspace = ctx.env.GITHUB_WORKSPACE || process.cwd()
  const inWorkspace = (value: string) => path.resolve(workspace, value)
  return z
    .object({
      [Input.Model]: field((v) => parseModelRef(v, workspace)),
      [Input.ModelDigest]: field(optional(digest)),
      [Input.HfToken]: field((v) => headerSafe(v || undefined)),
      [Input.HfEndpoint]: field((v) => {
        try {
          return httpUrl(v || ctx.env.HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT)
        } catch (error) {
          // Empty input: the bad value is the environment's, and the message must say where it came from.
          if (v || !(error instanceof Invalid)) throw error
          throw new Invalid(`${error.expected}; it is empty, and the HF_ENDPOINT environment variable is ${JSON.stringify(redactValue(ctx.env.HF_ENDPOINT ?? ''))}`)
        }
      }),
      [Input.LlamaCppRepo]: field((v) => repo(v, workspace)),
      [Input.LlamaCppRef]: field(gitRef),
      [Input.LlamaServerPath]: field(optional(inWorkspace)),
      [Input.EngineSource]: field(oneOf(['auto', 'release', 'build'])),
      [Input.ReleaseDigest]: field(optional(digest)),
      [Input.GithubToken]: field((v) => githubToken(v, ctx.env)),
      [Input.Backend]: field(oneOf(['auto', 'cpu', 'cuda', 'vulkan', 'hip'])),
      [Input.CudaArchitectures]: field(optional(cudaArchitectures)),
      [Input.CmakeArgs]: field(splitArgs),
      [Input.BuildJobs]: field((v) => (v === '' ? ctx.cpuCount : integer(1, 1024)(v))),
      [Input.CacheDir]: field((v) => (v ? inWorkspace(v) : defaultCacheDir(ctx.env, ctx.homeDir))),
      [Input.CacheMaxSize]: field(optional(parseSize)),
      [Input.RemoteCache]: field(oneOf(['none', 'engine', 'model', 'all'])),
      [Input.RemoteCacheMaxModelSize]: field(parseSize),
      [Input.Verify]: field(oneOf(['quick', 'full'])),
      [Input.Start]: field(boolean),
      [Input.Host]: field(host),
      [Input.Port]: field(integer(0, 65535)),
      [Input.CtxSize]: field(optional(integer(1, 16_777_216))),
      [Input.GpuLayers]: field(optional(gpuLayers)),
      [Input.Parallel]: field(integer(1, 1024)),
      [Input.ServerArgs]: field(serverArgs),
      [Input.ApiKey]: field((v) => headerSafe(v || undefined)),
      [Input.Devices]: field(optional(devices)),
      [Input.GpuPolicy]: field(oneOf(['vram-only', 'allow-offload'])),
      [Input.GpuWaitTimeout]: field(integer(0, 86_400)),
      [Input.HealthTimeout]: field(integer(1, 86_400)),
      [Input.NetworkTimeout]: field(integer(1, 3_600)),
      [Input.DownloadConnections]: field(optional(integer(1, 64))),
      [Input.HfCache]: field((v) => (boolean(v) ? hfCacheLocation(ctx.env, ctx.homeDir) : undefined)),
      [Input.HandoffPath]: field(inWorkspace),
      [Input.PoolId]: field(poolId),
    })
    .transform(
      (v, issues): ActionInputs => ({
        model: v[Input.Model],
        modelDigest: v[Input.ModelDigest],
        hfToken: v[Input.HfToken] ?? envHfToken(v[Input.Model], ctx.env, issues),
        hfEndpoint: v[Input.HfEndpoint],
        llamaCppRepo: v[Input.LlamaCppRepo],
        llamaCppRef: v[Input.LlamaCppRef],
        llamaServerPath: v[Input.LlamaServerPath],
        engineSource: v[Input.EngineSource],
        releaseDigest: v[Input.ReleaseDigest],
        githubToken: v[Input.GithubToken],
        backend: v[Input.Backend],
        cudaArchitectures: v[Input.CudaArchitectures],
        cmakeArgs: v[Input.CmakeArgs],
        buildJobs: v[Input.BuildJobs],
        cacheDir: v[Input.CacheDir],
        cacheMaxSizeBytes: v[Input.CacheMaxSize],
        remoteCache: v[Input.RemoteCache],
        remoteCacheMaxModelSizeBytes: v[Input.RemoteCacheMaxModelSize],
        verify: v[Input.Verify],
        start: v[Input.Start],
        host: v[Input.Host],
        port: v[Input.Port],
        ctxSize: v[Input.CtxSize],
        gpuLayers: v[Input.GpuLayers],
        parallel: v[Input.Parallel],
        serverArgs: v[Input.ServerArgs],
        apiKey: v[Input.ApiKey],
        devices: v[Input.Devices],
        gpuPolicy: v[Input.GpuPolicy],
        gpuWaitTimeoutSeconds: v[Input.GpuWaitTimeout],
        healthTimeoutSeconds: v[Input.HealthTimeout],
        networkTimeoutMs: v[Input.NetworkTimeout] * 1000,
        downloadConnections: v[Input.DownloadConnections],
        hfCache: v[Input.HfCache],
        handoffPath: perPoolHandoffPath(v[Input.HandoffPath], v[Input.PoolId], workspace),
        poolId: v[Input.PoolId],
      }),
    )
}

/**
 * HF_TOKEN, for an hf: model that hf-token gives no token for: the Hub is the only use of a token, and a job that
 * does not use it must not fail on one. A bad one is an issue on HF_TOKEN, not on the input the user left empty.
 */
function envHfToken(model: ModelRef, env: NodeJS.ProcessEnv, issues: z.RefinementCtx): string | undefined {
  const token = env.HF_TOKEN?.trim()
  if (model.kind !== 'hf' || !token) return undefined
  if (HEADER_SAFE.test(token)) return token
  issues.addIssue({ code: 'custom', path: [HF_TOKEN_VARIABLE], message: TOKEN_EXPECTED })
  return undefined
}

/** The default handoff file is per pool, so that two pools in one job never overwrite each other. */
function perPoolHandoffPath(resolved: string, pool: string, workspace: string): string {
  if (pool === DEFAULT_POOL_ID || resolved !== path.resolve(workspace, DEFAULT_HANDOFF_PATH)) return resolved
  return resolved.replace(/\.json$/, `-${pool}.json`)
}

