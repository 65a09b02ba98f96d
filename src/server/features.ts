// What a llama-server binary can be told: its --help lists its flags (older builds lack --fit, for one, and would
// refuse to start when given it).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { jobEnv } from '../util/child-env.js'

const execFileAsync = promisify(execFile)

/** Whether `help` (llama-server --help) lists `flag`, as `-fit, --fit [on|off]` lists --fit. Pure. */
export function helpListsFlag(help: string, flag: string): boolean {
  const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`(^|[\\s,])${escaped}(?=[\\s,=]|$)`, 'm').test(help)
}

/** Which of `flags` the binary at `binary` knows (one read of its help); none when its help cannot be read. */
export async function serverKnownFlags(binary: string, flags: string[]): Promise<Set<string>> {
  try {
    const { stdout, stderr } = await execFileAsync(binary, ['--help'], { env: jobEnv(process.env), timeout: 60_000, encoding: 'utf8', maxBuffer: 16 * 2 ** 20 })
    return new Set(flags.filter((flag) => helpListsFlag(`${stdout}\n${stderr}`, flag)))
  } catch {
    return new Set()
  }
}
