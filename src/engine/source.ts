// The llama.cpp source at one commit, in a work directory outside the store: only that commit, shallow where
// the remote allows it.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import { EngineError } from '../errors.js'
import { oneLine, redactValue } from '../util/redact.js'
import { jobEnv } from '../util/child-env.js'
import { run } from '../util/run.js'
import { gitRemote } from './git-remote.js'

export async function fetchSource(git: string, repo: string, commit: string, fetchRef: string, dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(dir, { recursive: true })
  const remote = gitRemote(repo)
  const env = { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env }
  const git_ = (args: string[]) => run(git, ['-C', dir, ...args], { silent: true, env })
  await git_(['init', '-q'])
  // By commit and shallow first (GitHub and local repositories allow it); else the ref, whole.
  let fetched = await git_(['fetch', '-q', '--depth', '1', '--no-tags', remote.url, commit])
  if (fetched.code !== 0) {
    core.info(`A shallow fetch of ${commit} was refused (${oneLine(redactValue(fetched.tail.split('\n').pop() ?? ''))}); fetching ${fetchRef}`)
    fetched = await git_(['fetch', '-q', '--no-tags', remote.url, fetchRef])
  }
  if (fetched.code !== 0) throw new EngineError(`git fetch ${remote.display} ${fetchRef} failed (exit code ${fetched.code}):\n${redactValue(fetched.tail)}`)
  const checkout = await git_(['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', commit])
  if (checkout.code !== 0) throw new EngineError(`${remote.display} has no commit ${commit} after fetching ${fetchRef}:\n${redactValue(checkout.tail)}`)
}
