// Node's compile cache (V8's code cache, on disk) for the action's own bundle: a warm run does not parse and
// compile again the megabytes of JavaScript it compiled last time. The entry points enable it before they load the
// bundle, so this module imports nothing but Node's own and a pure check.
//
// What Node checks before it uses a cache file: the Node version, V8's cache format and the uid (in the directory's
// name), the source's size and CRC32, and the CRC32 of the cache. That catches a changed bundle, not a forged
// cache: code planted there would run. So the directory is this user's alone, made with mode 0700, and used only
// when it is a real directory, owned by this user, that no one else may read or write; else the bundle is compiled
// as before. It lives under the default cache-dir location (the `cache-dir` input is only read once the bundle is
// loaded), which persists across jobs as the model and engine stores do.
import { lstatSync, mkdirSync } from 'node:fs'
import { enableCompileCache, flushCompileCache } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { unsupportedRunner } from './supported-runner.js'

/** Where the action keeps what persists across jobs when `cache-dir` is empty. */
export function defaultCacheDir(env: NodeJS.ProcessEnv, homeDir: string): string {
  const base = env.RUNNER_TOOL_CACHE || env.XDG_CACHE_HOME || path.join(homeDir, '.cache')
  return path.join(base, 'setup-llama-server')
}

export function compileCacheDir(env: NodeJS.ProcessEnv, homeDir: string): string {
  return path.join(defaultCacheDir(env, homeDir), 'node-compile-cache')
}

/** Whether `stat` is of a directory that only `uid` may write (and read: the cache is code). */
export function isPrivateDir(stat: { isDirectory(): boolean; isSymbolicLink(): boolean; uid: number; mode: number }, uid: number): boolean {
  return stat.isDirectory() && !stat.isSymbolicLink() && stat.uid === uid && (stat.mode & 0o077) === 0
}

/** Enables the compile cache where it is safe to; an optimisation only, so any failure leaves it off. */
export function useCompileCache(env: NodeJS.ProcessEnv = process.env): void {
  const uid = process.getuid?.()
  // On a runner the action refuses, it writes nothing.
  if (uid === undefined || unsupportedRunner({ platform: process.platform, arch: process.arch, env })) return
  try {
    const dir = compileCacheDir(env, os.homedir())
    // The cache-dir itself as the stores make it; only the cache's own directory is private.
    mkdirSync(path.dirname(dir), { recursive: true })
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (isPrivateDir(lstatSync(dir), uid)) enableCompileCache(dir)
  } catch {
    // not writable, not ours: compiled from source, as without the cache
  }
}

/**
 * Once the step is done and nothing is left to run (the event loop is empty), the process ends at once: the
 * compile cache is written, and the teardown of the heap, which ending the process does anyway, is skipped (2-3 ms
 * of every step). Called after the step's top-level await has settled, so that an unsettled one still fails.
 */
export function exitWhenIdle(): void {
  process.once('beforeExit', () => {
    flushCompileCache()
    process.exit()
  })
}
