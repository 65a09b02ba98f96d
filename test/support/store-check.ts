// An independent audit of a cache-dir, by hashing: every entry that is on disk (models/entries/*,
// engines/entries/*) must be whole and verified, i.e. its own manifest parses, names it, and every file it lists is
// there with that size and sha256; a catalog record of an entry that is on disk must agree with the files too.
// Written from the store's documented layout, not from its code, so that a bug there cannot hide here.
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

export interface StoreAudit {
  /** What is wrong; empty when every entry is whole and verified. */
  problems: string[]
  models: string[]
  engines: string[]
  /** Debris outside the entries: work directories and temporary files (allowed; reported). */
  debris: string[]
}

function sha256Of(file: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
}

/** Names under `dir`, or [] when it does not exist (or went away meanwhile). */
function list(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** A file of an entry, checked against (size, digest); undefined when it is right. Vanished entries are skipped. */
function fileProblem(entryDir: string, rel: string, size: number | undefined, digest: string): string | undefined {
  if (path.isAbsolute(rel) || rel.split(/[/\\]/).some((p) => p === '..' || p === '')) return `${entryDir}: its manifest names ${rel}, outside the entry`
  const file = path.join(entryDir, rel)
  if (!existsSync(entryDir)) return undefined // evicted or replaced while we looked
  let stat
  try {
    stat = lstatSync(file)
  } catch {
    return existsSync(entryDir) ? `${file} is missing` : undefined
  }
  if (!stat.isFile()) return `${file} is not a regular file`
  if (size !== undefined && stat.size !== size) return `${file} is ${stat.size} bytes, its manifest says ${size}`
  const actual = sha256Of(file)
  return actual === digest ? undefined : `${file} has ${actual}, its manifest says ${digest}`
}

export function auditCacheDir(cacheDir: string): StoreAudit {
  const audit: StoreAudit = { problems: [], models: [], engines: [], debris: [] }
  auditModels(path.join(cacheDir, 'models'), audit)
  auditEngines(path.join(cacheDir, 'engines'), audit)
  for (const store of ['models', 'engines']) {
    for (const name of list(path.join(cacheDir, store, 'tmp'))) audit.debris.push(`${store}/tmp/${name}`)
    for (const name of list(path.join(cacheDir, store))) if (name.endsWith('.tmp')) audit.debris.push(`${store}/${name}`)
  }
  return audit
}

interface ModelManifest {
  digest: string
  parts: { name: string; digest: string }[]
}

function auditModels(root: string, audit: StoreAudit): void {
  const catalog = readJson(path.join(root, 'catalog.json')) as { entries?: Record<string, { parts?: { name: string; digest: string; size: number }[] }> } | undefined
  for (const name of list(path.join(root, 'entries'))) {
    const dir = path.join(root, 'entries', name)
    const manifest = readJson(path.join(dir, '.entry.json')) as ModelManifest | undefined
    if (!existsSync(dir)) continue
    if (!manifest || !Array.isArray(manifest.parts) || manifest.parts.length === 0) {
      audit.problems.push(`${dir} has no readable .entry.json`)
      continue
    }
    if (name !== `sha256-${manifest.digest.replace(/^sha256:/, '')}` || manifest.parts[0]?.digest !== manifest.digest) {
      audit.problems.push(`${dir}: its .entry.json is for ${manifest.digest}`)
    }
    for (const part of manifest.parts) {
      const problem = fileProblem(dir, part.name, undefined, part.digest)
      if (problem) audit.problems.push(problem)
    }
    for (const part of catalog?.entries?.[name]?.parts ?? []) {
      const problem = fileProblem(dir, part.name, part.size, part.digest)
      if (problem) audit.problems.push(`catalog: ${problem}`)
    }
    audit.models.push(name)
  }
}

interface EngineManifest {
  key: string
  files: { path: string; size: number; digest: string }[]
}

function auditEngines(root: string, audit: StoreAudit): void {
  for (const name of list(path.join(root, 'entries'))) {
    const dir = path.join(root, 'entries', name)
    const manifest = readJson(path.join(dir, 'engine.json')) as EngineManifest | undefined
    if (!existsSync(dir)) continue
    if (!manifest || manifest.key !== name || !Array.isArray(manifest.files) || !manifest.files.some((f) => f.path === 'bin/llama-server')) {
      audit.problems.push(`${dir} has no engine.json for ${name} listing bin/llama-server`)
      continue
    }
    for (const file of manifest.files) {
      const problem = fileProblem(dir, file.path, file.size, file.digest)
      if (problem) audit.problems.push(problem)
    }
    audit.engines.push(name)
  }
}
