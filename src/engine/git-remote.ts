// A git remote whose URL carries credentials (https://user:token@host/…, common for private forks): the
// credentials go to git through its environment as an HTTP header (GIT_CONFIG_* variables, git 2.31+), never in
// argv, where any user of the machine can read them; the URL git sees, prints and the logs show has none.
import { redactValue } from '../util/redact.js'

export interface GitRemote {
  /** The URL (or path) without credentials: for argv. */
  url: string
  /** Variables that give git the credentials, if any. */
  env: Record<string, string>
  /** For messages. */
  display: string
}

export function gitRemote(repo: string): GitRemote {
  const url = /^https?:\/\//i.test(repo) ? URL.parse(repo) : null
  if (!url || (!url.username && !url.password)) return { url: repo, env: {}, display: redactValue(repo) }
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s)
    } catch {
      return s
    }
  }
  const basic = Buffer.from(`${decode(url.username)}:${decode(url.password)}`).toString('base64')
  url.username = ''
  url.password = ''
  return {
    url: url.href,
    env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` },
    display: redactValue(url.href),
  }
}
