// The real llama.cpp (the bundled v0.5.0 source) built the way its release workflow builds the Linux archives
// (.github/workflows/release.yml, job ubuntu-cpu): shared libraries, GGML_BACKEND_DL (the CPU backend is a module
// that llama-server loads from beside itself), GGML_NATIVE=OFF, RPATH $ORIGIN; then packed as that workflow packs
// it. Built once per machine (kept under node_modules/.cache, with ccache), so that only the first run pays the
// minutes. Unlike the workflow, one CPU module instead of GGML_CPU_ALL_VARIANTS' one per instruction set: the
// loading is the same, at a fraction of the build time.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LLAMA_CPP_REPO, llamaCppFile, llamaCppSource } from './llama-source.js'
import { cpuAssetName, packLikeLlamaCpp, RELEASE_RPATH_ARGS } from './release-archive.js'
import { ROOT } from './runner.js'

const DIR = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server-tests', 'llama-release')

/** The build tag the tests give v0.5.0's commit, as llama.cpp's release workflow tags every build of master. */
export const RELEASE_TAG = 'b7000'

function which(tool: string): boolean {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** build/bin of the release-shaped build of v0.5.0; built on the first call on this machine (minutes). */
export function buildLlamaCppRelease(log: (line: string) => void = () => undefined): string {
  const { commit } = llamaCppSource()
  const build = path.join(DIR, 'build')
  const bin = path.join(build, 'bin')
  const stamp = path.join(DIR, 'built-commit')
  if (existsSync(path.join(bin, 'llama-server')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === commit) return bin
  const src = path.join(DIR, 'src')
  rmSync(src, { recursive: true, force: true })
  rmSync(stamp, { force: true })
  mkdirSync(DIR, { recursive: true })
  log(`building llama.cpp ${commit.slice(0, 12)} with shared libraries in ${build} (minutes, once per machine)`)
  execFileSync('git', ['clone', '-q', '--depth', '1', '--branch', 'v0.5.0', `file://${LLAMA_CPP_REPO}`, src], { stdio: 'pipe' })
  const ccache = which('ccache') ? ['-DCMAKE_C_COMPILER_LAUNCHER=ccache', '-DCMAKE_CXX_COMPILER_LAUNCHER=ccache'] : []
  const env = { ...process.env, CCACHE_DIR: path.join(DIR, 'ccache'), CCACHE_BASEDIR: DIR, CCACHE_NOHASHDIR: 'true' }
  const configure = [
    '-S', src, '-B', build, ...(which('ninja') ? ['-G', 'Ninja'] : []),
    '-DCMAKE_BUILD_TYPE=Release', ...RELEASE_RPATH_ARGS, '-DGGML_BACKEND_DL=ON', '-DGGML_NATIVE=OFF',
    '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_USE_PREBUILT_UI=OFF', ...ccache,
  ]
  execFileSync('cmake', configure, { stdio: 'pipe', env })
  execFileSync('cmake', ['--build', build, '--target', 'llama-server', '--parallel', String(os.availableParallelism())], { stdio: 'pipe', env, maxBuffer: 1 << 28 })
  rmSync(src, { recursive: true, force: true })
  writeFileSync(stamp, commit)
  return bin
}

export interface LlamaCppRelease {
  /** A bare copy of the test repository, with RELEASE_TAG on v0.5.0's commit. */
  repo: string
  commit: string
  assetName: string
  archive: Buffer
}

/** The release-shaped build packed as `llama-<RELEASE_TAG>-bin-ubuntu-<arch>.tar.gz`, and a repository to serve. */
export function llamaCppRelease(work: string, log?: (line: string) => void): LlamaCppRelease {
  const bin = buildLlamaCppRelease(log)
  const { commit } = llamaCppSource()
  const repo = path.join(work, 'llama.cpp.git')
  execFileSync('git', ['clone', '-q', '--bare', LLAMA_CPP_REPO, repo])
  execFileSync('git', ['-C', repo, 'tag', RELEASE_TAG, commit])
  const assetName = cpuAssetName(RELEASE_TAG)
  const archive = packLikeLlamaCpp(bin, RELEASE_TAG, path.join(work, assetName), llamaCppFile('LICENSE').toString('utf8'))
  return { repo, commit, assetName, archive }
}
