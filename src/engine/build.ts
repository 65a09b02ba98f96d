// Configures and builds the llama-server target with CMake; the output streams into a collapsed log group, and a
// failure carries the last compiler lines.
import * as core from '@actions/core'
import { EngineError } from '../errors.js'
import { run } from '../util/run.js'

export async function cmakeStep(cmake: string, what: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const result = await core.group(`${what}: cmake ${args.join(' ')}`, () => run(cmake, args, { env, tailLines: 40 }))
  if (result.code !== 0) throw new EngineError(`${what} of llama.cpp failed (cmake exit code ${result.code}). Last lines:\n${result.tail}`)
}
