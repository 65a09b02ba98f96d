// Archives packed as llama.cpp's release workflow (.github/workflows/release.yml, job ubuntu-cpu) packs them: a
// build with shared libraries (CMake's default for llama.cpp), CMAKE_INSTALL_RPATH '$ORIGIN' and
// CMAKE_BUILD_WITH_INSTALL_RPATH=ON, then
//   cp LICENSE ./build/bin/
//   tar -czvf llama-<tag>-bin-ubuntu-<arch>.tar.gz --transform "s,^\.,llama-<tag>," -C ./build/bin .
// so one folder llama-<tag>/ holding llama-server, its versioned shared libraries and their symbolic links.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FakeAsset } from './github-server.js'
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

/** The names of the CUDA archive built with CUDA `version` and of its runtime archive, on this machine. */
export function cudaAssetNames(tag: string, version: string): { archive: string; runtime: string } {
  const archive = `llama-${tag}-bin-ubuntu-cuda-${version}-${assetArch()}.tar.gz`
  return { archive, runtime: `cudart-${archive}` }
}

/**
 * A CUDA release as llama.cpp's ubuntu-cuda job packs it: build/bin (a copy of `binDir` with a CUDA backend module,
 * libggml-cuda.so, beside the server) packed like every llama archive, and its CUDA runtime packed into a folder of
 * its own: `cp -L /usr/local/cuda/lib64/libcudart.so.<major> …` (and libcublas, libcublasLt), then
 *   tar -czvf cudart-llama-<tag>-bin-ubuntu-cuda-<version>-<arch>.tar.gz \
 *     --transform "s,^\.,cudart-llama-<tag>-bin-ubuntu-cuda-<version>-<arch>," -C ./cudart .
 * TEST DOUBLE: there is no GPU or CUDA here. The module and the runtime libraries are stand-ins (text, not ELF);
 * `binDir`'s llama-server decides what the archive does: the engine test double lists the nvidia-smi double's GPUs
 * as CUDA devices when the module and a libcudart.so.* lie beside it, and the real CPU llama.cpp lists none (the
 * real one skips a backend library it cannot load, as it would a CUDA backend without its driver). `runtimeFiles`
 * replaces the runtime's libraries (a runtime archive without libcudart, say).
 */
export function packCudaLikeLlamaCpp(binDir: string, tag: string, version: string, runtimeFiles?: string[]): { archive: FakeAsset; runtime: FakeAsset } {
  const work = mkdtempSync(path.join(os.tmpdir(), 'sls-cuda-release-'))
  const names = cudaAssetNames(tag, version)
  const bin = path.join(work, 'bin')
  cpSync(binDir, bin, { recursive: true, verbatimSymlinks: true })
  writeFileSync(path.join(bin, 'libggml-cuda.so'), 'TEST DOUBLE of the CUDA backend module (no CUDA here)\n')
  const archive = packLikeLlamaCpp(bin, tag, path.join(work, names.archive))
  const cudart = path.join(work, 'cudart')
  mkdirSync(cudart)
  const major = version.split('.')[0] as string
  for (const lib of runtimeFiles ?? [`libcudart.so.${major}`, `libcublas.so.${major}`, `libcublasLt.so.${major}`]) {
    writeFileSync(path.join(cudart, lib), `TEST DOUBLE of ${lib} (no CUDA here)\n`)
  }
  const folder = names.runtime.replace(/\.tar\.gz$/, '')
  execFileSync('tar', ['-czf', path.join(work, names.runtime), '--transform', `s,^\\.,${folder},`, '-C', cudart, '.'])
  return { archive: { name: names.archive, body: archive }, runtime: { name: names.runtime, body: readFileSync(path.join(work, names.runtime)) } }
}
