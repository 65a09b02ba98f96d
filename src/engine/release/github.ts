// Which GitHub API serves the releases of llama-cpp-repo. The runner names its server and API (GITHUB_SERVER_URL,
// GITHUB_API_URL: github.com, a GHES instance, a mirror, a test double); a repository on that server is asked there,
// one on github.com is asked at api.github.com, any other has no GitHub releases. The job's token belongs to the
// runner's server: it goes to that server's API and to nothing else. Pure.
import { Input } from '../../constants.js'
import type { Credential } from '../../http/request.js'

export const GITHUB_COM = 'https://github.com'
export const GITHUB_COM_API = 'https://api.github.com'

export interface ReleaseHost {
  /** API base URL, without a trailing '/'. */
  api: string
  owner: string
  repo: string
  credential: Credential | undefined
}

export interface GithubEnv {
  GITHUB_SERVER_URL?: string
  GITHUB_API_URL?: string
}

/** host (with port) and owner/repo of a git URL: https://host/owner/repo(.git), ssh://git@host/…, git@host:owner/repo. */
export function repoOnHost(repo: string): { host: string; owner: string; repo: string } | undefined {
  const scp = /^[\w.-]+@([\w.-]+):(.*)$/.exec(repo)
  const url = scp ? undefined : URL.parse(repo)
  if (!scp && (!url || !/^(https?|ssh|git):$/.test(url.protocol))) return undefined
  const host = scp ? (scp[1] as string) : (url as URL).host
  const parts = (scp ? (scp[2] as string) : (url as URL).pathname).replace(/\.git\/*$|\/+$/g, '').split('/').filter(Boolean)
  if (parts.length !== 2 || !parts.every((p) => /^[\w.-]+$/.test(p) && p !== '.' && p !== '..')) return undefined
  return { host: host.toLowerCase(), owner: parts[0] as string, repo: parts[1] as string }
}

function baseUrl(value: string | undefined, fallback: string): URL {
  const url = value ? URL.parse(value.trim()) : null
  return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url : new URL(fallback)
}

/** Where to ask for the releases of `repo`, or why there is nowhere to ask. */
export function releaseHost(repo: string, env: GithubEnv, token: string | undefined): { host: ReleaseHost } | { reason: string } {
  const server = baseUrl(env.GITHUB_SERVER_URL, GITHUB_COM)
  const onGithubCom = server.host === 'github.com'
  const api = baseUrl(env.GITHUB_API_URL, onGithubCom ? GITHUB_COM_API : `${server.origin}/api/v3`).href.replace(/\/+$/, '')
  const where = repoOnHost(repo)
  if (!where) return { reason: `'${Input.LlamaCppRepo}' is not a GitHub repository URL (https://<server>/<owner>/<repo>), so it has no GitHub releases` }
  const sameHost = where.host === server.host.toLowerCase() || (!/^https?:/.test(repo) && where.host === server.hostname.toLowerCase())
  if (sameHost) {
    const credential = token ? { origin: new URL(api).origin, token } : undefined
    return { host: { api, owner: where.owner, repo: where.repo, credential } }
  }
  if (where.host === 'github.com') return { host: { api: GITHUB_COM_API, owner: where.owner, repo: where.repo, credential: undefined } }
  return { reason: `'${Input.LlamaCppRepo}' is on ${where.host}, which is neither this runner's GitHub (${server.host}) nor github.com, so it has no GitHub releases` }
}
