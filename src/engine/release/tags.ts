// The tags that point at a commit, from `git ls-remote --tags` of llama-cpp-repo: one request, whatever the number of
// tags, and no API rate limit spent. llama.cpp tags every build of master `bNNNN` (these releases carry the archives)
// and some commits also with a semver tag (whose release may carry none), so the build tags come first.
import { EngineError } from '../../errors.js'
import { jobEnv } from '../../util/child-env.js'
import { gitRefProblem } from '../../util/git-ref.js'
import { redactValue } from '../../util/redact.js'
import { run } from '../../util/run.js'
import { gitRemote } from '../git-remote.js'

/** Tag names whose commit (peeled, for annotated tags) is `commit`: bNNNN newest first, then the others by name. Pure. */
export function tagsPointingAt(lsRemote: string, commit: string): string[] {
  const direct = new Map<string, string>()
  const peeled = new Map<string, string>()
  for (const line of lsRemote.split('\n')) {
    const m = /^([0-9a-f]{40})\s+refs\/tags\/(.+)$/.exec(line.trim())
    if (!m) continue
    const [, sha, ref] = m as unknown as [string, string, string]
    if (ref.endsWith('^{}')) peeled.set(ref.slice(0, -3), sha)
    else direct.set(ref, sha)
  }
  // A name git itself would refuse (gitRefProblem) is no release tag: it is never shown or asked.
  const tags = [...direct.keys()].filter((tag) => (peeled.get(tag) ?? direct.get(tag)) === commit && gitRefProblem(tag) === undefined)
  const build = (tag: string) => (/^b(\d+)$/.exec(tag) ? Number(tag.slice(1)) : -1)
  return tags.sort((a, b) => build(b) - build(a) || a.localeCompare(b))
}

export async function tagsAt(git: string, repo: string, commit: string): Promise<string[]> {
  const remote = gitRemote(repo)
  const result = await run(git, ['ls-remote', '--tags', remote.url], { silent: true, env: { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env } })
  if (result.code !== 0) throw new EngineError(`git ls-remote --tags ${remote.display} failed (exit code ${result.code}):\n${redactValue(result.tail)}`)
  return tagsPointingAt(result.stdout, commit)
}
