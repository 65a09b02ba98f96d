import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { EngineError } from '../errors.js'

const execFileAsync = promisify(execFile)

/**
 * Runs `llama-server --version` (llama.cpp prints `version: <n> (<commit>)` and `built with …` to stderr) and
 * returns what follows `version:`. Proves that the binary and the libraries it loads run on this machine.
 */
export async function engineVersion(binary: string): Promise<string> {
  let output: string
  try {
    const { stdout, stderr } = await execFileAsync(binary, ['--version'], { timeout: 60_000, encoding: 'utf8' })
    output = `${stdout}\n${stderr}`
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; stdout?: string; signal?: string }
    const said = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim().split('\n').slice(-10).join('\n')
    throw new EngineError(
      `${binary} --version failed (${e.signal ? `killed by ${e.signal}` : (e.code ?? e.message)})${said ? `:\n${said}` : ''}`,
    )
  }
  return parseVersion(output)
}

export function parseVersion(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean)
  const versionLine = lines.find((l) => l.startsWith('version:'))
  return (versionLine?.slice('version:'.length).trim() ?? lines[0] ?? 'unknown')
}
