// Archives packed as llama.cpp's release workflow (.github/workflows/release.yml, job ubuntu-cpu) packs them: a
// build with shared libraries (CMake's default for llama.cpp), CMAKE_INSTALL_RPATH '$ORIGIN' and
// CMAKE_BUILD_WITH_INSTALL_RPATH=ON, then
//   cp LICENSE ./build/bin/
//   tar -czvf llama-<tag>-bin-ubuntu-<arch>.tar.gz --transform "s,^\.,llama-<tag>," -C ./build/bin .
// so one folder llama-<tag>/ holding llama-server, its versioned shared libraries and their symbolic links.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './runner.js'

/** CMake arguments of llama.cpp's Linux release builds that make the result relocatable with its libraries. */
export const RELEASE_RPATH_ARGS = ['-DBUILD_SHARED_LIBS=ON', '-DCMAKE_INSTALL_RPATH=$ORIGIN', '-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON']

/** x64 or arm64, as the asset names say it. */
export function assetArch(): string {
  return os.arch() === 'arm64' ? 'arm64' : 'x64'
}

/** The Linux CPU asset's name for `tag` on this machine. */
export function cpuAssetName(tag: string): string {
  return `llama-${tag}-bin-ubuntu-${assetArch()}.tar.gz`
}

/** `binDir` packed exactly as the release workflow packs build/bin (LICENSE included). */
export function packLikeLlamaCpp(binDir: string, tag: string, out: string, license = 'MIT License (test)\n'): Buffer {
  writeFileSync(path.join(binDir, 'LICENSE'), license)
  execFileSync('tar', ['-czf', out, '--transform', `s,^\\.,llama-${tag},`, '-C', binDir, '.'])
  return readFileSync(out)
}

/**
 * The engine TEST DOUBLE (test/fixtures/engine) built as llama.cpp's release is: llama-server, with
 * libfixture-version.so.0.0.1 and its links .so.0 (what the binary loads) and .so beside it. Returns build/bin.
 */
export function buildReleaseShapedFakeEngine(): string {
  const build = path.join(ROOT, 'node_modules', '.cache', 'setup-llama-server-tests', 'fake-engine-release')
  const source = path.join(ROOT, 'test', 'fixtures', 'engine')
  execFileSync('cmake', ['-S', source, '-B', build, '-DCMAKE_BUILD_TYPE=Release', ...RELEASE_RPATH_ARGS], { stdio: 'pipe' })
  execFileSync('cmake', ['--build', build, '--target', 'llama-server'], { stdio: 'pipe' })
  const bin = path.join(build, 'bin')
  if (!existsSync(path.join(bin, 'libfixture-version.so.0'))) throw new Error(`${bin} has no libfixture-version.so.0: the shared build did not happen`)
  return bin
}

export function sha256Hex(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}
