// The engine provisioner through the runner harness. The build recipe runs for real (git fetch at a commit,
// CMake, the llama-server target, install into the store); the source is the engine TEST DOUBLE's, so that each
// build takes seconds. test/e2e/llama-cpp.test.ts builds the real llama.cpp.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ENGINE_RECIPE_VERSION } from '../../src/engine/plan.js'
import { CacheServiceDouble } from '../support/cache-service.js'
import { fakeEngineRepo, GIT_ENV } from '../support/engine-fixture.js'
import { writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { newJobDirs, runMain, runPost, type JobDirs, type MainRun } from '../support/runner.js'

let source: { repo: string; commit: string }
let cacheService: CacheServiceDouble

beforeAll(async () => {
  source = fakeEngineRepo(newJobDirs().root)
  cacheService = await CacheServiceDouble.start()
})
afterAll(async () => {
  await cacheService.stop()
})
afterEach(() => {
  cacheService.failing = false
})

function jobDirs(): JobDirs {
  const dirs = newJobDirs()
  mkdirSync(path.join(dirs.workspace, 'models'))
  writeHeaderOnlyModel(path.join(dirs.workspace, 'models', 'tiny.gguf'))
  return dirs
}

async function provision(dirs: JobDirs, inputs: Record<string, string> = {}, env: Record<string, string> = {}): Promise<MainRun> {
  const run = await runMain({
    dirs,
    inputs: { model: 'models/tiny.gguf', 'llama-cpp-repo': source.repo, 'llama-cpp-ref': 'v1.0', backend: 'cpu', start: 'false', 'remote-cache': 'none', ...inputs },
    env,
  })
  return run
}

const built = (run: MainRun) => /Built llama-server in \d+ s/.test(run.stdout)

describe('building from source', () => {
  it('resolves the ref to a commit, builds once, installs a relocatable engine, and reuses it', async () => {
    const dirs = jobDirs()
    const first = await provision(dirs)
    expect(first.errors).toEqual([])
    expect(first.outputs['engine-commit']).toBe(source.commit)
    expect(first.outputs['engine-cache-hit']).toBe('false')
    expect(first.outputs['engine-version']).toBe('0 (fixture)')
    const enginePath = first.outputs['engine-path'] as string
    expect(enginePath).toMatch(new RegExp(`^${dirs.toolCache}/setup-llama-server/engines/entries/llama-server-cpu-${source.commit.slice(0, 12)}-[0-9a-f]{16}/bin/llama-server$`))
    expect(first.stdout).toContain(`llama.cpp v1.0 is commit ${source.commit}`)
    expect(first.stdout).toMatch(new RegExp(`Engine cache key: llama-server-cpu-\\w+-\\w+\\n\\s+from \\{"recipe":${ENGINE_RECIPE_VERSION},"repo":".*fake-llama\\.cpp","commit":"\\w{40}","backend":"cpu"`))
    // The build log is in collapsed groups, with the exact CMake command.
    expect(first.stdout).toMatch(/::group::Configure: cmake -S .* -B .* -G (Ninja|Unix Makefiles) -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF/)
    expect(first.stdout).toMatch(/::group::Build: cmake --build .* --target llama-server --parallel \d+/)
    expect(built(first)).toBe(true)
    // The work tree is gone; the engine runs without it.
    const version = spawnSync(enginePath, ['--version'], { encoding: 'utf8' })
    expect([version.status, version.stderr.split('\n')[0]]).toEqual([0, 'version: 0 (fixture)'])

    const second = await provision(dirs)
    expect(second.outputs['engine-cache-hit']).toBe('true')
    expect(second.outputs['engine-path']).toBe(enginePath)
    expect(built(second)).toBe(false)
  })

  it('a cache-dir moved elsewhere still serves its engine, and the server starts from there', async () => {
    const dirs = jobDirs()
    const cacheDir = path.join(dirs.root, 'cache-a')
    expect((await provision(dirs, { 'cache-dir': cacheDir })).errors).toEqual([])
    const moved = path.join(dirs.root, 'elsewhere', 'cache-b')
    mkdirSync(path.dirname(moved))
    renameSync(cacheDir, moved)
    const run = await provision(dirs, { 'cache-dir': moved, start: 'true' })
    expect(run.errors).toEqual([])
    expect(run.outputs['engine-cache-hit']).toBe('true')
    expect(run.outputs['engine-path']?.startsWith(moved)).toBe(true)
    expect((await fetch(`${run.outputs.url}/health`)).status).toBe(200)
    await runPost(run)
  })

  it('two jobs wanting the same engine at once build it once', async () => {
    const dirs = jobDirs()
    const [a, b] = await Promise.all([provision(dirs), provision(dirs)])
    expect(a?.errors).toEqual([])
    expect(b?.errors).toEqual([])
    expect([built(a!), built(b!)].filter(Boolean)).toHaveLength(1)
    expect(a?.outputs['engine-path']).toBe(b?.outputs['engine-path'])
  })

  it('other cmake-args make another engine; the same ones in another order do not', async () => {
    const dirs = jobDirs()
    const one = await provision(dirs, { 'cmake-args': '-DFOO=1 -DBAR=2' })
    const same = await provision(dirs, { 'cmake-args': '-DBAR=2\n-DFOO=1' })
    const other = await provision(dirs, { 'cmake-args': '-DFOO=3 -DBAR=2' })
    expect(same.outputs['engine-path']).toBe(one.outputs['engine-path'])
    expect(same.outputs['engine-cache-hit']).toBe('true')
    expect(other.outputs['engine-path']).not.toBe(one.outputs['engine-path'])
    expect(other.outputs['engine-cache-hit']).toBe('false')
  })

  it('a branch and a full commit SHA resolve too', async () => {
    const dirs = jobDirs()
    const branch = execFileSync('git', ['-C', source.repo, 'rev-parse', '--abbrev-ref', 'HEAD'], { encoding: 'utf8' }).trim()
    const byBranch = await provision(dirs, { 'llama-cpp-ref': branch })
    const bySha = await provision(dirs, { 'llama-cpp-ref': source.commit })
    expect(byBranch.outputs['engine-commit']).toBe(source.commit)
    expect(bySha.outputs['engine-commit']).toBe(source.commit)
    expect(bySha.outputs['engine-cache-hit']).toBe('true')
  })

  it('a tag that moved is followed: git ls-remote asks on every run, and the new commit is built', async () => {
    const dirs = jobDirs()
    const moving = fakeEngineRepo(path.join(dirs.root, 'moving'))
    const first = await provision(dirs, { 'llama-cpp-repo': moving.repo })
    expect(first.outputs['engine-commit']).toBe(moving.commit)
    const git = (...args: string[]) => execFileSync('git', ['-C', moving.repo, ...args], { encoding: 'utf8', env: GIT_ENV }).trim()
    git('commit', '-q', '--allow-empty', '-m', 'a fix, released under the same tag')
    git('tag', '-f', 'v1.0')
    const moved = await provision(dirs, { 'llama-cpp-repo': moving.repo })
    expect(moved.errors).toEqual([])
    expect(moved.outputs['engine-commit']).toBe(git('rev-parse', 'HEAD'))
    expect(moved.outputs['engine-cache-hit']).toBe('false')
  })

  it('asks the compilers their version once, and again when one changed at the same path: the key follows it', async () => {
    const dirs = jobDirs()
    // A `cc` first on PATH that counts how often it is asked its version and hands compiling to the real one.
    const bin = path.join(dirs.root, 'compilers')
    mkdirSync(bin)
    const asked = path.join(dirs.root, 'asked')
    writeFileSync(asked, '')
    const compiler = (version: string) => {
      writeFileSync(path.join(bin, 'cc'), `#!/bin/sh\nif [ "$1" = --version ]; then printf x >> ${asked}; echo "cc (wrapper) ${version}"; exit 0; fi\nexec gcc "$@"\n`)
      chmodSync(path.join(bin, 'cc'), 0o755)
    }
    compiler('1.0')
    const env = { PATH: `${bin}:${process.env.PATH}` }
    const key = (run: MainRun) => /Engine cache key: (\S+)/.exec(run.stdout)?.[1]
    const first = await provision(dirs, {}, env)
    expect(first.errors).toEqual([])
    expect(first.stdout).toContain('"cc":"cc (wrapper) 1.0"')
    const warm = await provision(dirs, {}, env)
    expect([key(warm), warm.outputs['engine-cache-hit'], readFileSync(asked, 'utf8').length]).toEqual([key(first), 'true', 1])
    compiler('2.0')
    const changed = await provision(dirs, {}, env)
    expect(changed.stdout).toContain('"cc":"cc (wrapper) 2.0"')
    expect(key(changed)).not.toBe(key(first))
    expect(changed.outputs['engine-cache-hit']).toBe('false')
    expect(readFileSync(asked, 'utf8').length).toBe(2)
  })

  it('an unknown ref fails naming the input, before any build', async () => {
    const run = await provision(jobDirs(), { 'llama-cpp-ref': 'v9.9' })
    expect(run.errors).toEqual([`Input 'llama-cpp-ref' is 'v9.9': no tag or branch of that name in ${source.repo}`])
    const short = await provision(jobDirs(), { 'llama-cpp-ref': source.commit.slice(0, 10) })
    expect(short.errors[0]).toMatch(/an abbreviated commit cannot be resolved on a remote: give all 40 hex digits/)
  })

  it('a build that fails shows the last compiler lines and installs nothing', async () => {
    const dirs = jobDirs()
    const broken = fakeEngineRepo(path.join(dirs.root, 'broken'))
    writeFileSync(path.join(broken.repo, 'fake_llama_server.c'), 'int main(void) { return syntax error; }\n')
    execFileSync('git', ['commit', '-q', '-am', 'broken'], { cwd: broken.repo, env: GIT_ENV })
    const run = await provision(dirs, { 'llama-cpp-repo': broken.repo, 'llama-cpp-ref': 'HEAD' })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/^Build of llama\.cpp failed \(cmake exit code \d+\)\. Last lines:\n(.|\n)*error: (.|\n)*syntax/)
    expect(existsSync(path.join(dirs.toolCache, 'setup-llama-server', 'engines', 'entries'))).toBe(false)
  })

  it('backend cuda on a machine without what CUDA needs fails before CMake, saying what is missing', async () => {
    const run = await provision(jobDirs(), { backend: 'cuda' })
    expect(run.exitCode).toBe(1)
    // This machine may have nvcc without cuBLAS (a real case), or no CUDA toolkit at all.
    const hasNvcc = existsSync('/usr/local/cuda/bin/nvcc')
    expect(run.errors[0]).toMatch(
      hasNvcc ? /needs a tool that is missing:\n- cuBLAS \(cublas_v2\.h\): the CUDA backend links CUDA::cublas/ : /- nvcc: compiles the CUDA kernels/,
    )
    expect(run.stdout).not.toContain('::group::Configure')
  })
})

describe('the GitHub Actions cache service (a test double of it)', () => {
  it('post saves a built engine; a job on a fresh runner restores it instead of building', async () => {
    const builder = jobDirs()
    const first = await provision(builder, { 'remote-cache': 'engine' }, cacheService.env())
    expect(first.errors).toEqual([])
    expect(built(first)).toBe(true)
    const post = await runPost(first)
    expect(post.errors).toEqual([])
    expect(post.stdout).toMatch(/Saved llama-server-cpu-\w+-\w+ to the GitHub Actions cache/)
    expect(cacheService.committedKeys()).toContain(`setup-llama-server-${path.basename(path.dirname(path.dirname(first.outputs['engine-path'] as string)))}`)

    // A fresh runner: nothing cached locally, but the same paths, as ephemeral runners have (the service keys
    // archives by their paths, relative to the workspace).
    for (const dir of [builder.temp, builder.toolCache]) {
      rmSync(dir, { recursive: true, force: true })
      mkdirSync(dir)
    }
    const fresh = builder
    const restored = await provision(fresh, { 'remote-cache': 'engine', start: 'true' }, cacheService.env())
    expect(restored.errors).toEqual([])
    expect(built(restored)).toBe(false)
    expect(restored.outputs['engine-cache-hit']).toBe('true')
    expect(restored.outputs['engine-path']?.startsWith(fresh.toolCache)).toBe(true)
    expect((await fetch(`${restored.outputs.url}/health`)).status).toBe(200)
    await runPost(restored)
  })

  it('a failing service is a warning: the engine is built and the job succeeds', async () => {
    cacheService.failing = true
    const run = await provision(jobDirs(), { 'remote-cache': 'all' }, cacheService.env())
    expect(run.exitCode).toBe(0)
    expect(built(run)).toBe(true)
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(/::warning::.*(Could not save|Failed to save)/)
  })

  it('where the service is not available, remote-cache is skipped with a notice', async () => {
    const run = await provision(jobDirs(), { 'remote-cache': 'engine' })
    expect(run.errors).toEqual([])
    expect(run.stdout).toContain('::notice::The GitHub Actions cache service is not available here; remote-cache is skipped.')
  })
})
