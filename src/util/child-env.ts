// The environment a program the action starts may see: the job's, without what the runner passes to this action
// alone (its inputs, which hold secrets, its saved state, and its service tokens). Pure.

export function jobEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(env)) {
    if (/^(INPUT_|STATE_)/.test(name) || /^ACTIONS_(RUNTIME_TOKEN|ID_TOKEN_REQUEST_TOKEN|RESULTS_URL|CACHE_URL|RUNTIME_URL)$/.test(name)) continue
    result[name] = value
  }
  return result
}
