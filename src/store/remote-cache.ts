// The GitHub Actions cache service as a second tier, for ephemeral runners: an entry is restored into a fixed
// staging directory (the service keys archives by their paths) and checked before the local store takes it;
// saving happens in the post step, so that it never delays the server. The service is an optimisation: where it
// is not available it is skipped with a notice, and its errors are warnings, never a failed job.
// @actions/cache (and the Azure SDK under it) is loaded only when an entry actually goes to or comes from the
// service: a warm run, which finds everything in the local store, never pays for loading it.
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { sha256File } from '../util/hash.js'
import { errorMessage } from '../errors.js'

type CacheModule = typeof import('@actions/cache')

let loading: Promise<CacheModule> | undefined
const cacheModule = (): Promise<CacheModule> => (loading ??= import('@actions/cache'))

export function remoteStagingDir(name: string): string {
  return path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', 'remote', name)
}

export function remoteCacheKey(name: string): string {
  return `setup-llama-server-${name}`
}

let available: Promise<boolean> | undefined
export function remoteCacheAvailable(): Promise<boolean> {
  available ??= (async () => {
    const cache = await cacheModule()
    // @github/local-action replaces @actions/cache with a stub that has restoreCache and saveCache only.
    const notice =
      typeof cache.isFeatureAvailable !== 'function'
        ? 'The @actions/cache in use has no isFeatureAvailable (the stub of @github/local-action); remote-cache is skipped.'
        : cache.isFeatureAvailable()
          ? undefined
          : 'The GitHub Actions cache service is not available here; remote-cache is skipped.'
    if (notice) core.notice(notice)
    return notice === undefined
  })()
  return available
}

/** Restores `name` into its staging directory; returns the directory, or undefined on a miss or an error. */
export async function restoreFromRemote(name: string): Promise<string | undefined> {
  if (!(await remoteCacheAvailable())) return undefined
  const cache = await cacheModule()
  const dir = remoteStagingDir(name)
  await fs.rm(dir, { recursive: true, force: true })
  try {
    const hit = await cache.restoreCache([dir], remoteCacheKey(name))
    if (hit) {
      core.info(`Restored ${name} from the GitHub Actions cache`)
      return dir
    }
    core.info(`${name} is not in the GitHub Actions cache`)
  } catch (error) {
    core.warning(`Could not restore ${name} from the GitHub Actions cache: ${errorMessage(error)}`)
  }
  await fs.rm(dir, { recursive: true, force: true })
  return undefined
}

/**
 * Saves the directory `source` as `name`: staged in its staging directory first, with hard links where the
 * filesystem allows (a multi-GB model is not copied) and symbolic links followed.
 */
export async function saveToRemote(name: string, source: string, expected: { path: string; digest: string }[]): Promise<void> {
  if (!(await remoteCacheAvailable())) return
  const cache = await cacheModule()
  const dir = remoteStagingDir(name)
  try {
    await fs.rm(dir, { recursive: true, force: true })
    await linkTree(source, dir)
    // What goes to the cache is what main verified, file for file: every job that restores it trusts this key.
    const problem = await stagedProblem(dir, expected)
    if (problem) {
      core.warning(`${name} is not saved to the GitHub Actions cache: ${problem} since the main step verified it`)
      return
    }
    await cache.saveCache([dir], remoteCacheKey(name))
    core.info(`Saved ${name} to the GitHub Actions cache`)
  } catch (error) {
    // Another job saved the same key first: nothing lost. Matched by name: the class may come from another bundle.
    if ((error as Error).name === 'ReserveCacheError') core.info(`${name} is already in the GitHub Actions cache`)
    else core.warning(`Could not save ${name} to the GitHub Actions cache: ${errorMessage(error)}`)
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

/** Why the staged tree is not exactly the expected files with their digests, or undefined. */
async function stagedProblem(dir: string, expected: { path: string; digest: string }[]): Promise<string | undefined> {
  if (expected.length === 0) return 'nothing was recorded to check it against'
  const found = (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory())
  const names = found.map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort()
  const wanted = expected.map((f) => f.path).sort()
  if (JSON.stringify(names) !== JSON.stringify(wanted)) return `its files are not those recorded (${names.filter((n) => !wanted.includes(n)).concat(wanted.filter((w) => !names.includes(w))).join(', ')} changed)`
  for (const file of expected) {
    if ((await sha256File(path.join(dir, file.path))) !== file.digest) return `${file.path} changed`
  }
  return undefined
}

/** A copy of the tree `source` at `target`, each file a hard link when possible, else a copy. */
async function linkTree(source: string, target: string): Promise<void> {
  await fs.mkdir(target, { recursive: true })
  for (const entry of await fs.readdir(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name)
    const to = path.join(target, entry.name)
    const real = entry.isSymbolicLink() ? await fs.realpath(from) : from
    if ((await fs.stat(real)).isDirectory()) {
      await linkTree(real, to)
      continue
    }
    try {
      await fs.link(real, to)
    } catch {
      await fs.cp(real, to, { preserveTimestamps: true })
    }
  }
}
