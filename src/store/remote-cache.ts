// The GitHub Actions cache service as a second tier, for ephemeral runners: an entry is restored into a fixed
// staging directory (the service keys archives by their paths) and checked before the local store takes it;
// saving happens in the post step, so that it never delays the server. The service is an optimisation: where it
// is not available it is skipped with a notice, and its errors are warnings, never a failed job.
import * as cache from '@actions/cache'
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { errorMessage } from '../errors.js'

export function remoteStagingDir(name: string): string {
  return path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'setup-llama-server', 'remote', name)
}

export function remoteCacheKey(name: string): string {
  return `setup-llama-server-${name}`
}

let noticed = false
export function remoteCacheAvailable(): boolean {
  if (cache.isFeatureAvailable()) return true
  if (!noticed) {
    core.notice('The GitHub Actions cache service is not available here; remote-cache is skipped.')
    noticed = true
  }
  return false
}

/** Restores `name` into its staging directory; returns the directory, or undefined on a miss or an error. */
export async function restoreFromRemote(name: string): Promise<string | undefined> {
  if (!remoteCacheAvailable()) return undefined
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

/** Saves the directory `source` as `name` (copied to its staging directory first). */
export async function saveToRemote(name: string, source: string): Promise<void> {
  if (!remoteCacheAvailable()) return
  const dir = remoteStagingDir(name)
  try {
    await fs.rm(dir, { recursive: true, force: true })
    await fs.cp(source, dir, { recursive: true, preserveTimestamps: true })
    await cache.saveCache([dir], remoteCacheKey(name))
    core.info(`Saved ${name} to the GitHub Actions cache`)
  } catch (error) {
    // Another job saved the same key first: nothing lost.
    if ((error as Error).name === cache.ReserveCacheError.name) core.info(`${name} is already in the GitHub Actions cache`)
    else core.warning(`Could not save ${name} to the GitHub Actions cache: ${errorMessage(error)}`)
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}
