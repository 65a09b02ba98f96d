import { describe, expect, it } from 'vitest'
import { unsupportedRunner } from '../../src/supported-runner.js'

describe('unsupportedRunner', () => {
  it.each([
    ['linux', 'x64', { RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' }],
    ['linux', 'arm64', { RUNNER_OS: 'Linux', RUNNER_ARCH: 'ARM64' }],
    // Outside a runner (npm start, local-action) only Node's view counts.
    ['linux', 'x64', {}],
    ['linux', 'arm64', { RUNNER_OS: '', RUNNER_ARCH: '' }],
  ])('accepts %s/%s with %j', (platform, arch, env) => {
    expect(unsupportedRunner({ platform, arch, env })).toBeUndefined()
  })

  it.each([
    ['darwin', 'arm64', { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' }, 'this runner is macOS ARM64 (Node reports darwin/arm64)'],
    ['win32', 'x64', { RUNNER_OS: 'Windows', RUNNER_ARCH: 'X64' }, 'this runner is Windows X64 (Node reports win32/x64)'],
    ['darwin', 'x64', {}, 'this runner is macOS X64 (Node reports darwin/x64)'],
    ['linux', 'arm', { RUNNER_OS: 'Linux', RUNNER_ARCH: 'ARM' }, 'this runner is Linux ARM (Node reports linux/arm)'],
    ['linux', 's390x', {}, 'this runner is Linux s390x (Node reports linux/s390x)'],
    ['freebsd', 'x64', {}, 'this runner is freebsd X64 (Node reports freebsd/x64)'],
    // Node and the runner disagree (a misconfigured runner, a test harness): refused, and both are named.
    ['linux', 'x64', { RUNNER_OS: 'macOS', RUNNER_ARCH: 'ARM64' }, 'this runner is macOS ARM64 (Node reports linux/x64)'],
    ['darwin', 'arm64', { RUNNER_OS: 'Linux', RUNNER_ARCH: 'ARM64' }, 'this runner is Linux ARM64 (Node reports darwin/arm64)'],
  ])('refuses %s/%s with %j, naming it and what is supported', (platform, arch, env, named) => {
    const message = unsupportedRunner({ platform, arch, env })
    expect(message).toContain(named)
    expect(message).toMatch(/^setup-llama-server supports Linux runners on x64 and arm64; /)
    expect(message).toContain('Nothing was fetched, built or started')
  })
})
