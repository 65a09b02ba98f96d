// Where the Hugging Face cache and token file are, found as huggingface_hub (constants.py) and llama.cpp
// (common/hf-cache.cpp) find them. An empty variable counts as unset, as in llama.cpp. Pure.
import path from 'node:path'

type Env = Record<string, string | undefined>

function set(env: Env, name: string, homeDir: string): string | undefined {
  const value = env[name]?.trim()
  if (!value) return undefined
  // huggingface_hub expands a leading ~, as a shell would have.
  return path.resolve(value === '~' || value.startsWith('~/') ? path.join(homeDir, value.slice(1)) : value)
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function hfHome(env: Env, homeDir: string): string {
  return set(env, 'HF_HOME', homeDir) ?? path.join(set(env, 'XDG_CACHE_HOME', homeDir) ?? path.join(homeDir, '.cache'), 'huggingface')
}

/** huggingface_hub's cache: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else HF_HOME/hub. */
export function hubCacheDir(env: Env, homeDir: string): string {
  return set(env, 'HF_HUB_CACHE', homeDir) ?? set(env, 'HUGGINGFACE_HUB_CACHE', homeDir) ?? path.join(hfHome(env, homeDir), 'hub')
}

/** HF_TOKEN_PATH, else HF_HOME/token: where `hf auth login` writes the token. */
export function hfTokenPath(env: Env, homeDir: string): string {
  return set(env, 'HF_TOKEN_PATH', homeDir) ?? path.join(hfHome(env, homeDir), 'token')
}

export interface HfCacheLocation {
  /** Where hf: models are looked for first and downloaded into: llama.cpp's choice (LLAMA_CACHE first). */
  root: string
  /** huggingface_hub's cache, when LLAMA_CACHE names another directory: looked in too, never written. */
  alsoLookIn: string[]
}

/**
 * The cache the action uses: llama.cpp's (LLAMA_CACHE, then as huggingface_hub), so that `llama-server -hf`
 * finds what the action fetched; where LLAMA_CACHE points elsewhere, huggingface_hub's is searched as well.
 */
export function hfCacheLocation(env: Env, homeDir: string): HfCacheLocation {
  const hub = hubCacheDir(env, homeDir)
  const root = set(env, 'LLAMA_CACHE', homeDir) ?? hub
  return { root, alsoLookIn: root === hub ? [] : [hub] }
}
