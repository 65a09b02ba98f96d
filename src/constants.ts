// Names that users write in workflows and that main and post share: kept in one place.

export const Input = {
  Model: 'model',
  ModelDigest: 'model-digest',
  HfToken: 'hf-token',
  HfEndpoint: 'hf-endpoint',
  LlamaCppRepo: 'llama-cpp-repo',
  LlamaCppRef: 'llama-cpp-ref',
  LlamaServerPath: 'llama-server-path',
  EngineSource: 'engine-source',
  ReleaseDigest: 'release-digest',
  GithubToken: 'github-token',
  Backend: 'backend',
  CudaArchitectures: 'cuda-architectures',
  CmakeArgs: 'cmake-args',
  BuildJobs: 'build-jobs',
  CacheDir: 'cache-dir',
  CacheMaxSize: 'cache-max-size',
  RemoteCache: 'remote-cache',
  RemoteCacheMaxModelSize: 'remote-cache-max-model-size',
  Verify: 'verify',
  Start: 'start',
  Host: 'host',
  Port: 'port',
  CtxSize: 'ctx-size',
  GpuLayers: 'gpu-layers',
  Parallel: 'parallel',
  ServerArgs: 'server-args',
  ApiKey: 'api-key',
  Devices: 'devices',
  GpuPolicy: 'gpu-policy',
  GpuWaitTimeout: 'gpu-wait-timeout',
  HealthTimeout: 'health-timeout',
  NetworkTimeout: 'network-timeout',
  DownloadConnections: 'download-connections',
  HfCache: 'hf-cache',
  HandoffPath: 'handoff-path',
  PoolId: 'pool-id',
} as const
export type InputName = (typeof Input)[keyof typeof Input]

export const Output = {
  HandoffPath: 'handoff-path',
  Url: 'url',
  OpenaiBaseUrl: 'openai-base-url',
  Host: 'host',
  Port: 'port',
  Pid: 'pid',
  LogPath: 'log-path',
  ModelPath: 'model-path',
  ModelId: 'model-id',
  ModelDigest: 'model-digest',
  ModelCacheHit: 'model-cache-hit',
  EnginePath: 'engine-path',
  EngineVersion: 'engine-version',
  EngineCommit: 'engine-commit',
  EngineCacheHit: 'engine-cache-hit',
  EngineProvisioningMode: 'engine-provisioning-mode',
  EngineReleaseTag: 'engine-release-tag',
  EngineReleaseAsset: 'engine-release-asset',
  EngineReleaseRuntimeAsset: 'engine-release-runtime-asset',
} as const

/** The llama.cpp release built when `llama-cpp-ref` is not given (the one node-llama-cpp 3.22.1 bundles). */
export const DEFAULT_LLAMA_CPP_REF = 'v0.5.0'
export const DEFAULT_LLAMA_CPP_REPO = 'https://github.com/ggml-org/llama.cpp'
export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
/** The job's token, as the runner evaluates it (as actions/setup-node does): API calls count against the repository's limit. */
export const DEFAULT_GITHUB_TOKEN = '${{ github.token }}'
export const DEFAULT_HANDOFF_PATH = '.runtime/engines/llamacpp.json'
export const DEFAULT_POOL_ID = 'default'

/** The default upper bound of a model sent through the GitHub Actions cache (about 10 GB per repository). */
export const DEFAULT_REMOTE_CACHE_MAX_MODEL_SIZE = '2G'

/** How long the post step waits after SIGTERM before it sends SIGKILL. */
export const STOP_GRACE_MS = 5_000
