// The engine store under cache-dir/engines: one entry per cache key, entries/<key>/ holding bin/llama-server
// (and any library it loads, beside it) and engine.json, its manifest. An entry appears only after it was
// verified by running --version from its final place: a relocatable engine or none.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { EngineError } from '../errors.js'
import { EntryStore, type EntryCatalog } from '../store/entry-store.js'
import { sha256File } from '../util/hash.js'
import type { KeyMaterial } from './plan.js'
import { RememberedOutputs } from './remembered-output.js'
import { engineVersion } from './version.js'

export interface EngineFile {
  /** Relative to the entry. */
  path: string
  size: number
  digest: string
}

export interface EngineManifest {
  key: string
  material: KeyMaterial
  files: EngineFile[]
  built_at: string
}

export interface EngineRecord extends EngineManifest {
  size_bytes: number
  version: string
  last_used: string
  state: 'Active' | 'Retired'
}

export type EngineCatalog = EntryCatalog<EngineRecord>

export interface StoredEngine {
  key: string
  binary: string
  version: string
}

export const MANIFEST = 'engine.json'
export const BINARY = path.join('bin', 'llama-server')

export class EngineStore extends EntryStore<EngineRecord, EngineCatalog> {
  /** What engines (and compilers) said when asked their version, kept beside the entries. */
  readonly outputs: RememberedOutputs

  constructor(cacheDir: string) {
    super(path.join(cacheDir, 'engines'), () => ({ version: 1, entries: {} }))
    this.outputs = new RememberedOutputs(path.join(this.root, 'programs.json'))
  }

  /** The verified engine for `key`, or undefined; one that fails verification is removed with a warning. */
  async find(key: string, verify: 'quick' | 'full'): Promise<StoredEngine | undefined> {
    const dir = this.entryDir(key)
    if (!(await fs.stat(dir).then(() => true, () => false))) return undefined
    const record = (await this.catalog.read()).entries[key]
    const manifest = record ?? (await readManifest(dir))
    const problem = manifest ? await verifyFiles(dir, manifest.files, verify) : `${MANIFEST} is missing or unreadable`
    let version: string | undefined
    if (!problem) {
      try {
        version = await engineVersion(path.join(dir, BINARY), this.outputs, verify)
      } catch (error) {
        core.warning(`The cached engine ${key} does not run here (${(error as Error).message}); building it again.`)
      }
    } else {
      core.warning(`The cached engine ${key} failed verification (${problem}); building it again.`)
    }
    if (!manifest || problem || version === undefined) {
      await this.remove(key, problem ?? 'it does not run')
      return undefined
    }
    if (!record) await this.record(manifest, version)
    else await this.touch(key)
    return { key, binary: path.join(dir, BINARY), version }
  }

  /**
   * Installs a staged entry (bin/llama-server, libraries, engine.json), checks that it runs from its final place,
   * and records it. An engine that does not run there is removed and the build fails.
   */
  async install(staged: string, manifest: EngineManifest): Promise<StoredEngine> {
    await fs.writeFile(path.join(staged, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`)
    await this.publish(staged, manifest.key)
    const binary = path.join(this.entryDir(manifest.key), BINARY)
    let version: string
    try {
      version = await engineVersion(binary, this.outputs, 'full')
    } catch (error) {
      await this.remove(manifest.key, 'it does not run from the store')
      throw new EngineError(`The built llama-server does not run from the store, so it is not relocatable: ${(error as Error).message}`)
    }
    await this.record(manifest, version)
    return { key: manifest.key, binary, version }
  }

  private async record(manifest: EngineManifest, version: string): Promise<void> {
    const now = new Date().toISOString()
    await this.catalog.update((c) => {
      c.entries[manifest.key] = { ...manifest, size_bytes: manifest.files.reduce((s, f) => s + f.size, 0), version, last_used: now, state: 'Active' }
    })
  }
}

export async function readManifest(dir: string): Promise<EngineManifest | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, MANIFEST), 'utf8')) as EngineManifest
  } catch {
    return undefined
  }
}

/** The manifest's files, listed with their sizes and digests. */
export async function describeFiles(dir: string, relative: string[]): Promise<EngineFile[]> {
  return await Promise.all(
    relative.map(async (rel) => ({ path: rel, size: (await fs.stat(path.join(dir, rel))).size, digest: await sha256File(path.join(dir, rel)) })),
  )
}

async function verifyFiles(dir: string, files: EngineFile[], verify: 'quick' | 'full'): Promise<string | undefined> {
  if (!files.some((f) => f.path === BINARY)) return `${BINARY} is not in the manifest`
  for (const file of files) {
    const stat = await fs.stat(path.join(dir, file.path)).catch(() => undefined)
    if (!stat) return `${file.path} is missing`
    if (stat.size !== file.size) return `${file.path} is ${stat.size} bytes, recorded ${file.size}`
    if (verify === 'full') {
      const digest = await sha256File(path.join(dir, file.path))
      if (digest !== file.digest) return `${file.path} has ${digest}, recorded ${file.digest}`
    }
  }
  return undefined
}
