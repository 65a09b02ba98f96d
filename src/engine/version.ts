import { EngineError } from '../errors.js'
import type { RememberedOutputs } from './remembered-output.js'

/**
 * What `llama-server <args>` prints (stdout and stderr), remembered with the libraries it loads until any of them
 * or the machine changes; a failure says how it ended and its last lines.
 */
export async function engineOutput(binary: string, args: string[], outputs: RememberedOutputs, verify: 'quick' | 'full'): Promise<string> {
  try {
    return await outputs.output(binary, args, { timeoutMs: 60_000, libraries: true, fresh: verify === 'full' })
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; stdout?: string; signal?: string }
    const said = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim().split('\n').slice(-10).join('\n')
    throw new EngineError(`${binary} ${args.join(' ')} failed (${e.signal ? `killed by ${e.signal}` : (e.code ?? e.message)})${said ? `:\n${said}` : ''}`)
  }
}

/**
 * `llama-server --version` (llama.cpp prints `version: <n> (<commit>)` and `built with …` to stderr): what follows
 * `version:`. Proves that the binary and the libraries it loads run on this machine.
 */
export async function engineVersion(binary: string, outputs: RememberedOutputs, verify: 'quick' | 'full'): Promise<string> {
  return parseVersion(await engineOutput(binary, ['--version'], outputs, verify))
}

export function parseVersion(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean)
  const versionLine = lines.find((l) => l.startsWith('version:'))
  return (versionLine?.slice('version:'.length).trim() ?? lines[0] ?? 'unknown')
}
