// llama-cpp-ref (tag, branch or commit) → commit SHA, with git, before anything else. The ref was already checked
// against git's ref rules (and never starts with '-'), so git cannot read it as an option.
import { execFile } from 'node:child_process'
import { Input } from '../constants.js'
import { EngineError } from '../errors.js'
import { redactValue } from '../util/redact.js'
import { jobEnv } from '../util/child-env.js'
import { gitRemote } from './git-remote.js'

/** Picks the commit for `ref` from `git ls-remote` output: a peeled tag first, then a tag, a branch, any ref. */
export function commitFromLsRemote(output: string, ref: string): string | undefined {
  const refs = new Map<string, string>()
  for (const line of output.split('\n')) {
    const [sha, name] = line.trim().split(/\s+/)
    if (sha && name && /^[0-9a-f]{40}$/.test(sha)) refs.set(name, sha)
  }
  for (const name of [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`, ref, `refs/${ref}`]) {
    const sha = refs.get(name)
    if (sha) return sha
  }
  return undefined
}

/** A ref's commit, and what to fetch to get it. */
export interface ResolvedRef {
  commit: string
  fetchRef: string
}

/**
 * A tag or branch is asked of the remote on every run (a tag can move); a full SHA is used as it is. git starts
 * within this call, before its first await, so that the remote's answer is on its way while the caller goes on.
 */
export async function resolveCommit(git: string, repo: string, ref: string): Promise<ResolvedRef> {
  if (/^[0-9a-f]{40}$/.test(ref)) return { commit: ref, fetchRef: ref }
  const remote = gitRemote(repo)
  const result = await lsRemote(git, ['ls-remote', remote.url, ref, `${ref}^{}`], { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env })
  if (result.code !== 0) {
    throw new EngineError(`git ls-remote ${remote.display} failed (exit code ${result.code}); check '${Input.LlamaCppRepo}':\n${redactValue(result.tail)}`)
  }
  const commit = commitFromLsRemote(result.stdout, ref)
  if (!commit) {
    const hint = /^[0-9a-f]{4,39}$/.test(ref) ? ' (an abbreviated commit cannot be resolved on a remote: give all 40 hex digits)' : ''
    throw new EngineError(`Input '${Input.LlamaCppRef}' is '${ref}': no tag or branch of that name in ${remote.display}${hint}`)
  }
  return { commit, fetchRef: ref }
}

/** execFile, which spawns at once (util/run's @actions/exec would first look the program up, asynchronously). */
function lsRemote(git: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | string; stdout: string; tail: string }> {
  return new Promise((resolve) => {
    execFile(git, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? ((error as NodeJS.ErrnoException).code ?? 1) : 0
      resolve({ code, stdout, tail: `${stdout}\n${stderr}`.trim().split('\n').slice(-20).join('\n') })
    })
  })
}
