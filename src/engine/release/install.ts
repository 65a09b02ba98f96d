// A release's archives into the engine store: downloaded into a work directory of the store and checked against
// their digests and sizes, extracted into the entry's bin/ (a CUDA archive's runtime archive beside llama-server,
// from its own folder, refused where the two archives share a name), described in the manifest, then installed,
// which runs --version from the final place. Nothing is stored unless all of it holds.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { Input } from '../../constants.js'
import { EngineError } from '../../errors.js'
import { describeFiles, type EngineManifest, type EngineStore, type StoredEngine } from '../store.js'
import { downloadAsset } from './download.js'
import { releaseKey, type ReleaseFile, type ReleaseMaterial } from './material.js'
import { ArchiveError, extractTarGz, type ExtractedTree } from './tar.js'

/** The extracted engine does not run from the store (--version failed there): nothing was stored. */
export class ReleaseDoesNotRunError extends Error {
  override name = 'ReleaseDoesNotRunError'
}

/** One archive to fetch: what the material says of it, and the size the releases API gave. */
interface Fetch {
  file: ReleaseFile
  size: number
  archive: string
}

export async function installRelease(store: EngineStore, material: ReleaseMaterial, sizes: { asset: number; runtime?: number }, timeoutMs: number): Promise<StoredEngine> {
  const work = await store.newWorkDir()
  const refused = (file: ReleaseFile, why: string) =>
    new EngineError(`${file.asset} (release ${material.tag}) ${why}. Nothing was stored; set '${Input.EngineSource}: build' to build instead`)
  try {
    const started = Date.now()
    const main: Fetch = { file: material, size: sizes.asset, archive: path.join(work, 'archive.tar.gz') }
    const runtime: Fetch | undefined = material.runtime ? { file: material.runtime, size: sizes.runtime ?? 0, archive: path.join(work, 'runtime.tar.gz') } : undefined
    const fetches = runtime ? [main, runtime] : [main]
    // allSettled: when one download fails, the other ends before `finally` removes the directory it writes into.
    const settled = await Promise.allSettled(fetches.map((f) => downloadAsset({ url: f.file.url, dest: f.archive, label: f.file.asset, size: f.size, digest: f.file.digest, timeoutMs })))
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const extract = async (f: Fetch, dest: string): Promise<ExtractedTree> => {
      await fs.mkdir(dest, { recursive: true })
      const tree = await extractTarGz(f.archive, dest).catch((error: unknown) => {
        if (error instanceof ArchiveError) throw refused(f.file, `is refused: ${error.message}`)
        throw error
      })
      await fs.rm(f.archive)
      return tree
    }
    const staged = path.join(work, 'entry')
    const bin = path.join(staged, 'bin')
    const tree = await extract(main, bin)
    if (!tree.files.includes('llama-server')) throw refused(material, `has no llama-server file in its folder ${tree.top}/`)
    if (runtime) {
      const extra = await extract(runtime, path.join(work, 'runtime'))
      await moveBeside(path.join(work, 'runtime'), bin, extra, (name) => refused(runtime.file, `has ${name}, which ${material.asset} has too`))
      tree.files.push(...extra.files)
      tree.links.push(...extra.links)
    }
    const manifest: EngineManifest = {
      key: releaseKey(material.digest, material.runtime?.digest),
      material,
      files: await describeFiles(staged, tree.files.map((f) => `bin/${f}`)),
      links: tree.links.map((l) => ({ path: `bin/${l.path}`, target: l.target })),
      built_at: new Date().toISOString(),
    }
    const what = fetches.map((f) => f.file.asset).join(' and ')
    core.info(`Downloaded and extracted ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${tree.files.length} files, ${tree.links.length} symbolic links`)
    return await store.install(staged, manifest, `the llama-server of ${material.asset}`).catch((error: unknown) => {
      throw error instanceof EngineError ? new ReleaseDoesNotRunError(error.message) : error
    })
  } finally {
    await store.removeWorkDir(work)
  }
}

/** The top-level names of an extracted tree moved into `bin`, none of them over a name it has. */
async function moveBeside(from: string, bin: string, tree: ExtractedTree, clash: (name: string) => Error): Promise<void> {
  const names = new Set([...tree.files, ...tree.links.map((l) => l.path)].map((p) => p.split('/')[0] as string))
  for (const name of names) {
    if (await fs.lstat(path.join(bin, name)).then(() => true, () => false)) throw clash(name)
  }
  for (const name of names) await fs.rename(path.join(from, name), path.join(bin, name))
}
