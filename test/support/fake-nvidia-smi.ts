// TEST DOUBLE of nvidia-smi (there is no GPU here): a directory to put first on PATH, holding an `nvidia-smi`
// that answers the action's --query-gpu question with the CSV it is given, as the real one prints it.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export interface FakeGpu {
  index: number
  name: string
  totalMib: number
  freeMib: number
  computeCap: string
}

export function fakeNvidiaSmiDir(gpus: FakeGpu[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-nvidia-smi-'))
  const csv = gpus.map((g) => `${g.index}, ${g.name}, ${g.totalMib}, ${g.freeMib}, ${g.computeCap}`).join('\n')
  const script = path.join(dir, 'nvidia-smi')
  writeFileSync(script, `#!/bin/sh\n# TEST DOUBLE of nvidia-smi\ncase "$*" in\n  *--query-gpu=*) printf '%s\\n' '${csv}' ;;\n  *) echo "fake nvidia-smi: unexpected arguments: $*" >&2; exit 2 ;;\nesac\n`)
  chmodSync(script, 0o755)
  return dir
}
