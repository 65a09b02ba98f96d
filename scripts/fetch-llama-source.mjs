// postinstall: the real llama.cpp source for the tests and `npm start`, with no network after `npm ci`.
// node-llama-cpp ships the llama.cpp release it is built on as a git bundle (llama/gitRelease.bundle, one squashed
// commit). Only its tarball is fetched (npm pack), without the large prebuilt binaries it would install; the
// bundle becomes a bare repository tagged with that release, the default llama-cpp-ref of the action.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const NODE_LLAMA_CPP = 'node-llama-cpp@3.22.1'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dest = path.join(root, 'node_modules', '.cache', 'setup-llama-server', 'llama.cpp.git')

if (existsSync(path.join(dest, 'HEAD'))) process.exit(0)
const work = mkdtempSync(path.join(os.tmpdir(), 'llama-source-'))
try {
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm']
  execFileSync(npm[0], [...npm.slice(1), 'pack', NODE_LLAMA_CPP, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] })
  const tarball = path.join(work, `${NODE_LLAMA_CPP.replace('@', '-')}.tgz`)
  execFileSync('tar', ['xzf', tarball, '-C', work, 'package/llama/gitRelease.bundle', 'package/llama/llama.cpp.info.json'])
  const { tag } = JSON.parse(readFileSync(path.join(work, 'package/llama/llama.cpp.info.json'), 'utf8'))
  const bare = path.join(work, 'llama.cpp.git')
  execFileSync('git', ['clone', '--quiet', '--bare', path.join(work, 'package/llama/gitRelease.bundle'), bare])
  execFileSync('git', ['-C', bare, 'tag', tag, 'HEAD'])
  rmSync(dest, { recursive: true, force: true })
  mkdirSync(path.dirname(dest), { recursive: true })
  renameSync(bare, dest)
  console.log(`llama.cpp ${tag} from ${NODE_LLAMA_CPP} is at ${path.relative(root, dest)}`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
