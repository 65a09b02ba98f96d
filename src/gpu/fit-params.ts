// llama.cpp's own projection of a model's memory: `llama-fit-params --fit-print on` loads the model and a context
// without allocating them (common/fit.cpp, common_fit_print) and prints, per device, the MiB of model, context
// and compute buffers, then the host's: `CUDA0 3745 512 296` … `Host 250 0 12`. It measures what llama-server
// will allocate with the same arguments, so it is preferred to the formula wherever the engine has it (built
// beside llama-server, or found beside a given binary). Its compute buffers are on the safe side: they hold the
// logits of a whole micro-batch, where llama-server reserves one row per slot (its n_outputs_max; measured on the
// tiny test model: 63 MiB projected, 1.26 MiB allocated).
import * as core from '@actions/core'
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { jobEnv } from '../util/child-env.js'
import { PER_GPU_OVERHEAD_BYTES, type MemoryArgs, type VramEstimate } from './estimate.js'

const execFileAsync = promisify(execFile)
const MiB = 2 ** 20

export const FIT_PARAMS_BINARY = 'llama-fit-params'

export interface DeviceProjection {
  device: string
  modelMib: number
  contextMib: number
  computeMib: number
}

// common_fit_print writes, per device of the model and then for the host, `printf("%s ", name)` and three
// `printf("%zu ", MiB)` (floored) and a newline: `CUDA0 3745 512 296 ` … `Host 15 0 63 ` (the real output of a cpu
// build, which projects onto the host alone). Its log goes to stderr.
const DEVICE_LINE = /^([\w.:[\]-]{1,64}) (\d{1,9}) (\d{1,9}) (\d{1,9}) ?$/
const MOST_DEVICES = 64

/** The device lines of `--fit-print on` (the host's line is not GPU memory); anything else is skipped. */
export function parseFitPrint(stdout: string): DeviceProjection[] {
  const devices: DeviceProjection[] = []
  for (const line of stdout.split('\n')) {
    if (line.length > 128 || devices.length >= MOST_DEVICES) continue
    const m = DEVICE_LINE.exec(line)
    if (!m || m[1] === 'Host') continue
    devices.push({ device: m[1] as string, modelMib: Number(m[2]), contextMib: Number(m[3]), computeMib: Number(m[4]) })
  }
  return devices
}

export interface ProjectionInput {
  modelPath: string
  ctxSize: number | undefined
  parallel: number
  args: MemoryArgs
}

/** The projection's argv: what llama-server gets that decides memory, with every layer on the GPU. */
export function fitParamsArgv({ modelPath, ctxSize, parallel, args }: ProjectionInput): string[] {
  return [
    '--fit-print', 'on',
    '--model', modelPath,
    ...(ctxSize === undefined ? [] : ['--ctx-size', String(ctxSize)]),
    '--parallel', String(parallel),
    '--n-gpu-layers', 'all',
    '--cache-type-k', args.cacheTypeK,
    '--cache-type-v', args.cacheTypeV,
    '--flash-attn', args.flashAttention,
    '--ubatch-size', String(args.ubatch),
    '--batch-size', String(args.batch),
    ...(args.kvUnified ? ['--kv-unified'] : []),
    ...(args.kvOnHost ? ['--no-kv-offload'] : []),
  ]
}

/** llama-fit-params beside `serverBinary`, when it is there and can run. */
export function fitParamsBeside(serverBinary: string): string | undefined {
  const candidate = path.join(path.dirname(serverBinary), FIT_PARAMS_BINARY)
  try {
    accessSync(candidate, constants.X_OK)
    return candidate
  } catch {
    return undefined
  }
}

/**
 * The projection on one GPU (`deviceEnv` makes only it visible), as the parts of an estimate; `formula` gives
 * what the projection does not measure (cells, types, layers). Undefined, with a note in the log, when it fails.
 */
export async function projectWithFitParams(binary: string, input: ProjectionInput, deviceEnv: Record<string, string>, formula: VramEstimate): Promise<VramEstimate | undefined> {
  const argv = fitParamsArgv(input)
  core.info(`Projecting memory use: ${binary} ${argv.join(' ')}`)
  let stdout: string
  try {
    ;({ stdout } = await execFileAsync(binary, argv, { env: { ...jobEnv(process.env), ...deviceEnv }, timeout: 120_000, encoding: 'utf8', maxBuffer: 16 * MiB }))
  } catch (error) {
    const e = error as { code?: unknown; stderr?: string; message: string }
    const last = (e.stderr ?? '').trim().split('\n').slice(-5).join('\n')
    core.info(`${FIT_PARAMS_BINARY} gave no projection (${typeof e.code === 'number' ? `exit code ${e.code}` : e.message}); using the formula instead.${last ? `\n${last}` : ''}`)
    return undefined
  }
  const devices = parseFitPrint(stdout)
  if (devices.length === 0) {
    core.info(`${FIT_PARAMS_BINARY} projected no GPU (an engine without GPU support?); using the formula instead.`)
    return undefined
  }
  const sum = (f: (d: DeviceProjection) => number) => devices.reduce((s, d) => s + f(d), 0) * MiB
  return {
    ...formula,
    source: 'llama-fit-params',
    weightsBytes: sum((d) => d.modelMib),
    kvBytes: sum((d) => d.contextMib),
    computeBytes: Math.max(...devices.map((d) => d.computeMib)) * MiB,
    overheadBytes: PER_GPU_OVERHEAD_BYTES,
  }
}
