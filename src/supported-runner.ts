// The runners this action supports: Linux on x64 or arm64. The server's process group, its identity read from
// /proc, the stores' locks and llama.cpp's build recipe are Linux's; elsewhere the action would fail late or leave
// a server behind, so it refuses before any work instead.

export interface RunnerPlatform {
  /** What Node runs on: process.platform and process.arch. */
  platform: string
  arch: string
  /** What the runner says (RUNNER_OS, RUNNER_ARCH); absent outside a runner. */
  env: { RUNNER_OS?: string | undefined; RUNNER_ARCH?: string | undefined }
}

const NODE_OS: Record<string, string> = { linux: 'Linux', darwin: 'macOS', win32: 'Windows' }
const NODE_ARCH: Record<string, string> = { x64: 'X64', arm64: 'ARM64', ia32: 'X86', arm: 'ARM' }

/** Why this runner is not supported, or undefined when it is. Both Node and the runner must say Linux x64/arm64. */
export function unsupportedRunner({ platform, arch, env }: RunnerPlatform): string | undefined {
  const os = env.RUNNER_OS || NODE_OS[platform] || platform
  const cpu = env.RUNNER_ARCH || NODE_ARCH[arch] || arch
  const supported = platform === 'linux' && os === 'Linux' && (arch === 'x64' || arch === 'arm64') && (cpu === 'X64' || cpu === 'ARM64')
  if (supported) return undefined
  return (
    `setup-llama-server supports Linux runners on x64 and arm64; this runner is ${os} ${cpu}` +
    ` (Node reports ${platform}/${arch}). Nothing was fetched, built or started. Run the job on a Linux runner:` +
    ` runs-on: ubuntu-latest (x64), ubuntu-24.04-arm (arm64), or a self-hosted Linux machine.`
  )
}
