// The real llama.cpp source (the release node-llama-cpp bundles), made a bare repository tagged v0.5.0 by
// scripts/fetch-llama-source.mjs when `npm ci` runs.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './runner.js'

export const LLAMA_CPP_REPO = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server', 'llama.cpp.git')

export function llamaCppSource(): { repo: string; commit: string } {
  if (!existsSync(LLAMA_CPP_REPO)) throw new Error(`${LLAMA_CPP_REPO} is missing: run npm ci (its postinstall fetches it)`)
  const commit = execFileSync('git', ['-C', LLAMA_CPP_REPO, 'rev-parse', 'v0.5.0^{commit}'], { encoding: 'utf8' }).trim()
  return { repo: LLAMA_CPP_REPO, commit }
}

/** A file of the llama.cpp source at its tagged release. */
export function llamaCppFile(file: string): Buffer {
  return execFileSync('git', ['-C', LLAMA_CPP_REPO, 'show', `v0.5.0:${file}`], { maxBuffer: 1 << 28 })
}
