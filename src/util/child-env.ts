/**
 * The job's environment for a program the action runs, without what the runner passes only to this action: its
 * inputs (which hold secrets), saved state and service tokens. Pure.
 */
export function withoutActionSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (/^(INPUT_|STATE_)/.test(name) || /^ACTIONS_(RUNTIME_TOKEN|ID_TOKEN_REQUEST_TOKEN)$/.test(name)) continue
    result[name] = value
  }
  return result
}
