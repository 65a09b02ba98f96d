// nvcc accepts only some host compilers (versions); a one-line compile finds out in a second instead of after
// minutes of CMake.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { EngineError } from '../errors.js'
import { run } from '../util/run.js'

export async function checkNvccHostCompiler(nvcc: string): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'setup-llama-server-nvcc-'))
  try {
    await writeFile(path.join(dir, 'probe.cu'), '__global__ void probe() {}\n')
    const result = await run(nvcc, ['-c', path.join(dir, 'probe.cu'), '-o', path.join(dir, 'probe.o')], { silent: true })
    if (result.code !== 0) {
      throw new EngineError(`nvcc (${nvcc}) cannot compile with this machine's host compiler; set CUDAHOSTCXX to one it accepts, or install one:\n${result.tail}`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
