// Runs a program (never through a shell), streaming its output to the step's log and keeping the last lines
// for an error message.
import * as exec from '@actions/exec'

export interface RunResult {
  code: number
  stdout: string
  /** The last lines of stdout and stderr, interleaved as they came. */
  tail: string
}

export async function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; silent?: boolean; tailLines?: number } = {}): Promise<RunResult> {
  const keep = options.tailLines ?? 40
  const lines: string[] = []
  let partial = ''
  let stdout = ''
  const collect = (chunk: Buffer) => {
    const text = partial + chunk.toString()
    const parts = text.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    if (lines.length > keep * 4) lines.splice(0, lines.length - keep)
  }
  const code = await exec.exec(command, args, {
    cwd: options.cwd,
    env: options.env as Record<string, string> | undefined,
    silent: options.silent ?? false,
    ignoreReturnCode: true,
    listeners: {
      stdout: (chunk) => {
        stdout += chunk.toString()
        collect(chunk)
      },
      stderr: collect,
    },
  })
  if (partial) lines.push(partial)
  return { code, stdout, tail: lines.slice(-keep).join('\n') }
}
