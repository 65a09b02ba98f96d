// The engine store under cache-dir/engines: one entry per cache key, entries/<key>/ holding bin/llama-server
// (and any library it loads, beside it) and engine.json, its manifest. An entry appears only after it was
// verified by running --version from its final place: a relocatable engine or none.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { EngineError } from '../errors.js'
import { EntryStore, type EntryCatalog } from '../store/entry-store.js'
import { sha256File } from '../util/hash.js'
import { readSmallFile } from '../util/read-file.js'
import { childPath } from '../util/safe-path.js'
import type { KeyMaterial } from './plan.js'
import type { ReleaseMaterial } from './release/material.js'
import { RememberedOutputs } from './remembered-output.js'
import { engineVersion } from './version.js'

export interface EngineFile {
  /** Relative to the entry. */
  path: string
  size: number
  digest: string
}

/** A symbolic link inside the entry (a release archive's libllama.so → libllama.so.0, say). */
export interface EngineLink {
  /** Relative to the entry. */
  path: string
  /** Relative to the link's directory, without '..'. */
  target: string
}

export interface EngineManifest {
  key: string
  material: KeyMaterial | ReleaseMaterial
  files: EngineFile[]
  links?: EngineLink[]
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

const EngineFileSchema = z.object({ path: z.string(), size: z.number().int().nonnegative(), digest: z.string().regex(/^sha256:[0-9a-f]{64}$/) })
const EngineLinkSchema = z.object({ path: z.string(), target: z.string() })
const ManifestSchema = z.object({
  key: z.string(),
  material: z.record(z.string(), z.unknown()),
  files: z.array(EngineFileSchema).min(1),
  links: z.array(EngineLinkSchema).optional(),
  built_at: z.string(),
})
const RecordSchema = ManifestSchema.extend({ size_bytes: z.number(), version: z.string(), last_used: z.string(), state: z.enum(['Active', 'Retired']) })
const CatalogShape = z.object({ version: z.literal(1), entries: z.record(z.string(), z.unknown()) })

/** A manifest's file path inside its entry: relative, without '..', '.' or empty parts. */
function entryFile(dir: string, rel: string): string {
  const parts = rel.split('/')
  let file = dir
  for (const part of parts) file = childPath(file, part, 'An engine file path')
  return file
}

export class EngineStore extends EntryStore<EngineRecord, EngineCatalog> {
  /** What engines (and compilers) said when asked their version, kept beside the entries. */
  readonly outputs: RememberedOutputs

  constructor(cacheDir: string) {
    const empty = (): EngineCatalog => ({ version: 1, entries: {} })
    super(cacheDir, 'engines', {
      empty,
      shape: CatalogShape as unknown as z.ZodType<EngineCatalog>,
      entry: RecordSchema,
      // Entries carry their manifests: find() records each again, verified, when it is next used.
      rebuild: async () => empty(),
    })
    this.outputs = new RememberedOutputs(path.join(this.root, 'programs.json'), () => this.dir('.'))
  }

  /** The verified engine for `key`, or undefined; one that fails verification is removed with a warning. */
  async find(key: string, verify: 'quick' | 'full'): Promise<StoredEngine | undefined> {
    const dir = this.entryDir(key)
    const stat = await fs.lstat(dir).catch(() => undefined)
    if (!stat) return undefined
    const record = (await this.catalog.read()).entries[key]
    const manifest = record ?? (await readManifest(dir))
    const problem = !stat.isDirectory()
      ? 'it is not a real directory'
      : manifest?.key !== key
        ? `${MANIFEST} is missing, unreadable or for another key`
        : await verifyFiles(dir, manifest.files, verify, manifest.links)
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
    await this.lease(key)
    return { key, binary: path.join(dir, BINARY), version }
  }

  /**
   * Installs a staged entry (bin/llama-server, libraries, engine.json), checks that it runs from its final place,
   * and records it. An engine that does not run there is removed and the build fails.
   */
  async install(staged: string, manifest: EngineManifest, what = 'The built llama-server'): Promise<StoredEngine> {
    await fs.writeFile(path.join(staged, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`)
    await this.publish(staged, manifest.key)
    const binary = path.join(this.entryDir(manifest.key), BINARY)
    let version: string
    try {
      version = await engineVersion(binary, this.outputs, 'full')
    } catch (error) {
      await this.remove(manifest.key, 'it does not run from the store')
      throw new EngineError(`${what} does not run from the store, so it is not relocatable: ${(error as Error).message}`)
    }
    await this.record(manifest, version)
    await this.lease(manifest.key)
    return { key: manifest.key, binary, version }
  }

  /** Every file of entry `key` with its sha256 (the manifest's files, and the manifest itself). */
  async entryFiles(key: string): Promise<{ path: string; digest: string }[]> {
    const dir = this.entryDir(key)
    const manifest = await readManifest(dir)
    if (!manifest) return []
    return [...manifest.files.map((f) => ({ path: f.path, digest: f.digest })), { path: MANIFEST, digest: await sha256File(path.join(dir, MANIFEST)) }]
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
    const parsed = ManifestSchema.safeParse(JSON.parse((await readSmallFile(path.join(dir, MANIFEST), 2 ** 20)) ?? ''))
    return parsed.success ? (parsed.data as unknown as EngineManifest) : undefined
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

async function verifyFiles(dir: string, files: EngineFile[], verify: 'quick' | 'full', links: EngineLink[] = []): Promise<string | undefined> {
  try {
    return (await verifyFilesOrThrow(dir, files, verify)) ?? (await verifyLinks(dir, files, links))
  } catch (error) {
    return (error as Error).message
  }
}

/** Each recorded link is a link, to its recorded target, which stays inside the entry and is a recorded file or link. */
async function verifyLinks(dir: string, files: EngineFile[], links: EngineLink[]): Promise<string | undefined> {
  const recorded = new Set([...files.map((f) => f.path), ...links.map((l) => l.path)])
  for (const link of links) {
    const full = entryFile(dir, link.path)
    const stat = await fs.lstat(full).catch(() => undefined)
    if (!stat?.isSymbolicLink()) return `${link.path} is missing or not a symbolic link`
    const target = await fs.readlink(full)
    if (target !== link.target) return `${link.path} links to ${target}, recorded ${link.target}`
    const resolved = path.posix.join(path.posix.dirname(link.path), target)
    if (target.startsWith('/') || target.split('/').includes('..') || !recorded.has(resolved)) return `${link.path} links to ${target}, which is not a file of the entry`
  }
  return undefined
}

async function verifyFilesOrThrow(dir: string, files: EngineFile[], verify: 'quick' | 'full'): Promise<string | undefined> {
  if (!files.some((f) => f.path === BINARY)) return `${BINARY} is not in the manifest`
  for (const file of files) {
    const full = entryFile(dir, file.path)
    const stat = await fs.lstat(full).catch(() => undefined)
    if (!stat?.isFile()) return `${file.path} is missing or not a regular file`
    if (stat.size !== file.size) return `${file.path} is ${stat.size} bytes, recorded ${file.size}`
    if (verify === 'full') {
      const digest = await sha256File(full)
      if (digest !== file.digest) return `${file.path} has ${digest}, recorded ${file.digest}`
    }
  }
  return undefined
}
