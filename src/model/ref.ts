import path from 'node:path'
import { gitRefProblem } from '../util/git-ref.js'
import { Invalid, parseUrl } from '../util/invalid.js'

/** The `model` input, parsed. Paths are absolute. */
export type ModelRef =
  | { kind: 'hf'; owner: string; repo: string; revision: string; file: string; split?: SplitPart }
  | { kind: 'url'; url: string; split?: SplitPart }
  | { kind: 'file'; path: string; split?: SplitPart }

/** `name-00001-of-00003.gguf`: part 1 of 3. */
export interface SplitPart {
  part: number
  total: number
}

const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/i
// The Hub's own repo-id rule (huggingface_hub validate_repo_id): word characters, '-' and '.', at most 96.
const HUB_NAME_RE = /^[\w.-]{1,96}$/

export const MODEL_REF_GRAMMAR =
  'hf:<owner>/<repo>[@<revision>]/<path/in/repo.gguf>, an http(s):// URL, file:<path> or a plain path'

export function parseSplitPart(fileName: string): SplitPart | undefined {
  const m = SPLIT_RE.exec(fileName)
  if (!m) return undefined
  return { part: Number(m[1]), total: Number(m[2]) }
}

export function parseModelRef(value: string, workspace: string): ModelRef {
  const ref = value.trim()
  if (ref === '') throw new Invalid(`a model reference: ${MODEL_REF_GRAMMAR}`)
  let parsed: ModelRef
  if (ref.startsWith('hf:')) parsed = parseHubRef(ref.slice(3))
  else if (/^https?:\/\//i.test(ref)) parsed = parseUrlRef(ref)
  else if (ref.startsWith('file:')) parsed = parseFileRef(ref, workspace)
  else if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
    throw new Invalid(`one of the supported forms (${MODEL_REF_GRAMMAR}); '${ref.split(':')[0]}:' is not one`)
  } else parsed = { kind: 'file', path: path.resolve(workspace, ref) }
  return withSplit(parsed)
}

function withSplit(ref: ModelRef): ModelRef {
  const name = ref.kind === 'hf' ? ref.file : ref.kind === 'url' ? new URL(ref.url).pathname : ref.path
  const split = parseSplitPart(name)
  if (!split) return ref
  if (split.total < 1 || split.part < 1 || split.part > split.total) {
    throw new Invalid(`a split GGUF name of the form name-0000K-of-0000N.gguf with 1 <= K <= N`)
  }
  if (split.part !== 1) {
    throw new Invalid(`the first part of a split GGUF (…-00001-of-${String(split.total).padStart(5, '0')}.gguf); every part is fetched from it`)
  }
  return { ...ref, split }
}

function parseHubRef(rest: string): ModelRef {
  const shape = 'hf:<owner>/<repo>[@<revision>]/<path/in/repo.gguf>'
  const segments = rest.split('/')
  if (segments.length < 3) throw new Invalid(`${shape}: owner, repo and a file path`)
  const [owner = '', repoAndRevision = '', ...fileSegments] = segments
  const at = repoAndRevision.indexOf('@')
  const repo = at === -1 ? repoAndRevision : repoAndRevision.slice(0, at)
  // A revision with '/' (refs/pr/1) is written percent-encoded, as the Hub's own URLs do: refs%2Fpr%2F1.
  const rawRevision = at === -1 ? 'main' : repoAndRevision.slice(at + 1)
  for (const [what, name] of [['owner', owner], ['repo', repo]] as const) {
    if (!HUB_NAME_RE.test(name) || name.includes('--') || name.includes('..') || /^[.-]|[.-]$/.test(name)) {
      throw new Invalid(`${shape} where the ${what} is 1-96 letters, digits, '_', '-' or '.', without '--' or '..' and not starting or ending with '-' or '.'`)
    }
  }
  let revision: string
  try {
    revision = decodeURIComponent(rawRevision)
  } catch {
    throw new Invalid(`${shape} with a revision that is a valid percent-encoded git ref`)
  }
  const revisionProblem = gitRefProblem(revision)
  if (revisionProblem) throw new Invalid(`${shape} with a revision that git accepts as a ref name, but ${revisionProblem}`)
  // eslint-disable-next-line no-control-regex
  if (fileSegments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || /[\x00-\x1f\x7f]/.test(s))) {
    throw new Invalid(`${shape} with a file path whose parts are not empty, '.', '..' or contain '\\' or a control character`)
  }
  const file = fileSegments.join('/')
  if (!/\.gguf$/i.test(file)) throw new Invalid(`${shape} naming a .gguf file`)
  return { kind: 'hf', owner, repo, revision, file }
}

function parseUrlRef(ref: string): ModelRef {
  const url = parseUrl(ref, 'a valid http(s):// URL')
  // Credentials in a URL end up in logs, outputs and cache keys.
  if (url.username || url.password) throw new Invalid('a URL without user name or password in it')
  return { kind: 'url', url: url.href }
}

function parseFileRef(ref: string, workspace: string): ModelRef {
  const rest = ref.slice('file:'.length)
  if (rest.startsWith('//')) {
    const url = parseUrl(ref, 'file:<path> or a file:/// URL')
    if (url.host !== '' && url.host !== 'localhost') throw new Invalid('a file: URL on this machine (file:///path)')
    try {
      return { kind: 'file', path: decodeURIComponent(url.pathname) }
    } catch {
      throw new Invalid('a file: URL whose path is valid percent-encoding')
    }
  }
  if (rest === '') throw new Invalid('file:<path> with a path')
  return { kind: 'file', path: path.resolve(workspace, rest) }
}

/** The model's id as outputs and the handoff show it. */
export function modelId(ref: ModelRef, resolvedRevision?: string): string {
  switch (ref.kind) {
    case 'hf':
      return `hf:${ref.owner}/${ref.repo}@${resolvedRevision ?? ref.revision}/${ref.file}`
    case 'url': {
      // Without its query string, where signed URLs carry their credentials, or its fragment.
      const url = new URL(ref.url)
      return `${url.origin}${url.pathname}`
    }
    case 'file':
      return `file:${ref.path}`
  }
}
