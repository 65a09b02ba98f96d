// The engine's pure parts: what would be run and keyed for each backend. The GPU and CUDA facts below are what
// nvidia-smi and nvcc would report (test doubles of their output: no GPU here).
import { describe, expect, it } from 'vitest'
import { chooseBackend, chooseReleaseBackend } from '../../src/engine/backend.js'
import { cudaArchitecturesOf } from '../../src/engine/gpu.js'
import { parseGpus } from '../../src/gpu/nvidia-smi.js'
import { cmakeBuildArgs, cmakeConfigureArgs, engineKey, normalizeCmakeArgs, normalizeRepo, type KeyMaterial } from '../../src/engine/plan.js'
import { missingTools, missingToolsMessage } from '../../src/engine/preflight.js'
import { commitFromLsRemote } from '../../src/engine/ref.js'
import { parseNvccVersion, type Toolchain } from '../../src/engine/toolchain.js'
import { parseVersion } from '../../src/engine/version.js'

// What `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.free,compute_cap --format=csv,noheader,nounits`
// prints on a two-GPU machine (a double of its output; test/unit/gpu-nvidia-smi.test.ts tests the parser).
const NVIDIA_SMI_TWO_GPUS = '0, GPU-9f1c0b4e-2a1d-4e0a-8d6b-0c1e5a7b3f21, NVIDIA H100 80GB HBM3, 81559, 80523, 9.0\n1, GPU-3b7e6d2a-5c4f-4b1e-9a8d-7f6e5d4c3b2a, NVIDIA L4, 23034, 22563, 8.9\n'

describe('nvidia-smi', () => {
  it('gives the CUDA architectures of the compute capabilities, each once', () => {
    expect(cudaArchitecturesOf(parseGpus(NVIDIA_SMI_TWO_GPUS))).toBe('89;90')
    expect(cudaArchitecturesOf(parseGpus('0, GPU-a1, A, 1, 1, 8.6\n1, GPU-a2, A, 1, 1, 8.6\n'))).toBe('86')
    expect(cudaArchitecturesOf([])).toBeUndefined()
  })
  it('reads nvcc and llama-server versions', () => {
    expect(parseNvccVersion('nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 13.0, V13.0.48\n')).toBe('13.0')
    expect(parseVersion('0.00.000.230 I srv  llama_server: initializing ...\nversion: 0.5.0-dev (build 1, commit de3ff81)\nbuilt with GNU 12.2.0 for Linux x86_64\n')).toBe('0.5.0-dev (build 1, commit de3ff81)')
  })
})

describe('chooseBackend', () => {
  const gpus = parseGpus(NVIDIA_SMI_TWO_GPUS)
  it.each([
    ['auto', gpus, '/usr/local/cuda/bin/nvcc', 'cuda', /auto chose cuda: nvidia-smi lists 0: NVIDIA H100 80GB HBM3, 1: NVIDIA L4, and nvcc is/],
    ['auto', gpus, undefined, 'cpu', /auto chose cpu: .* but no nvcc was found/],
    ['auto', [], '/usr/local/cuda/bin/nvcc', 'cpu', /auto chose cpu: nvidia-smi lists no NVIDIA GPU/],
    ['vulkan', [], undefined, 'vulkan', /backend: vulkan was asked for/],
  ] as const)('%s with %# → %s', (requested, g, nvcc, backend, reason) => {
    const chosen = chooseBackend(requested, [...g], nvcc)
    expect(chosen.backend).toBe(backend)
    expect(chosen.reason).toMatch(reason)
  })
})

describe('chooseReleaseBackend', () => {
  const gpus = parseGpus(NVIDIA_SMI_TWO_GPUS)
  const nvcc = '/usr/local/cuda/bin/nvcc'
  it.each([
    // A GPU: the CUDA archive first, whether or not nvcc is there; where it cannot be used, a CUDA build (auto, nvcc) …
    ['auto', gpus, nvcc, true, 'cuda', /^auto chose cuda: nvidia-smi lists 0: NVIDIA H100 80GB HBM3, 1: NVIDIA L4, and llama\.cpp's CUDA release archive needs only the driver; where none can be used, nvcc \(\/usr\/local\/cuda\/bin\/nvcc\) builds the engine$/, undefined],
    // … else the CPU engine: without nvcc, or with engine-source release (which builds nothing).
    ['auto', gpus, undefined, true, 'cuda', /needs only the driver$/, /^auto chose cpu: no nvcc was found/],
    ['auto', gpus, nvcc, false, 'cuda', /needs only the driver$/, /^auto chose cpu: 'engine-source' is release, so no CUDA engine can be built$/],
    ['auto', [], nvcc, true, 'cpu', /^auto chose cpu: nvidia-smi lists no NVIDIA GPU$/, undefined],
    ['cuda', [], undefined, true, 'cuda', /^backend: cuda was asked for$/, undefined],
    ['cpu', gpus, nvcc, true, 'cpu', /^backend: cpu was asked for$/, undefined],
  ] as const)('%s with %# → %s', (requested, g, found, canBuild, backend, reason, otherwise) => {
    const chosen = chooseReleaseBackend(requested, [...g], found, canBuild)
    expect(chosen.backend).toBe(backend)
    expect(chosen.reason).toMatch(reason)
    if (otherwise) expect(chosen.otherwise).toMatch(otherwise)
    else expect(chosen.otherwise).toBeUndefined()
  })
})

describe('cmakeConfigureArgs', () => {
  const base = { sourceDir: '/w/src', buildDir: '/w/build', generator: 'Ninja' as const, cudaArchitectures: undefined, ccache: undefined, cmakeArgs: [] }
  const common = [
    '-S', '/w/src', '-B', '/w/build', '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=Release', '-DBUILD_SHARED_LIBS=OFF', '-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON',
    '-DLLAMA_BUILD_SERVER=ON', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_USE_PREBUILT_UI=OFF', '-DGGML_NATIVE=OFF',
  ]
  it('cpu', () => {
    expect(cmakeConfigureArgs({ ...base, backend: 'cpu' })).toEqual(common)
  })
  it('cuda, with the architectures, ccache for CUDA too, and the user’s arguments last', () => {
    expect(cmakeConfigureArgs({ ...base, backend: 'cuda', cudaArchitectures: '89;90', ccache: '/usr/bin/ccache', cmakeArgs: ['-DGGML_CUDA_F16=ON'] })).toEqual([
      ...common,
      '-DGGML_CUDA=ON', '-DCMAKE_CUDA_ARCHITECTURES=89;90',
      '-DCMAKE_C_COMPILER_LAUNCHER=/usr/bin/ccache', '-DCMAKE_CXX_COMPILER_LAUNCHER=/usr/bin/ccache', '-DCMAKE_CUDA_COMPILER_LAUNCHER=/usr/bin/ccache',
      '-DGGML_CUDA_F16=ON',
    ])
  })
  it('vulkan and hip, with make', () => {
    expect(cmakeConfigureArgs({ ...base, generator: 'Unix Makefiles', backend: 'vulkan' }).slice(4, 6)).toEqual(['-G', 'Unix Makefiles'])
    expect(cmakeConfigureArgs({ ...base, backend: 'vulkan' }).at(-1)).toBe('-DGGML_VULKAN=ON')
    expect(cmakeConfigureArgs({ ...base, backend: 'hip' }).at(-1)).toBe('-DGGML_HIP=ON')
  })
  it('a user may turn GGML_NATIVE back on: the later -D wins in CMake', () => {
    const args = cmakeConfigureArgs({ ...base, backend: 'cpu', cmakeArgs: ['-DGGML_NATIVE=ON'] })
    expect(args.lastIndexOf('-DGGML_NATIVE=ON')).toBeGreaterThan(args.indexOf('-DGGML_NATIVE=OFF'))
  })
  it('builds only the llama-server target', () => {
    expect(cmakeBuildArgs('/w/build', 6)).toEqual(['--build', '/w/build', '--target', 'llama-server', '--parallel', '6'])
    expect(cmakeBuildArgs('/w/build', 6, 'llama-fit-params')).toEqual(['--build', '/w/build', '--target', 'llama-fit-params', '--parallel', '6'])
  })
})

describe('engineKey', () => {
  const material: KeyMaterial = {
    recipe: 1, repo: 'https://github.com/ggml-org/llama.cpp', commit: 'de3ff815ea7d559ee917f063901b8986f038abc6', backend: 'cuda',
    cudaVersion: '13.0', cudaArchitectures: '89;90', cc: 'cc (Debian 12.2.0-14) 12.2.0', cxx: 'c++ (Debian 12.2.0-14) 12.2.0',
    cmakeArgs: [], os: 'linux', arch: 'x64',
  }
  it('names backend and commit, and is stable', () => {
    expect(engineKey(material)).toMatch(/^llama-server-cuda-de3ff815ea7d-[0-9a-f]{16}$/)
    expect(engineKey({ ...material })).toBe(engineKey(material))
  })
  it.each([
    ['recipe', 2], ['repo', 'https://example.com/fork'], ['commit', 'a'.repeat(40)], ['cudaVersion', '12.8'], ['cudaArchitectures', '86'],
    ['cc', 'clang 17'], ['cxx', 'clang++ 17'], ['cmakeArgs', ['-DX=1']], ['os', 'darwin'], ['arch', 'arm64'],
  ])('changes with %s', (field, value) => {
    expect(engineKey({ ...material, [field]: value })).not.toBe(engineKey(material))
  })
  it('normalizes cmake-args: order does not matter, a later -D of a variable wins', () => {
    expect(normalizeCmakeArgs(['-DB=2', '-DA=1'])).toEqual(normalizeCmakeArgs(['-DA=1', '-DB=2']))
    expect(normalizeCmakeArgs(['-DA=1', '-DA:BOOL=0'])).toEqual(['-DA:BOOL=0'])
  })
  it('normalizes the repo URL', () => {
    expect(normalizeRepo('https://GitHub.com/ggml-org/llama.cpp.git/')).toBe('https://github.com/ggml-org/llama.cpp')
    expect(normalizeRepo('/srv/git/llama.cpp/')).toBe('/srv/git/llama.cpp')
  })
})

describe('commitFromLsRemote', () => {
  const out = [
    `${'1'.repeat(40)}\tHEAD`,
    `${'2'.repeat(40)}\trefs/heads/master`,
    `${'3'.repeat(40)}\trefs/tags/v0.5.0`,
    `${'4'.repeat(40)}\trefs/tags/v0.5.0^{}`,
    `${'5'.repeat(40)}\trefs/heads/v0.5.0`,
    `${'6'.repeat(40)}\trefs/tags/b4567`,
  ].join('\n')
  it('prefers the commit an annotated tag points to', () => expect(commitFromLsRemote(out, 'v0.5.0')).toBe('4'.repeat(40)))
  it('finds lightweight tags and branches', () => {
    expect(commitFromLsRemote(out, 'b4567')).toBe('6'.repeat(40))
    expect(commitFromLsRemote(out, 'master')).toBe('2'.repeat(40))
    expect(commitFromLsRemote(out, 'HEAD')).toBe('1'.repeat(40))
  })
  it('finds nothing for an unknown ref', () => expect(commitFromLsRemote(out, 'v9')).toBeUndefined())
})

describe('preflight', () => {
  const full: Toolchain = { git: 'g', cmake: 'c', cc: 'cc', cxx: 'c++', ninja: 'n' }
  it('needs nothing more for cpu with a full toolchain', () => expect(missingTools('cpu', full)).toEqual([]))
  it('lists every missing tool at once, with what it is for and how to install it', () => {
    const missing = missingTools('cuda', {})
    expect(missing.map((m) => m.tool)).toEqual(['git', 'cmake', 'a C compiler (cc, gcc or clang; or CC)', 'a C++ compiler (c++, g++ or clang++; or CXX)', 'ninja or make', 'nvcc'])
    const message = missingToolsMessage('cuda', missing)
    expect(message).toMatch(/^Building llama-server for the cuda backend needs 6 tools that are missing:\n- git: fetches the llama.cpp source at its commit\. Usually: apt-get install git\./)
    expect(message).toContain("(Or set 'llama-server-path' to use an existing binary.)")
  })
  it('says cuBLAS is missing when nvcc is there without it (nvcc 13 without libcublas-dev)', () => {
    expect(missingTools('cuda', { ...full, nvcc: '/usr/local/cuda/bin/nvcc' }).map((m) => m.tool)).toEqual(['cuBLAS (cublas_v2.h)'])
  })
  it('vulkan needs its headers and glslc; hip needs hipcc', () => {
    expect(missingTools('vulkan', full).map((m) => m.tool)).toEqual(['the Vulkan headers (vulkan/vulkan.h)', 'glslc'])
    expect(missingTools('hip', { ...full, make: 'm', ninja: undefined }).map((m) => m.tool)).toEqual(['hipcc'])
  })
})
