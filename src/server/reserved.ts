// What llama-server must not be told except through the action's own inputs: the flags (llama.cpp
// common/arg.cpp), and their environment forms, which a job's env would otherwise pass on unseen.
import { Input, type InputName } from '../constants.js'

// llama-server flags (llama.cpp common/arg.cpp) that the action sets from its own inputs: in server-args they
// would make the action wait on the wrong address, serve a model it did not verify, or put a secret into argv.
export const RESERVED_SERVER_FLAGS: Record<string, InputName> = {
  '-m': Input.Model,
  '--model': Input.Model,
  '-mu': Input.Model,
  '--model-url': Input.Model,
  '-hf': Input.Model,
  '-hfr': Input.Model,
  '--hf-repo': Input.Model,
  '-hff': Input.Model,
  '--hf-file': Input.Model,
  '-dr': Input.Model,
  '--docker-repo': Input.Model,
  '-hft': Input.HfToken,
  '--hf-token': Input.HfToken,
  '--host': Input.Host,
  '--port': Input.Port,
  '--api-key': Input.ApiKey,
  '--api-key-file': Input.ApiKey,
  '-c': Input.CtxSize,
  '--ctx-size': Input.CtxSize,
  '-ngl': Input.GpuLayers,
  '--gpu-layers': Input.GpuLayers,
  '--n-gpu-layers': Input.GpuLayers,
  '-np': Input.Parallel,
  '--parallel': Input.Parallel,
  // Models llama-server would download (or find) by itself, never verified by the action.
  '--spec-draft-hf': Input.Model,
  '-hfd': Input.Model,
  '-hfrd': Input.Model,
  '--hf-repo-draft': Input.Model,
  '-mmu': Input.Model,
  '--mmproj-url': Input.Model,
  '--models-dir': Input.Model,
  '--models-preset': Input.Model,
  // Device choice belongs to devices and gpu-policy, which check the memory before the server starts.
  '-dev': Input.Devices,
  '--device': Input.Devices,
  '-devd': Input.Devices,
  '--device-draft': Input.Devices,
  '--spec-draft-device': Input.Devices,
  '-ts': Input.Devices,
  '--tensor-split': Input.Devices,
  '-mg': Input.Devices,
  '--main-gpu': Input.Devices,
  '-sm': Input.Devices,
  '--split-mode': Input.Devices,
  '--rpc': Input.Devices,
  '-mmdev': Input.Devices,
  '--mmproj-device': Input.Devices,
  '-ngld': Input.GpuLayers,
  '--gpu-layers-draft': Input.GpuLayers,
  '--n-gpu-layers-draft': Input.GpuLayers,
  '--spec-draft-ngl': Input.GpuLayers,
}

/** LLAMA_ARG_* variables (and LLAMA_API_KEY) of the reserved flags, and the input that owns each. */
export const RESERVED_SERVER_ENV: Record<string, InputName> = {
  LLAMA_ARG_MODEL: Input.Model,
  LLAMA_ARG_MODEL_URL: Input.Model,
  LLAMA_ARG_HF_REPO: Input.Model,
  LLAMA_ARG_HF_FILE: Input.Model,
  LLAMA_ARG_DOCKER_REPO: Input.Model,
  LLAMA_ARG_MMPROJ_URL: Input.Model,
  LLAMA_ARG_MODELS_DIR: Input.Model,
  LLAMA_ARG_MODELS_PRESET: Input.Model,
  LLAMA_ARG_SPEC_DRAFT_HF_REPO: Input.Model,
  LLAMA_ARG_HOST: Input.Host,
  LLAMA_ARG_PORT: Input.Port,
  LLAMA_API_KEY: Input.ApiKey,
  LLAMA_ARG_API_KEY_FILE: Input.ApiKey,
  LLAMA_ARG_CTX_SIZE: Input.CtxSize,
  LLAMA_ARG_N_GPU_LAYERS: Input.GpuLayers,
  LLAMA_ARG_N_PARALLEL: Input.Parallel,
  LLAMA_ARG_DEVICE: Input.Devices,
  LLAMA_ARG_SPLIT_MODE: Input.Devices,
  LLAMA_ARG_TENSOR_SPLIT: Input.Devices,
  LLAMA_ARG_MAIN_GPU: Input.Devices,
  LLAMA_ARG_RPC: Input.Devices,
  LLAMA_ARG_N_GPU_LAYERS_DRAFT: Input.GpuLayers,
}

// llama-server flags that place weights themselves (llama.cpp common/arg.cpp): tensor buffer overrides, and expert or
// feed-forward weights kept in system memory, for the model or its draft. Under gpu-policy vram-only on a GPU
// backend every weight goes to the GPUs the action chose and checked: these would move some behind that check.
export const WEIGHT_PLACEMENT_FLAGS: readonly string[] = [
  '-ot', '--override-tensor',
  '-cmoe', '--cpu-moe',
  '-ncmoe', '--n-cpu-moe',
  '-ncffn', '--n-cpu-ffn',
  '-otd', '--override-tensor-draft', '--spec-draft-override-tensor',
  '-cmoed', '--cpu-moe-draft', '--spec-draft-cpu-moe',
  '-ncmoed', '--n-cpu-moe-draft', '--spec-draft-n-cpu-moe', '--spec-draft-ncmoe',
]

/** Their LLAMA_ARG_* variables (--spec-draft-override-tensor has none). */
export const WEIGHT_PLACEMENT_ENV: readonly string[] = [
  'LLAMA_ARG_OVERRIDE_TENSOR', 'LLAMA_ARG_CPU_MOE', 'LLAMA_ARG_N_CPU_MOE', 'LLAMA_ARG_N_CPU_FFN',
  'LLAMA_ARG_SPEC_DRAFT_CPU_MOE', 'LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE',
]
