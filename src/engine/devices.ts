// Whether a llama-server can use its GPU backend here: `llama-server --list-devices` (common/arg.cpp in v0.5.0)
// prints "Available devices:", then `  <name>: <description> (<total> MiB, <free> MiB free)` for each device that
// is not the CPU, or `  (none)`. ggml names a backend's devices CUDA0…, Vulkan0…, ROCm0… (GGML_CUDA_NAME, which is
// "ROCm" in a HIP build; GGML_VK_NAME). llama.cpp's release archives are built with GGML_BACKEND_DL: the GPU backend
// is a library loaded at start, and one that does not load (no driver, no CUDA runtime beside it, a driver too old)
// is only logged; the server then runs on the CPU, and --version cannot tell. The answer is remembered like
// --version's, so a warm run starts nothing.
import { EngineError } from '../errors.js'
import { oneLine } from '../util/redact.js'
import type { BuiltBackend } from './backend.js'
import type { RememberedOutputs } from './remembered-output.js'
import { engineOutput } from './version.js'

const DEVICE_NAME: Record<Exclude<BuiltBackend, 'cpu'>, string> = { cuda: 'CUDA', vulkan: 'Vulkan', hip: 'ROCm' }

/** The device names of a --list-devices answer (`CUDA0`, …). Pure. */
export function parseDevices(output: string): string[] {
  const names: string[] = []
  for (const line of output.split('\n')) {
    const m = /^\s+([A-Za-z][\w-]*): .*\(\d+ MiB, \d+ MiB free\)\s*$/.exec(line)
    if (m?.[1]) names.push(m[1])
  }
  return names
}

/** The devices of `backend` that `binary` finds here; an EngineError that says what it listed instead. */
export async function backendDevices(binary: string, backend: Exclude<BuiltBackend, 'cpu'>, outputs: RememberedOutputs, verify: 'quick' | 'full'): Promise<string[]> {
  const listed = parseDevices(await engineOutput(binary, ['--list-devices'], outputs, verify))
  const prefix = DEVICE_NAME[backend]
  const mine = listed.filter((name) => new RegExp(`^${prefix}\\d+$`).test(name))
  if (!mine.length) {
    throw new EngineError(
      `${binary} --list-devices names no ${prefix} device (it lists ${listed.length ? oneLine(listed.join(', ')) : 'none'}): its ${backend} backend library did not load here, so it would run on the CPU`,
    )
  }
  return mine
}
