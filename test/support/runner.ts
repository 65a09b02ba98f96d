// Runs the bundled dist/ entry points exactly as the GitHub runner does: inputs as INPUT_<NAME> variables (with
// the defaults of action.yml filled in, as the runner fills them), file commands in GITHUB_OUTPUT, GITHUB_STATE
// and GITHUB_STEP_SUMMARY, then the post entry point with the saved state as STATE_<name> variables. Every
// end-to-end test goes through here.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

interface ActionYml {
  inputs: Record<string, { default?: string; required?: boolean; description: string }>
  outputs: Record<string, { description: string }>
  runs: { using: string; main: string; post: string; 'post-if'?: string }
}

export function actionYml(): ActionYml {
  return parseYaml(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as ActionYml
}

/** The directories one job has: its workspace and the runner's temp and tool cache. */
export interface JobDirs {
  root: string
  workspace: string
  temp: string
  toolCache: string
}

export function newJobDirs(): JobDirs {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sls-job-'))
  const dirs = { root, workspace: path.join(root, 'workspace'), temp: path.join(root, 'temp'), toolCache: path.join(root, 'tool-cache') }
  for (const dir of [dirs.workspace, dirs.temp, dirs.toolCache]) mkdirSync(dir, { recursive: true })
  return dirs
}

export interface StepResult {
  /** The step's process id (its work directories in a store carry it). */
  pid: number | undefined
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** name → value from GITHUB_OUTPUT */
  outputs: Record<string, string>
  /** name → value from GITHUB_STATE */
  state: Record<string, string>
  summary: string
  /** The `::error::` messages the step printed (core.setFailed prints one). */
  errors: string[]
  /** When the step's process was spawned and when its pipes closed (ms since the epoch; the bench times steps). */
  spawnedAt: number
  closedAt: number
}

export interface MainOptions {
  inputs: Record<string, string>
  dirs?: JobDirs
  env?: Record<string, string>
  /**
   * Send this signal to the step once its stdout matches (`afterMs` later, if given), as the runner does when a
   * job is cancelled; `wholeJob` sends it to every process of the job (its tracking id), as when the job dies.
   */
  cancel?: { when: RegExp; signal: NodeJS.Signals; afterMs?: number; wholeJob?: boolean }
  /** Runs the entry point through this command (`nsenter …`, to run the job inside a container's namespaces). */
  launcher?: string[]
  timeoutMs?: number
  /** Sees the step's output as it comes (npm start shows a long build live). */
  onOutput?: (text: string) => void
}

export interface MainRun extends StepResult {
  dirs: JobDirs
  /** The job's RUNNER_TRACKING_ID: every process the action started carries it in its environment. */
  trackingId: string
  env: Record<string, string>
  /** Post runs through the same launcher: a job's steps share its container. */
  launcher?: string[]
}

/** The tracking ids of the jobs this test file ran, so that no process of theirs outlives its test. */
const trackingIds = new Set<string>()

/** Kills whatever the jobs run so far left running (test/support/cleanup.ts calls it after each test). */
export function killLeftovers(): void {
  for (const id of trackingIds) for (const pid of processesWithTrackingId(id)) process.kill(pid, 'SIGKILL')
  trackingIds.clear()
}

export async function runMain(options: MainOptions): Promise<MainRun> {
  const dirs = options.dirs ?? newJobDirs()
  const trackingId = `github_${randomUUID()}`
  trackingIds.add(trackingId)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.homedir(),
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: dirs.workspace,
    RUNNER_TEMP: dirs.temp,
    RUNNER_TOOL_CACHE: dirs.toolCache,
    RUNNER_OS: 'Linux',
    RUNNER_ARCH: os.arch() === 'arm64' ? 'ARM64' : 'X64',
    RUNNER_TRACKING_ID: trackingId,
    // The job's own Hugging Face home (its cache and token file), never the machine's.
    HF_HOME: path.join(dirs.root, 'hf-home'),
    ...options.env,
  }
  const declared = actionYml().inputs
  for (const [name, spec] of Object.entries(declared)) {
    if (spec.default !== undefined) env[inputVariable(name)] = spec.default
  }
  for (const [name, value] of Object.entries(options.inputs)) {
    if (!(name in declared)) throw new Error(`test gives input '${name}', which action.yml does not declare`)
    env[inputVariable(name)] = value
  }
  const result = await runStep('main', env, dirs, options)
  return { ...result, dirs, trackingId, env, launcher: options.launcher }
}

/** Runs the post entry point after `main`, with what main saved as STATE_<name>. */
export async function runPost(main: MainRun): Promise<StepResult> {
  const env = { ...main.env }
  for (const [name, value] of Object.entries(main.state)) env[`STATE_${name}`] = value
  return await runStep('post', env, main.dirs, { launcher: main.launcher })
}

/** The runner's rule: upper-case, spaces to '_', hyphens kept. */
export function inputVariable(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`
}

async function runStep(
  entry: 'main' | 'post',
  baseEnv: Record<string, string>,
  dirs: JobDirs,
  options: Pick<MainOptions, 'cancel' | 'timeoutMs' | 'onOutput' | 'launcher'>,
): Promise<StepResult> {
  const files = path.join(dirs.root, `${entry}-${randomUUID()}`)
  mkdirSync(files)
  const env = {
    ...baseEnv,
    GITHUB_OUTPUT: path.join(files, 'output'),
    GITHUB_STATE: path.join(files, 'state'),
    GITHUB_STEP_SUMMARY: path.join(files, 'summary'),
  }
  for (const file of [env.GITHUB_OUTPUT, env.GITHUB_STATE, env.GITHUB_STEP_SUMMARY]) writeFileSync(file, '')
  const script = path.join(ROOT, actionYml().runs[entry])
  const spawnedAt = performance.timeOrigin + performance.now()
  const [command = process.execPath, ...prefix] = [...(options.launcher ?? []), process.execPath]
  const child = spawn(command, [...prefix, script], { env, cwd: dirs.workspace, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let cancelled = false
  let cancelTimer: NodeJS.Timeout | undefined
  const cancel = (signal: NodeJS.Signals, wholeJob: boolean) => {
    child.kill(signal)
    // Until none is left: a process may be forking while the others are signalled.
    for (let round = 0; wholeJob && round < 20; round++) {
      const pids = processesWithTrackingId(baseEnv.RUNNER_TRACKING_ID ?? '')
      if (pids.length === 0) break
      for (const pid of pids) {
        try {
          process.kill(pid, signal)
        } catch {
          // it ended meanwhile
        }
      }
    }
  }
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    options.onOutput?.(chunk.toString())
    if (options.cancel && !cancelled && options.cancel.when.test(stdout)) {
      cancelled = true
      const { signal, afterMs, wholeJob = false } = options.cancel
      if (afterMs === undefined) cancel(signal, wholeJob)
      else cancelTimer = setTimeout(() => cancel(signal, wholeJob), afterMs)
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timeoutMs = options.timeoutMs ?? 60_000
  let closedAt = 0
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${entry} did not finish within ${timeoutMs} ms; stdout so far:\n${stdout}\nstderr:\n${stderr}`))
    }, timeoutMs)
    // 'close', not 'exit': a step is over when its pipes are closed, and a child left holding them would hang it.
    child.once('close', (c, s) => {
      closedAt = performance.timeOrigin + performance.now()
      clearTimeout(timer)
      clearTimeout(cancelTimer)
      resolve({ code: c, signal: s })
    })
  })
  return {
    pid: child.pid,
    exitCode: code,
    signal,
    stdout,
    stderr,
    outputs: parseFileCommands(readFileSync(env.GITHUB_OUTPUT, 'utf8')),
    state: parseFileCommands(readFileSync(env.GITHUB_STATE, 'utf8')),
    summary: readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8'),
    errors: [...stdout.matchAll(/^::error::(.*)$/gm)].map((m) => decodeCommandData(m[1] ?? '')),
    spawnedAt,
    closedAt,
  }
}

/** Parses `name<<DELIMITER\nvalue\nDELIMITER\n` blocks (and the older `name=value` lines) as the runner does. */
export function parseFileCommands(text: string): Record<string, string> {
  const result: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const [, name = '', delimiter] = heredoc
      const value: string[] = []
      while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i] ?? '')
      if (i >= lines.length) throw new Error(`file command ${name} has no closing delimiter`)
      result[name] = value.join('\n')
    } else if (line.includes('=')) {
      result[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return result
}

function decodeCommandData(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
}

/** Live processes (not zombies) whose environment holds this RUNNER_TRACKING_ID: the runner's own test. */
export function processesWithTrackingId(trackingId: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1')
      if (environ.split('\0').includes(`RUNNER_TRACKING_ID=${trackingId}`)) found.push(Number(entry))
    } catch {
      // gone, or not ours to read
    }
  }
  return found
}
