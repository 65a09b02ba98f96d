export const id = 667;
export const ids = [667];
export const modules = {

/***/ 4667:
/***/ ((module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__webpack_require__.r(__webpack_exports__);
/* harmony import */ var _zod_jitless_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8641);
/* harmony import */ var _compile_cache_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(9553);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3916);
/* harmony import */ var _main_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(8785);




(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .guardProcess */ .Vh)();
await (0,_main_js__WEBPACK_IMPORTED_MODULE_3__/* .run */ .e)();
(0,_compile_cache_js__WEBPACK_IMPORTED_MODULE_1__/* .exitWhenIdle */ .fm)();

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 3916:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   NJ: () => (/* binding */ EngineError),
/* harmony export */   Vh: () => (/* binding */ guardProcess),
/* harmony export */   dz: () => (/* binding */ InputError),
/* harmony export */   gJ: () => (/* binding */ errorMessage),
/* harmony export */   gP: () => (/* binding */ ServerError),
/* harmony export */   me: () => (/* binding */ ModelError),
/* harmony export */   vy: () => (/* binding */ failStep)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3838);
// Errors a user can act on. Each says what was wrong and what to do; `failStep` turns any thrown value, Error
// or not, into a failed step.

class InputError extends Error {
    problems;
    constructor(problems) {
        super(problems.join('\n'));
        this.problems = problems;
        this.name = 'InputError';
    }
}
class ModelError extends Error {
    name = 'ModelError';
}
class EngineError extends Error {
    name = 'EngineError';
}
class ServerError extends Error {
    name = 'ServerError';
}
function errorMessage(error) {
    try {
        if (error instanceof Error)
            return error.message;
        const message = error?.message;
        if (typeof message === 'string')
            return message;
        return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
    }
    catch {
        return 'an error that cannot be described';
    }
}
const OURS = ['InputError', 'ModelError', 'EngineError', 'ServerError', 'LocalWriteError', 'RetriesExhaustedError', 'RateLimitError', 'RequestError', 'UnsafeNameError', 'CacheLayoutError'];
function failStep(error) {
    _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .setFailed */ .C1(errorMessage(error));
    if (error instanceof Error && error.stack && !OURS.includes(error.name)) {
        // Not one of ours: the stack helps whoever reports it.
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .debug */ .Yz(error.stack);
    }
}
/**
 * A fault that escapes every promise (a library throwing from a socket event, say) must still end as one
 * readable failed step, never a raw stack trace; the stack goes to debug output. `then` runs after, so that post
 * can still stop a server main started.
 */
function guardProcess(then = () => undefined) {
    let handled = false;
    const onFault = (error) => {
        if (handled)
            return;
        handled = true;
        try {
            // Never changes the error itself: a DOMException or a frozen object would throw here.
            _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .setFailed */ .C1(`Unexpected error: ${errorMessage(error)}`);
            const stack = error?.stack;
            if (typeof stack === 'string')
                _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .debug */ .Yz(stack);
        }
        catch {
            process.exitCode = 1;
        }
        void Promise.resolve()
            .then(then)
            .catch(() => undefined)
            .finally(() => process.exit(1));
    };
    process.on('uncaughtException', onFault);
    process.on('unhandledRejection', onFault);
}


/***/ }),

/***/ 8785:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  e: () => (/* binding */ main_run)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 7 modules
var lib_core = __webpack_require__(3838);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
var external_node_path_default = /*#__PURE__*/__webpack_require__.n(external_node_path_);
;// CONCATENATED MODULE: ./src/constants.ts
// Names that users write in workflows and that main and post share: kept in one place.
const Input = {
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
};
const Output = {
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
};
/** The llama.cpp release built when `llama-cpp-ref` is not given (the one node-llama-cpp 3.22.1 bundles). */
const DEFAULT_LLAMA_CPP_REF = 'v0.5.0';
const DEFAULT_LLAMA_CPP_REPO = 'https://github.com/ggml-org/llama.cpp';
const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** The job's token, as the runner evaluates it (as actions/setup-node does): API calls count against the repository's limit. */
const DEFAULT_GITHUB_TOKEN = '${{ github.token }}';
const DEFAULT_HANDOFF_PATH = '.runtime/engines/llamacpp.json';
const DEFAULT_POOL_ID = 'default';
/** The default upper bound of a model sent through the GitHub Actions cache (about 10 GB per repository). */
const DEFAULT_REMOTE_CACHE_MAX_MODEL_SIZE = '2G';
/** How long the post step waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 5_000;

// EXTERNAL MODULE: ./src/errors.ts
var errors = __webpack_require__(3916);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
var external_node_os_default = /*#__PURE__*/__webpack_require__.n(external_node_os_);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
;// CONCATENATED MODULE: ./src/util/hash.ts


/** `sha256:<hex>` of a file, streamed so that a multi-GB model never sits in memory. */
async function hash_sha256File(file) {
    const hash = (0,external_node_crypto_.createHash)('sha256');
    for await (const chunk of (0,external_node_fs_.createReadStream)(file, { highWaterMark: 1 << 20 }))
        hash.update(chunk);
    return `sha256:${hash.digest('hex')}`;
}

;// CONCATENATED MODULE: ./src/store/remote-cache.ts
// The GitHub Actions cache service as a second tier, for ephemeral runners: an entry is restored into a fixed
// staging directory (the service keys archives by their paths) and checked before the local store takes it;
// saving happens in the post step, so that it never delays the server. The service is an optimisation: where it
// is not available it is skipped with a notice, and its errors are warnings, never a failed job.
// @actions/cache (and the Azure SDK under it) is loaded only when an entry actually goes to or comes from the
// service: a warm run, which finds everything in the local store, never pays for loading it.






let loading;
const cacheModule = () => (loading ??= __webpack_require__.e(/* import() */ 691).then(__webpack_require__.bind(__webpack_require__, 1691)));
function remoteStagingDir(name) {
    return external_node_path_default().join(process.env.RUNNER_TEMP || external_node_os_default().tmpdir(), 'setup-llama-server', 'remote', name);
}
function remoteCacheKey(name) {
    return `setup-llama-server-${name}`;
}
let available;
function remoteCacheAvailable() {
    available ??= (async () => {
        const cache = await cacheModule();
        // @github/local-action replaces @actions/cache with a stub that has restoreCache and saveCache only.
        const notice = typeof cache.isFeatureAvailable !== 'function'
            ? 'The @actions/cache in use has no isFeatureAvailable (the stub of @github/local-action); remote-cache is skipped.'
            : cache.isFeatureAvailable()
                ? undefined
                : 'The GitHub Actions cache service is not available here; remote-cache is skipped.';
        if (notice)
            lib_core/* notice */.lm(notice);
        return notice === undefined;
    })();
    return available;
}
/** Restores `name` into its staging directory; returns the directory, or undefined on a miss or an error. */
async function restoreFromRemote(name) {
    if (!(await remoteCacheAvailable()))
        return undefined;
    const cache = await cacheModule();
    const dir = remoteStagingDir(name);
    await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
    try {
        const hit = await cache.restoreCache([dir], remoteCacheKey(name));
        if (hit) {
            lib_core/* info */.pq(`Restored ${name} from the GitHub Actions cache`);
            return dir;
        }
        lib_core/* info */.pq(`${name} is not in the GitHub Actions cache`);
    }
    catch (error) {
        lib_core/* warning */.$e(`Could not restore ${name} from the GitHub Actions cache: ${(0,errors/* errorMessage */.gJ)(error)}`);
    }
    await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
    return undefined;
}
/**
 * Saves the directory `source` as `name`: staged in its staging directory first, with hard links where the
 * filesystem allows (a multi-GB model is not copied) and symbolic links followed.
 */
async function saveToRemote(name, source, expected) {
    if (!(await remoteCacheAvailable()))
        return;
    const cache = await cacheModule();
    const dir = remoteStagingDir(name);
    try {
        await fs.rm(dir, { recursive: true, force: true });
        await linkTree(source, dir);
        // What goes to the cache is what main verified, file for file: every job that restores it trusts this key.
        const problem = await stagedProblem(dir, expected);
        if (problem) {
            core.warning(`${name} is not saved to the GitHub Actions cache: ${problem} since the main step verified it`);
            return;
        }
        await cache.saveCache([dir], remoteCacheKey(name));
        core.info(`Saved ${name} to the GitHub Actions cache`);
    }
    catch (error) {
        // Another job saved the same key first: nothing lost. Matched by name: the class may come from another bundle.
        if (error.name === 'ReserveCacheError')
            core.info(`${name} is already in the GitHub Actions cache`);
        else
            core.warning(`Could not save ${name} to the GitHub Actions cache: ${errorMessage(error)}`);
    }
    finally {
        await fs.rm(dir, { recursive: true, force: true });
    }
}
/** Why the staged tree is not exactly the expected files with their digests, or undefined. */
async function stagedProblem(dir, expected) {
    if (expected.length === 0)
        return 'nothing was recorded to check it against';
    const found = (await fs.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory());
    const names = found.map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
    const wanted = expected.map((f) => f.path).sort();
    if (JSON.stringify(names) !== JSON.stringify(wanted))
        return `its files are not those recorded (${names.filter((n) => !wanted.includes(n)).concat(wanted.filter((w) => !names.includes(w))).join(', ')} changed)`;
    for (const file of expected) {
        if ((await sha256File(path.join(dir, file.path))) !== file.digest)
            return `${file.path} changed`;
    }
    return undefined;
}
/** A copy of the tree `source` at `target`, each file a hard link when possible, else a copy. */
async function linkTree(source, target) {
    await fs.mkdir(target, { recursive: true });
    for (const entry of await fs.readdir(source, { withFileTypes: true })) {
        const from = path.join(source, entry.name);
        const to = path.join(target, entry.name);
        const real = entry.isSymbolicLink() ? await fs.realpath(from) : from;
        if ((await fs.stat(real)).isDirectory()) {
            await linkTree(real, to);
            continue;
        }
        try {
            await fs.link(real, to);
        }
        catch {
            await fs.cp(real, to, { preserveTimestamps: true });
        }
    }
}

;// CONCATENATED MODULE: ./src/state.ts
// What main leaves for post, in one place. Post reads it by name; when main started no server, there is none.

const SERVER = 'server';
/** The process that holds main's leases when no server was started (start: false). */
const KEEPER = 'lease-keeper';
/** The lease files main took on store entries: post gives them back. */
const LEASES = 'leases';
function saveServerState(state) {
    lib_core/* saveState */.LZ(SERVER, JSON.stringify(state));
}
function readServerState() {
    const ref = readProcessRef(SERVER);
    const logPath = parseState(SERVER)?.logPath;
    return ref && typeof logPath === 'string' ? { ...ref, logPath } : undefined;
}
function saveKeeperState(state) {
    lib_core/* saveState */.LZ(KEEPER, JSON.stringify(state));
}
function readKeeperState() {
    return readProcessRef(KEEPER);
}
function saveLeaseState(files) {
    if (files.length)
        lib_core/* saveState */.LZ(LEASES, JSON.stringify(files));
}
function readLeaseState() {
    const parsed = parseState(LEASES);
    return Array.isArray(parsed) ? parsed.filter((f) => typeof f === 'string') : [];
}
function readProcessRef(name) {
    const parsed = parseState(name);
    if (typeof parsed?.pid !== 'number')
        return undefined;
    return { pid: parsed.pid, startTime: typeof parsed.startTime === 'string' ? parsed.startTime : '' };
}
function parseState(name) {
    const raw = core.getState(name);
    if (!raw)
        return undefined;
    try {
        return JSON.parse(raw);
    }
    catch {
        return undefined;
    }
}
const REMOTE_SAVES = 'remote-saves';
const pending = [];
function addPendingRemoteSave(save) {
    pending.push(save);
    lib_core/* saveState */.LZ(REMOTE_SAVES, JSON.stringify(pending));
}
function readPendingRemoteSaves() {
    const parsed = parseState(REMOTE_SAVES);
    return Array.isArray(parsed) ? parsed : [];
}
const GPUS = 'gpus';
function saveGpuState(state) {
    lib_core/* saveState */.LZ(GPUS, JSON.stringify(state));
}
function readGpuState() {
    const parsed = parseState(GPUS);
    if (!Array.isArray(parsed?.gpus))
        return undefined;
    const gpus = parsed.gpus.filter((g) => typeof g?.index === 'number' && (typeof g.uuid === 'string' || g.uuid === null) && typeof g.name === 'string' && typeof g.reservedBytes === 'number');
    return { gpus, leaseFile: typeof parsed.leaseFile === 'string' ? parsed.leaseFile : null, pidsComparable: parsed.pidsComparable === true };
}

;// CONCATENATED MODULE: ./src/engine/backend.ts
function chooseBackend(requested, gpus, nvcc) {
    if (requested !== 'auto')
        return { backend: requested, reason: `backend: ${requested} was asked for` };
    if (gpus.length === 0)
        return { backend: 'cpu', reason: 'auto chose cpu: nvidia-smi lists no NVIDIA GPU' };
    const names = gpus.map((g) => `${g.index}: ${g.name}`).join(', ');
    if (!nvcc) {
        return { backend: 'cpu', reason: `auto chose cpu: nvidia-smi lists ${names}, but no nvcc was found (on PATH, in CUDA_PATH or /usr/local/cuda); install the CUDA toolkit or set backend: cuda to be told what is missing` };
    }
    return { backend: 'cuda', reason: `auto chose cuda: nvidia-smi lists ${names}, and nvcc is ${nvcc}` };
}
/**
 * The backend whose release archive is looked for first (engine-source auto or release), and, where auto chose cuda
 * for the archive alone, why cpu follows when the CUDA archive cannot be used. With an NVIDIA GPU, auto looks for
 * llama.cpp's CUDA archive, which needs only the driver; where that archive cannot be used, a CUDA build follows
 * when nvcc can make one and a build is allowed (engine-source auto), else the CPU engine (its archive, or a build).
 */
function chooseReleaseBackend(requested, gpus, nvcc, canBuild) {
    if (requested !== 'auto' || gpus.length === 0)
        return chooseBackend(requested, gpus, nvcc);
    const names = gpus.map((g) => `${g.index}: ${g.name}`).join(', ');
    const reason = `auto chose cuda: nvidia-smi lists ${names}, and llama.cpp's CUDA release archive needs only the driver`;
    if (nvcc && canBuild)
        return { backend: 'cuda', reason: `${reason}; where none can be used, nvcc (${nvcc}) builds the engine` };
    const why = nvcc ? "'engine-source' is release, so no CUDA engine can be built" : 'no nvcc was found (on PATH, in CUDA_PATH or /usr/local/cuda) to build a CUDA engine';
    return { backend: 'cuda', reason, otherwise: `auto chose cpu: ${why}` };
}

;// CONCATENATED MODULE: ./src/engine/version.ts

/**
 * What `llama-server <args>` prints (stdout and stderr), remembered with the libraries it loads until any of them
 * or the machine changes; a failure says how it ended and its last lines.
 */
async function engineOutput(binary, args, outputs, verify) {
    try {
        return await outputs.output(binary, args, { timeoutMs: 60_000, libraries: true, fresh: verify === 'full' });
    }
    catch (error) {
        const e = error;
        const said = `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim().split('\n').slice(-10).join('\n');
        throw new errors/* EngineError */.NJ(`${binary} ${args.join(' ')} failed (${e.signal ? `killed by ${e.signal}` : (e.code ?? e.message)})${said ? `:\n${said}` : ''}`);
    }
}
/**
 * `llama-server --version` (llama.cpp prints `version: <n> (<commit>)` and `built with …` to stderr): what follows
 * `version:`. Proves that the binary and the libraries it loads run on this machine.
 */
async function engineVersion(binary, outputs, verify) {
    return parseVersion(await engineOutput(binary, ['--version'], outputs, verify));
}
function parseVersion(output) {
    const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
    const versionLine = lines.find((l) => l.startsWith('version:'));
    return (versionLine?.slice('version:'.length).trim() ?? lines[0] ?? 'unknown');
}

;// CONCATENATED MODULE: ./src/engine/binary.ts
// Binary mode: `llama-server-path` names a binary to use as it is; nothing is built.




async function useExistingBinary(binary, backend, outputs, verify) {
    const stat = await external_node_fs_.promises.stat(binary).catch(() => undefined);
    if (!stat?.isFile())
        throw new errors/* EngineError */.NJ(`Input '${Input.LlamaServerPath}' is ${JSON.stringify(binary)}: expected an existing llama-server binary`);
    await external_node_fs_.promises.access(binary, external_node_fs_.constants.X_OK).catch(() => {
        throw new errors/* EngineError */.NJ(`Input '${Input.LlamaServerPath}' is ${JSON.stringify(binary)}: the file is not executable`);
    });
    const version = await engineVersion(binary, outputs, verify);
    return { path: binary, version, commit: null, provisioningMode: 'binary', backend, cacheHit: true };
}

// EXTERNAL MODULE: external "node:timers/promises"
var promises_ = __webpack_require__(8500);
// EXTERNAL MODULE: ./node_modules/proper-lockfile/index.js
var proper_lockfile = __webpack_require__(3648);
var proper_lockfile_default = /*#__PURE__*/__webpack_require__.n(proper_lockfile);
;// CONCATENATED MODULE: ./src/util/redact.ts
// Text that may hold a URL with credentials (an input's value, git's or a server's output) as it may be shown:
// user info, and whatever follows a '?' or '#' (signed URLs carry credentials there), replaced. Pure.
function redactValue(value) {
    // User info runs to the last '@' before the host: a password may hold '@' itself.
    return value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s]*@/gi, '$1***@').replace(/(\/\/[^\s?#]*)[?#][^\s'"]*/g, '$1?…');
}
/**
 * Text from outside (a server, git, a file name) as part of one log line: control characters, which the runner
 * would read as line breaks ('\r' too) and so as the start of a workflow command, become spaces.
 */
function oneLine(text) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x1f\x7f]+/g, ' ');
}

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(1421);
// EXTERNAL MODULE: ./node_modules/zod/v4/classic/schemas.js + 15 modules
var schemas = __webpack_require__(9691);
;// CONCATENATED MODULE: ./src/util/read-file.ts
// Reading a small file found in a cache (a catalog, a manifest, a lease) that anyone with access could have
// replaced: never through a link, never from a FIFO or a device (which would block or never end), never more than
// a bound. Undefined when it is not such a file. The token file, which the runner's own environment names, may be
// reached through a link (followLinks); the rest holds for it too.

/** JSON from outside, or undefined when it is not JSON: the caller's schema decides the rest. */
function parseJson(text) {
    try {
        return JSON.parse(text);
    }
    catch {
        return undefined;
    }
}
/** Open errors that mean "no such small file here" rather than a fault. */
const NOT_THERE = ['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EISDIR'];
// O_NONBLOCK: opening a FIFO with no writer would wait for one; fstat then refuses it.
function openFlags(followLinks) {
    return external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NONBLOCK | (followLinks ? 0 : external_node_fs_.constants.O_NOFOLLOW);
}
/** Why an opened file is not a small regular file, or undefined. */
function problemWith(stat, maxBytes) {
    if (!stat.isFile())
        return `it is not a regular file (${stat.isFIFO() ? 'a FIFO' : stat.isDirectory() ? 'a directory' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'a socket or other special file'})`;
    if (stat.size > maxBytes)
        return `it is ${stat.size} bytes, more than the ${maxBytes} such a file can be`;
    return undefined;
}
async function readSmallFile(file, maxBytes) {
    let handle;
    try {
        handle = await external_node_fs_.promises.open(file, openFlags(false));
    }
    catch (error) {
        if (NOT_THERE.includes(error.code ?? ''))
            return undefined;
        throw error;
    }
    try {
        const stat = await handle.stat();
        if (problemWith(stat, maxBytes))
            return undefined;
        const buffer = Buffer.alloc(stat.size);
        const { bytesRead } = await handle.read(buffer, 0, stat.size, 0);
        return buffer.subarray(0, bytesRead).toString('utf8');
    }
    finally {
        await handle.close();
    }
}
/** `readSmallFile`, synchronously, saying why a file that is there was not read. */
function readSmallFileSync(file, maxBytes, options = {}) {
    let fd;
    try {
        fd = (0,external_node_fs_.openSync)(file, openFlags(options.followLinks ?? false));
    }
    catch (error) {
        const code = error.code ?? 'error';
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return { kind: 'missing' };
        return { kind: 'refused', why: code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be opened (${code})` };
    }
    try {
        const stat = (0,external_node_fs_.fstatSync)(fd);
        const problem = problemWith(stat, maxBytes);
        if (problem)
            return { kind: 'refused', why: problem };
        const buffer = Buffer.alloc(stat.size);
        const bytesRead = (0,external_node_fs_.readSync)(fd, buffer, 0, stat.size, 0);
        return { kind: 'text', text: buffer.subarray(0, bytesRead).toString('utf8') };
    }
    catch (error) {
        return { kind: 'refused', why: `it cannot be read (${error.code ?? 'error'})` };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}

;// CONCATENATED MODULE: ./src/store/lease.ts
// A lease says "a live process uses this entry": eviction never removes an entry with a live lease.
//
// A lease is a file in leases/<entry>/ locked with flock(2). The lock belongs to an open file description, not
// to a pid: this process takes it (through flock(1) on an inherited descriptor, as Node has no flock), keeps the
// descriptor open, and hands it to the server it starts (or to a keeper process when nothing is started), so the
// kernel releases it when the last holder exits, however it ends (kill -9 included), and a checker in another
// PID namespace or container sees the same lock. Its verdict is trusted for leases written under the same kernel
// (same boot id); a lease from another host (a cache-dir on NFS, where some filesystems grant every flock) counts
// as live for longer than any job runs.








const OTHER_HOST_LEASE_MS = 7 * 24 * 3600_000;
/** A temporary lock file (written, not yet renamed into place) of a process that died is removed after this long. */
const PENDING_GRACE_MS = 60_000;
/** `locked`: whether its writer could lock it; a lease without a lock can only be judged by its age. */
const LeaseFile = schemas/* object */.Ikc({ boot_id: schemas/* string */.YjP(), host: schemas/* string */.YjP(), pid: schemas/* number */.aig().int(), created: schemas/* string */.YjP(), locked: schemas/* boolean */.zMY() });
/** Filesystem types (statfs f_type) shared between hosts, where another host's flock may not be seen. */
const NETWORK_FILESYSTEMS = new Set([0x6969 /* NFS */, 0xff534d42 /* CIFS */, 0xfe534d42 /* SMB2 */, 0x517b /* SMB */, 0x65735546 /* FUSE */, 0x0bd00bd0 /* Lustre */, 0x47504653 /* GPFS */, 0x00c36400 /* Ceph */, 0x01021997 /* 9P */, 0x5346414f /* AFS */]);
async function onNetworkFilesystem(file) {
    const stats = await external_node_fs_.promises.statfs(external_node_path_default().dirname(file)).catch(() => undefined);
    return stats === undefined || NETWORK_FILESYSTEMS.has(Number(stats.type) >>> 0);
}
let bootIdCache;
function bootId() {
    if (bootIdCache === undefined) {
        try {
            bootIdCache = (0,external_node_fs_.readFileSync)('/proc/sys/kernel/random/boot_id', 'utf8').trim();
        }
        catch {
            bootIdCache = `host:${external_node_os_default().hostname()}`;
        }
    }
    return bootIdCache;
}
/**
 * Runs `flock -x` on `fd`, waiting up to `waitSeconds` (0: not at all): true when the lock was taken (the
 * descriptor's description now holds it), false when another holds it, undefined when there is no flock(1).
 */
async function tryLock(fd, waitSeconds = 0) {
    return await new Promise((resolve) => {
        const wait = waitSeconds > 0 ? ['-w', String(waitSeconds)] : ['-n'];
        const child = (0,external_node_child_process_.spawn)('flock', ['-x', ...wait, '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
        child.once('error', () => resolve(undefined)); // no flock(1): the lock cannot be used
        child.once('exit', (code) => resolve(code === 0 ? true : code === 1 ? false : undefined));
    });
}
/** A name for a file of this process's (a lease, a work directory): host, pid and randomness, file-name safe. */
function processFileId() {
    return `${external_node_os_default().hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-${process.pid}-${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`;
}
/** Descriptors of the leases this process holds, to hand to the process that will keep them. */
const held = new Set();
/** The lease files this process wrote, for post to give back. */
const taken = [];
function heldLeaseDescriptors() {
    return [...held];
}
function takenLeaseFiles() {
    return [...taken];
}
/**
 * Writes `content` to `file` and locks it through a descriptor of this process, kept open until it exits (or
 * handed to a child). Returns the descriptor, or undefined when no lock could be taken (no flock(1) here).
 */
async function createLockedFile(file, extra = {}) {
    // Written and locked under a temporary name, then renamed (the lock follows the file): under its final name a
    // lock file is locked from its first moment, so a checker never takes a new one for a dead one.
    const temp = external_node_path_default().join(external_node_path_default().dirname(file), `.${external_node_path_default().basename(file)}.${(0,external_node_crypto_.randomBytes)(4).toString('hex')}.tmp`);
    await external_node_fs_.promises.writeFile(temp, leaseContent(true, extra), { flag: 'wx', mode: 0o644 });
    const fd = (0,external_node_fs_.openSync)(temp, 'r');
    const locked = await tryLock(fd);
    // Without flock(1) here, the file says so: a checker must not take its free lock for a dead holder.
    if (!locked)
        await external_node_fs_.promises.writeFile(temp, leaseContent(false, extra));
    await external_node_fs_.promises.rename(temp, file);
    if (locked)
        return fd;
    (0,external_node_fs_.closeSync)(fd);
    return undefined;
}
/** A temporary file of createLockedFile whose writer died before renaming it. */
function isStaleTemp(name, mtimeMs) {
    return /^\..*\.[0-9a-f]{8}\.tmp$/.test(name) && Date.now() - mtimeMs > PENDING_GRACE_MS;
}
/** Whether a lock on `file` is held by a live process: undefined when it cannot be told (no flock(1)). */
async function lockIsHeld(file) {
    let fd;
    try {
        fd = (0,external_node_fs_.openSync)(file, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
    }
    catch {
        return false;
    }
    try {
        const locked = await tryLock(fd);
        return locked === undefined ? undefined : !locked;
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
function leaseContent(locked, extra) {
    return `${JSON.stringify({ ...extra, boot_id: bootId(), host: external_node_os_default().hostname(), pid: process.pid, created: new Date().toISOString(), locked })}\n`;
}
/** True when `content` (a lease or lock file's) was written under this kernel, by a writer that locked it. */
function writtenUnderThisKernel(content) {
    const parsed = LeaseFile.safeParse(parseJson(content));
    return parsed.success && parsed.data.locked && parsed.data.boot_id === bootId();
}
/** Takes a lease on the entry whose lease directory is `leaseDir`, held until this process and its heirs exit. */
async function takeLease(leaseDir) {
    // Post gives each job's leases back; those of a job that never got there (killed with its runner) are removed
    // here, so that the directory does not grow. Housekeeping only (eviction judges every lease itself), so it runs
    // beside the rest of the step, not before the lease: each lease it checks costs a flock(1) process. It never
    // removes a live lease, this one included (locked before it has its name); a failure leaves them for later.
    void hasLiveLease(leaseDir).catch(() => undefined);
    const file = external_node_path_default().join(leaseDir, `${processFileId()}.lease`);
    // Locked or not (no flock(1) here), the file is a lease; a checker that cannot lock it falls back on its age.
    const fd = await createLockedFile(file);
    if (fd !== undefined)
        held.add(fd);
    taken.push(file);
}
/**
 * Gives back leases that main took (post, once the server or keeper that held them is stopped), so that the next
 * job finds no dead lease to check: each file that is a lease of a store (`<store>/leases/<entry>/*.lease`, a
 * regular file) and whose lock is free is removed. Whatever is still held, or cannot be told, is left.
 */
async function giveBackLeases(files) {
    for (const file of files) {
        if (!path.isAbsolute(file) || !file.endsWith('.lease') || path.basename(path.dirname(path.dirname(file))) !== 'leases')
            continue;
        const stat = await fs.lstat(file).catch(() => undefined);
        // Housekeeping: a file that cannot be removed is left for the next job's pruning, and fails nothing.
        if (stat?.isFile() && (await lockIsHeld(file)) === false)
            await fs.rm(file, { force: true }).catch(() => undefined);
    }
}
/** True when a live process holds a lease; dead leases are removed on the way. */
async function hasLiveLease(leaseDir) {
    let names;
    try {
        names = await external_node_fs_.promises.readdir(leaseDir);
    }
    catch {
        return false;
    }
    let live = false;
    for (const name of names) {
        const file = external_node_path_default().join(leaseDir, name);
        if (name.endsWith('.lease')) {
            if (await leaseIsLive(file))
                live = true;
        }
        else {
            const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
            if (stat && isStaleTemp(name, stat.mtimeMs))
                await external_node_fs_.promises.rm(file, { force: true, recursive: true });
        }
    }
    return live;
}
async function leaseIsLive(file) {
    const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
    if (!stat?.isFile()) {
        // A link or a directory is not a lease this action wrote: remove the name, never follow it.
        if (stat)
            await external_node_fs_.promises.unlink(file).catch(() => undefined);
        return false;
    }
    if (await holderLives(file, stat.mtimeMs))
        return true;
    await external_node_fs_.promises.rm(file, { force: true, recursive: true });
    return false;
}
/**
 * Whether the process that wrote the lock file `file` lives. Its lock decides when its writer could lock it and
 * the lock is visible here: on a local filesystem (containers and PID namespaces share the kernel; after a
 * reboot every holder is gone), or on a network one when it was written under this same kernel. Otherwise
 * (another host on NFS, no flock(1) on either side) its age does; a date in the future is not trusted.
 */
async function holderLives(file, mtimeMs) {
    const age = Date.now() - mtimeMs;
    const lease = LeaseFile.safeParse(parseJson((await readSmallFile(file, 4096)) ?? ''));
    if (lease.success && lease.data.locked && (lease.data.boot_id === bootId() || !(await onNetworkFilesystem(file)))) {
        const held = await lockIsHeld(file);
        if (held !== undefined)
            return held;
    }
    return age >= -24 * 3600_000 && age < OTHER_HOST_LEASE_MS;
}

;// CONCATENATED MODULE: ./src/store/lock.ts
// Cross-process locks for a shared cache-dir (several jobs on one runner host, or several hosts on NFS).
// proper-lockfile makes a lock directory with mkdir (atomic on local filesystems and NFS) and keeps its mtime
// fresh; a lock whose holder was killed goes stale and is taken over, without a human. The locks only avoid
// duplicate work: every writer still writes its own temporary file and renames it into place, so the store
// stays correct on a filesystem where locking silently fails.







// A lock not refreshed for this long belongs to a process that died (it refreshes every STALE_MS / 2).
const STALE_MS = 10_000;
async function withLock(lockPath, what, fn) {
    (0,external_node_fs_.mkdirSync)(external_node_path_default().dirname(lockPath), { recursive: true });
    // A lock is a directory this action makes; anything else under its name (a planted link) is removed, never
    // followed: proper-lockfile would otherwise touch or remove what it points to.
    const planted = lstatOrUndefined(`${lockPath}.lock`);
    if (planted && (planted.isSymbolicLink() || !planted.isDirectory()))
        (0,external_node_fs_.unlinkSync)(`${lockPath}.lock`);
    // A lock dated in the future would never go stale: no holder refreshes a lock that far ahead.
    else if (planted && planted.mtimeMs > Date.now() + 60_000)
        (0,external_node_fs_.rmSync)(`${lockPath}.lock`, { recursive: true, force: true });
    const wait = new LockWait(what, `${lockPath}.lock`);
    let release;
    for (;;) {
        try {
            release = await proper_lockfile_default().lock(lockPath, {
                realpath: false,
                lockfilePath: `${lockPath}.lock`,
                stale: STALE_MS,
                retries: 0,
                // The lock is an optimisation: if it cannot be kept fresh, say so and go on.
                onCompromised: (error) => lib_core/* warning */.$e(`The lock for ${what} was lost (${error.message}); going on without it.`),
            });
            break;
        }
        catch (error) {
            if (error.code !== 'ELOCKED')
                throw error;
            wait.waiting();
            await (0,promises_.setTimeout)(250);
        }
    }
    wait.got();
    try {
        return await fn();
    }
    finally {
        await release().catch(() => undefined);
    }
}
/**
 * `fn` under flock(2) on `<lockPath>.flock`, for work whose correctness needs the lock (a directory emptied and
 * rebuilt in place): the kernel lets go when the holder dies, so no staleness is guessed, and two jobs waiting on
 * a killed holder cannot both take the lock, as they can with proper-lockfile (each may remove the lock directory
 * it found stale, the second removing the one the first just made). Where flock(1) or the file cannot be had,
 * withLock.
 */
async function withExclusiveLock(lockPath, what, fn) {
    (0,external_node_fs_.mkdirSync)(external_node_path_default().dirname(lockPath), { recursive: true });
    // O_NOFOLLOW: a link planted under the lock's name is never opened (nor what it points to created).
    const handle = await external_node_fs_.promises.open(`${lockPath}.flock`, external_node_fs_.constants.O_RDWR | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_NOFOLLOW, 0o644).catch(() => undefined);
    if (!handle)
        return await withLock(lockPath, what, fn);
    try {
        const wait = new LockWait(what, `${lockPath}.flock`);
        for (;;) {
            // Blocks up to a second per try, so that the wait is not a spawn every few milliseconds.
            const locked = await tryLock(handle.fd, wait.started ? 1 : 0);
            if (locked === undefined)
                return await withLock(lockPath, what, fn);
            if (locked)
                break;
            wait.waiting();
        }
        wait.got();
        return await fn();
    }
    finally {
        // Closing the only descriptor of the open file releases the lock.
        await handle.close();
    }
}
/** What a lock's waiter says: once when it starts waiting, and how long it waited when it got the lock. */
class LockWait {
    what;
    lockFile;
    since;
    constructor(what, lockFile) {
        this.what = what;
        this.lockFile = lockFile;
    }
    get started() {
        return this.since !== undefined;
    }
    waiting() {
        if (this.since !== undefined)
            return;
        this.since = Date.now();
        lib_core/* info */.pq(`Waiting for ${oneLine(this.what)}: another job is working on it (lock ${this.lockFile})`);
    }
    got() {
        if (this.since !== undefined)
            lib_core/* info */.pq(`Got ${oneLine(this.what)} after ${((Date.now() - this.since) / 1000).toFixed(1)} s`);
    }
}
function lstatOrUndefined(file) {
    try {
        return (0,external_node_fs_.lstatSync)(file);
    }
    catch {
        return undefined;
    }
}

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(7975);
;// CONCATENATED MODULE: ./src/util/child-env.ts
// The environment a program the action starts may see: the job's, without what the runner passes to this action
// alone (its inputs, which hold secrets, its saved state, and its service tokens). Pure.
function jobEnv(env) {
    const result = {};
    for (const [name, value] of Object.entries(env)) {
        if (/^(INPUT_|STATE_)/.test(name) || /^ACTIONS_(RUNTIME_TOKEN|ID_TOKEN_REQUEST_TOKEN|RESULTS_URL|CACHE_URL|RUNTIME_URL)$/.test(name))
            continue;
        result[name] = value;
    }
    return result;
}

;// CONCATENATED MODULE: ./src/gpu/estimate.ts
const MiB = 2 ** 20;
const PER_GPU_OVERHEAD_BYTES = 384 * MiB;
const FLOAT = 4;
/** Bytes per element of llama.cpp's KV cache types (block types: block size / elements per block). */
const KV_TYPE_BYTES = {
    f32: 4, f16: 2, bf16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_1: 20 / 32, q5_0: 22 / 32, q5_1: 24 / 32, iq4_nl: 18 / 32,
};
const pad = (n, to) => Math.ceil(n / to) * to;
/** The KV cells llama.cpp allocates in all, and per stream (what one K·Q product spans). */
function kvCells(ctx, parallel, unified) {
    const padded = pad(Math.max(1, ctx), 256);
    if (unified)
        return { total: padded, perStream: padded };
    const perStream = pad(Math.floor(padded / parallel), 256);
    return { total: perStream * parallel, perStream };
}
function estimateVram({ model: m, modelBytes, ctxSize, parallel, args }) {
    const embd = m.embeddingLength ?? 0;
    const heads = m.headCount || 1;
    const headsKv = m.headCountKv ?? heads;
    const headK = m.keyLength ?? embd / heads;
    const headV = m.valueLength ?? embd / heads;
    const blocks = m.blockCount ?? 0;
    const ctx = ctxSize ?? m.contextLength ?? 4096;
    const cells = kvCells(ctx, parallel, args.kvUnified);
    const kvBytes = args.kvOnHost ? 0 : cells.total * blocks * headsKv * (headK * kvTypeBytes(args.cacheTypeK) + headV * kvTypeBytes(args.cacheTypeV));
    const tokens = Math.min(cells.total, args.ubatch, args.batch);
    const ff = m.feedForwardLength ?? 4 * embd;
    const output = ((m.vocabSize ?? 0) + embd) * tokens * FLOAT;
    const feedForward = (2 * ff + 2 * embd) * tokens * FLOAT;
    // q, k, v, the attention's output and the residual stream.
    const activations = (heads * headK + 2 * headsKv * headK + heads * headV + embd) * tokens * FLOAT;
    const scores = args.flashAttention === 'off' && !args.kvOnHost ? cells.perStream * tokens * heads * FLOAT : 0;
    return {
        source: 'formula',
        weightsBytes: modelBytes,
        kvBytes: Math.ceil(kvBytes),
        computeBytes: Math.ceil(Math.max(output, feedForward, activations + scores)),
        overheadBytes: PER_GPU_OVERHEAD_BYTES,
        layers: blocks + 1,
        kvCells: cells.total,
        kvTypes: args.cacheTypeK === args.cacheTypeV ? args.cacheTypeK : `K ${args.cacheTypeK}, V ${args.cacheTypeV}`,
    };
}
function kvTypeBytes(type) {
    return KV_TYPE_BYTES[type] ?? 2;
}
/**
 * What the estimate needs on `gpuCount` GPUs: the weights and KV cache once, the compute buffers and overhead on
 * each, and over several GPUs one layer more on each (llama.cpp gives every GPU whole layers, so a GPU's share
 * can exceed its part of the split by up to a layer).
 */
function bytesNeeded(estimate, gpuCount) {
    return splitBytes(estimate) + gpuCount * perGpuBytes(estimate) + (gpuCount > 1 ? gpuCount * layerBytes(estimate) : 0);
}
/** The part that is split across GPUs. */
function splitBytes(estimate) {
    return estimate.weightsBytes + estimate.kvBytes;
}
/** The part that every GPU holds in full. */
function perGpuBytes(estimate) {
    return estimate.computeBytes + estimate.overheadBytes;
}
function layerBytes(estimate) {
    return Math.ceil(splitBytes(estimate) / Math.max(1, estimate.layers));
}
/** The memory arguments in server-args (-ctk/-ctv, -fa, -ub, -b, -kvu, -nkvo), llama-server's defaults else. */
function memoryArgs(serverArgs) {
    const value = (names) => {
        let found;
        serverArgs.forEach((arg, i) => {
            const [flag, inline] = arg.split('=', 2);
            if (names.includes(flag))
                found = inline ?? serverArgs[i + 1];
        });
        return found;
    };
    const flag = (on, off) => {
        let found;
        for (const arg of serverArgs) {
            if (on.includes(arg))
                found = true;
            if (off.includes(arg))
                found = false;
        }
        return found;
    };
    const count = (v, fallback) => (v !== undefined && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : fallback);
    // llama.cpp's is_truthy / is_falsey words.
    const fa = value(['-fa', '--flash-attn'])?.toLowerCase() ?? 'auto';
    const flashAttention = ['on', 'enabled', 'true', '1'].includes(fa) ? 'on' : ['off', 'disabled', 'false', '0'].includes(fa) ? 'off' : 'auto';
    return {
        cacheTypeK: (value(['-ctk', '--cache-type-k']) ?? 'f16').toLowerCase(),
        cacheTypeV: (value(['-ctv', '--cache-type-v']) ?? 'f16').toLowerCase(),
        flashAttention,
        ubatch: count(value(['-ub', '--ubatch-size']), 512),
        batch: count(value(['-b', '--batch-size']), 2048),
        kvUnified: flag(['-kvu', '--kv-unified'], ['-no-kvu', '--no-kv-unified']) ?? false,
        kvOnHost: flag(['-nkvo', '--no-kv-offload'], ['-kvo', '--kv-offload']) ?? false,
    };
}

;// CONCATENATED MODULE: ./src/gpu/fit-params.ts
// llama.cpp's own projection of a model's memory: `llama-fit-params --fit-print on` loads the model and a context
// without allocating them (common/fit.cpp, common_fit_print) and prints, per device, the MiB of model, context
// and compute buffers, then the host's: `CUDA0 3745 512 296` … `Host 250 0 12`. It measures what llama-server
// will allocate with the same arguments, so it is preferred to the formula wherever the engine has it (built
// beside llama-server, or found beside a given binary). Its compute buffers are on the safe side: they hold the
// logits of a whole micro-batch, where llama-server reserves one row per slot (its n_outputs_max; measured on the
// tiny test model: 63 MiB projected, 1.26 MiB allocated).







const execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
const fit_params_MiB = 2 ** 20;
const FIT_PARAMS_BINARY = 'llama-fit-params';
// common_fit_print writes, per device of the model and then for the host, `printf("%s ", name)` and three
// `printf("%zu ", MiB)` (floored) and a newline: `CUDA0 3745 512 296 ` … `Host 15 0 63 ` (the real output of a cpu
// build, which projects onto the host alone). Its log goes to stderr.
const DEVICE_LINE = /^([\w.:[\]-]{1,64}) (\d{1,9}) (\d{1,9}) (\d{1,9}) ?$/;
const MOST_DEVICES = 64;
/** The device lines of `--fit-print on` (the host's line is not GPU memory); anything else is skipped. */
function parseFitPrint(stdout) {
    const devices = [];
    for (const line of stdout.split('\n')) {
        if (line.length > 128 || devices.length >= MOST_DEVICES)
            continue;
        const m = DEVICE_LINE.exec(line);
        if (!m || m[1] === 'Host')
            continue;
        devices.push({ device: m[1], modelMib: Number(m[2]), contextMib: Number(m[3]), computeMib: Number(m[4]) });
    }
    return devices;
}
/** The projection's argv: what llama-server gets that decides memory, with every layer on the GPU. */
function fitParamsArgv({ modelPath, ctxSize, parallel, args }) {
    return [
        '--fit-print', 'on',
        '--model', modelPath,
        ...(ctxSize === undefined ? [] : ['--ctx-size', String(ctxSize)]),
        '--parallel', String(parallel),
        '--n-gpu-layers', 'all',
        '--cache-type-k', args.cacheTypeK,
        '--cache-type-v', args.cacheTypeV,
        '--flash-attn', args.flashAttention,
        '--ubatch-size', String(args.ubatch),
        '--batch-size', String(args.batch),
        ...(args.kvUnified ? ['--kv-unified'] : []),
        ...(args.kvOnHost ? ['--no-kv-offload'] : []),
    ];
}
/** llama-fit-params beside `serverBinary`, when it is there and can run. */
function fitParamsBeside(serverBinary) {
    const candidate = external_node_path_default().join(external_node_path_default().dirname(serverBinary), FIT_PARAMS_BINARY);
    try {
        (0,external_node_fs_.accessSync)(candidate, external_node_fs_.constants.X_OK);
        return candidate;
    }
    catch {
        return undefined;
    }
}
/**
 * The projection on one GPU (`deviceEnv` makes only it visible), as the parts of an estimate; `formula` gives
 * what the projection does not measure (cells, types, layers). Undefined, with a note in the log, when it fails.
 */
async function projectWithFitParams(binary, input, deviceEnv, formula) {
    const argv = fitParamsArgv(input);
    lib_core/* info */.pq(`Projecting memory use: ${binary} ${argv.join(' ')}`);
    let stdout;
    try {
        ;
        ({ stdout } = await execFileAsync(binary, argv, { env: { ...jobEnv(process.env), ...deviceEnv }, timeout: 120_000, encoding: 'utf8', maxBuffer: 16 * fit_params_MiB }));
    }
    catch (error) {
        const e = error;
        const last = (e.stderr ?? '').trim().split('\n').slice(-5).join('\n');
        lib_core/* info */.pq(`${FIT_PARAMS_BINARY} gave no projection (${typeof e.code === 'number' ? `exit code ${e.code}` : e.message}); using the formula instead.${last ? `\n${last}` : ''}`);
        return undefined;
    }
    const devices = parseFitPrint(stdout);
    if (devices.length === 0) {
        lib_core/* info */.pq(`${FIT_PARAMS_BINARY} projected no GPU (an engine without GPU support?); using the formula instead.`);
        return undefined;
    }
    const sum = (f) => devices.reduce((s, d) => s + f(d), 0) * fit_params_MiB;
    return {
        ...formula,
        source: 'llama-fit-params',
        weightsBytes: sum((d) => d.modelMib),
        kvBytes: sum((d) => d.contextMib),
        computeBytes: Math.max(...devices.map((d) => d.computeMib)) * fit_params_MiB,
        overheadBytes: PER_GPU_OVERHEAD_BYTES,
    };
}

;// CONCATENATED MODULE: ./src/util/inert-log.ts
// Text from a program the action ran (llama-server's log, compiler output) is printed so that no line of it can
// act as a workflow command (`::error::`, `::add-mask::`, `::set-output::`…): the runner's stop-commands, with a
// token nobody can guess, switches command processing off until the token is given back.


/** Runs `fn` with workflow commands switched off for whatever it prints. */
async function withInertOutput(fn) {
    const token = (0,external_node_crypto_.randomBytes)(16).toString('hex');
    lib_core/* info */.pq(`::stop-commands::${token}`);
    try {
        return await fn();
    }
    finally {
        lib_core/* info */.pq(`::${token}::`);
    }
}
async function printInert(text) {
    await withInertOutput(() => core.info(text));
}

;// CONCATENATED MODULE: ./src/util/safe-path.ts
// A name becomes a path only here: checked to be one plain file name, joined, and checked to stay inside its root.
// Directories inside a cache are created one level at a time and must be real directories, never symbolic links,
// so that nothing planted in a cache (a link in leases/, locks/, tmp/, entries/) can make the action write or
// delete elsewhere. The cache's root itself may be a link: that is the user's choice.


/** A name from outside (a server, a catalog, a URL) that cannot be used as a path. */
class UnsafeNameError extends Error {
    name = 'UnsafeNameError';
}
const MAX_NAME_BYTES = 255;
/** Why `name` is not one plain file name, or undefined. */
function fileNameProblem(name) {
    if (name === '')
        return 'it is empty';
    if (name === '.' || name === '..')
        return `it is '${name}'`;
    if (/[/\\]/.test(name))
        return "it has '/' or '\\'";
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(name))
        return 'it has a NUL or control character';
    if (Buffer.byteLength(name) > MAX_NAME_BYTES)
        return `it is longer than ${MAX_NAME_BYTES} bytes`;
    return undefined;
}
/** `name` when it is one plain file name; else UnsafeNameError naming `what` it is. */
function plainFileName(name, what) {
    const problem = fileNameProblem(name);
    if (problem)
        throw new UnsafeNameError(`${what} ${JSON.stringify(name.slice(0, 300))} cannot be a file name: ${problem}`);
    return name;
}
/** `root/name` for a plain file name, checked to lie directly inside `root`. */
function childPath(root, name, what) {
    const file = external_node_path_default().join(root, plainFileName(name, what));
    const rel = external_node_path_default().relative(root, file);
    if (rel === '' || rel.startsWith('..') || external_node_path_default().isAbsolute(rel) || rel.includes((external_node_path_default()).sep)) {
        throw new UnsafeNameError(`${what} ${JSON.stringify(name)} would leave ${root}`);
    }
    return file;
}
/** A directory inside a cache that is a link or not a directory. */
class CacheLayoutError extends Error {
    name = 'CacheLayoutError';
}
/**
 * `root/a/b…` as a real directory: each level below `root` is created when missing and must not be a symbolic
 * link or anything but a directory. Returns the path.
 */
async function realDirIn(root, ...names) {
    let dir = root;
    await external_node_fs_.promises.mkdir(root, { recursive: true });
    for (const name of names) {
        dir = childPath(dir, name, 'A cache directory');
        const stat = await external_node_fs_.promises.lstat(dir).catch((error) => {
            if (error.code === 'ENOENT')
                return undefined;
            throw error;
        });
        if (!stat) {
            await external_node_fs_.promises.mkdir(dir).catch((error) => {
                if (error.code !== 'EEXIST')
                    throw error;
            });
            const made = await external_node_fs_.promises.lstat(dir);
            if (made.isDirectory() && !made.isSymbolicLink())
                continue;
        }
        else if (stat.isDirectory() && !stat.isSymbolicLink())
            continue;
        throw new CacheLayoutError(`${dir} is ${stat?.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}; the action writes only into real directories inside its cache. Remove it (the action recreates it) or choose another cache-dir`);
    }
    return dir;
}
/** True when `p` exists and is a real directory (not a link). */
async function isRealDir(p) {
    const stat = await external_node_fs_.promises.lstat(p).catch(() => undefined);
    return !!stat && stat.isDirectory() && !stat.isSymbolicLink();
}

// EXTERNAL MODULE: ./node_modules/@actions/exec/lib/exec.js + 1 modules
var exec = __webpack_require__(1955);
;// CONCATENATED MODULE: ./src/util/run.ts
// Runs a program (never through a shell), streaming its output to the step's log and keeping the last lines
// for an error message.

async function run(command, args, options = {}) {
    const keep = options.tailLines ?? 40;
    const lines = [];
    let partial = '';
    let stdout = '';
    const collect = (chunk) => {
        const text = partial + chunk.toString();
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        lines.push(...parts);
        if (lines.length > keep * 4)
            lines.splice(0, lines.length - keep);
    };
    const code = await exec/* exec */.m(command, args, {
        cwd: options.cwd,
        env: options.env,
        silent: options.silent ?? false,
        ignoreReturnCode: true,
        listeners: {
            stdout: (chunk) => {
                stdout += chunk.toString();
                collect(chunk);
            },
            stderr: collect,
        },
    });
    if (partial)
        lines.push(partial);
    return { code, stdout, tail: lines.slice(-keep).join('\n') };
}

// EXTERNAL MODULE: external "node:fs/promises"
var external_node_fs_promises_ = __webpack_require__(1455);
;// CONCATENATED MODULE: ./src/engine/cuda.ts
// nvcc accepts only some host compilers (versions); a one-line compile finds out in a second instead of after
// minutes of CMake.





async function checkNvccHostCompiler(nvcc) {
    const dir = await (0,external_node_fs_promises_.mkdtemp)(external_node_path_default().join(external_node_os_default().tmpdir(), 'setup-llama-server-nvcc-'));
    try {
        await (0,external_node_fs_promises_.writeFile)(external_node_path_default().join(dir, 'probe.cu'), '__global__ void probe() {}\n');
        const result = await run(nvcc, ['-c', external_node_path_default().join(dir, 'probe.cu'), '-o', external_node_path_default().join(dir, 'probe.o')], { silent: true });
        if (result.code !== 0) {
            throw new errors/* EngineError */.NJ(`nvcc (${nvcc}) cannot compile with this machine's host compiler; set CUDAHOSTCXX to one it accepts, or install one:\n${result.tail}`);
        }
    }
    finally {
        await (0,external_node_fs_promises_.rm)(dir, { recursive: true, force: true });
    }
}

;// CONCATENATED MODULE: ./src/engine/plan.ts
// The build of llama-server as data: CMake's command lines and the cache key with everything that went into it.
// Pure, so that tests can check the exact commands for every backend without a GPU.


/**
 * Bumped whenever the recipe below changes what a build produces, so that old cache entries are not reused.
 * 2: llama-fit-params is built beside llama-server where the source has it.
 */
const ENGINE_RECIPE_VERSION = 2;
function cmakeConfigureArgs(plan) {
    const launcher = plan.ccache
        ? [`-DCMAKE_C_COMPILER_LAUNCHER=${plan.ccache}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${plan.ccache}`, ...(plan.backend === 'cuda' ? [`-DCMAKE_CUDA_COMPILER_LAUNCHER=${plan.ccache}`] : [])]
        : [];
    const backend = {
        cpu: [],
        cuda: ['-DGGML_CUDA=ON', `-DCMAKE_CUDA_ARCHITECTURES=${plan.cudaArchitectures ?? ''}`],
        vulkan: ['-DGGML_VULKAN=ON'],
        hip: ['-DGGML_HIP=ON'],
    };
    return [
        '-S', plan.sourceDir,
        '-B', plan.buildDir,
        '-G', plan.generator,
        '-DCMAKE_BUILD_TYPE=Release',
        // Relocatable: llama.cpp's own libraries are linked into the binary; should a user turn shared libraries
        // back on, the build tree's RPATH is $ORIGIN, so the libraries copied beside the binary are found.
        '-DBUILD_SHARED_LIBS=OFF',
        '-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON',
        '-DLLAMA_BUILD_SERVER=ON',
        '-DLLAMA_BUILD_TESTS=OFF',
        '-DLLAMA_BUILD_EXAMPLES=OFF',
        // The prebuilt web UI is downloaded at build time, from a source in no cache key: off, for reproducibility.
        '-DLLAMA_USE_PREBUILT_UI=OFF',
        // A cached engine may run on another machine of the same kind: no -march=native unless asked for.
        '-DGGML_NATIVE=OFF',
        ...backend[plan.backend],
        ...launcher,
        ...plan.cmakeArgs,
    ];
}
/** `target`: llama-server, or a program built beside it (llama-fit-params, whose projection the GPU placement uses). */
function cmakeBuildArgs(buildDir, jobs, target = 'llama-server') {
    return ['--build', buildDir, '--target', target, '--parallel', String(jobs)];
}
/**
 * cmake-args as the key sees them: a later -D of the same variable wins (as in CMake), and order does not
 * matter otherwise.
 */
function normalizeCmakeArgs(args) {
    const defines = new Map();
    const others = [];
    for (const arg of args) {
        const m = /^-D([^=:]+)(?::[^=]*)?=/.exec(arg);
        if (m)
            defines.set(m[1], arg);
        else
            others.push(arg);
    }
    return [...defines.values(), ...others].sort();
}
/** The key names the engine by what it was built from; the material is printed with it. */
function engineKey(material) {
    const digest = (0,external_node_crypto_.createHash)('sha256').update(JSON.stringify(material)).digest('hex');
    return `llama-server-${material.backend}-${material.commit.slice(0, 12)}-${digest.slice(0, 16)}`;
}
/** A git URL as the key sees it: host in lower case, no trailing .git or '/'. Local paths stay as they are. */
function normalizeRepo(repo) {
    const url = URL.parse(repo);
    if (!url || !/^(https?|ssh|git):$/.test(url.protocol))
        return redactValue(repo.replace(/\/+$/, ''));
    return `${url.protocol}//${url.host.toLowerCase()}${url.pathname.replace(/\/+$/, '').replace(/\.git$/, '')}`;
}

;// CONCATENATED MODULE: ./src/engine/git-remote.ts
// A git remote whose URL carries credentials (https://user:token@host/…, common for private forks): the
// credentials go to git through its environment as an HTTP header (GIT_CONFIG_* variables, git 2.31+), never in
// argv, where any user of the machine can read them; the URL git sees, prints and the logs show has none.

function gitRemote(repo) {
    const url = /^https?:\/\//i.test(repo) ? URL.parse(repo) : null;
    if (!url || (!url.username && !url.password))
        return { url: repo, env: {}, display: redactValue(repo) };
    const decode = (s) => {
        try {
            return decodeURIComponent(s);
        }
        catch {
            return s;
        }
    };
    const basic = Buffer.from(`${decode(url.username)}:${decode(url.password)}`).toString('base64');
    url.username = '';
    url.password = '';
    return {
        url: url.href,
        env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` },
        display: redactValue(url.href),
    };
}

;// CONCATENATED MODULE: ./src/engine/source.ts
// The llama.cpp source at one commit, in a work directory outside the store: only that commit, shallow where
// the remote allows it.







async function fetchSource(git, repo, commit, fetchRef, dir) {
    await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
    await external_node_fs_.promises.mkdir(dir, { recursive: true });
    const remote = gitRemote(repo);
    const env = { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env };
    const git_ = (args) => run(git, ['-C', dir, ...args], { silent: true, env });
    await git_(['init', '-q']);
    // By commit and shallow first (GitHub and local repositories allow it); else the ref, whole.
    let fetched = await git_(['fetch', '-q', '--depth', '1', '--no-tags', remote.url, commit]);
    if (fetched.code !== 0) {
        lib_core/* info */.pq(`A shallow fetch of ${commit} was refused (${oneLine(redactValue(fetched.tail.split('\n').pop() ?? ''))}); fetching ${fetchRef}`);
        fetched = await git_(['fetch', '-q', '--no-tags', remote.url, fetchRef]);
    }
    if (fetched.code !== 0)
        throw new errors/* EngineError */.NJ(`git fetch ${remote.display} ${fetchRef} failed (exit code ${fetched.code}):\n${redactValue(fetched.tail)}`);
    const checkout = await git_(['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', commit]);
    if (checkout.code !== 0)
        throw new errors/* EngineError */.NJ(`${remote.display} has no commit ${commit} after fetching ${fetchRef}:\n${redactValue(checkout.tail)}`);
}

;// CONCATENATED MODULE: ./src/util/atomic-write.ts



/**
 * Writes a file so that a reader sees the old content or the whole new one, never a part: a temporary file
 * beside it, flushed, then renamed over it.
 */
async function writeFileAtomic(file, data) {
    await external_node_fs_.promises.mkdir(external_node_path_default().dirname(file), { recursive: true });
    const temp = external_node_path_default().join(external_node_path_default().dirname(file), `.${external_node_path_default().basename(file)}.${process.pid}.${(0,external_node_crypto_.randomBytes)(4).toString('hex')}.tmp`);
    const handle = await external_node_fs_.promises.open(temp, 'w', 0o644);
    try {
        await handle.writeFile(data);
        await handle.sync();
    }
    finally {
        await handle.close();
    }
    try {
        await external_node_fs_.promises.rename(temp, file);
    }
    catch (error) {
        await external_node_fs_.promises.rm(temp, { force: true });
        throw error;
    }
}

;// CONCATENATED MODULE: ./src/store/catalog.ts
// The catalog of a store: one JSON file, replaced atomically (a crash mid-write leaves the old one), changed only
// under its lock (read, change, write). It is input, not truth: it is parsed with a schema, an entry that fails is
// dropped with a warning, and a file of the wrong shape or not JSON at all is rebuilt from the entries on disk
// (each verified), so that a damaged catalog costs a re-hash, never a download.









const MAX_CATALOG_BYTES = 256 * 2 ** 20;
const warned = new Set();
function warnOnce(message) {
    if (warned.has(message))
        return;
    warned.add(message);
    lib_core/* warning */.$e(message);
}
class Catalog {
    spec;
    constructor(spec) {
        this.spec = spec;
    }
    get file() {
        return this.spec.file;
    }
    async read() {
        await this.spec.prepare();
        const parsed = await this.parse();
        if (parsed !== 'damaged')
            return parsed;
        // Rebuilt under the lock, once: the next reader finds the repaired file.
        return await withLock(this.spec.file, `the catalog ${this.spec.file}`, async () => {
            const again = await this.parse();
            if (again !== 'damaged')
                return again;
            warnOnce(`${this.spec.file} is damaged (not JSON, or not a catalog); rebuilding it from the entries on disk`);
            const rebuilt = await this.spec.rebuild();
            await this.write(rebuilt);
            return rebuilt;
        });
    }
    async update(change) {
        await this.spec.prepare();
        return await withLock(this.spec.file, `the catalog ${this.spec.file}`, async () => {
            let data = await this.parse();
            if (data === 'damaged') {
                warnOnce(`${this.spec.file} is damaged (not JSON, or not a catalog); rebuilding it from the entries on disk`);
                data = await this.spec.rebuild();
            }
            const result = change(data);
            await this.write(data);
            return result;
        });
    }
    async write(data) {
        await writeFileAtomic(this.spec.file, `${JSON.stringify(data, null, 1)}\n`);
        // A writer killed between its temporary file and the rename left one behind: it goes after a minute.
        const dir = external_node_path_default().dirname(this.spec.file);
        for (const name of await external_node_fs_.promises.readdir(dir)) {
            if (!name.startsWith(`.${external_node_path_default().basename(this.spec.file)}.`))
                continue;
            const stat = await external_node_fs_.promises.lstat(external_node_path_default().join(dir, name)).catch(() => undefined);
            if (stat?.isFile() && isStaleTemp(name, stat.mtimeMs))
                await external_node_fs_.promises.rm(external_node_path_default().join(dir, name), { force: true });
        }
    }
    async parse() {
        const exists = await external_node_fs_.promises.lstat(this.spec.file).then(() => true, () => false);
        if (!exists)
            return this.spec.empty();
        // Not a regular file (a link, a FIFO), or absurdly large: damaged, rebuilt; never followed or waited on.
        const text = await readSmallFile(this.spec.file, MAX_CATALOG_BYTES);
        if (text === undefined)
            return 'damaged';
        let raw;
        try {
            raw = JSON.parse(text);
        }
        catch {
            return 'damaged';
        }
        const whole = this.spec.shape.safeParse(raw);
        if (!whole.success)
            return 'damaged';
        const data = whole.data;
        for (const [name, entry] of Object.entries(data.entries)) {
            const problem = fileNameProblem(name) ?? (this.spec.entry.safeParse(entry).success ? undefined : 'its record has the wrong shape');
            if (problem) {
                warnOnce(`${this.spec.file}: the entry ${JSON.stringify(name.slice(0, 200))} is dropped (${problem})`);
                delete data.entries[name];
            }
        }
        return data;
    }
}

;// CONCATENATED MODULE: ./src/store/entry-store.ts
// What the model store and the engine store share: a directory of entries under cache-dir, each of which appears
// whole (renamed into place from a private work directory) or not at all; a catalog; per-entry locks; leases that
// keep an entry in use from eviction; removal that renames an entry away before deleting it. Every name that
// becomes a path here is one plain file name, and every directory is a real one (never a planted link).








/** A work directory without its lock file (left by an older version) is kept this long. */
const WORK_DIR_GRACE_MS = 60_000;
class EntryStore {
    cacheDir;
    storeName;
    root;
    catalog;
    checked = new Map();
    constructor(cacheDir, storeName, catalog) {
        this.cacheDir = cacheDir;
        this.storeName = storeName;
        this.root = external_node_path_default().join(cacheDir, storeName);
        this.catalog = new Catalog({ ...catalog, file: external_node_path_default().join(this.root, 'catalog.json'), prepare: () => this.dir('.') });
    }
    /** A directory of the store, checked (real, not a link) once per run. */
    async dir(sub) {
        let dir = this.checked.get(sub);
        if (!dir) {
            dir = sub === '.' ? realDirIn(this.cacheDir, this.storeName) : realDirIn(this.cacheDir, this.storeName, sub);
            this.checked.set(sub, dir);
        }
        return await dir;
    }
    /** The path of entry `name`; the name must be one plain file name. */
    entryDir(name) {
        return childPath(external_node_path_default().join(this.root, 'entries'), name, `The ${this.storeName} entry name`);
    }
    /** The names under entries/ that are real directories. */
    async entryNames() {
        const entries = await this.dir('entries');
        const names = [];
        for (const name of await external_node_fs_.promises.readdir(entries))
            if (await isRealDir(external_node_path_default().join(entries, name)))
                names.push(name);
        return names;
    }
    /** Everything about one entry (finding, installing, evicting) happens under its lock. */
    async withEntryLock(key, what, fn) {
        const locks = await this.dir('locks');
        return await withLock(childPath(locks, key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200), 'A lock name'), what, fn);
    }
    /** Marks an entry as used by this process and whoever inherits its leases (the server it starts). */
    async lease(name) {
        const leases = await this.dir('leases');
        await takeLease(await realDirIn(leases, name));
    }
    async touch(name) {
        const now = new Date().toISOString();
        await this.catalog.update((c) => {
            const r = c.entries[name];
            if (r)
                r.last_used = now;
        });
    }
    /**
     * A private directory inside the store (same filesystem, so that the final rename is atomic), with a lock file
     * beside it that this process holds while it lives: no other job removes it as stale meanwhile.
     */
    async newWorkDir() {
        await this.removeStaleWorkDirs();
        const tmp = await this.dir('tmp');
        const dir = external_node_path_default().join(tmp, processFileId());
        await createLockedFile(`${dir}.lock`);
        await external_node_fs_.promises.mkdir(dir);
        return dir;
    }
    /** Removes a work directory of this process, and its lock file. */
    async removeWorkDir(dir) {
        await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
        await external_node_fs_.promises.rm(`${dir}.lock`, { force: true });
    }
    /** Work directories whose process is gone (killed mid-way), and trash, are removed. */
    async removeStaleWorkDirs() {
        const tmp = await this.dir('tmp');
        for (const name of await external_node_fs_.promises.readdir(tmp).catch(() => [])) {
            const file = external_node_path_default().join(tmp, name);
            const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
            if (!stat)
                continue;
            if (name.startsWith('trash-') || stat.isSymbolicLink()) {
                await external_node_fs_.promises.rm(file, { recursive: true, force: true });
                continue;
            }
            if (isStaleTemp(name, stat.mtimeMs))
                await external_node_fs_.promises.rm(file, { force: true, recursive: true });
            if (name.endsWith('.lock') && stat.isFile()) {
                // A lock whose directory never came (its job died in between) goes once its holder is gone.
                const dir = await external_node_fs_.promises.lstat(file.slice(0, -'.lock'.length)).catch(() => undefined);
                if (!dir && !(await holderLives(file, stat.mtimeMs)))
                    await external_node_fs_.promises.rm(file, { force: true });
                continue;
            }
            if (!stat.isDirectory())
                continue;
            // The lock is renamed into place before its directory is made: a directory without one is debris.
            const lock = `${file}.lock`;
            const lockStat = await external_node_fs_.promises.lstat(lock).catch(() => undefined);
            const lives = lockStat?.isFile() ? await holderLives(lock, lockStat.mtimeMs) : Date.now() - stat.mtimeMs < WORK_DIR_GRACE_MS;
            if (lives)
                continue;
            await external_node_fs_.promises.rm(file, { recursive: true, force: true });
            await external_node_fs_.promises.rm(lock, { force: true });
        }
    }
    /**
     * Renames a complete, verified directory into place as entry `name`. Returns false when another job put the
     * same entry there first (theirs is kept; the caller may add to it).
     */
    async publish(staged, name) {
        await this.dir('entries');
        const dir = this.entryDir(name);
        try {
            await external_node_fs_.promises.rename(staged, dir);
            return true;
        }
        catch (error) {
            const code = error.code;
            if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR')
                throw error;
            if (!(await isRealDir(dir))) {
                // A link or a file planted under the entry's name: moved aside, never followed.
                await this.trash(dir);
                await external_node_fs_.promises.rename(staged, dir);
                return true;
            }
            lib_core/* info */.pq(`Another job installed ${name} first; using its copy`);
            return false;
        }
    }
    async trash(file) {
        const trash = external_node_path_default().join(await this.dir('tmp'), `trash-${(0,external_node_crypto_.randomBytes)(6).toString('hex')}`);
        // rename moves a link itself, never what it points to; rm then deletes the link or the real directory.
        if (await external_node_fs_.promises.rename(file, trash).then(() => true, () => false))
            await external_node_fs_.promises.rm(trash, { recursive: true, force: true });
    }
    /** Removes an entry: renamed out of the way first, so that no half-deleted entry is ever visible. */
    async remove(name, why, alsoInCatalog) {
        await this.trash(this.entryDir(name));
        await this.catalog.update((c) => {
            delete c.entries[name];
            alsoInCatalog?.(c);
        });
        lib_core/* debug */.Yz(`Removed ${name} from ${this.root}: ${why}`);
    }
    /** Removes `name` unless a live process holds a lease on it; 'gone' when it was not there (any more). */
    async evictEntry(name) {
        return await this.withEntryLock(name, name, async () => {
            if (!(await isRealDir(this.entryDir(name)))) {
                // Removed meanwhile (by another job's eviction), or a record without an entry: only the record goes.
                await this.catalog.update((c) => void delete c.entries[name]);
                return 'gone';
            }
            const leases = external_node_path_default().join(await this.dir('leases'), name);
            if ((await isRealDir(leases)) && (await hasLiveLease(leases)))
                return 'in-use';
            await this.remove(name, 'cache-max-size');
            return 'removed';
        });
    }
}

;// CONCATENATED MODULE: ./src/util/file-identity.ts
// What tells one version of a file from another without reading it: device, inode, size, mtime and ctime in ns.
// A rewrite changes mtime and ctime, a replacement the inode; mtime can be set back (utimes), ctime cannot.

/** The identity of `file` (links followed), or undefined when it cannot be stat'ed. */
async function fileIdentity(file) {
    const s = await external_node_fs_.promises.stat(file, { bigint: true }).catch(() => undefined);
    return s ? { key: `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, ctimeNs: s.ctimeNs } : undefined;
}

;// CONCATENATED MODULE: ./src/engine/remembered-output.ts
// What a program prints about itself (`cc --version`, `nvcc --version`, `llama-server --version`) depends only on
// the program, what the dynamic loader gives it, and the machine. It is remembered in the engine store
// (engines/programs.json), with a snapshot of all of these, and a warm run answers from there instead of starting
// the program: any change to the snapshot runs it again. Only on Linux, where the snapshot can be taken cheaply;
// elsewhere the program always runs.









const remembered_output_execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
// The file is input like any other in cache-dir: what does not have this shape is dropped.
const RememberedSchema = schemas/* object */.Ikc({
    snapshot: schemas/* object */.Ikc({
        host: schemas/* string */.YjP(),
        boot: schemas/* string */.YjP(),
        program: schemas/* tuple */.PVZ([schemas/* string */.YjP(), schemas/* string */.YjP()]),
        programDir: schemas/* string */.YjP(),
        ldCache: schemas/* string */.YjP(),
        ldLibraryPath: schemas/* string */.YjP(),
        libraries: schemas/* array */.YOg(schemas/* tuple */.PVZ([schemas/* string */.YjP(), schemas/* string */.YjP()])),
    }),
    output: schemas/* string */.YjP(),
});
const ProgramsFileSchema = schemas/* object */.Ikc({ version: schemas/* literal */.euz(1), programs: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J()) });
async function identity(file) {
    return (await fileIdentity(file))?.key ?? 'missing';
}
async function remembered_output_bootId() {
    return (await external_node_fs_.promises.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}
/** `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)` lines. */
function parseLoadedObjects(output) {
    const files = new Set();
    for (const line of output.split('\n')) {
        const m = /=>\s*(\/\S+)\s+\(0x/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
        if (m?.[1])
            files.add(m[1]);
    }
    return [...files].sort();
}
class RememberedOutputs {
    file;
    prepare;
    known;
    /** This instance's writes, one after the other (cc, c++ and nvcc are asked at once). */
    writing = Promise.resolve();
    /** `prepare` checks (or makes) the file's directory before it is read or written, as a store's catalog does. */
    constructor(file, prepare = async () => undefined) {
        this.file = file;
        this.prepare = prepare;
    }
    /** stdout and stderr of `program args`, remembered from an earlier run when nothing it rests on changed. */
    async output(program, args, options) {
        if (process.platform !== 'linux')
            return await remembered_output_run(program, args, options.timeoutMs);
        const key = `${external_node_os_default().hostname()} ${program} ${args.join(' ')}`;
        this.known ??= this.read();
        const known = (await this.known).programs[key];
        const now = await snapshot(program, known?.snapshot.libraries.map(([f]) => f) ?? []);
        if (known && !options.fresh && JSON.stringify(now) === JSON.stringify(known.snapshot))
            return known.output;
        const output = await remembered_output_run(program, args, options.timeoutMs);
        const libraries = options.libraries ? await identities(await loadedObjects(program, options.timeoutMs)) : [];
        await this.remember(key, { snapshot: { ...now, libraries }, output });
        return output;
    }
    async read() {
        await this.prepare();
        const programs = {};
        try {
            const file = ProgramsFileSchema.safeParse(JSON.parse(await external_node_fs_.promises.readFile(this.file, 'utf8')));
            for (const [key, value] of Object.entries(file.success ? file.data.programs : {})) {
                const record = RememberedSchema.safeParse(value);
                if (record.success)
                    programs[key] = record.data;
            }
        }
        catch {
            // absent, or not JSON: start again
        }
        return { version: 1, programs };
    }
    /**
     * No lock between processes: two jobs writing at once lose one record, and the loser's program runs again next
     * time. Records of programs that are gone (an engine removed from the store) are dropped on the way.
     */
    async remember(key, record) {
        const write = this.writing.then(async () => {
            const data = await this.read();
            data.programs[key] = record;
            for (const [k, r] of Object.entries(data.programs))
                if ((await identity(r.snapshot.program[0])) === 'missing')
                    delete data.programs[k];
            await writeFileAtomic(this.file, `${JSON.stringify(data, null, 1)}\n`);
            this.known = Promise.resolve(data);
        });
        this.writing = write.catch(() => undefined);
        await write;
    }
}
/** Taken before the program runs (a change while it runs then shows next time); libraries are added after. */
async function snapshot(program, libraries) {
    const [programId, dirId, ldCache, boot, libs] = await Promise.all([
        identity(program),
        identity(external_node_path_default().dirname(program)),
        identity('/etc/ld.so.cache'),
        remembered_output_bootId(),
        identities(libraries),
    ]);
    return {
        host: external_node_os_default().hostname(),
        boot,
        program: [program, programId],
        programDir: dirId,
        ldCache,
        ldLibraryPath: process.env.LD_LIBRARY_PATH ?? '',
        libraries: libs,
    };
}
async function identities(files) {
    return await Promise.all(files.map(async (f) => [f, await identity(f)]));
}
async function remembered_output_run(program, args, timeoutMs) {
    // The job's environment, not the action's inputs (tokens): the program may come from a downloaded archive.
    const { stdout, stderr } = await remembered_output_execFileAsync(program, args, { env: jobEnv(process.env), timeout: timeoutMs, encoding: 'utf8' });
    return `${stdout}\n${stderr}`;
}
/**
 * The shared libraries the loader resolves for `program`, from `ldd` (which asks the dynamic loader; the program
 * is run anyway, for its --version). None for a static program, or where ldd is missing: the rest of the
 * snapshot still holds.
 */
async function loadedObjects(program, timeoutMs) {
    try {
        const { stdout } = await remembered_output_execFileAsync('ldd', [program], { timeout: timeoutMs, encoding: 'utf8' });
        return parseLoadedObjects(stdout);
    }
    catch {
        return [];
    }
}

;// CONCATENATED MODULE: ./src/engine/store.ts
// The engine store under cache-dir/engines: one entry per cache key, entries/<key>/ holding bin/llama-server
// (and any library it loads, beside it) and engine.json, its manifest. An entry appears only after it was
// verified by running --version from its final place: a relocatable engine or none.











const MANIFEST = 'engine.json';
const BINARY = external_node_path_default().join('bin', 'llama-server');
const EngineFileSchema = schemas/* object */.Ikc({ path: schemas/* string */.YjP(), size: schemas/* number */.aig().int().nonnegative(), digest: schemas/* string */.YjP().regex(/^sha256:[0-9a-f]{64}$/) });
const EngineLinkSchema = schemas/* object */.Ikc({ path: schemas/* string */.YjP(), target: schemas/* string */.YjP() });
const ManifestSchema = schemas/* object */.Ikc({
    key: schemas/* string */.YjP(),
    material: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J()),
    files: schemas/* array */.YOg(EngineFileSchema).min(1),
    links: schemas/* array */.YOg(EngineLinkSchema).optional(),
    built_at: schemas/* string */.YjP(),
});
const RecordSchema = ManifestSchema.extend({ size_bytes: schemas/* number */.aig(), version: schemas/* string */.YjP(), last_used: schemas/* string */.YjP(), state: schemas/* enum */.k5n(['Active', 'Retired']) });
const CatalogShape = schemas/* object */.Ikc({ version: schemas/* literal */.euz(1), entries: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J()) });
/** A manifest's file path inside its entry: relative, without '..', '.' or empty parts. */
function entryFile(dir, rel) {
    const parts = rel.split('/');
    let file = dir;
    for (const part of parts)
        file = childPath(file, part, 'An engine file path');
    return file;
}
class EngineStore extends EntryStore {
    /** What engines (and compilers) said when asked their version, kept beside the entries. */
    outputs;
    constructor(cacheDir) {
        const empty = () => ({ version: 1, entries: {} });
        super(cacheDir, 'engines', {
            empty,
            shape: CatalogShape,
            entry: RecordSchema,
            // Entries carry their manifests: find() records each again, verified, when it is next used.
            rebuild: async () => empty(),
        });
        this.outputs = new RememberedOutputs(external_node_path_default().join(this.root, 'programs.json'), () => this.dir('.'));
    }
    /** The verified engine for `key`, or undefined; one that fails verification is removed with a warning. */
    async find(key, verify) {
        const dir = this.entryDir(key);
        const stat = await external_node_fs_.promises.lstat(dir).catch(() => undefined);
        if (!stat)
            return undefined;
        const record = (await this.catalog.read()).entries[key];
        const manifest = record ?? (await readManifest(dir));
        const problem = !stat.isDirectory()
            ? 'it is not a real directory'
            : manifest?.key !== key
                ? `${MANIFEST} is missing, unreadable or for another key`
                : await verifyFiles(dir, manifest.files, verify, manifest.links);
        let version;
        if (!problem) {
            try {
                version = await engineVersion(external_node_path_default().join(dir, BINARY), this.outputs, verify);
            }
            catch (error) {
                lib_core/* warning */.$e(`The cached engine ${key} does not run here (${error.message}); building it again.`);
            }
        }
        else {
            lib_core/* warning */.$e(`The cached engine ${key} failed verification (${problem}); building it again.`);
        }
        if (!manifest || problem || version === undefined) {
            await this.remove(key, problem ?? 'it does not run');
            return undefined;
        }
        if (!record)
            await this.record(manifest, version);
        else
            await this.touch(key);
        await this.lease(key);
        return { key, binary: external_node_path_default().join(dir, BINARY), version };
    }
    /**
     * Installs a staged entry (bin/llama-server, libraries, engine.json), checks that it runs from its final place,
     * and records it. An engine that does not run there is removed and the build fails.
     */
    async install(staged, manifest, what = 'The built llama-server') {
        await external_node_fs_.promises.writeFile(external_node_path_default().join(staged, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
        await this.publish(staged, manifest.key);
        const binary = external_node_path_default().join(this.entryDir(manifest.key), BINARY);
        let version;
        try {
            version = await engineVersion(binary, this.outputs, 'full');
        }
        catch (error) {
            await this.remove(manifest.key, 'it does not run from the store');
            throw new errors/* EngineError */.NJ(`${what} does not run from the store, so it is not relocatable: ${error.message}`);
        }
        await this.record(manifest, version);
        await this.lease(manifest.key);
        return { key: manifest.key, binary, version };
    }
    /** Every file of entry `key` with its sha256 (the manifest's files, and the manifest itself). */
    async entryFiles(key) {
        const dir = this.entryDir(key);
        const manifest = await readManifest(dir);
        if (!manifest)
            return [];
        return [...manifest.files.map((f) => ({ path: f.path, digest: f.digest })), { path: MANIFEST, digest: await hash_sha256File(external_node_path_default().join(dir, MANIFEST)) }];
    }
    async record(manifest, version) {
        const now = new Date().toISOString();
        await this.catalog.update((c) => {
            c.entries[manifest.key] = { ...manifest, size_bytes: manifest.files.reduce((s, f) => s + f.size, 0), version, last_used: now, state: 'Active' };
        });
    }
}
async function readManifest(dir) {
    try {
        const parsed = ManifestSchema.safeParse(JSON.parse((await readSmallFile(external_node_path_default().join(dir, MANIFEST), 2 ** 20)) ?? ''));
        return parsed.success ? parsed.data : undefined;
    }
    catch {
        return undefined;
    }
}
/** The manifest's files, listed with their sizes and digests. */
async function describeFiles(dir, relative) {
    return await Promise.all(relative.map(async (rel) => ({ path: rel, size: (await external_node_fs_.promises.stat(external_node_path_default().join(dir, rel))).size, digest: await hash_sha256File(external_node_path_default().join(dir, rel)) })));
}
async function verifyFiles(dir, files, verify, links = []) {
    try {
        return (await verifyFilesOrThrow(dir, files, verify)) ?? (await verifyLinks(dir, files, links));
    }
    catch (error) {
        return error.message;
    }
}
/** Each recorded link is a link, to its recorded target, which stays inside the entry and is a recorded file or link. */
async function verifyLinks(dir, files, links) {
    const recorded = new Set([...files.map((f) => f.path), ...links.map((l) => l.path)]);
    for (const link of links) {
        const full = entryFile(dir, link.path);
        const stat = await external_node_fs_.promises.lstat(full).catch(() => undefined);
        if (!stat?.isSymbolicLink())
            return `${link.path} is missing or not a symbolic link`;
        const target = await external_node_fs_.promises.readlink(full);
        if (target !== link.target)
            return `${link.path} links to ${target}, recorded ${link.target}`;
        const resolved = external_node_path_default().posix.join(external_node_path_default().posix.dirname(link.path), target);
        if (target.startsWith('/') || target.split('/').includes('..') || !recorded.has(resolved))
            return `${link.path} links to ${target}, which is not a file of the entry`;
    }
    return undefined;
}
async function verifyFilesOrThrow(dir, files, verify) {
    if (!files.some((f) => f.path === BINARY))
        return `${BINARY} is not in the manifest`;
    for (const file of files) {
        const full = entryFile(dir, file.path);
        const stat = await external_node_fs_.promises.lstat(full).catch(() => undefined);
        if (!stat?.isFile())
            return `${file.path} is missing or not a regular file`;
        if (stat.size !== file.size)
            return `${file.path} is ${stat.size} bytes, recorded ${file.size}`;
        if (verify === 'full') {
            const digest = await hash_sha256File(full);
            if (digest !== file.digest)
                return `${file.path} has ${digest}, recorded ${file.digest}`;
        }
    }
    return undefined;
}

;// CONCATENATED MODULE: ./src/engine/build.ts
// A build of llama-server: the source at its commit in a work directory, CMake configure and build of the
// llama-server target (the output in collapsed log groups, a failure with the last compiler lines), then the
// binary staged and installed into the engine store.
















async function cmakeStep(cmake, what, args, env) {
    const result = await cmakeRun(cmake, what, args, env);
    if (result.code !== 0)
        throw new errors/* EngineError */.NJ(`${what} of llama.cpp failed (cmake exit code ${result.code}). Last lines:\n${result.tail}`);
}
/**
 * One place for every build on this runner: llama.cpp's unity sources (libllama's models) #include their parts by
 * absolute path, so ccache can reuse their objects only when the tree is where the last build had it. The lock
 * keeps two builds that share a temporary directory out of each other's way.
 */
function workDir() {
    return external_node_path_default().join(process.env.RUNNER_TEMP || external_node_os_default().tmpdir(), 'setup-llama-server', 'build');
}
function cmakeRun(cmake, what, args, env) {
    // The compiler's output comes from the fetched source: none of its lines may act as a workflow command.
    return lib_core/* group */.Os(`${what}: cmake ${args.join(' ')}`, () => withInertOutput(() => run(cmake, args, { env, tailLines: 40 })));
}
/**
 * llama-fit-params, where this llama.cpp has it: its projection of the model's memory is the GPU placement's
 * estimate. Without it the placement uses its formula, so a failure here is a warning, not a failed build.
 */
async function buildFitParams(cmake, sourceDir, buildDir, jobs, env) {
    if (!(0,external_node_fs_.existsSync)(external_node_path_default().join(sourceDir, 'tools', 'fit-params', 'CMakeLists.txt')))
        return;
    const result = await cmakeRun(cmake, `Build ${FIT_PARAMS_BINARY}`, cmakeBuildArgs(buildDir, jobs, FIT_PARAMS_BINARY), env);
    if (result.code !== 0)
        lib_core/* warning */.$e(`${FIT_PARAMS_BINARY} did not build (cmake exit code ${result.code}); the GPU placement estimates memory with its formula. Last lines:\n${result.tail}`);
}
async function buildEngine(store, plan, inputs) {
    // Only a build needs nvcc to accept the host compiler: a cached engine is used without compiling anything.
    if (plan.material.backend === 'cuda')
        await checkNvccHostCompiler(plan.tc.nvcc);
    const work = workDir();
    return await withExclusiveLock(work, `the build directory ${work}`, async () => {
        // What a killed build left there goes first.
        await external_node_fs_.promises.rm(work, { recursive: true, force: true });
        try {
            return await buildIn(work, store, plan, inputs);
        }
        finally {
            await external_node_fs_.promises.rm(work, { recursive: true, force: true });
        }
    });
}
async function buildIn(work, store, plan, inputs) {
    const { tc, key, material } = plan;
    const started = Date.now();
    const sourceDir = external_node_path_default().join(work, 'src');
    const buildDir = external_node_path_default().join(work, 'build');
    lib_core/* info */.pq(`Fetching llama.cpp ${material.commit} from ${redactValue(inputs.llamaCppRepo)}`);
    await fetchSource(tc.git, inputs.llamaCppRepo, material.commit, plan.fetchRef, sourceDir);
    const env = jobEnv(process.env);
    if (tc.ccache) {
        // ccache keeps compiled objects under cache-dir, so that a nearby commit recompiles only what changed.
        Object.assign(env, {
            // A real directory of the cache, never a link planted there: ccache writes and cleans up inside it.
            CCACHE_DIR: await realDirIn(inputs.cacheDir, 'ccache'),
            CCACHE_BASEDIR: work,
            CCACHE_NOHASHDIR: 'true',
            CCACHE_COMPILERCHECK: 'content',
        });
    }
    const configure = cmakeConfigureArgs({
        sourceDir,
        buildDir,
        generator: tc.ninja ? 'Ninja' : 'Unix Makefiles',
        backend: material.backend,
        cudaArchitectures: plan.cudaArchitectures,
        ccache: tc.ccache,
        cmakeArgs: inputs.cmakeArgs,
    });
    await cmakeStep(tc.cmake, 'Configure', configure, env);
    await cmakeStep(tc.cmake, 'Build', cmakeBuildArgs(buildDir, inputs.buildJobs), env);
    await buildFitParams(tc.cmake, sourceDir, buildDir, inputs.buildJobs, env);
    const staged = external_node_path_default().join(await store.newWorkDir(), 'entry');
    const files = await stageEngine(external_node_path_default().join(buildDir, 'bin'), staged);
    // The source and build trees go before the engine is checked: it must run without them.
    await external_node_fs_.promises.rm(work, { recursive: true, force: true });
    const manifest = { key, material, files: await describeFiles(staged, files), built_at: new Date().toISOString() };
    const installed = await store.install(staged, manifest);
    await store.removeWorkDir(external_node_path_default().dirname(staged));
    lib_core/* info */.pq(`Built llama-server in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return installed;
}
/** Copies llama-server and any shared library the build made into `staged/bin`; returns their relative paths. */
async function stageEngine(binDir, staged) {
    await external_node_fs_.promises.mkdir(external_node_path_default().join(staged, 'bin'), { recursive: true });
    const names = await external_node_fs_.promises.readdir(binDir).catch(() => []);
    if (!names.includes('llama-server'))
        throw new errors/* EngineError */.NJ(`The build made no ${external_node_path_default().join(binDir, 'llama-server')}`);
    const wanted = names.filter((n) => n === 'llama-server' || n === FIT_PARAMS_BINARY || /\.(so(\.\d+)*|dylib)$/.test(n));
    for (const name of wanted)
        await external_node_fs_.promises.copyFile(external_node_path_default().join(binDir, name), external_node_path_default().join(staged, 'bin', name));
    await external_node_fs_.promises.chmod(external_node_path_default().join(staged, BINARY), 0o755);
    return wanted.map((n) => external_node_path_default().join('bin', n));
}

;// CONCATENATED MODULE: ./src/engine/gpu.ts
/** `8.9` → `89`: the CMAKE_CUDA_ARCHITECTURES value of each distinct compute capability, sorted. */
function cudaArchitecturesOf(gpus) {
    const archs = [...new Set(gpus.map((g) => g.computeCap?.replace('.', '')).filter((a) => !!a))].sort();
    return archs.length ? archs.join(';') : undefined;
}

;// CONCATENATED MODULE: ./src/engine/preflight.ts
function missingTools(backend, tc) {
    const missing = [];
    const need = (ok, tool, purpose, install) => {
        if (!ok)
            missing.push({ tool, purpose, install });
    };
    need(tc.git, 'git', 'fetches the llama.cpp source at its commit', 'apt-get install git');
    need(tc.cmake, 'cmake', "configures llama.cpp's build", 'apt-get install cmake, or pip install cmake');
    need(tc.cc, 'a C compiler (cc, gcc or clang; or CC)', 'compiles ggml', 'apt-get install gcc (build-essential)');
    need(tc.cxx, 'a C++ compiler (c++, g++ or clang++; or CXX)', 'compiles llama.cpp and llama-server', 'apt-get install g++ (build-essential)');
    need(tc.ninja || tc.make, 'ninja or make', 'runs the build', 'apt-get install ninja-build (preferred) or make');
    if (backend === 'cuda') {
        need(tc.nvcc, 'nvcc', 'compiles the CUDA kernels', 'install the CUDA toolkit (e.g. apt-get install cuda-toolkit-12-8) and put its bin/ on PATH or set CUDA_PATH');
        if (tc.nvcc) {
            need(tc.cublasHeader, 'cuBLAS (cublas_v2.h)', 'the CUDA backend links CUDA::cublas', 'install the CUDA toolkit\'s cuBLAS development package (e.g. apt-get install libcublas-dev-12-8)');
        }
    }
    if (backend === 'vulkan') {
        need(tc.vulkanHeader, 'the Vulkan headers (vulkan/vulkan.h)', 'the Vulkan backend', 'apt-get install libvulkan-dev, or the Vulkan SDK (set VULKAN_SDK)');
        need(tc.glslc, 'glslc', "compiles the Vulkan backend's shaders", 'apt-get install glslc, or the Vulkan SDK');
    }
    if (backend === 'hip')
        need(tc.hipcc, 'hipcc', 'compiles the HIP (ROCm) kernels', 'install ROCm (hipcc in /opt/rocm/bin, or set ROCM_PATH)');
    return missing;
}
function missingToolsMessage(backend, missing) {
    const lines = missing.map((m) => `- ${m.tool}: ${m.purpose}. Usually: ${m.install}.`);
    return `Building llama-server for the ${backend} backend needs ${missing.length === 1 ? 'a tool that is' : `${missing.length} tools that are`} missing:\n${lines.join('\n')}\n(Or set 'llama-server-path' to use an existing binary.)`;
}

;// CONCATENATED MODULE: ./src/engine/ref.ts
// llama-cpp-ref (tag, branch or commit) → commit SHA, with git, before anything else. The ref was already checked
// against git's ref rules (and never starts with '-'), so git cannot read it as an option.






/** Picks the commit for `ref` from `git ls-remote` output: a peeled tag first, then a tag, a branch, any ref. */
function commitFromLsRemote(output, ref) {
    const refs = new Map();
    for (const line of output.split('\n')) {
        const [sha, name] = line.trim().split(/\s+/);
        if (sha && name && /^[0-9a-f]{40}$/.test(sha))
            refs.set(name, sha);
    }
    for (const name of [`refs/tags/${ref}^{}`, `refs/tags/${ref}`, `refs/heads/${ref}`, ref, `refs/${ref}`]) {
        const sha = refs.get(name);
        if (sha)
            return sha;
    }
    return undefined;
}
/**
 * A tag or branch is asked of the remote on every run (a tag can move); a full SHA is used as it is. git starts
 * within this call, before its first await, so that the remote's answer is on its way while the caller goes on.
 */
async function resolveCommit(git, repo, ref) {
    if (/^[0-9a-f]{40}$/.test(ref))
        return { commit: ref, fetchRef: ref };
    const remote = gitRemote(repo);
    const result = await lsRemote(git, ['ls-remote', remote.url, ref, `${ref}^{}`], { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env });
    if (result.code !== 0) {
        throw new errors/* EngineError */.NJ(`git ls-remote ${remote.display} failed (exit code ${result.code}); check '${Input.LlamaCppRepo}':\n${redactValue(result.tail)}`);
    }
    const commit = commitFromLsRemote(result.stdout, ref);
    if (!commit) {
        const hint = /^[0-9a-f]{4,39}$/.test(ref) ? ' (an abbreviated commit cannot be resolved on a remote: give all 40 hex digits)' : '';
        throw new errors/* EngineError */.NJ(`Input '${Input.LlamaCppRef}' is '${ref}': no tag or branch of that name in ${remote.display}${hint}`);
    }
    return { commit, fetchRef: ref };
}
/** execFile, which spawns at once (util/run's @actions/exec would first look the program up, asynchronously). */
function lsRemote(git, args, env) {
    return new Promise((resolve) => {
        (0,external_node_child_process_.execFile)(git, args, { env, encoding: 'utf8', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
            const code = error ? (error.code ?? 1) : 0;
            resolve({ code, stdout, tail: `${stdout}\n${stderr}`.trim().split('\n').slice(-20).join('\n') });
        });
    });
}

;// CONCATENATED MODULE: ./src/util/on-path.ts
// Looking a program up on PATH without starting it.


/**
 * The first executable file named `name` in the directories of `searchPath`, as a shell finds it. Synchronous
 * stat calls, stopping at the first hit: cheaper than a promise per directory (@actions/io's which), and than
 * starting a program that is not there (a failed spawn still forks this process).
 */
function onPath(name, searchPath) {
    if (name.includes((external_node_path_default()).sep))
        return undefined;
    for (const dir of searchPath.split((external_node_path_default()).delimiter)) {
        if (!dir)
            continue;
        const file = external_node_path_default().join(dir, name);
        try {
            // Most directories lack most tools: no exception is made for each of them.
            if (!(0,external_node_fs_.statSync)(file, { throwIfNoEntry: false })?.isFile())
                continue;
            (0,external_node_fs_.accessSync)(file, external_node_fs_.constants.X_OK);
            return file;
        }
        catch {
            // not executable here, or a PATH entry that is not a directory
        }
    }
    return undefined;
}

;// CONCATENATED MODULE: ./src/gpu/nvidia-smi.ts
// The NVIDIA GPUs of this host and the compute processes on them, as nvidia-smi reports them (absent: none).



const nvidia_smi_execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
const GPU_QUERY = ['--query-gpu=index,uuid,name,memory.total,memory.free,compute_cap', '--format=csv,noheader,nounits'];
const COMPUTE_APPS_QUERY = ['--query-compute-apps=gpu_uuid,pid,process_name,used_memory', '--format=csv,noheader,nounits'];
const whole = (s) => (s !== undefined && /^\d+(\.\d+)?$/.test(s) ? Math.round(Number(s)) : null);
/** The lines of csv,noheader output as trimmed fields, those with at least `fields` of them. */
function csvRows(output, fields) {
    return output.split('\n').map((line) => line.split(',').map((f) => f.trim())).filter((row) => row.length >= fields);
}
/** Parses the answer to GPU_QUERY. A name may hold commas: it is what lies between the uuid and the numbers. */
function parseGpus(output) {
    return csvRows(output, 6).flatMap((fields) => {
        const index = whole(fields[0]);
        if (index === null)
            return [];
        const [total, free, cap] = fields.slice(-3);
        const uuid = fields[1] ?? '';
        return [{
                index,
                uuid: /^(GPU|MIG)-[\w-]+$/.test(uuid) ? uuid : null,
                name: fields.slice(2, -3).join(', '),
                memoryTotalMib: whole(total) ?? 0,
                memoryFreeMib: whole(free) ?? 0,
                computeCap: /^\d+\.\d+$/.test(cap ?? '') ? cap : null,
            }];
    });
}
/** Parses the answer to COMPUTE_APPS_QUERY (nothing at all when no process uses a GPU). */
function parseComputeApps(output) {
    return csvRows(output, 4).flatMap((fields) => {
        const pid = whole(fields[1]);
        if (pid === null || !fields[0])
            return [];
        return [{ gpuUuid: fields[0], pid, processName: fields.slice(2, -1).join(', '), usedMib: whole(fields.at(-1)) }];
    });
}
async function nvidiaSmi(args) {
    // Most runners have no nvidia-smi: looked up first, since a spawn that fails still forks this process.
    const program = onPath('nvidia-smi', process.env.PATH ?? '');
    if (!program)
        return undefined;
    try {
        const { stdout } = await nvidia_smi_execFileAsync(program, args, { timeout: 30_000, encoding: 'utf8' });
        return stdout;
    }
    catch {
        // No nvidia-smi, or no driver: nothing to read.
        return undefined;
    }
}
async function queryNvidiaGpus() {
    return parseGpus((await nvidiaSmi(GPU_QUERY)) ?? '');
}
/** `CUDA Version: 12.8` in the header plain nvidia-smi prints: the newest CUDA the driver runs. */
function parseDriverCudaVersion(output) {
    return /CUDA Version:\s*(\d+\.\d+)/.exec(output)?.[1];
}
/**
 * The oldest Linux driver of each CUDA release (NVIDIA's CUDA release notes, "CUDA Toolkit and Corresponding Driver
 * Versions", GA releases), newest first: for a driver whose nvidia-smi prints no CUDA version. A driver newer than
 * the table knows counts as the newest CUDA in it, which is safe: it runs that CUDA's programs too.
 */
const DRIVER_CUDA = [
    ['580.65.06', '13.0'],
    ['575.51.03', '12.9'],
    ['570.26', '12.8'],
    ['560.28.03', '12.6'],
    ['555.42.02', '12.5'],
    ['550.54.14', '12.4'],
    ['545.23.06', '12.3'],
    ['535.54.03', '12.2'],
    ['530.30.02', '12.1'],
    ['525.60.13', '12.0'],
];
/** `570.86.10` → `12.8`: the newest CUDA release whose oldest driver is not newer than `driver`. */
function cudaVersionOfDriver(driver) {
    if (!/^\d+(\.\d+)*$/.test(driver.trim()))
        return undefined;
    const parts = (v) => v.split('.').map(Number);
    const atLeast = (a, b) => {
        for (let i = 0; i < Math.max(a.length, b.length); i++)
            if ((a[i] ?? 0) !== (b[i] ?? 0))
                return (a[i] ?? 0) > (b[i] ?? 0);
        return true;
    };
    return DRIVER_CUDA.find(([min]) => atLeast(parts(driver.trim()), parts(min)))?.[1];
}
/**
 * The newest CUDA version this host's driver runs: from the header of plain `nvidia-smi`, else from the driver
 * version (`--query-gpu=driver_version`) through NVIDIA's table; undefined without a driver.
 */
async function queryDriverCudaVersion() {
    const header = await nvidiaSmi([]);
    const version = header === undefined ? undefined : parseDriverCudaVersion(header);
    if (version)
        return version;
    const driver = await nvidiaSmi(['--query-gpu=driver_version', '--format=csv,noheader']);
    return cudaVersionOfDriver(driver?.split('\n')[0] ?? '');
}
/** The compute processes on the GPUs; undefined when nvidia-smi cannot tell. */
async function queryComputeApps() {
    const output = await nvidiaSmi(COMPUTE_APPS_QUERY);
    return output === undefined ? undefined : parseComputeApps(output);
}
/** `GPU 1 (NVIDIA L4)`: how logs and errors name a GPU. */
function gpuName(gpu) {
    return `GPU ${gpu.index} (${gpu.name})`;
}
/**
 * The GPUs, where they can matter: every backend but cpu reads them (auto to choose, cuda for its architectures
 * and free memory, all of them for the handoff). backend: cpu uses none, so nvidia-smi is not started for it.
 */
async function gpusFor(backend) {
    return backend === 'cpu' ? [] : await queryNvidiaGpus();
}

// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
var external_node_http_default = /*#__PURE__*/__webpack_require__.n(external_node_http_);
// EXTERNAL MODULE: ./node_modules/undici/index.js
var undici = __webpack_require__(6752);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
var external_node_net_default = /*#__PURE__*/__webpack_require__.n(external_node_net_);
;// CONCATENATED MODULE: ./src/http/proxy.ts
// Which proxy a request goes through, as runners set it: HTTPS_PROXY / HTTP_PROXY (either case, lower case first,
// as curl and undici read them), NO_PROXY (host names, domain suffixes, `*`, optional ports). Loopback is always
// direct: a proxy cannot reach this machine's servers, and a proxied readiness probe would never succeed. Pure.

const pick = (env, lower, upper) => (env[lower] ?? env[upper])?.trim() || undefined;
const pickProxy = (env, lower, upper) => withScheme(pick(env, lower, upper));
/** `proxy.corp:3128` or `user:pw@proxy.corp:3128`, as curl and git accept them, is an http:// proxy. */
function withScheme(value) {
    if (value === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(value))
        return value;
    return `http://${value}`;
}
/** The proxy URLs set in the environment (to mask their credentials before anything is logged). */
function proxyUrls(env) {
    return [pickProxy(env, 'http_proxy', 'HTTP_PROXY'), pickProxy(env, 'https_proxy', 'HTTPS_PROXY')].filter((u) => !!u);
}
// 127/8 and ::1; BlockList also matches IPv4-mapped IPv6 (`::ffff:7f00:1`, as URL writes ::ffff:127.0.0.1).
const LOOPBACK = new external_node_net_.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
function isLoopback(hostname) {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (host === 'localhost' || host.endsWith('.localhost'))
        return true;
    const family = (0,external_node_net_.isIP)(host);
    return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}
/** True when NO_PROXY says `url` goes direct. */
function bypassesProxy(url, noProxy) {
    if (!noProxy)
        return false;
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    for (const raw of noProxy.split(/[\s,]+/)) {
        const entry = raw.trim().toLowerCase();
        if (!entry)
            continue;
        if (entry === '*')
            return true;
        const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
        if (!m)
            continue;
        const name = m[1].replace(/^\[|\]$/g, '').replace(/^\*?\./, '');
        if (m[2] && m[2] !== port)
            continue;
        if (host === name || host.endsWith(`.${name}`))
            return true;
    }
    return false;
}
/** The variable that names the proxy for `url`, as a message to the user says it. */
function proxyVariable(url) {
    return url.protocol === 'https:' ? 'HTTPS_PROXY (or https_proxy)' : 'HTTP_PROXY (or http_proxy)';
}
/** The proxy for `url`, or undefined for a direct connection. */
function proxyFor(url, env) {
    if (isLoopback(url.hostname))
        return undefined;
    if (bypassesProxy(url, pick(env, 'no_proxy', 'NO_PROXY')))
        return undefined;
    return url.protocol === 'https:' ? pickProxy(env, 'https_proxy', 'HTTPS_PROXY') : pickProxy(env, 'http_proxy', 'HTTP_PROXY');
}

;// CONCATENATED MODULE: ./src/http/client.ts
// The one HTTP client of the action: undici, a pinned version that the bundle carries once (package.json's
// overrides give the toolkit's http-client the same copy). Every request names its dispatcher here, so no
// library's side effect (undici installs a process-wide dispatcher when it loads) decides how a request travels:
// through the runner's proxy for remote hosts, direct for loopback, NO_PROXY hosts and the local server.



/**
 * A request that never got an answer: refused, reset, timed out, a bad proxy. `code` is undici's or the OS's;
 * `proxy` the proxy it went through (its URL may hold credentials: never show it unredacted).
 */
class NetworkError extends Error {
    code;
    proxy;
    name = 'NetworkError';
    constructor(message, code, proxy) {
        super(message);
        this.code = code;
        this.proxy = proxy;
    }
    /** The proxy wants other credentials (407, which undici turns into an error): asking again cannot help. */
    get proxyRefusedCredentials() {
        return this.proxy !== undefined && /\b407\b/.test(this.message);
    }
}
let directAgent;
const proxyAgents = new Map();
function dispatcherFor(proxy, options) {
    if (!proxy)
        return (directAgent ??= new undici/* Agent */.g6({ connect: { timeout: options.timeoutMs } }));
    let agent = proxyAgents.get(proxy);
    if (!agent) {
        agent = new undici/* ProxyAgent */.kT({ uri: proxy, connect: { timeout: options.timeoutMs } });
        proxyAgents.set(proxy, agent);
    }
    return agent;
}
/** One request, no redirect followed. The caller reads or destroys the body. */
async function send(url, options, env = process.env) {
    const target = new URL(url);
    const proxy = options.direct ? undefined : proxyFor(target, env);
    try {
        const answer = await (0,undici/* request */.Em)(target, {
            dispatcher: dispatcherFor(proxy, options),
            method: options.method ?? 'GET',
            headers: options.headers,
            headersTimeout: options.timeoutMs,
            bodyTimeout: options.timeoutMs,
            signal: options.signal,
        });
        const headers = answer.headers;
        return {
            status: answer.statusCode,
            header: (name) => {
                const value = headers[name.toLowerCase()];
                return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
            body: answer.body,
        };
    }
    catch (error) {
        throw new NetworkError(networkCause(error), errorCode(error), proxy);
    }
}
/**
 * The status of a GET to a server on this machine or its network (llama-server's /health), never through a proxy,
 * its body discarded. Node's own client: polled every few ms while llama-server loads, each request of undici
 * costs about 2 ms of CPU in a fresh process (the first 12 ms, compiling its WebAssembly parser), which the server's
 * loading threads then lack on a small runner; Node's native parser costs a fraction of that.
 */
async function localStatus(url, options) {
    return await new Promise((resolve, reject) => {
        const request = external_node_http_default().get(url, { headers: options.headers, agent: false, timeout: options.timeoutMs }, (response) => {
            // The status is all there is to know: the body is read to its end and dropped, its errors with it.
            response.on('error', () => undefined).resume();
            resolve(response.statusCode ?? 0);
        });
        request.once('timeout', () => request.destroy(new NetworkError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT')));
        // Later errors (after the answer) settle nothing, and must not escape as unhandled events.
        request.on('error', (error) => reject(error instanceof NetworkError ? error : new NetworkError(networkCause(error), errorCode(error))));
    });
}
/** Ends a body being read (a download that must stop), without an unhandled error event. */
function abort(response) {
    response.body.on('error', () => undefined);
    response.body.destroy();
}
/**
 * Discards a body: up to a small limit is read (so that the connection can be reused), the rest aborts it.
 * Errors are of no interest any more, and none may escape as an unhandled event.
 */
async function discard(response) {
    const body = response.body;
    body.on('error', () => undefined);
    await body.dump?.({ limit: 64 * 1024 }).catch(() => undefined);
}
function errorCode(error) {
    const e = error;
    return e.cause?.code ?? e.code;
}
/** The innermost useful words of a network error: `ECONNREFUSED`, `other side closed`, `Body Timeout Error`. */
function networkCause(error) {
    const e = error;
    const code = e.cause?.code ?? e.code;
    const message = e.cause?.message ?? e.message ?? String(error);
    return code && !message.includes(code) ? `${code}: ${message}` : message;
}

;// CONCATENATED MODULE: ./src/http/rate-limit.ts
// What a 429 says about the rate limit: how long to wait (Retry-After, or the `t` of the RateLimit header that the
// Hugging Face Hub sends, draft-ietf-httpapi-ratelimit-headers) and the numbers behind it (requests left, the quota
// and its window, from RateLimit and RateLimit-Policy), so that a failure can say them. Pure.
/** Retry-After is seconds or an HTTP date. */
function retryAfterMs(value, now = Date.now()) {
    if (!value)
        return undefined;
    if (/^\d+$/.test(value.trim()))
        return Number(value) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
/** `"resolvers";r=0;t=55` → { name, params }: the first item of a structured-field list, its parameters. */
function firstItem(value) {
    if (!value)
        return undefined;
    const item = value.split(',')[0] ?? '';
    const names = [...item.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    const params = {};
    for (const m of item.matchAll(/;\s*([a-z]+)=(\d+)/g))
        params[m[1]] = Number(m[2]);
    // The policy names its kind first ("fixed window") and its bucket last.
    return { name: names.at(-1), params };
}
function rateLimitOf(header, now = Date.now()) {
    const limit = firstItem(header('ratelimit'));
    const policy = firstItem(header('ratelimit-policy'));
    const told = retryAfterMs(header('retry-after'), now) ?? (limit?.params.t !== undefined ? limit.params.t * 1000 : undefined);
    return {
        waitMs: told,
        bucket: limit?.name ?? policy?.name,
        remaining: limit?.params.r,
        quota: policy?.params.q,
        windowSeconds: policy?.params.w,
    };
}
/** `0 of 3000 resolvers requests left in a 300 s window; the server says to wait 55 s`, as far as it is known. */
function describeRateLimit(r) {
    const what = r.bucket ? `${r.bucket} requests` : 'requests';
    const parts = [];
    if (r.remaining !== undefined && r.quota !== undefined)
        parts.push(`${r.remaining} of ${r.quota} ${what} left`);
    else if (r.remaining !== undefined)
        parts.push(`${r.remaining} ${what} left`);
    else if (r.quota !== undefined)
        parts.push(`a quota of ${r.quota} ${what}`);
    if (r.windowSeconds !== undefined)
        parts.push(`in a ${r.windowSeconds} s window`);
    const left = parts.join(' ');
    const wait = r.waitMs !== undefined ? `the server says to wait ${Math.ceil(r.waitMs / 1000)} s` : 'the server does not say how long to wait';
    return left ? `${left}; ${wait}` : wait;
}

;// CONCATENATED MODULE: ./src/http/request.ts
// Requests as the action makes them to remote servers: redirects followed by hand, so that a token only ever goes
// to the origin it is for and a redirect can only lead to http(s); retries of what can succeed on retry (408, 429,
// 5xx, dropped or stalled connections). A 429 waits as long as the server says (Retry-After, or the Hub's
// RateLimit header), up to a bound; past it, the step fails at once with the numbers instead of sleeping for long.







class RetryableError extends Error {
    retryAfterMs;
    response;
    name = 'RetryableError';
    constructor(message, retryAfterMs, 
    /** The answer's headers, when there was one (a 429 may say which rate limit it is). */
    response) {
        super(message);
        this.retryAfterMs = retryAfterMs;
        this.response = response;
    }
}
/** A 429: retryable after the wait the server names (`rateLimit.waitMs`), if that is not too long. */
class RateLimitedError extends RetryableError {
    rateLimit;
    name = 'RateLimitedError';
    constructor(message, rateLimit, response) {
        super(message, rateLimit.waitMs, response);
        this.rateLimit = rateLimit;
    }
}
/** A 429 whose wait is longer than the action waits: final, with the numbers. */
class RateLimitError extends Error {
    rateLimit;
    name = 'RateLimitError';
    constructor(message, rateLimit) {
        super(message);
        this.rateLimit = rateLimit;
    }
}
/** An answer that is final: retrying cannot change it (a redirect to a non-HTTP URL, too many redirects). */
class RequestError extends Error {
    name = 'RequestError';
}
class HttpStatusError extends Error {
    url;
    status;
    response;
    name = 'HttpStatusError';
    constructor(url, status, response) {
        super(`HTTP ${status} from ${redactUrl(url)}`);
        this.url = url;
        this.status = status;
        this.response = response;
    }
}
/** A URL for logs and errors: no query string (signed URLs carry credentials there) and no user info. */
function redactUrl(url) {
    const u = URL.parse(url);
    if (!u)
        return '(invalid URL)';
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
}
const MAX_REDIRECTS = 10;
/** One request, redirects followed by hand: Authorization goes to the credential's origin only. */
async function request(url, options) {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const origin = new URL(current).origin;
        const headers = { 'accept-encoding': 'identity', ...options.headers };
        if (options.credential && options.credential.origin === origin)
            headers.authorization = `Bearer ${options.credential.token}`;
        let response;
        try {
            response = await send(current, { method: options.method, headers, timeoutMs: options.timeoutMs, signal: options.signal });
        }
        catch (error) {
            if (!(error instanceof NetworkError))
                throw error;
            if (error.proxyRefusedCredentials) {
                throw new RequestError(`The proxy ${redactUrl(error.proxy)} refused to forward ${redactUrl(current)} without other credentials (HTTP 407): the user and password in ${proxyVariable(new URL(current))} are missing or wrong`);
            }
            throw new RetryableError(`could not reach ${redactUrl(current)} (${error.message})`);
        }
        const location = response.header('location');
        if (response.status >= 300 && response.status < 400 && location) {
            await discard(response);
            const next = URL.parse(location, current);
            if (!next || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
                throw new RequestError(`${redactUrl(current)} redirected to ${next ? `a ${next.protocol} URL` : 'an invalid URL'}; only http(s) redirects are followed`);
            }
            if (options.stopAtCrossOriginRedirect && next.origin !== origin)
                return { ...response, url: current };
            current = next.href;
            continue;
        }
        if (response.status === 429) {
            await discard(response);
            const limit = rateLimitOf(response.header);
            throw new RateLimitedError(`HTTP 429 from ${redactUrl(current)}, rate limited: ${describeRateLimit(limit)}`, limit, response);
        }
        // 501 and 505 say the server does not support the request: asking again cannot help.
        if (response.status === 408 || (response.status >= 500 && response.status !== 501 && response.status !== 505)) {
            await discard(response);
            throw new RetryableError(`HTTP ${response.status} from ${redactUrl(current)}`, rateLimitOf(response.header).waitMs);
        }
        return { ...response, url: current };
    }
    throw new RequestError(`more than ${MAX_REDIRECTS} redirects from ${redactUrl(url)}`);
}
const DEFAULT_RETRY = { attempts: 6, baseDelayMs: 1_000, maxDelayMs: 60_000 };
const MAX_RATE_LIMIT_WAIT_MS = 5 * 60_000;
/**
 * How long to wait before attempt `attempt + 1`. A rate limit's wait is the server's to name (its bound is checked
 * before); other waits grow, up to a cap. Neither is shorter than the growing backoff: a Retry-After of 0 (or a date
 * in the past) from a struggling server must not turn every connection's retries into one burst. Pure.
 */
function retryDelayMs(error, attempt, policy) {
    const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    if (error instanceof RateLimitedError && error.retryAfterMs !== undefined)
        return Math.max(error.retryAfterMs, backoff);
    return Math.min(policy.maxDelayMs, Math.max(error.retryAfterMs ?? 0, backoff));
}
/** Thrown when every attempt failed: how many were made, and the last reason (its `cause`). */
class RetriesExhaustedError extends Error {
    name = 'RetriesExhaustedError';
}
/** The rate limit behind an error, when a 429 is what it came to. */
function rateLimitBehind(error) {
    if (error instanceof RateLimitError || error instanceof RateLimitedError)
        return error.rateLimit;
    if (error instanceof Error && error.cause !== undefined)
        return rateLimitBehind(error.cause);
    return undefined;
}
/**
 * Runs `fn` until it succeeds, retrying RetryableError with exponential backoff or the server's Retry-After.
 * `progress` (bytes so far, say) resets the count when an attempt moved forward: a long download on a flaky
 * link may drop many times, as long as each attempt gets further.
 */
async function withRetries(what, fn, policy = DEFAULT_RETRY, progress, signal) {
    let mark = progress?.();
    let tries = 0;
    for (let attempt = 1;; attempt++) {
        tries++;
        try {
            return await fn();
        }
        catch (error) {
            if (progress && progress() !== mark) {
                mark = progress();
                attempt = 1;
            }
            if (!(error instanceof RetryableError) || signal?.aborted)
                throw error;
            const bound = policy.maxRateLimitWaitMs ?? MAX_RATE_LIMIT_WAIT_MS;
            if (error instanceof RateLimitedError && (error.retryAfterMs ?? 0) > bound) {
                throw new RateLimitError(`${what}: ${error.message}, longer than the ${bound / 1000} s the action waits`, error.rateLimit);
            }
            if (attempt >= policy.attempts) {
                const got = progress ? `; it got as far as ${progress()}` : '';
                throw new RetriesExhaustedError(`${what} failed after ${tries} ${tries === 1 ? 'try' : 'tries'} (${attempt} in a row without progress)${got}: ${error.message}`, { cause: error });
            }
            const delay = retryDelayMs(error, attempt, policy);
            lib_core/* info */.pq(`${oneLine(what)}: ${oneLine(error.message)}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${policy.attempts})`);
            await (0,promises_.setTimeout)(delay, undefined, { signal });
        }
    }
}

;// CONCATENATED MODULE: ./src/util/format.ts
// Sizes and durations as people read them in logs and errors. Pure.
function formatBytes(bytes) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
function formatDuration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60)
        return `${s} s`;
    if (s < 3600)
        return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

;// CONCATENATED MODULE: ./src/engine/devices.ts
// Whether a llama-server can use its GPU backend here: `llama-server --list-devices` (common/arg.cpp in v0.5.0)
// prints "Available devices:", then `  <name>: <description> (<total> MiB, <free> MiB free)` for each device that
// is not the CPU, or `  (none)`. ggml names a backend's devices CUDA0…, Vulkan0…, ROCm0… (GGML_CUDA_NAME, which is
// "ROCm" in a HIP build; GGML_VK_NAME). llama.cpp's release archives are built with GGML_BACKEND_DL: the GPU backend
// is a library loaded at start, and one that does not load (no driver, no CUDA runtime beside it, a driver too old)
// is only logged; the server then runs on the CPU, and --version cannot tell. The answer is remembered like
// --version's, so a warm run starts nothing.



const DEVICE_NAME = { cuda: 'CUDA', vulkan: 'Vulkan', hip: 'ROCm' };
/** The device names of a --list-devices answer (`CUDA0`, …). Pure. */
function parseDevices(output) {
    const names = [];
    for (const line of output.split('\n')) {
        const m = /^\s+([A-Za-z][\w-]*): .*\(\d+ MiB, \d+ MiB free\)\s*$/.exec(line);
        if (m?.[1])
            names.push(m[1]);
    }
    return names;
}
/** The devices of `backend` that `binary` finds here; an EngineError that says what it listed instead. */
async function backendDevices(binary, backend, outputs, verify) {
    const listed = parseDevices(await engineOutput(binary, ['--list-devices'], outputs, verify));
    const prefix = DEVICE_NAME[backend];
    const mine = listed.filter((name) => new RegExp(`^${prefix}\\d+$`).test(name));
    if (!mine.length) {
        throw new errors/* EngineError */.NJ(`${binary} --list-devices names no ${prefix} device (it lists ${listed.length ? oneLine(listed.join(', ')) : 'none'}): its ${backend} backend library did not load here, so it would run on the CPU`);
    }
    return mine;
}

;// CONCATENATED MODULE: ./src/engine/release/api.ts
// GitHub's REST API as the release lookup needs it: JSON GETs with the token (for the API's origin only), retries of
// what can succeed on retry, pages followed through Link headers (never to another origin), and the rate limit told
// apart from other refusals: a 403 or 429 with x-ratelimit-remaining: 0 (or a Retry-After) is a GitHubRateLimitError
// that says when the limit resets, so that the caller can wait or build instead.





/** The API's rate limit is spent until `resetAt` (ms since the epoch). */
class GitHubRateLimitError extends Error {
    resetAt;
    name = 'GitHubRateLimitError';
    constructor(message, resetAt) {
        super(message);
        this.resetAt = resetAt;
    }
}
/** A final answer from the API that is not the data asked for (401, 403, 5xx after retries, not JSON). */
class ReleaseApiError extends Error {
    name = 'ReleaseApiError';
}
/** An answer longer than the bytes it was allowed. */
class TooMuchJsonError extends ReleaseApiError {
}
/** A few tries: when the API is down, a build (or a clear failure) comes after seconds, not minutes. */
const API_RETRY = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 };
/** How long a spent rate limit is waited for before the caller is told (auto then builds instead). */
const RATE_LIMIT_MAX_WAIT_MS = 60_000;
/** One answer (a release is a few KB, its notes at most a few hundred), and all pages of a list together. */
const MAX_JSON_BYTES = 4 * 2 ** 20;
const MAX_LIST_BYTES = 8 * 2 ** 20;
const MAX_PAGES = 50;
/** When the rate limit named by an answer resets, or undefined when the answer is not about a rate limit. */
function rateLimitReset(response, status, now = Date.now()) {
    if (status !== 403 && status !== 429)
        return undefined;
    const retryAfter = response.header('retry-after');
    if (retryAfter && /^\d+$/.test(retryAfter.trim()))
        return now + Number(retryAfter) * 1000;
    if (response.header('x-ratelimit-remaining')?.trim() !== '0')
        return undefined;
    const reset = Number(response.header('x-ratelimit-reset'));
    return Number.isFinite(reset) && reset > 0 ? reset * 1000 : now + RATE_LIMIT_MAX_WAIT_MS;
}
/** The rel="next" URL of a Link header. */
function nextLink(link) {
    for (const part of (link ?? '').split(',')) {
        const m = /^\s*<([^>]*)>(.*)$/.exec(part);
        const rel = m && /;\s*rel="?([^";]*)"?/.exec(m[2])?.[1];
        if (rel?.split(/\s+/).includes('next'))
            return m?.[1];
    }
    return undefined;
}
async function readJson(response, url, maxBytes) {
    const chunks = [];
    let size = 0;
    for await (const chunk of response.body) {
        size += chunk.length;
        if (size > maxBytes) {
            abort(response);
            throw new TooMuchJsonError(`${redactUrl(url)} answered more than ${maxBytes} bytes of JSON`);
        }
        chunks.push(chunk);
    }
    try {
        return { json: JSON.parse(Buffer.concat(chunks).toString('utf8')), bytes: size };
    }
    catch {
        throw new ReleaseApiError(`${redactUrl(url)} did not answer JSON; is GITHUB_API_URL a GitHub API?`);
    }
}
/** One GET of the API: 200 with its JSON, 404 with none; a rate limit, a refusal or garbage throws. */
async function apiGet(host, url, timeoutMs, maxBytes = MAX_JSON_BYTES) {
    if (new URL(url).origin !== new URL(host.api).origin)
        throw new ReleaseApiError(`${redactUrl(url)} is not on the API's origin ${new URL(host.api).origin}`);
    const headers = { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'setup-llama-server' };
    return await withRetries(`Asking ${redactUrl(url)}`, async () => {
        let response;
        try {
            response = await request(url, { headers, credential: host.credential, timeoutMs });
        }
        catch (error) {
            const reset = error instanceof RetryableError && error.response ? rateLimitReset(error.response, 429) : undefined;
            if (reset !== undefined)
                throw new GitHubRateLimitError(`GitHub's API rate limit is spent (HTTP 429 from ${redactUrl(url)})`, reset);
            throw error;
        }
        if (response.status === 404) {
            await discard(response);
            return { status: 404, json: undefined, bytes: 0, next: undefined };
        }
        if (response.status !== 200) {
            await discard(response);
            const reset = rateLimitReset(response, response.status);
            if (reset !== undefined)
                throw new GitHubRateLimitError(`GitHub's API rate limit is spent (HTTP ${response.status} from ${redactUrl(url)})`, reset);
            const token = host.credential ? ` with the token of '${Input.GithubToken}' (or GITHUB_TOKEN)` : '';
            throw new ReleaseApiError(`HTTP ${response.status} from ${redactUrl(url)}${token}`);
        }
        const next = nextLink(response.header('link'));
        return { status: 200, ...(await readJson(response, url, maxBytes)), next: next && URL.parse(next, url)?.href };
    }, API_RETRY);
}
/** Runs `fn`, waiting once for a spent rate limit that resets within RATE_LIMIT_MAX_WAIT_MS; a later reset throws. */
async function waitingForRateLimit(fn, now = Date.now) {
    try {
        return await fn();
    }
    catch (error) {
        if (!(error instanceof GitHubRateLimitError))
            throw error;
        const wait = Math.max(0, error.resetAt - now());
        if (wait > RATE_LIMIT_MAX_WAIT_MS)
            throw error;
        lib_core/* notice */.lm(`${error.message}; waiting ${Math.ceil(wait / 1000)} s until it resets (a '${Input.GithubToken}' raises the limit)`);
        await (0,promises_.setTimeout)(wait + 1_000);
        return await fn();
    }
}
/**
 * Every item of a paged list: the first page, then each rel="next" on the API's origin, up to MAX_PAGES and
 * `maxBytes` of JSON in all (a server that pages without end is refused after megabytes, not gigabytes).
 */
async function apiList(host, url, timeoutMs, maxBytes = MAX_LIST_BYTES) {
    const items = [];
    let page = url;
    let left = maxBytes;
    for (let n = 0; page; n++) {
        if (n >= MAX_PAGES)
            throw new ReleaseApiError(`${redactUrl(url)} has more than ${MAX_PAGES} pages`);
        const answer = await apiGet(host, page, timeoutMs, Math.min(MAX_JSON_BYTES, left)).catch((error) => {
            if (error instanceof TooMuchJsonError && left < MAX_JSON_BYTES) {
                throw new ReleaseApiError(`${redactUrl(url)} answered more than ${maxBytes} bytes of JSON across its pages`);
            }
            throw error;
        });
        if (answer.status === 404)
            break;
        if (!Array.isArray(answer.json))
            throw new ReleaseApiError(`${redactUrl(page)} did not answer a list`);
        items.push(...answer.json);
        left -= answer.bytes;
        page = answer.next;
    }
    return items;
}

;// CONCATENATED MODULE: ./src/engine/release/material.ts
// What names an engine from a release archive: where it came from and, above all, the archive's digest (with a CUDA
// archive, its CUDA runtime archive's digest too), which is its store key. Recorded in the entry's manifest, so that
// a later run finds it for the same commit, backend and platform without asking GitHub again.

/** The store key of a release archive's engine: its digest; with a CUDA runtime archive, both digests hashed. */
function releaseKey(digest, runtimeDigest) {
    const hex = digest.replace(/^sha256:/, '');
    if (!runtimeDigest)
        return `llama-server-release-${hex}`;
    return `llama-server-release-${(0,external_node_crypto_.createHash)('sha256').update(`${digest}\n${runtimeDigest}`).digest('hex')}`;
}
/** `12.8` ≤ `13.0`: versions of the form major.minor compared as numbers. */
function compareVersions(a, b) {
    const [a1 = 0, a2 = 0] = a.split('.').map(Number);
    const [b1 = 0, b2 = 0] = b.split('.').map(Number);
    return a1 - b1 || a2 - b2;
}
/** True when `material` is a release's for this commit, backend and platform (and digest, when one is pinned). */
function sameRelease(material, want, digest) {
    const m = material;
    return (m?.source === 'release' &&
        m.repo === want.repo &&
        m.commit === want.commit &&
        m.backend === want.backend &&
        m.os === want.os &&
        m.arch === want.arch &&
        // The catalog is input: the newest-CUDA sort reads this as a version string.
        (m.cudaVersion === undefined || m.cudaVersion === null || typeof m.cudaVersion === 'string') &&
        (digest === undefined || m.digest === digest));
}

;// CONCATENATED MODULE: ./src/engine/release/asset.ts
// Which archive of a llama.cpp release fits this runner, by name, as llama.cpp's release workflow
// (.github/workflows/release.yml, v0.5.0) names them for Linux:
//   cpu     llama-<tag>-bin-ubuntu-<x64|arm64>.tar.gz                            (job ubuntu-cpu)
//   vulkan  llama-<tag>-bin-ubuntu-vulkan-<x64|arm64>.tar.gz                     (job ubuntu-vulkan)
//   hip     llama-<tag>-bin-ubuntu-rocm-<major.minor>-x64.tar.gz (the ROCm it was built with)
//   cuda    llama-<tag>-bin-ubuntu-cuda-<label>-<x64|arm64>.tar.gz, with its CUDA runtime beside it in
//           cudart-llama-<tag>-bin-ubuntu-cuda-<label>-<x64|arm64>.tar.gz       (job ubuntu-cuda: labels 12.8 and
//           13.4 for x64, 13.4 for arm64; built with the default CUDA architectures and GGML_BACKEND_DL)
// Each llama archive is `tar -czf … --transform "s,^\.,llama-<tag>," -C build/bin .`: one folder holding llama-server
// and the shared libraries (with their symbolic links) it loads from beside itself (RPATH $ORIGIN). The runtime
// archive holds libcudart.so.<major>, libcublas.so.<major> and libcublasLt.so.<major> in its own folder (named as
// the archive, without .tar.gz), to be extracted beside them. Pure.



const ReleaseSchema = schemas/* object */.Ikc({ id: schemas/* number */.aig().int(), tag_name: schemas/* string */.YjP(), draft: schemas/* boolean */.zMY().optional() });
const AssetSchema = schemas/* object */.Ikc({
    name: schemas/* string */.YjP(),
    size: schemas/* number */.aig().int().nonnegative(),
    digest: schemas/* string */.YjP().nullish(),
    browser_download_url: schemas/* string */.YjP(),
    state: schemas/* string */.YjP().optional(),
});
/** The API's assets, those fully uploaded; anything malformed is left out. */
function parseAssets(items) {
    const assets = [];
    for (const item of items) {
        const parsed = AssetSchema.safeParse(item);
        if (!parsed.success || (parsed.data.state !== undefined && parsed.data.state !== 'uploaded'))
            continue;
        const { name, size, digest, browser_download_url: url } = parsed.data;
        assets.push({ name, size, digest: digest && /^sha256:[0-9a-f]{64}$/.test(digest) ? digest : null, url });
    }
    return assets;
}
const ARCH = { x64: 'x64', arm64: 'arm64' };
/** The versioned archives `<prefix><major.minor><suffix>` of a release, newest first. */
function versioned(assets, prefix, suffix) {
    return assets
        .map((a) => ({ a, version: a.name.startsWith(prefix) && a.name.endsWith(suffix) ? a.name.slice(prefix.length, -suffix.length) : '' }))
        .filter((r) => /^\d+\.\d+$/.test(r.version))
        .sort((x, y) => compareVersions(y.version, x.version));
}
/** The asset for the runner, or why none fits (with what the release has, so the user can see). */
function chooseAsset(assets, tag, runner) {
    const arch = ARCH[runner.arch];
    // The names come from the API: shown on one line each, so that none can start a workflow command in the log.
    const has = assets.length ? assets.map((a) => oneLine(a.name)).join(', ') : 'no assets';
    const none = (why) => ({ problem: `release ${tag} has ${why} (it has ${has})` });
    if (!arch)
        return none(`no archive for ${runner.arch}`);
    const byName = (name) => assets.find((a) => a.name === name);
    if (runner.backend === 'cpu' || runner.backend === 'vulkan') {
        const name = `llama-${tag}-bin-ubuntu-${runner.backend === 'vulkan' ? 'vulkan-' : ''}${arch}.tar.gz`;
        const asset = byName(name);
        return asset ? { asset } : none(`no ${name}`);
    }
    if (runner.backend === 'cuda')
        return chooseCuda(assets, tag, arch, runner.cudaVersion, byName, none);
    const prefix = `llama-${tag}-bin-ubuntu-rocm-`;
    const suffix = `-${arch}.tar.gz`;
    const rocm = versioned(assets, prefix, suffix);
    if (!rocm.length)
        return none(`no ROCm archive for ${arch} (${prefix}<version>${suffix})`);
    if (!runner.rocmVersion)
        return { asset: rocm[0].a };
    const match = rocm.find((r) => r.version === runner.rocmVersion);
    if (match)
        return { asset: match.a };
    return { problem: `release ${tag} has ROCm ${rocm.map((r) => r.version).join(', ')} archives, and this machine has ROCm ${runner.rocmVersion}` };
}
/**
 * The newest CUDA archive built for a CUDA version the driver runs (a driver runs the programs of its own CUDA
 * version and older ones, not newer ones), with its runtime archive.
 */
function chooseCuda(assets, tag, arch, driverCuda, byName, none) {
    const prefix = `llama-${tag}-bin-ubuntu-cuda-`;
    const suffix = `-${arch}.tar.gz`;
    const cuda = versioned(assets, prefix, suffix);
    if (!cuda.length)
        return none(`no CUDA archive for ${arch} (${prefix}<version>${suffix})`);
    const versions = cuda.map((r) => r.version).join(', ');
    if (!driverCuda)
        return { problem: `release ${tag} has CUDA ${versions} archives, and nvidia-smi did not say which CUDA version the driver runs` };
    const runnable = cuda.filter((r) => compareVersions(r.version, driverCuda) <= 0);
    if (!runnable.length)
        return { problem: `release ${tag} has CUDA ${versions} archives, and this machine's driver runs CUDA ${driverCuda} at most` };
    for (const { a, version } of runnable) {
        const runtime = byName(`cudart-${prefix}${version}${suffix}`);
        if (runtime)
            return { asset: a, runtime, cudaVersion: version };
    }
    return none(`no CUDA runtime archive for ${runnable.map((r) => r.a.name).join(', ')} (cudart-${prefix}<version>${suffix})`);
}
/** `6.4.1-120` (ROCm's .info/version) → `6.4`. */
function rocmMajorMinor(text) {
    return /^(\d+\.\d+)/.exec(text.trim())?.[1];
}

;// CONCATENATED MODULE: ./src/util/disk.ts





const disk_execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
/** Free bytes for an unprivileged writer on the filesystem of `dir`, or undefined when it cannot be read. */
async function freeBytes(dir) {
    try {
        const stats = await external_node_fs_.promises.statfs(dir);
        return stats.bavail * stats.bsize;
    }
    catch {
        return undefined;
    }
}
/** Fails before a download when the filesystem of `dir` has no room for `bytes` (and a small margin). */
async function ensureFreeSpace(dir, bytes, what) {
    const free = await freeBytes(dir);
    const needed = bytes + Math.max(64 * 2 ** 20, bytes * 0.01);
    if (free !== undefined && free < needed) {
        throw new LocalWriteError(`Not enough disk space for ${what}: it needs ${formatBytes(needed)} (${bytes} bytes and a margin) in ${dir}, which has ${formatBytes(free)} free`);
    }
}
/** A write on this machine failed (full disk, quota, I/O error, read-only): fatal, never retried. */
class LocalWriteError extends Error {
    name = 'LocalWriteError';
}
const LOCAL_WRITE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG', 'EACCES', 'EPERM']);
function isLocalWriteFailure(error) {
    return LOCAL_WRITE_CODES.has(error.code ?? '');
}
/** The LocalWriteError for a failed write to `file`: the path, what the OS said, free space and what was needed. */
async function localWriteError(error, file, neededBytes) {
    const code = error.code ?? 'error';
    const free = await freeBytes(external_node_path_default().dirname(file));
    const room = free === undefined ? '' : `; ${formatBytes(free)} free there`;
    const need = neededBytes === undefined ? '' : `, ${formatBytes(neededBytes)} needed in all`;
    return new LocalWriteError(`Could not write ${file} (${code}${room}${need}): free space on that filesystem or choose another cache-dir`);
}
/** Writes all of `data` at `position`, or throws: a short write is never taken for a whole one. */
async function writeFully(handle, data, position) {
    let done = 0;
    while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
        if (bytesWritten <= 0)
            throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        done += bytesWritten;
    }
}
/**
 * Reserves `size` bytes for `file` (open, empty): fallocate(1) allocates the blocks, so that a full disk fails here
 * rather than halfway through a download, and ranges written out of order do not fragment the file. Where that
 * cannot be done (no fallocate(1), a filesystem without it) the file is only extended, sparse. Node has no
 * posix_fallocate of its own.
 */
async function preallocate(handle, file, size) {
    try {
        await disk_execFileAsync('fallocate', ['--length', String(size), '--', file], { timeout: 60_000 });
        return;
    }
    catch (error) {
        const stderr = String(error.stderr ?? '');
        if (/No space left|Disk quota exceeded/i.test(stderr)) {
            throw await localWriteError(Object.assign(new Error(stderr.trim()), { code: /quota/i.test(stderr) ? 'EDQUOT' : 'ENOSPC' }), file, size);
        }
    }
    try {
        await handle.truncate(size);
    }
    catch (error) {
        if (isLocalWriteFailure(error))
            throw await localWriteError(error, file, size);
        throw error;
    }
}
/** Writes all of `data` at `position` before it returns, or throws: a short write is never taken for a whole one. */
function writeFullySync(fd, data, position) {
    let done = 0;
    while (done < data.length) {
        const written = (0,external_node_fs_.writeSync)(fd, data, done, data.length - done, position + done);
        if (written <= 0)
            throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        done += written;
    }
}
/**
 * Writes a growing file back to disk as it grows (fdatasync in the thread pool after every `every` bytes, one at a
 * time), so that the fsync before the file is kept finds little left to write. Without it the kernel starts writing
 * only once a tenth of memory is dirty, and a model of a few GiB waits for its final fsync at the end.
 */
class WriteBehind {
    handle;
    file;
    every;
    pending = 0;
    flushing;
    failure;
    constructor(handle, 
    /** The file's path, for the message of a write that failed. */
    file, every = 64 * 2 ** 20) {
        this.handle = handle;
        this.file = file;
        this.every = every;
    }
    wrote(bytes) {
        this.pending += bytes;
        if (this.pending < this.every || this.flushing)
            return;
        this.pending = 0;
        this.flushing = this.handle
            .datasync()
            .catch((error) => void (this.failure ??= error))
            .finally(() => (this.flushing = undefined));
    }
    /** The file on disk: the flush under way, then an fsync; what a flush met is thrown here, as a write's failure is. */
    async sync() {
        try {
            await this.flushing;
            if (this.failure !== undefined)
                throw this.failure;
            await this.handle.sync();
        }
        catch (error) {
            throw isLocalWriteFailure(error) ? await localWriteError(error, this.file, undefined) : error;
        }
    }
}

// EXTERNAL MODULE: external "node:v8"
var external_node_v8_ = __webpack_require__(8877);
var external_node_v8_default = /*#__PURE__*/__webpack_require__.n(external_node_v8_);
// EXTERNAL MODULE: external "node:vm"
var external_node_vm_ = __webpack_require__(714);
var external_node_vm_default = /*#__PURE__*/__webpack_require__.n(external_node_vm_);
;// CONCATENATED MODULE: ./src/util/young-collection.ts
// Node reads a socket into a new 64 KiB buffer each time, and V8 frees those buffers only when it collects the
// small objects that hold them. During a download those objects are few, so the young generation fills slowly,
// the buffers pile up outside the heap, and V8 answers with a full (major) collection for every 64 MiB of them:
// 33 per 2 GiB, each marking the whole heap, on CPUs that the download and its hash already use. A minor
// collection after every few MiB received frees the buffers while they are young (6 major collections instead of
// 33, a tenth less CPU and a third less memory for a 2 GiB model: BENCHMARKS.md, "Download").


let collector;
/**
 * V8's gc(), reached as the `expose-gc` package reaches it: the flag set only while one new context is made, so
 * that no global `gc` appears. Null where that does not work (then downloads only cost more CPU).
 */
function minorCollector() {
    if (collector !== undefined)
        return collector;
    // Node started with --expose-gc: the flag is left as it was.
    const exposed = globalThis.gc;
    if (typeof exposed === 'function')
        return (collector = exposed);
    try {
        external_node_v8_default().setFlagsFromString('--expose-gc');
        const gc = external_node_vm_default().runInNewContext('gc');
        collector = typeof gc === 'function' ? gc : null;
    }
    catch {
        collector = null;
    }
    finally {
        external_node_v8_default().setFlagsFromString('--no-expose-gc');
    }
    return collector;
}
/** Counts the bytes received and asks for a minor collection after every `every` of them. */
class YoungCollection {
    every;
    collect;
    since = 0;
    constructor(every = 16 * 2 ** 20, collect = minorCollector()) {
        this.every = every;
        this.collect = collect;
    }
    received(bytes) {
        this.since += bytes;
        if (this.since < this.every || !this.collect)
            return;
        this.since = 0;
        this.collect({ type: 'minor' });
    }
}

;// CONCATENATED MODULE: ./src/engine/release/download.ts
// A release archive into a file, hashed as it streams, and checked against the size and sha256 the releases API gave
// (or the user pinned): a mismatch deletes the file and fails the step. No token goes with it (the download host
// is not the API). A dropped connection starts the download over: archives are tens of MB. A host that refuses the
// download (an HTTP error, a redirect that is not followed, a long rate limit, retries spent) is a
// ReleaseDownloadError: the archive was never seen, so engine-source auto builds instead.







/** The download host did not give the archive: no byte of it was checked, so nothing says it is hostile. */
class ReleaseDownloadError extends Error {
    name = 'ReleaseDownloadError';
}
async function downloadAsset(plan) {
    try {
        const digest = await withRetries(`Downloading ${plan.label} from ${redactUrl(plan.url)}`, () => attempt(plan));
        if (digest !== plan.digest)
            throw new errors/* EngineError */.NJ(`${plan.label} from ${redactUrl(plan.url)} has ${digest}, expected ${plan.digest}; the download was deleted and nothing was stored`);
    }
    catch (error) {
        await external_node_fs_.promises.rm(plan.dest, { force: true });
        if (error instanceof HttpStatusError || error instanceof RequestError || error instanceof RateLimitError || error instanceof RetriesExhaustedError) {
            throw new ReleaseDownloadError(`the download of the release archive ${plan.label} failed (${(0,errors/* errorMessage */.gJ)(error)})`, { cause: error });
        }
        throw error;
    }
}
/** One try from the first byte: the archive's sha256, once all of it (and no more) arrived. */
async function attempt(plan) {
    const response = await request(plan.url, { headers: { accept: 'application/octet-stream', 'user-agent': 'setup-llama-server' }, timeoutMs: plan.timeoutMs });
    if (response.status !== 200) {
        await discard(response);
        throw new HttpStatusError(plan.url, response.status, response);
    }
    const hash = (0,external_node_crypto_.createHash)('sha256');
    const handle = await external_node_fs_.promises.open(plan.dest, 'w', 0o644);
    let written = 0;
    const young = new YoungCollection();
    try {
        for await (const chunk of response.body) {
            if (written + chunk.length > plan.size) {
                abort(response);
                throw new errors/* EngineError */.NJ(`${plan.label} from ${redactUrl(plan.url)} is larger than the ${plan.size} bytes the releases API gave; the download was deleted and nothing was stored`);
            }
            await writeFully(handle, chunk, written).catch(async (error) => {
                abort(response);
                throw isLocalWriteFailure(error) ? await localWriteError(error, plan.dest, plan.size) : error;
            });
            hash.update(chunk);
            young.received(chunk.length);
            written += chunk.length;
        }
    }
    catch (error) {
        if (error instanceof Error && (error.name === 'EngineError' || error.name === 'LocalWriteError'))
            throw error;
        throw new RetryableError(`the connection dropped or stalled after ${written} bytes (${error.message})`);
    }
    finally {
        await handle.close();
    }
    if (written < plan.size)
        throw new RetryableError(`the body ended after ${written} of ${plan.size} bytes`);
    return `sha256:${hash.digest('hex')}`;
}

;// CONCATENATED MODULE: ./src/engine/release/github.ts
// Which GitHub API serves the releases of llama-cpp-repo. The runner names its server and API (GITHUB_SERVER_URL,
// GITHUB_API_URL: github.com, a GHES instance, a mirror, a test double); a repository on that server is asked there,
// one on github.com is asked at api.github.com, any other has no GitHub releases. The job's token belongs to the
// runner's server: it goes to that server's API and to nothing else. Pure.

const GITHUB_COM = 'https://github.com';
const GITHUB_COM_API = 'https://api.github.com';
/** host (with port) and owner/repo of a git URL: https://host/owner/repo(.git), ssh://git@host/…, git@host:owner/repo. */
function repoOnHost(repo) {
    const scp = /^[\w.-]+@([\w.-]+):(.*)$/.exec(repo);
    const url = scp ? undefined : URL.parse(repo);
    if (!scp && (!url || !/^(https?|ssh|git):$/.test(url.protocol)))
        return undefined;
    const host = scp ? scp[1] : url.host;
    const parts = (scp ? scp[2] : url.pathname).replace(/\.git\/*$|\/+$/g, '').split('/').filter(Boolean);
    if (parts.length !== 2 || !parts.every((p) => /^[\w.-]+$/.test(p) && p !== '.' && p !== '..'))
        return undefined;
    return { host: host.toLowerCase(), owner: parts[0], repo: parts[1] };
}
function baseUrl(value, fallback) {
    const url = value ? URL.parse(value.trim()) : null;
    return url && (url.protocol === 'https:' || url.protocol === 'http:') ? url : new URL(fallback);
}
/** Where to ask for the releases of `repo`, or why there is nowhere to ask. */
function releaseHost(repo, env, token) {
    const server = baseUrl(env.GITHUB_SERVER_URL, GITHUB_COM);
    const onGithubCom = server.host === 'github.com';
    const api = baseUrl(env.GITHUB_API_URL, onGithubCom ? GITHUB_COM_API : `${server.origin}/api/v3`).href.replace(/\/+$/, '');
    const where = repoOnHost(repo);
    if (!where)
        return { reason: `'${Input.LlamaCppRepo}' is not a GitHub repository URL (https://<server>/<owner>/<repo>), so it has no GitHub releases` };
    const sameHost = where.host === server.host.toLowerCase() || (!/^https?:/.test(repo) && where.host === server.hostname.toLowerCase());
    if (sameHost) {
        const credential = token ? { origin: new URL(api).origin, token } : undefined;
        return { host: { api, owner: where.owner, repo: where.repo, credential } };
    }
    if (where.host === 'github.com')
        return { host: { api: GITHUB_COM_API, owner: where.owner, repo: where.repo, credential: undefined } };
    return { reason: `'${Input.LlamaCppRepo}' is on ${where.host}, which is neither this runner's GitHub (${server.host}) nor github.com, so it has no GitHub releases` };
}

// EXTERNAL MODULE: external "node:zlib"
var external_node_zlib_ = __webpack_require__(8522);
;// CONCATENATED MODULE: ./src/engine/release/tar.ts
// A release archive (tar.gz) extracted into an empty directory, every entry treated as hostile. The archive holds one
// folder (llama-<tag>/, with or without a leading './' entry): its content lands in the directory, and anything
// outside it fails. Names must be relative, without '..', each part a plain file name. Only directories, regular
// files and symbolic links are made; a link's target must be relative and without '..' (so that no chain of links
// can lead out), and must lead to a file of the archive; nothing is written through a link, and files are created
// exclusively, so that no entry replaces another. A hard link becomes a copy of a file extracted before it, and
// counts as many bytes as that file: a few bytes of headers must not unpack to gigabytes. Before anything is
// written, the size the gzip stream declares must fit in the free space.





/** The archive is malformed or tries something no release archive needs. */
class ArchiveError extends Error {
    name = 'ArchiveError';
}
/** llama.cpp's CPU archive unpacks to tens of MB, a CUDA one with its runtime to a few hundred MB. */
const LIMITS = { entries: 20_000, bytes: 4 * 2 ** 30 };
const BLOCK = 512;
/** Reads exact byte counts from a stream of chunks. */
class ByteReader {
    source;
    chunks = [];
    length = 0;
    constructor(source) {
        this.source = source;
    }
    async fill(n) {
        while (this.length < n) {
            const next = await this.source.next();
            if (next.done)
                return;
            this.chunks.push(next.value);
            this.length += next.value.length;
        }
    }
    /** Exactly n bytes; undefined at the end of the stream; a partial block is a truncated archive. */
    async take(n) {
        await this.fill(n);
        if (this.length === 0)
            return undefined;
        if (this.length < n)
            throw new ArchiveError('the archive is truncated');
        const all = Buffer.concat(this.chunks);
        this.chunks = all.length > n ? [all.subarray(n)] : [];
        this.length = all.length - n;
        return all.subarray(0, n);
    }
    /** n bytes as they arrive, in pieces. */
    async *pieces(n) {
        let left = n;
        while (left > 0) {
            if (this.length === 0)
                await this.fill(1);
            const first = this.chunks[0];
            if (!first)
                throw new ArchiveError('the archive is truncated');
            const piece = first.length <= left ? first : first.subarray(0, left);
            if (piece === first)
                this.chunks.shift();
            else
                this.chunks[0] = first.subarray(left);
            this.length -= piece.length;
            left -= piece.length;
            yield piece;
        }
    }
    async skip(n) {
        for await (const piece of this.pieces(n))
            void piece;
    }
}
function tar_text(block, start, length) {
    const field = block.subarray(start, start + length);
    const end = field.indexOf(0);
    return field.subarray(0, end === -1 ? length : end).toString('utf8');
}
/** An octal number field, or GNU's base-256 form for large values. */
function number(block, start, length) {
    const field = block.subarray(start, start + length);
    if (field[0] & 0x80) {
        let value = field[0] & 0x7f;
        for (const byte of field.subarray(1))
            value = value * 256 + byte;
        return value;
    }
    const digits = field.toString('latin1').replace(/[\0 ]+$/, '').trim();
    if (!/^[0-7]*$/.test(digits))
        throw new ArchiveError(`a header has ${JSON.stringify(digits)} where a number belongs`);
    return digits ? parseInt(digits, 8) : 0;
}
function checksumOk(block) {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++)
        sum += i >= 148 && i < 156 ? 0x20 : block[i];
    return number(block, 148, 8) === sum;
}
/** pax extended header records: `<length> <key>=<value>\n`. */
function paxRecords(data) {
    const records = {};
    let at = 0;
    while (at < data.length) {
        const space = data.indexOf(0x20, at);
        const length = Number(data.subarray(at, space).toString('latin1'));
        if (space === -1 || !Number.isInteger(length) || length <= 0 || at + length > data.length)
            throw new ArchiveError('a pax header is malformed');
        const record = data.subarray(space + 1, at + length - 1).toString('utf8');
        const eq = record.indexOf('=');
        if (eq > 0)
            records[record.slice(0, eq)] = record.slice(eq + 1);
        at += length;
    }
    return records;
}
/** The parts of an entry's name: relative, no '..', each a plain name; '.' and empty parts dropped. */
function nameParts(name) {
    if (name.startsWith('/'))
        throw new ArchiveError(`entry ${JSON.stringify(name)} has an absolute path`);
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    for (const part of parts) {
        if (part === '..')
            throw new ArchiveError(`entry ${JSON.stringify(name)} has a '..' in its path`);
        const problem = fileNameProblem(part);
        if (problem)
            throw new ArchiveError(`entry ${JSON.stringify(name.slice(0, 300))} has a part that cannot be a file name: ${problem}`);
    }
    return parts;
}
/**
 * What the gzip stream says it unpacks to: its trailer's ISIZE, the size modulo 2^32 (exact below 4 GiB). Only a
 * hint for the free-space check: a hostile archive may lie, and the limit is enforced on what is really written.
 */
async function gzipDeclaredSize(archive) {
    const handle = await external_node_fs_.promises.open(archive, 'r');
    try {
        const { size } = await handle.stat();
        if (size < 18)
            return 0;
        const trailer = Buffer.alloc(4);
        await handle.read(trailer, 0, 4, size - 4);
        return trailer.readUInt32LE(0);
    }
    finally {
        await handle.close();
    }
}
async function extractTarGz(archive, dest, limits = LIMITS) {
    await ensureFreeSpace(dest, Math.min(await gzipDeclaredSize(archive), limits.bytes), `extracting ${external_node_path_default().basename(archive)}`);
    const gunzip = (0,external_node_fs_.createReadStream)(archive).pipe((0,external_node_zlib_.createGunzip)());
    try {
        return await extract(new ByteReader(gunzip[Symbol.asyncIterator]()), dest, limits);
    }
    catch (error) {
        if (error.code === 'Z_DATA_ERROR' || error.code === 'Z_BUF_ERROR') {
            throw new ArchiveError(`it is not a valid gzip stream (${error.message})`);
        }
        throw error;
    }
    finally {
        gunzip.destroy();
    }
}
async function extract(reader, dest, limits) {
    const kinds = new Map();
    const targets = new Map();
    /** Each regular file's size: a hard link to it is a copy of as many bytes. */
    const sizes = new Map();
    const tree = { top: '', files: [], links: [] };
    let entries = 0;
    let bytes = 0;
    let pax = {};
    let longName;
    let longLink;
    const destOf = (rel) => rel.split('/').reduce((dir, part) => childPath(dir, part, 'An archive entry'), dest);
    const makeParents = async (rel) => {
        const parts = rel.split('/');
        for (let i = 1; i < parts.length; i++) {
            const prefix = parts.slice(0, i).join('/');
            const kind = kinds.get(prefix);
            if (kind === undefined) {
                await external_node_fs_.promises.mkdir(destOf(prefix), { mode: 0o755 });
                kinds.set(prefix, 'dir');
            }
            else if (kind !== 'dir') {
                throw new ArchiveError(`entry ${rel} would be written through ${prefix}, which is a ${kind === 'link' ? 'symbolic link' : 'file'}`);
            }
        }
    };
    /** The archive name as a path inside the folder; '' for the folder itself, undefined for a '.' entry. */
    const relative = (name, isDir) => {
        const parts = nameParts(name);
        if (parts.length === 0) {
            if (!isDir)
                throw new ArchiveError(`entry ${JSON.stringify(name)} is not a directory`);
            return undefined;
        }
        tree.top ||= parts[0];
        if (parts[0] !== tree.top || (parts.length === 1 && !isDir)) {
            throw new ArchiveError(`entry ${JSON.stringify(name)} lies outside the archive's one folder ${tree.top}/`);
        }
        return parts.slice(1).join('/');
    };
    const fresh = (rel) => {
        if (kinds.has(rel))
            throw new ArchiveError(`entry ${tree.top}/${rel} appears twice`);
    };
    const count = (size) => {
        bytes += size;
        if (bytes > limits.bytes)
            throw new ArchiveError(`it unpacks to more than ${limits.bytes} bytes`);
    };
    const written = async (file, write) => {
        await write().catch(async (error) => {
            throw isLocalWriteFailure(error) ? await localWriteError(error, file, bytes) : error;
        });
    };
    for (;;) {
        const header = await reader.take(BLOCK);
        if (!header || header.every((b) => b === 0))
            break;
        if (!checksumOk(header))
            throw new ArchiveError('a header has a wrong checksum: not a tar archive, or a damaged one');
        if (++entries > limits.entries)
            throw new ArchiveError(`it has more than ${limits.entries} entries`);
        const type = String.fromCharCode(header[156]);
        const size = pax.size !== undefined ? Number(pax.size) : number(header, 124, 12);
        if (!Number.isSafeInteger(size) || size < 0)
            throw new ArchiveError('a header has an invalid size');
        const padded = Math.ceil(size / BLOCK) * BLOCK;
        // Extended headers name (or size) the entry that follows.
        if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
            if (size > 1 << 20)
                throw new ArchiveError('an extended header is larger than 1 MiB');
            const data = (await reader.take(padded)) ?? Buffer.alloc(0);
            if (type === 'x')
                pax = paxRecords(data.subarray(0, size));
            else if (type === 'L')
                longName = tar_text(data, 0, size);
            else if (type === 'K')
                longLink = tar_text(data, 0, size);
            continue;
        }
        const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? tar_text(header, 345, 155) : '';
        const name = pax.path ?? longName ?? (prefix ? `${prefix}/${tar_text(header, 0, 100)}` : tar_text(header, 0, 100));
        const linkName = pax.linkpath ?? longLink ?? tar_text(header, 157, 100);
        const mode = number(header, 100, 8);
        pax = {};
        longName = longLink = undefined;
        if (type === '5') {
            const rel = relative(name, true);
            if (rel) {
                const kind = kinds.get(rel);
                if (kind !== undefined && kind !== 'dir')
                    throw new ArchiveError(`entry ${tree.top}/${rel} appears twice`);
                if (kind === undefined) {
                    await makeParents(rel);
                    await external_node_fs_.promises.mkdir(destOf(rel), { mode: 0o755 });
                    kinds.set(rel, 'dir');
                }
            }
            await reader.skip(padded);
        }
        else if (type === '0' || type === '\0' || type === '7') {
            const rel = relative(name, false);
            fresh(rel);
            count(size);
            await makeParents(rel);
            // 'wx': never through an existing file or link; only the execute bits are taken from the archive.
            const handle = await external_node_fs_.promises.open(destOf(rel), 'wx', mode & 0o111 ? 0o755 : 0o644);
            try {
                let at = 0;
                for await (const piece of reader.pieces(size)) {
                    await written(destOf(rel), () => writeFully(handle, piece, at));
                    at += piece.length;
                }
            }
            finally {
                await handle.close();
            }
            await reader.skip(padded - size);
            kinds.set(rel, 'file');
            sizes.set(rel, size);
            tree.files.push(rel);
        }
        else if (type === '2') {
            const rel = relative(name, false);
            fresh(rel);
            if (!linkName || linkName.startsWith('/') || linkName.split('/').includes('..')) {
                throw new ArchiveError(`entry ${tree.top}/${rel} is a symbolic link to ${JSON.stringify(linkName)}: only links to a relative path without '..' are kept`);
            }
            nameParts(linkName);
            await makeParents(rel);
            await external_node_fs_.promises.symlink(linkName, destOf(rel));
            kinds.set(rel, 'link');
            targets.set(rel, linkName);
            tree.links.push({ path: rel, target: linkName });
            await reader.skip(padded);
        }
        else if (type === '1') {
            const rel = relative(name, false);
            fresh(rel);
            const source = relative(linkName, false);
            if (kinds.get(source) !== 'file')
                throw new ArchiveError(`entry ${tree.top}/${rel} is a hard link to ${JSON.stringify(linkName)}, which is not a file extracted before it`);
            const size = sizes.get(source);
            count(size);
            await makeParents(rel);
            await written(destOf(rel), () => external_node_fs_.promises.copyFile(destOf(source), destOf(rel), external_node_fs_.constants.COPYFILE_EXCL));
            kinds.set(rel, 'file');
            sizes.set(rel, size);
            tree.files.push(rel);
            await reader.skip(padded);
        }
        else {
            throw new ArchiveError(`entry ${JSON.stringify(name.slice(0, 300))} is of tar type '${type}' (a device, FIFO or sparse file), which a release archive has no use for`);
        }
    }
    if (!tree.top)
        throw new ArchiveError('it is empty');
    for (const link of tree.links) {
        if (resolve(link.path, kinds, targets) !== 'file') {
            throw new ArchiveError(`entry ${tree.top}/${link.path} is a symbolic link to ${JSON.stringify(link.target)}, which is not a file of the archive`);
        }
    }
    return tree;
}
/** What a path inside the tree resolves to, following its links; undefined when it leads nowhere. */
function resolve(rel, kinds, targets, depth = 0) {
    if (depth > 40)
        return undefined;
    const parts = rel.split('/').filter((p) => p !== '' && p !== '.');
    let at = '';
    for (let i = 0; i < parts.length; i++) {
        const here = at ? `${at}/${parts[i]}` : parts[i];
        const kind = kinds.get(here);
        if (kind === undefined || (kind === 'file' && i < parts.length - 1))
            return undefined;
        if (kind === 'link') {
            // Targets have no '..' (checked): joined to the link's directory, they stay inside the tree.
            const target = external_node_path_default().posix.join(at || '.', targets.get(here));
            return resolve([target, ...parts.slice(i + 1)].join('/'), kinds, targets, depth + 1);
        }
        at = here;
    }
    return at ? kinds.get(at) : 'dir';
}

;// CONCATENATED MODULE: ./src/engine/release/install.ts
// A release's archives into the engine store: downloaded into a work directory of the store and checked against
// their digests and sizes, extracted into the entry's bin/ (a CUDA archive's runtime archive beside llama-server,
// from its own folder, refused where the two archives share a name), described in the manifest, then installed,
// which runs --version from the final place. Nothing is stored unless all of it holds.









/** The extracted engine does not run from the store (--version failed there): nothing was stored. */
class ReleaseDoesNotRunError extends Error {
    name = 'ReleaseDoesNotRunError';
}
async function installRelease(store, material, sizes, timeoutMs) {
    const work = await store.newWorkDir();
    const refused = (file, why) => new errors/* EngineError */.NJ(`${file.asset} (release ${material.tag}) ${why}. Nothing was stored; set '${Input.EngineSource}: build' to build instead`);
    try {
        const started = Date.now();
        const main = { file: material, size: sizes.asset, archive: external_node_path_default().join(work, 'archive.tar.gz') };
        const runtime = material.runtime ? { file: material.runtime, size: sizes.runtime ?? 0, archive: external_node_path_default().join(work, 'runtime.tar.gz') } : undefined;
        const fetches = runtime ? [main, runtime] : [main];
        // allSettled: when one download fails, the other ends before `finally` removes the directory it writes into.
        const settled = await Promise.allSettled(fetches.map((f) => downloadAsset({ url: f.file.url, dest: f.archive, label: f.file.asset, size: f.size, digest: f.file.digest, timeoutMs })));
        const failed = settled.find((s) => s.status === 'rejected');
        if (failed)
            throw failed.reason;
        const extract = async (f, dest) => {
            await external_node_fs_.promises.mkdir(dest, { recursive: true });
            const tree = await extractTarGz(f.archive, dest).catch((error) => {
                if (error instanceof ArchiveError)
                    throw refused(f.file, `is refused: ${error.message}`);
                throw error;
            });
            await external_node_fs_.promises.rm(f.archive);
            return tree;
        };
        const staged = external_node_path_default().join(work, 'entry');
        const bin = external_node_path_default().join(staged, 'bin');
        const tree = await extract(main, bin);
        if (!tree.files.includes('llama-server'))
            throw refused(material, `has no llama-server file in its folder ${tree.top}/`);
        if (runtime) {
            const extra = await extract(runtime, external_node_path_default().join(work, 'runtime'));
            await moveBeside(external_node_path_default().join(work, 'runtime'), bin, extra, (name) => refused(runtime.file, `has ${name}, which ${material.asset} has too`));
            tree.files.push(...extra.files);
            tree.links.push(...extra.links);
        }
        const manifest = {
            key: releaseKey(material.digest, material.runtime?.digest),
            material,
            files: await describeFiles(staged, tree.files.map((f) => `bin/${f}`)),
            links: tree.links.map((l) => ({ path: `bin/${l.path}`, target: l.target })),
            built_at: new Date().toISOString(),
        };
        const what = fetches.map((f) => f.file.asset).join(' and ');
        lib_core/* info */.pq(`Downloaded and extracted ${what} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${tree.files.length} files, ${tree.links.length} symbolic links`);
        return await store.install(staged, manifest, `the llama-server of ${material.asset}`).catch((error) => {
            throw error instanceof errors/* EngineError */.NJ ? new ReleaseDoesNotRunError(error.message) : error;
        });
    }
    finally {
        await store.removeWorkDir(work);
    }
}
/** The top-level names of an extracted tree moved into `bin`, none of them over a name it has. */
async function moveBeside(from, bin, tree, clash) {
    const names = new Set([...tree.files, ...tree.links.map((l) => l.path)].map((p) => p.split('/')[0]));
    for (const name of names) {
        if (await external_node_fs_.promises.lstat(external_node_path_default().join(bin, name)).then(() => true, () => false))
            throw clash(name);
    }
    for (const name of names)
        await external_node_fs_.promises.rename(external_node_path_default().join(from, name), external_node_path_default().join(bin, name));
}

;// CONCATENATED MODULE: ./src/util/git-ref.ts
// The rules of `git check-ref-format` (with --allow-onelevel), plus no leading '-', so that a ref can never be
// read as an option by git or smuggle in a path. Returns why a name is not a valid ref, or undefined.
function gitRefProblem(ref) {
    if (ref.length === 0)
        return 'it is empty';
    if (ref.startsWith('-'))
        return "it starts with '-'";
    if (/[\x00-\x20\x7f]/.test(ref))
        return 'it has a space or a control character';
    const bad = /[~^:?*[\\]/.exec(ref);
    if (bad)
        return `it has '${bad[0]}'`;
    if (ref.includes('..'))
        return "it has '..'";
    if (ref.includes('@{'))
        return "it has '@{'";
    if (ref === '@')
        return "it is '@'";
    if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//'))
        return "it has an empty component ('/' at an end or '//')";
    if (ref.endsWith('.'))
        return "it ends with '.'";
    for (const component of ref.split('/')) {
        if (component.startsWith('.'))
            return "a component starts with '.'";
        if (component.endsWith('.lock'))
            return "a component ends with '.lock'";
    }
    return undefined;
}

;// CONCATENATED MODULE: ./src/engine/release/tags.ts
// The tags that point at a commit, from `git ls-remote --tags` of llama-cpp-repo: one request, whatever the number of
// tags, and no API rate limit spent. llama.cpp tags every build of master `bNNNN` (these releases carry the archives)
// and some commits also with a semver tag (whose release may carry none), so the build tags come first.






/** Tag names whose commit (peeled, for annotated tags) is `commit`: bNNNN newest first, then the others by name. Pure. */
function tagsPointingAt(lsRemote, commit) {
    const direct = new Map();
    const peeled = new Map();
    for (const line of lsRemote.split('\n')) {
        const m = /^([0-9a-f]{40})\s+refs\/tags\/(.+)$/.exec(line.trim());
        if (!m)
            continue;
        const [, sha, ref] = m;
        if (ref.endsWith('^{}'))
            peeled.set(ref.slice(0, -3), sha);
        else
            direct.set(ref, sha);
    }
    // A name git itself would refuse (gitRefProblem) is no release tag: it is never shown or asked.
    const tags = [...direct.keys()].filter((tag) => (peeled.get(tag) ?? direct.get(tag)) === commit && gitRefProblem(tag) === undefined);
    const build = (tag) => (/^b(\d+)$/.exec(tag) ? Number(tag.slice(1)) : -1);
    return tags.sort((a, b) => build(b) - build(a) || a.localeCompare(b));
}
async function tagsAt(git, repo, commit) {
    const remote = gitRemote(repo);
    const result = await run(git, ['ls-remote', '--tags', remote.url], { silent: true, env: { ...jobEnv(process.env), GIT_TERMINAL_PROMPT: '0', ...remote.env } });
    if (result.code !== 0)
        throw new errors/* EngineError */.NJ(`git ls-remote --tags ${remote.display} failed (exit code ${result.code}):\n${redactValue(result.tail)}`);
    return tagsPointingAt(result.stdout, commit);
}

;// CONCATENATED MODULE: ./src/engine/release/lookup.ts
// Which release of the commit has an archive for this runner: the tags that point at the commit (from git, no API
// quota; build tags first, five at most), each tag's release and its assets (asked once per run, whichever backend
// is looked for), and the first archive that fits. Also what GitHub says of an archive's build provenance.





/** Why no release archive is used; `level` is how loudly auto says it before it builds. */
class NoReleaseError extends Error {
    level;
    name = 'NoReleaseError';
    constructor(message, level = 'info') {
        super(message);
        this.level = level;
    }
}
/** The most tags of one commit whose releases are asked for. */
const MAX_TAGS = 5;
class ReleaseLookup {
    host;
    git;
    repo;
    commit;
    timeoutMs;
    tags;
    /** Each tag's assets, or undefined where the tag has no release. */
    releases = new Map();
    constructor(host, git, repo, commit, timeoutMs) {
        this.host = host;
        this.git = git;
        this.repo = repo;
        this.commit = commit;
        this.timeoutMs = timeoutMs;
    }
    /** `owner/repo`, as the log names it. */
    get name() {
        return `${this.host.owner}/${this.host.repo}`;
    }
    get repoApi() {
        return `${this.host.api}/repos/${encodeURIComponent(this.host.owner)}/${encodeURIComponent(this.host.repo)}`;
    }
    /** The first release among the tags at the commit (build tags first) that has an archive for `runner`. */
    async find(runner) {
        this.tags ??= tagsAt(this.git, this.repo, this.commit);
        const all = await this.tags;
        if (!all.length)
            throw new NoReleaseError(`no tag of ${this.name} points at commit ${this.commit}, so it has no release`);
        // Each tag costs API requests: a commit that many tags point at (a hostile or odd repository) is not asked about
        // all of them. Build tags come first, and llama.cpp gives a commit one.
        const tags = all.slice(0, MAX_TAGS);
        const problems = [];
        for (const tag of tags) {
            const assets = await this.assets(tag);
            if (!assets) {
                problems.push(`tag ${tag} has no release`);
                continue;
            }
            const choice = chooseAsset(assets, tag, runner);
            if ('asset' in choice)
                return { tag, ...choice };
            problems.push(choice.problem);
        }
        if (all.length > tags.length)
            problems.push(`${all.length - tags.length} more tags point at it, which were not asked (at most ${MAX_TAGS} are)`);
        throw new NoReleaseError(`no release of commit ${this.commit} has an archive for this runner (Linux ${runner.arch}, ${runner.backend}): ${problems.join('; ')}`);
    }
    async assets(tag) {
        let assets = this.releases.get(tag);
        if (!assets) {
            assets = this.ask(tag);
            // A failure (a rate limit, say) is asked again when the caller waits and tries again.
            assets.catch(() => this.releases.delete(tag));
            this.releases.set(tag, assets);
        }
        return await assets;
    }
    async ask(tag) {
        const answer = await apiGet(this.host, `${this.repoApi}/releases/tags/${encodeURIComponent(tag)}`, this.timeoutMs);
        if (answer.status === 404)
            return undefined;
        const release = ReleaseSchema.safeParse(answer.json);
        if (!release.success || release.data.tag_name !== tag)
            throw new ReleaseApiError(`the release of tag ${tag} is not what GitHub's API answers for a release`);
        return parseAssets(await apiList(this.host, `${this.repoApi}/releases/${release.data.id}/assets?per_page=100`, this.timeoutMs));
    }
    /** Says whether an archive's build provenance was verified: it never is here (no Sigstore trust root is fetched). */
    async provenanceNote(asset, digest) {
        const repo = this.name;
        let count;
        try {
            const answer = await apiGet(this.host, `${this.repoApi}/attestations/${digest}`, this.timeoutMs);
            const list = answer.json?.attestations;
            count = Array.isArray(list) ? list.length : 0;
        }
        catch (error) {
            lib_core/* info */.pq(`Build provenance of ${asset}: not verified; GitHub's attestations API could not be asked (${(0,errors/* errorMessage */.gJ)(error)}). The archive is trusted by its sha256 digest alone.`);
            return;
        }
        if (count === 0) {
            lib_core/* info */.pq(`Build provenance of ${asset}: ${repo} published no attestation for this archive, so none was verified; it is trusted by its sha256 digest alone.`);
        }
        else {
            lib_core/* info */.pq(`Build provenance of ${asset}: ${count} attestation(s) for this archive exist but were not verified: that needs Sigstore's trust root, which this action does not fetch. ` +
                `It is trusted by its sha256 digest alone; to check the attestations: gh attestation verify <archive> --repo ${repo}`);
        }
    }
}

;// CONCATENATED MODULE: ./src/engine/release/refused.ts
// Release engines that did not run on this host (--version failed, or --list-devices named no device of their
// backend), remembered in the engine store (engines/refused-releases.json) by their store key, which is the
// archive's digest (with a CUDA runtime's): a later run on this host builds at once instead of downloading the same
// archive again. What made it fail may be fixed by a driver or a system library: a record holds only while the host
// has not rebooted and /etc/ld.so.cache (rewritten whenever a system library is installed) is the same. A file that
// does not have this shape is dropped; two jobs writing at once lose one record, which costs one download.





const RefusalSchema = schemas/* object */.Ikc({ host: schemas/* string */.YjP(), boot: schemas/* string */.YjP(), ldCache: schemas/* string */.YjP(), reason: schemas/* string */.YjP(), at: schemas/* string */.YjP() });
const FileSchema = schemas/* object */.Ikc({ version: schemas/* literal */.euz(1), refused: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J()) });
/** The most records kept: the oldest go first. */
const MAX_RECORDS = 100;
class RefusedReleases {
    file;
    constructor(file) {
        this.file = file;
    }
    /** Why the engine of `key` did not run on this host, when that still holds. */
    async why(key) {
        const record = (await this.read())[`${external_node_os_default().hostname()} ${key}`];
        if (!record)
            return undefined;
        const [boot, ldCache] = await Promise.all([remembered_output_bootId(), identity('/etc/ld.so.cache')]);
        return record.boot === boot && record.ldCache === ldCache ? record.reason : undefined;
    }
    async remember(key, reason) {
        const records = await this.read();
        const [boot, ldCache] = await Promise.all([remembered_output_bootId(), identity('/etc/ld.so.cache')]);
        records[`${external_node_os_default().hostname()} ${key}`] = { host: external_node_os_default().hostname(), boot, ldCache, reason: reason.slice(0, 2000), at: new Date().toISOString() };
        const kept = Object.entries(records).sort(([, a], [, b]) => b.at.localeCompare(a.at)).slice(0, MAX_RECORDS);
        // Only a saving: a full disk or a read-only cache-dir must not turn "build instead" into a failed step.
        await writeFileAtomic(this.file, `${JSON.stringify({ version: 1, refused: Object.fromEntries(kept) }, null, 1)}\n`).catch(() => undefined);
    }
    async read() {
        const file = FileSchema.safeParse(parseJson((await readSmallFile(this.file, 2 ** 20).catch(() => undefined)) ?? ''));
        const records = {};
        for (const [key, value] of Object.entries(file.success ? file.data.refused : {})) {
            const record = RefusalSchema.safeParse(value);
            if (record.success)
                records[key] = record.data;
        }
        return records;
    }
}

;// CONCATENATED MODULE: ./src/engine/release/provision.ts
// An engine from llama.cpp's release archive for the resolved commit, where one fits this runner: found through the
// tags that point at the commit (never "latest"), downloaded and checked against the size and sha256 that GitHub
// recorded (or the one pinned), extracted into the engine store under that digest, run with --version from its final
// place and, for a GPU backend, asked with --list-devices whether that backend loads here; then reused like a built
// engine. With engine-source auto, whatever keeps a release from fitting (no GitHub repository, no release or archive
// for the commit and backend, no digest, a spent rate limit, a refused download, an archive that does not run here)
// is said in the log and the engine is built instead; with engine-source release it fails the step. A download that
// does not match its digest, or an archive that tries to leave its folder, fails the step in both. An archive whose
// engine did not run here is remembered, so that later runs build without downloading it again.





















/** The engine from a release archive, or undefined when auto should build instead (the log says why). */
async function provisionFromRelease(inputs, gpus, resolving, toolchain) {
    try {
        return await fromRelease(inputs, gpus, resolving, toolchain);
    }
    catch (error) {
        const why = noReleaseReason(error);
        if (!why)
            throw error;
        if (inputs.engineSource === 'release')
            throw new errors/* EngineError */.NJ(`'${Input.EngineSource}' is release, but ${why.message}`);
        tell(why, `No llama.cpp release archive is used: ${why.message}. Building from source instead.`);
        return undefined;
    }
}
/** Says `text` as loudly as `why` asks; core.info writes it as it is, so it goes on one line (names come from outside). */
function tell(why, text) {
    const say = why.level === 'warning' ? lib_core/* warning */.$e : why.level === 'notice' ? lib_core/* notice */.lm : lib_core/* info */.pq;
    say(oneLine(text));
}
function noReleaseReason(error) {
    if (error instanceof NoReleaseError)
        return error;
    if (error instanceof GitHubRateLimitError) {
        const when = new Date(error.resetAt).toISOString();
        return new NoReleaseError(`${error.message} until ${when}; set '${Input.GithubToken}' (its default, the job's token, raises the limit)`, 'notice');
    }
    if (error instanceof ReleaseDownloadError)
        return new NoReleaseError(`${error.message}; set '${Input.EngineSource}: build' to build without trying it`, 'warning');
    if (error instanceof ReleaseApiError || error instanceof RetriesExhaustedError || error instanceof RequestError || error instanceof RateLimitError) {
        return new NoReleaseError(`GitHub could not be asked for the release (${(0,errors/* errorMessage */.gJ)(error)})`, 'warning');
    }
    return undefined;
}
async function fromRelease(inputs, gpuQuery, resolving, toolchain) {
    if (inputs.cmakeArgs.length)
        throw new NoReleaseError(`'${Input.CmakeArgs}' is set, which only a build can apply`);
    if (inputs.cudaArchitectures)
        throw new NoReleaseError(`'${Input.CudaArchitectures}' is set, which only a build can apply`);
    const where = releaseHost(inputs.llamaCppRepo, process.env, inputs.githubToken);
    if ('reason' in where)
        throw new NoReleaseError(where.reason);
    const store = new EngineStore(inputs.cacheDir);
    const tc = await toolchain;
    const choice = chooseReleaseBackend(inputs.backend, await gpuQuery, tc.nvcc, inputs.engineSource === 'auto');
    lib_core/* info */.pq(`Backend: ${choice.reason}`);
    if (!tc.git)
        throw new errors/* EngineError */.NJ(`Resolving '${Input.LlamaCppRef}' to a commit needs git, which is missing. Usually: apt-get install git.`);
    const { commit } = await resolving;
    lib_core/* info */.pq(`llama.cpp ${inputs.llamaCppRef} is commit ${commit}`);
    const ctx = {
        inputs,
        store,
        refused: new RefusedReleases(external_node_path_default().join(store.root, 'refused-releases.json')),
        lookup: new ReleaseLookup(where.host, tc.git, inputs.llamaCppRepo, commit, inputs.networkTimeoutMs),
        want: { repo: normalizeRepo(inputs.llamaCppRepo), commit, os: process.platform, arch: process.arch },
    };
    try {
        return await releaseFor(ctx, choice.backend);
    }
    catch (error) {
        const why = noReleaseReason(error);
        if (!why || !choice.otherwise)
            throw error;
        tell(why, `No llama.cpp CUDA release archive is used: ${why.message}. Backend: ${choice.otherwise}`);
        return await releaseFor(ctx, 'cpu');
    }
}
/** The release engine for `backend`: one in the store for this commit, or the archive's, downloaded. */
async function releaseFor(ctx, backend) {
    const { inputs, store } = ctx;
    const want = { ...ctx.want, backend };
    // Warm: an archive of this commit, backend and platform already in the store, found without asking GitHub (or the
    // driver: a CUDA engine that no longer loads its backend is refused by its device list, which a driver change asks
    // again). The newest CUDA version first.
    const known = Object.entries((await store.catalog.read()).entries)
        .filter(([, r]) => sameRelease(r.material, want, inputs.releaseDigest))
        .map(([key, r]) => ({ key, material: r.material }))
        .sort((a, b) => compareVersions(b.material.cudaVersion ?? '0', a.material.cudaVersion ?? '0'));
    for (const { key, material } of known) {
        const hit = await store.withEntryLock(key, `the engine ${key}`, async () => {
            const found = await store.find(key, inputs.verify);
            return found && (await checked(ctx, found, material, true));
        });
        if (hit)
            return hit;
    }
    const cudaVersion = backend === 'cuda' ? await queryDriverCudaVersion() : undefined;
    if (backend === 'cuda')
        lib_core/* info */.pq(`The NVIDIA driver runs CUDA ${cudaVersion ?? '(nvidia-smi did not say which)'} at most`);
    const runner = { arch: process.arch, backend, rocmVersion: backend === 'hip' ? await rocmVersion() : undefined, cudaVersion };
    const found = await waitingForRateLimit(() => ctx.lookup.find(runner));
    const { tag, asset, runtime } = found;
    if (asset.digest && inputs.releaseDigest && asset.digest !== inputs.releaseDigest) {
        throw new errors/* EngineError */.NJ(`Input '${Input.ReleaseDigest}' is ${inputs.releaseDigest}, but GitHub's releases API records ${asset.digest} for ${asset.name} (release ${tag}); nothing was downloaded`);
    }
    const digest = asset.digest ?? inputs.releaseDigest;
    if (!digest)
        throw noDigest(asset, tag, `; pin its sha256 in '${Input.ReleaseDigest}' to use it`);
    // release-digest pins the llama archive; its CUDA runtime is used only with the digest GitHub recorded.
    if (runtime && !runtime.digest)
        throw noDigest(runtime, tag, '');
    const from = asset.digest ? "the digest GitHub's releases API recorded at upload" : `the digest pinned in '${Input.ReleaseDigest}' (the releases API records none)`;
    lib_core/* info */.pq(`Release ${tag} of ${ctx.lookup.name}: ${asset.name} (${formatBytes(asset.size)}), to be checked against ${from}: ${digest}`);
    if (runtime)
        lib_core/* info */.pq(`  with its CUDA runtime ${runtime.name} (${formatBytes(runtime.size)}), to be checked against its own digest: ${runtime.digest}`);
    const material = {
        source: 'release',
        ...want,
        tag,
        asset: asset.name,
        digest,
        url: asset.url,
        runtime: runtime ? { asset: runtime.name, digest: runtime.digest, url: runtime.url } : null,
        cudaVersion: found.cudaVersion ?? null,
    };
    const key = releaseKey(digest, material.runtime?.digest);
    const before = await ctx.refused.why(key);
    if (before) {
        throw new NoReleaseError(`${asset.name} (release ${tag}) did not run on this machine before (${before}), so it is not downloaded again until the machine reboots or a system library is installed`, 'notice');
    }
    await ctx.lookup.provenanceNote(asset.name, digest);
    if (material.runtime)
        await ctx.lookup.provenanceNote(material.runtime.asset, material.runtime.digest);
    return await store.withEntryLock(key, `the engine ${key}`, async () => {
        const cached = await store.find(key, inputs.verify);
        if (cached)
            return await checked(ctx, cached, material, true);
        let installed;
        try {
            installed = await installRelease(store, material, { asset: asset.size, runtime: runtime?.size }, inputs.networkTimeoutMs);
        }
        catch (error) {
            if (!(error instanceof ReleaseDoesNotRunError))
                throw error;
            await ctx.refused.remember(key, error.message);
            throw new NoReleaseError(error.message, 'warning');
        }
        return await checked(ctx, installed, material, false);
    });
}
function noDigest(asset, tag, pin) {
    return new NoReleaseError(`${asset.name} (release ${tag}) has no digest in GitHub's releases API (it was uploaded before GitHub recorded them), and no archive is used unverified${pin}`, 'notice');
}
/**
 * The engine, once a GPU backend's engine has shown that it loads that backend here (--list-devices). One that does
 * not is removed from the store and remembered, and auto builds instead (called under the entry's lock).
 */
async function checked(ctx, stored, m, cacheHit) {
    if (m.backend !== 'cpu') {
        try {
            const devices = await backendDevices(stored.binary, m.backend, ctx.store.outputs, ctx.inputs.verify);
            lib_core/* info */.pq(`The ${m.backend} backend of ${m.asset} loads here: llama-server lists ${devices.join(', ')}`);
        }
        catch (error) {
            if (!(error instanceof errors/* EngineError */.NJ))
                throw error;
            await ctx.store.remove(stored.key, error.message);
            await ctx.refused.remember(stored.key, error.message);
            throw new NoReleaseError(`the llama-server of ${m.asset} (release ${m.tag}) cannot use the ${m.backend} backend here: ${error.message}`, 'warning');
        }
    }
    lib_core/* info */.pq(`Engine: ${stored.binary} (version ${stored.version}, release ${m.tag}: ${m.asset}${m.runtime ? ` with ${m.runtime.asset}` : ''}, ${cacheHit ? 'cache hit' : 'downloaded'})`);
    return {
        path: stored.binary,
        version: stored.version,
        commit: m.commit,
        provisioningMode: 'release',
        backend: m.backend,
        cacheHit,
        cacheKey: stored.key,
        release: { tag: m.tag, asset: m.asset, digest: m.digest, url: m.url, runtime: m.runtime ?? null },
    };
}
async function rocmVersion() {
    const root = process.env.ROCM_PATH || '/opt/rocm';
    const text = await external_node_fs_.promises.readFile(external_node_path_default().join(root, '.info', 'version'), 'utf8').catch(() => '');
    return rocmMajorMinor(text);
}

;// CONCATENATED MODULE: ./src/engine/toolchain.ts
// What this machine has for building llama.cpp: found once, before anything slow, so that every missing tool
// is reported together. The tools are looked up on every run (a few stat calls); what the compilers say about
// their version is remembered with their identity (remembered-output.ts), so a warm run starts none of them.



async function firstFound(candidates) {
    for (const candidate of candidates) {
        if (!candidate)
            continue;
        if (external_node_path_default().isAbsolute(candidate)) {
            if ((0,external_node_fs_.existsSync)(candidate))
                return candidate;
            continue;
        }
        const found = onPath(candidate, process.env.PATH ?? '');
        if (found)
            return found;
    }
    return undefined;
}
async function versionOutput(outputs, binary) {
    return await outputs.output(binary, ['--version'], { timeoutMs: 30_000 }).catch(() => undefined);
}
function firstLine(output) {
    return output?.split('\n').map((l) => l.trim()).find(Boolean);
}
/** `Cuda compilation tools, release 13.0, V13.0.48` → `13.0`. */
function parseNvccVersion(output) {
    return /release (\d+\.\d+)/.exec(output)?.[1];
}
async function probeToolchain(env, outputs) {
    const cudaRoots = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda', '/opt/cuda'].filter((r) => !!r);
    const vulkanSdk = env.VULKAN_SDK;
    // Independent lookups, side by side.
    const [git, cmake, cc, cxx, ninja, make, ccache, nvcc, vulkanHeader, glslc, hipcc] = await Promise.all([
        firstFound(['git']),
        firstFound(['cmake']),
        firstFound([env.CC, 'cc', 'gcc', 'clang']),
        firstFound([env.CXX, 'c++', 'g++', 'clang++']),
        firstFound(['ninja']),
        firstFound(['make']),
        firstFound(['ccache']),
        firstFound(['nvcc', ...cudaRoots.map((r) => external_node_path_default().join(r, 'bin', 'nvcc'))]),
        firstFound([vulkanSdk && external_node_path_default().join(vulkanSdk, 'include', 'vulkan', 'vulkan.h'), '/usr/include/vulkan/vulkan.h']),
        firstFound(['glslc', vulkanSdk && external_node_path_default().join(vulkanSdk, 'bin', 'glslc')]),
        firstFound(['hipcc', env.ROCM_PATH && external_node_path_default().join(env.ROCM_PATH, 'bin', 'hipcc'), '/opt/rocm/bin/hipcc']),
    ]);
    const tc = { git, cmake, cc, cxx, ninja, make, ccache, nvcc, vulkanHeader, glslc, hipcc };
    const [ccOutput, cxxOutput, nvccOutput] = await Promise.all([
        cc && versionOutput(outputs, cc),
        cxx && versionOutput(outputs, cxx),
        nvcc && versionOutput(outputs, nvcc),
    ]);
    tc.ccVersion = firstLine(ccOutput);
    tc.cxxVersion = firstLine(cxxOutput);
    if (nvcc) {
        tc.cudaVersion = nvccOutput ? parseNvccVersion(nvccOutput) : undefined;
        const root = external_node_path_default().dirname(external_node_path_default().dirname(nvcc));
        const arch = process.arch === 'arm64' ? 'sbsa-linux' : 'x86_64-linux';
        tc.cublasHeader = await firstFound([
            external_node_path_default().join(root, 'include', 'cublas_v2.h'),
            external_node_path_default().join(root, 'targets', arch, 'include', 'cublas_v2.h'),
            '/usr/include/cublas_v2.h',
        ]);
    }
    return tc;
}

;// CONCATENATED MODULE: ./src/engine/provision.ts
// The engine inputs into a llama-server binary that runs here: the user's binary as it is, llama.cpp's release
// archive for the pinned commit (release/provision.ts), or llama.cpp built at that commit for the chosen backend,
// once per cache key, kept in the engine store (and the remote cache). In two parts: the plan (the binary's check,
// or the commit's resolution and, for a build, tools, backend and key), which needs nothing from the model and so
// runs while the model is looked up; then the store, a release archive, the remote cache or a build.


















async function planEngine(inputs, gpus) {
    const store = new EngineStore(inputs.cacheDir);
    if (inputs.llamaServerPath !== undefined) {
        // A given binary's backend cannot be asked; auto assumes what the machine has.
        const backend = inputs.backend !== 'auto' ? inputs.backend : (await gpus).length ? 'cuda' : 'cpu';
        const engine = await useExistingBinary(inputs.llamaServerPath, backend, store.outputs, inputs.verify);
        lib_core/* info */.pq(`Engine: ${engine.path} (version ${engine.version}, given by '${Input.LlamaServerPath}')`);
        return { mode: 'binary', engine };
    }
    // git asks the remote for the commit before anything else: it runs while the rest is probed, nvidia-smi answers
    // and the model is looked up. Without git, the preflight says so before this failure is looked at.
    const resolving = resolveCommit('git', inputs.llamaCppRepo, inputs.llamaCppRef);
    resolving.catch(() => undefined);
    // Both a release archive (nvcc decides its backend) and a build need the tools: looked up (a few stat calls, the
    // compilers' remembered --version) while the model is.
    const toolchain = probeToolchain(process.env, store.outputs);
    toolchain.catch(() => undefined);
    // A release archive is looked for after the model (it may download, which a failed model should not wait for).
    if (inputs.engineSource !== 'build')
        return { mode: 'release', gpus, resolving, toolchain };
    return { mode: 'source', plan: await planBuild(inputs, toolchain, gpus, resolving) };
}
async function provisionEngine(inputs, planned) {
    if (planned.mode === 'binary')
        return planned.engine;
    let plan;
    if (planned.mode === 'release') {
        const released = await provisionFromRelease(inputs, planned.gpus, planned.resolving, planned.toolchain);
        if (released)
            return released;
        plan = await planBuild(inputs, planned.toolchain, planned.gpus, planned.resolving);
    }
    else {
        plan = planned.plan;
    }
    const { key, backend } = plan;
    const commit = plan.material.commit;
    const store = new EngineStore(inputs.cacheDir);
    const remote = inputs.remoteCache === 'engine' || inputs.remoteCache === 'all';
    return await store.withEntryLock(key, `the engine ${key}`, async () => {
        const done = (binary, version, cacheHit) => {
            lib_core/* info */.pq(`Engine: ${binary} (version ${version}, ${cacheHit ? 'cache hit' : 'built'})`);
            return { path: binary, version, commit, provisioningMode: 'source', backend, cacheHit, cacheKey: key };
        };
        const cached = await store.find(key, inputs.verify);
        if (cached)
            return done(cached.binary, cached.version, true);
        if (remote) {
            const restored = await restoreEngine(store, key);
            if (restored)
                return done(restored.binary, restored.version, true);
        }
        const built = await buildEngine(store, plan, inputs);
        if (remote)
            addPendingRemoteSave({ name: key, dir: store.entryDir(key), files: await store.entryFiles(key) });
        return done(built.binary, built.version, false);
    });
}
/** Preflight, backend, CUDA architectures, commit and cache key, before anything slow. */
async function planBuild(inputs, toolchain, gpuQuery, resolving) {
    const tc = await toolchain;
    const gpus = await gpuQuery;
    const { backend, reason } = chooseBackend(inputs.backend, gpus, tc.nvcc);
    lib_core/* info */.pq(`Backend: ${reason}`);
    const missing = missingTools(backend, tc);
    if (missing.length)
        throw new errors/* EngineError */.NJ(missingToolsMessage(backend, missing));
    const cudaArchitectures = backend === 'cuda' ? (inputs.cudaArchitectures ?? cudaArchitecturesOf(gpus)) : undefined;
    if (backend === 'cuda' && !cudaArchitectures) {
        throw new errors/* EngineError */.NJ(`No GPU reported a compute capability to build for: set '${Input.CudaArchitectures}' (e.g. 89 for an L4, 90 for an H100)`);
    }
    const { commit, fetchRef } = await resolving;
    lib_core/* info */.pq(`llama.cpp ${inputs.llamaCppRef} is commit ${commit}`);
    const material = {
        recipe: ENGINE_RECIPE_VERSION,
        repo: normalizeRepo(inputs.llamaCppRepo),
        commit,
        backend,
        cudaVersion: backend === 'cuda' ? (tc.cudaVersion ?? null) : null,
        cudaArchitectures: cudaArchitectures ?? null,
        cc: tc.ccVersion ?? null,
        cxx: tc.cxxVersion ?? null,
        cmakeArgs: normalizeCmakeArgs(inputs.cmakeArgs),
        os: process.platform,
        arch: process.arch,
    };
    const key = engineKey(material);
    lib_core/* info */.pq(`Engine cache key: ${key}\n  from ${JSON.stringify(material)}`);
    return { tc, key, material, backend, fetchRef, cudaArchitectures };
}
/** An engine from the GitHub Actions cache, checked like a built one before the local store takes it. */
async function restoreEngine(store, key) {
    const restored = await restoreFromRemote(key);
    if (!restored)
        return undefined;
    const manifest = await readManifest(restored);
    if (manifest?.key !== key) {
        lib_core/* warning */.$e(`The GitHub Actions cache entry for ${key} has no matching ${MANIFEST}; building instead.`);
        await external_node_fs_.promises.rm(restored, { recursive: true, force: true });
        return undefined;
    }
    const work = await store.newWorkDir();
    await external_node_fs_.promises.cp(restored, external_node_path_default().join(work, 'entry'), { recursive: true, preserveTimestamps: true });
    await external_node_fs_.promises.rm(restored, { recursive: true, force: true });
    await store.publish(external_node_path_default().join(work, 'entry'), key);
    await store.removeWorkDir(work);
    // Every file against the manifest, then --version from its final place; a bad entry is removed.
    return await store.find(key, 'full');
}
/** The engine's `--help`, remembered beside the engines like its --version: a warm run does not start it again. */
async function engineHelp(binary, inputs) {
    return await engineOutput(binary, ['--help'], new EngineStore(inputs.cacheDir).outputs, inputs.verify);
}

;// CONCATENATED MODULE: ./src/gpu/leases.ts
// GPU leases across the jobs of one host: a job that starts a server holds the GPUs it placed it on, with what it
// reserved on each, until that server stops. Host-wide, not per cache-dir (two runners may use different ones):
// one directory, $SETUP_LLAMA_SERVER_GPU_LEASES or /tmp/setup-llama-server-gpu-leases, which runners in
// containers must share with the host (the same directory mounted at the same path, or the variable set to
// where it is mounted).
//
// A lease is `<id>.lease`, a JSON file locked with flock(2) through a descriptor the server inherits (as the
// store's leases: store/lease.ts), so the kernel ends it with the server, however the server ends (kill -9
// included), and a job in another PID namespace sees the same lock. Once the server has loaded (its memory is
// then allocated, and nvidia-smi's free memory counts it), `<id>.server` says so, with the server's pid. A lease
// from before the last boot is dead: its GPUs' processes are gone. Choosing GPUs and writing the lease happen
// under one lock (`placement.lock`), so that two jobs never both count the same free memory.






const GPU_LEASES_VARIABLE = 'SETUP_LLAMA_SERVER_GPU_LEASES';
const DEFAULT_GPU_LEASES_DIR = '/tmp/setup-llama-server-gpu-leases';
/** Longest wait for the placement lock: it is held for a query of nvidia-smi and a file write. */
const PLACEMENT_LOCK_WAIT_S = 60;
function gpuLeaseDir(env) {
    const dir = env[GPU_LEASES_VARIABLE]?.trim();
    return dir && external_node_path_default().isAbsolute(dir) ? dir : DEFAULT_GPU_LEASES_DIR;
}
const LeaseRecord = schemas/* object */.Ikc({
    boot_id: schemas/* string */.YjP(),
    pid: schemas/* number */.aig().int(),
    created: schemas/* string */.YjP(),
    job: schemas/* string */.YjP().max(500),
    gpus: schemas/* array */.YOg(schemas/* object */.Ikc({ uuid: schemas/* string */.YjP(), index: schemas/* number */.aig().int(), name: schemas/* string */.YjP().max(200), reserved_bytes: schemas/* number */.aig().nonnegative() })).max(64),
    estimate_source: schemas/* string */.YjP().max(40),
});
const ServerRecord = schemas/* object */.Ikc({ pid: schemas/* number */.aig().int().positive(), allocated_at: schemas/* string */.YjP() });
/** Who runs this job, as other jobs' logs name it. */
function jobName(env) {
    const run = env.GITHUB_RUN_ID ? ` run ${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT && env.GITHUB_RUN_ATTEMPT !== '1' ? ` (attempt ${env.GITHUB_RUN_ATTEMPT})` : ''}` : '';
    const job = env.GITHUB_JOB ? ` job ${env.GITHUB_JOB}` : '';
    const runner = env.RUNNER_NAME ? ` on runner ${env.RUNNER_NAME}` : '';
    return `${env.GITHUB_REPOSITORY ?? 'a job'}${run}${job}${runner}`.slice(0, 500);
}
/**
 * The lease directory, created for every user of the host (mode 1777, as /tmp: anyone may add a lease, only its
 * owner may remove it). It must be a real directory: a link could send the writes elsewhere.
 */
async function leaseDir(dir) {
    const stat = await external_node_fs_.promises.lstat(dir).catch(() => undefined);
    if (!stat) {
        await external_node_fs_.promises.mkdir(dir, { recursive: true, mode: 0o1777 });
        await external_node_fs_.promises.chmod(dir, 0o1777).catch(() => undefined);
    }
    else if (!stat.isDirectory() || stat.isSymbolicLink()) {
        throw new Error(`${dir} is not a directory (a link, or a file); remove it or set ${GPU_LEASES_VARIABLE}`);
    }
    return dir;
}
/**
 * Runs `fn` holding the host's placement lock; undefined (and `fn` not run) when no lock can be had here (no
 * flock(1)), so that the caller goes on without leases.
 */
async function withPlacementLock(dir, fn) {
    const file = external_node_path_default().join(await leaseDir(dir), 'placement.lock');
    await external_node_fs_.promises.writeFile(file, '', { flag: 'wx', mode: 0o644 }).catch((error) => {
        if (error.code !== 'EEXIST')
            throw error;
    });
    // Read-only is enough for flock(2), and lets every user lock a file one of them created; never through a link.
    const fd = (0,external_node_fs_.openSync)(file, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW);
    try {
        const locked = await tryLock(fd, PLACEMENT_LOCK_WAIT_S);
        if (locked === undefined)
            return undefined;
        if (!locked)
            throw new Error(`another job held ${file} for more than ${PLACEMENT_LOCK_WAIT_S} s`);
        return { value: await fn() };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/** The live leases in `dir`; dead ones (and their `.server` files) are removed on the way where this user may. */
async function liveHolders(dir) {
    const names = await external_node_fs_.promises.readdir(dir).catch(() => []);
    const holders = [];
    for (const name of names) {
        const file = external_node_path_default().join(dir, name);
        const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
        if (!stat)
            continue;
        if (!name.endsWith('.lease')) {
            const orphanSidecar = name.endsWith('.server') && !names.includes(name.replace(/\.server$/, '.lease'));
            if (orphanSidecar || isStaleTemp(name, stat.mtimeMs))
                await external_node_fs_.promises.rm(file, { force: true }).catch(() => undefined);
            continue;
        }
        const holder = stat.isFile() ? await readHolder(file) : undefined;
        if (holder)
            holders.push(holder);
        else
            await removeLease(file);
    }
    return holders;
}
async function readHolder(file) {
    const content = await external_node_fs_.promises.readFile(file, 'utf8').catch(() => '');
    if (!writtenUnderThisKernel(content) || (await lockIsHeld(file)) !== true)
        return undefined;
    const parsed = LeaseRecord.safeParse(parseJson(content));
    if (!parsed.success)
        return undefined;
    const server = ServerRecord.safeParse(parseJson(await external_node_fs_.promises.readFile(sidecar(file), 'utf8').catch(() => '')));
    return {
        file,
        job: leases_oneLine(parsed.data.job),
        since: leases_oneLine(parsed.data.created),
        gpus: parsed.data.gpus.map((g) => ({ uuid: g.uuid, index: g.index, name: leases_oneLine(g.name), reservedBytes: g.reserved_bytes })),
        server: server.success ? { pid: server.data.pid, allocatedAt: server.data.allocated_at } : undefined,
    };
}
/** Removes a lease and its `.server` file; another user's stay (the sticky directory keeps them) and are skipped. */
async function removeLease(file) {
    for (const f of [file, sidecar(file)])
        await external_node_fs_.promises.rm(f, { force: true }).catch(() => undefined);
}
const sidecar = (leaseFile) => leaseFile.replace(/\.lease$/, '.server');
/** Takes a lease on `reservations`, locked through a descriptor of this process; undefined without flock(1). */
async function takeGpuLease(dir, reservations, job, estimateSource) {
    const id = processFileId();
    const record = {
        job,
        estimate_source: estimateSource,
        gpus: reservations.filter((r) => r.gpu.uuid).map((r) => ({ uuid: r.gpu.uuid, index: r.gpu.index, name: r.gpu.name, reserved_bytes: r.bytes })),
    };
    const file = external_node_path_default().join(dir, `${id}.lease`);
    const fd = await createLockedFile(file, record);
    if (fd === undefined) {
        await removeLease(file);
        return undefined;
    }
    return { file, fd };
}
/** Records that the server has loaded: what it reserved is now allocated, and free memory shows it. */
async function markAllocated(lease, serverPid) {
    await writeFileAtomic(sidecar(lease.file), `${JSON.stringify({ pid: serverPid, allocated_at: new Date().toISOString() })}\n`);
}
/**
 * Each GPU with what live holders reserved on it and have not allocated yet: the whole reservation until its
 * server has loaded (counted twice meanwhile, with what it already allocated: the safe side), none after. Pure.
 */
function roomsOf(gpus, holders) {
    return gpus.map((gpu) => {
        let reservedByOthers = 0;
        for (const holder of holders) {
            const reserved = holder.gpus.find((g) => g.uuid === gpu.uuid);
            if (!reserved || holder.server)
                continue;
            reservedByOthers += reserved.reservedBytes;
        }
        return { gpu, reservedByOthers };
    });
}
/** `octo/app run 7 job eval: 2.44 GiB on GPU 0, loading since 12:00:01Z`: who holds what, for logs and errors. */
function describeHolders(holders, gpus) {
    const uuids = new Set(gpus.map((g) => g.uuid));
    return holders
        .filter((h) => h.gpus.some((g) => uuids.has(g.uuid)))
        .map((h) => {
        const where = h.gpus.filter((g) => uuids.has(g.uuid)).map((g) => `${(g.reservedBytes / 2 ** 30).toFixed(2)} GiB on GPU ${g.index} (${g.name})`).join(', ');
        const state = h.server ? `llama-server pid ${h.server.pid} running` : 'loading';
        return `${h.job}: ${where}, ${state}, since ${h.since}`;
    });
}
/** Compute processes on `gpus` that no live lease's server accounts for: orphans, or other tools' work. */
function unleasedApps(apps, holders, gpus, alsoOurs = []) {
    const uuids = new Set(gpus.map((g) => g.uuid));
    const leased = new Set([...holders.map((h) => h.server?.pid), ...alsoOurs]);
    return (apps ?? []).filter((a) => uuids.has(a.gpuUuid) && !leased.has(a.pid));
}
/** `pid 4242 (python3) holds 3000 MiB on GPU 0`. */
function describeApp(app, gpus, program = app.processName) {
    const gpu = gpus.find((g) => g.uuid === app.gpuUuid);
    const memory = app.usedMib === null ? 'memory (the driver does not say how much)' : `${app.usedMib} MiB`;
    return `pid ${app.pid} (${program}) holds ${memory} on GPU ${gpu?.index ?? app.gpuUuid}`;
}
/** Another user's lease is printed in this job's log: no line break or control character may make it a workflow command. */
function leases_oneLine(text) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x1f\x7f]/g, ' ');
}

;// CONCATENATED MODULE: ./src/server/reserved.ts
// What llama-server must not be told except through the action's own inputs: the flags (llama.cpp
// common/arg.cpp), and their environment forms, which a job's env would otherwise pass on unseen.

// llama-server flags (llama.cpp common/arg.cpp) that the action sets from its own inputs: in server-args they
// would make the action wait on the wrong address, serve a model it did not verify, or put a secret into argv.
const RESERVED_SERVER_FLAGS = {
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
};
/** LLAMA_ARG_* variables (and LLAMA_API_KEY) of the reserved flags, and the input that owns each. */
const RESERVED_SERVER_ENV = {
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
};
// llama-server flags that place weights themselves (llama.cpp common/arg.cpp): tensor buffer overrides, and expert or
// feed-forward weights kept in system memory, for the model or its draft. Under gpu-policy vram-only on a GPU
// backend every weight goes to the GPUs the action chose and checked: these would move some behind that check.
const WEIGHT_PLACEMENT_FLAGS = [
    '-ot', '--override-tensor',
    '-cmoe', '--cpu-moe',
    '-ncmoe', '--n-cpu-moe',
    '-ncffn', '--n-cpu-ffn',
    '-otd', '--override-tensor-draft', '--spec-draft-override-tensor',
    '-cmoed', '--cpu-moe-draft', '--spec-draft-cpu-moe',
    '-ncmoed', '--n-cpu-moe-draft', '--spec-draft-n-cpu-moe', '--spec-draft-ncmoe',
];
/** Their LLAMA_ARG_* variables (--spec-draft-override-tensor has none). */
const WEIGHT_PLACEMENT_ENV = [
    'LLAMA_ARG_OVERRIDE_TENSOR', 'LLAMA_ARG_CPU_MOE', 'LLAMA_ARG_N_CPU_MOE', 'LLAMA_ARG_N_CPU_FFN',
    'LLAMA_ARG_SPEC_DRAFT_CPU_MOE', 'LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE',
];

;// CONCATENATED MODULE: ./src/gpu/server-log.ts
// What llama-server says it allocated, and what llama.cpp's fit decided, from its log (parsed by pure functions;
// readServerAllocation reads the log's start). The lines, as llama.cpp v0.5.0 writes them (a timestamp and a
// level letter first; the format strings' sources in brackets):
//   0.00.441.187 I load_tensors: offloaded 33/33 layers to GPU                       [src/llama-model.cpp]
//   0.00.444.811 I load_tensors:        CUDA0 model buffer size =  3745.02 MiB       [same; CPU_Mapped, CUDA_Host…]
//   0.00.445.370 I llama_context: constructing llama_context                         [src/llama-context.cpp]
//   0.00.445.388 I llama_context: n_ctx                 = 4096                       [same]
//   0.00.445.450 I llama_kv_cache:      CUDA0 KV buffer size =   512.00 MiB          [src/llama-kv-cache.cpp; RS:
//                                                                                     src/llama-memory-recurrent.cpp]
//   0.00.446.655 I sched_reserve:      CUDA0 compute buffer size =   296.00 MiB      [src/llama-context.cpp]
//   0.01.816.305 I srv  llama_server: model loaded                                   [tools/server/server.cpp]
// llama.cpp logs them at its INFO level, which v0.5.0's common/log.cpp shows only from verbosity 4 (trace) up:
// at llama-server's default (3) none is written, so the action passes ALLOCATION_LOG_ARGS where it reads them.
// --fit's trial loads log the same lines at debug level (`D`, shown only with -v): they are not allocations.

/** What makes llama-server v0.5.0 write the lines above (`-lv 4`: trace, the lowest level that shows them). */
const LOG_VERBOSITY_FLAG = '--log-verbosity';
const ALLOCATION_LOG_ARGS = [LOG_VERBOSITY_FLAG, '4'];
const GPU_BUFFER = /^(CUDA|ROCm|Vulkan|MUSA|SYCL)\d+$/;
function isGpuBuffer(name) {
    return GPU_BUFFER.test(name);
}
// Each pattern is anchored and linear; lines longer than any of these formats are skipped unread.
const LONGEST_LINE = 512;
const MOST_BUFFERS = 64;
/** `0.00.445.450 I ` (common/log.cpp: minutes.seconds.ms.us, then the level), absent with --no-log-prefix. */
const PREFIX = /^(?:\d{1,9}\.\d\d\.\d{3}\.\d{3} )?(?:([DIWE]) )?/;
const BUFFER = /^\w{1,32}: +([\w.:[\]-]{1,64}) (model|KV|RS|compute) buffer size = +(\d{1,12}\.\d\d) MiB$/;
const N_CTX = /^llama_context: n_ctx += (\d{1,10})$/;
const OFFLOADED = /^load_tensors: offloaded (\d{1,6})\/(\d{1,6}) layers to GPU$/;
const NEW_CONTEXT = 'llama_context: constructing llama_context';
const LOADED = /: model loaded$/;
function parseServerLog(text) {
    const held = new Map();
    // A context reserves its compute buffers anew (the old ones freed) when its graph changes: per context the last
    // size counts, and the contexts (a draft model's too) add up.
    const compute = new Map();
    let context = 0;
    let ctx;
    let layers;
    for (const raw of text.split('\n')) {
        if (raw.length > LONGEST_LINE)
            continue;
        const prefix = PREFIX.exec(raw);
        if (prefix[1] === 'D')
            continue;
        const line = raw.slice(prefix[0].length).trimEnd();
        // The end of the load: what follows (a reload after --sleep-idle-seconds, say) is not more memory.
        if (LOADED.test(line))
            break;
        if (line === NEW_CONTEXT)
            context++;
        const buffer = BUFFER.exec(line);
        if (buffer) {
            const [, name, kind, value] = buffer;
            const mib = Number(value);
            if (!held.has(name)) {
                if (held.size >= MOST_BUFFERS)
                    continue;
                held.set(name, { modelMib: 0, contextMib: 0, computeMib: 0 });
            }
            if (kind === 'compute') {
                compute.set(`${context} ${name}`, mib);
            }
            else {
                const use = held.get(name);
                use[kind === 'model' ? 'modelMib' : 'contextMib'] += mib;
            }
            continue;
        }
        const n = N_CTX.exec(line);
        // The first context is the model's own; a draft model's comes after it.
        if (n && ctx === undefined && Number(n[1]) > 0)
            ctx = Number(n[1]);
        const offloaded = OFFLOADED.exec(line);
        if (offloaded && layers === undefined) {
            const onGpu = Number(offloaded[1]);
            const of = Number(offloaded[2]);
            if (onGpu <= of)
                layers = { onGpu, of };
        }
    }
    for (const [key, mib] of compute) {
        const use = held.get(key.slice(key.indexOf(' ') + 1));
        use.computeMib += mib;
    }
    return { buffers: [...held].map(([buffer, use]) => ({ buffer, ...use })), ctx, layers };
}
const mib = (n) => `${Math.round(n)} MiB`;
/** `CUDA0: model 3745 MiB, context 512 MiB, compute 296 MiB`, per GPU buffer. */
function describeGpuBuffers(allocation) {
    return allocation.buffers
        .filter((b) => isGpuBuffer(b.buffer))
        .map((b) => `${b.buffer}: model ${mib(b.modelMib)}, context ${mib(b.contextMib)}, compute ${mib(b.computeMib)}`);
}
/** What llama.cpp decided, in one sentence (allow-offload: its fit chose context and layers). */
function describeFit(allocation) {
    const parts = [];
    if (allocation.ctx !== undefined)
        parts.push(`a context of ${allocation.ctx} tokens`);
    if (allocation.layers)
        parts.push(`${allocation.layers.onGpu} of ${allocation.layers.of} layers on the GPUs`);
    const hostModel = allocation.buffers.filter((b) => !isGpuBuffer(b.buffer)).reduce((s, b) => s + b.modelMib, 0);
    if (hostModel > 0)
        parts.push(`${mib(hostModel)} of weights in system memory`);
    const gpu = describeGpuBuffers(allocation);
    if (gpu.length)
        parts.push(`in GPU memory ${gpu.join('; ')}`);
    return parts.length ? parts.join(', ') : 'nothing about its memory (no buffer lines in the log)';
}
/** Allocations are logged while the model loads: the start of the log is enough, however long it has grown. */
const READ_BYTES = 8 * 2 ** 20;
async function readServerAllocation(logPath) {
    const handle = await external_node_fs_.promises.open(logPath, 'r').catch(() => undefined);
    if (!handle)
        return { buffers: [], ctx: undefined, layers: undefined };
    try {
        const buffer = Buffer.alloc(READ_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, 0);
        return parseServerLog(buffer.subarray(0, bytesRead).toString('utf8'));
    }
    finally {
        await handle.close();
    }
}
/**
 * `GPU 0 (NVIDIA L4): 4551 MiB allocated (model 3745, context 512, compute 296), 4800 MiB reserved`: llama.cpp
 * numbers its devices CUDA0, CUDA1… in the order of CUDA_VISIBLE_DEVICES, which is the order of `gpus`.
 */
function allocatedPerGpu(allocation, gpus) {
    const devices = allocation.buffers.filter((b) => isGpuBuffer(b.buffer));
    return devices.map((b) => {
        const position = Number(/\d+$/.exec(b.buffer)?.[0]);
        const gpu = gpus[position];
        const total = b.modelMib + b.contextMib + b.computeMib;
        const reserved = gpu?.reservedBytes ? `, ${Math.ceil(gpu.reservedBytes / 2 ** 20)} MiB reserved` : '';
        const where = gpu ? `GPU ${gpu.index} (${gpu.name})` : b.buffer;
        return `${where}: ${mib(total)} allocated (model ${mib(b.modelMib)}, context ${mib(b.contextMib)}, compute ${mib(b.computeMib)})${reserved}`;
    });
}

;// CONCATENATED MODULE: ./src/gpu/placement.ts
// Where the model runs: which GPUs (devices, or the fewest that hold the estimate, freest first), how the model is
// split over them, how many layers go to them, and, under gpu-policy vram-only, whether it fits in their free
// memory less what other jobs have reserved and not yet allocated. Pure: a snapshot of the GPUs in, a decision out.






const placement_MiB = 2 ** 20;
const DEVICE_VARIABLE = {
    cuda: 'CUDA_VISIBLE_DEVICES',
    hip: 'HIP_VISIBLE_DEVICES',
    vulkan: 'GGML_VK_VISIBLE_DEVICES',
};
function planPlacement(input) {
    const { backend, provisioningMode, inputs } = input;
    const notes = [];
    if (backend === 'cpu') {
        if (inputs.devices)
            notes.push(`'${Input.Devices}' is ignored on the cpu backend`);
        const gpuLayers = inputs.gpuLayers ?? (provisioningMode === 'binary' ? 0 : undefined);
        return { ...NO_GPUS, gpuLayers, notes };
    }
    const vramOnly = inputs.gpuPolicy === 'vram-only';
    const layers = (input.model.gguf.blockCount ?? 0) + 1; // the repeating blocks and the output layer
    if (vramOnly && typeof inputs.gpuLayers === 'number' && inputs.gpuLayers < layers) {
        throw new errors/* ServerError */.gP(`Input '${Input.GpuLayers}' is ${inputs.gpuLayers}: partial offload is refused under gpu-policy: vram-only (the model has ${layers} layers); leave it empty, or set gpu-policy: allow-offload`);
    }
    const fitArg = inputs.serverArgs.find((a) => /^(-fit|--fit)(=|$)/.test(a));
    if (vramOnly && fitArg !== undefined) {
        throw new errors/* ServerError */.gP(`Input '${Input.ServerArgs}' has ${fitArg}: under gpu-policy: vram-only the action checks the fit itself and turns llama.cpp's off; set gpu-policy: allow-offload to let llama.cpp fit`);
    }
    const placing = inputs.serverArgs.map((a) => a.split('=')[0]).find((flag) => WEIGHT_PLACEMENT_FLAGS.includes(flag));
    if (vramOnly && placing !== undefined) {
        throw new errors/* ServerError */.gP(`Input '${Input.ServerArgs}' has ${placing}, which places weights itself (in system memory, or on devices the action did not choose): under gpu-policy: vram-only every weight goes to the GPUs the action chose and checked; set gpu-policy: allow-offload to place them yourself`);
    }
    // Under vram-only everything goes to the GPUs and llama.cpp may not move any of it back behind the user's
    // back; under allow-offload an empty gpu-layers leaves the choice to llama.cpp's fit (where it has one).
    const gpuLayers = vramOnly ? 'all' : (inputs.gpuLayers ?? (input.serverFits ? undefined : 'all'));
    const fitOff = vramOnly && input.serverFits ? ['--fit', 'off'] : [];
    const llamaFits = !vramOnly && input.serverFits;
    // The job reports what the server allocated on the GPUs it leased, and what llama.cpp's fit decided, from its log.
    const logged = (reported) => (reported && input.serverVerbosity ? ALLOCATION_LOG_ARGS : []);
    if (backend !== 'cuda' || input.rooms.length === 0) {
        // No nvidia-smi to read: devices by index, no memory check, nothing to lease.
        const env = {};
        if (Array.isArray(inputs.devices)) {
            const uuid = inputs.devices.find((d) => typeof d === 'string');
            if (uuid !== undefined)
                throw new errors/* ServerError */.gP(`Input '${Input.Devices}' names ${uuid}: GPU UUIDs are read with nvidia-smi, which lists no GPU here; give indices`);
            env[DEVICE_VARIABLE[backend]] = inputs.devices.join(',');
        }
        if (backend === 'cuda' && vramOnly)
            return { message: poolMessage(input.estimate, [], 1, 'no GPU was found'), gpus: [], couldFit: false };
        if (vramOnly)
            notes.push(`gpu-policy vram-only: free VRAM cannot be read for ${backend} here, so it is not checked`);
        const deviceMask = Array.isArray(inputs.devices) ? inputs.devices.join(',') : null;
        return { ...NO_GPUS, env, deviceMask, gpuLayers, args: [...fitOff, ...logged(llamaFits)], llamaFits, weightsOnGpus: vramOnly, notes, selection: inputs.devices ? 'given' : 'none' };
    }
    const candidates = selectCandidates(input.rooms, inputs.devices);
    const selection = inputs.devices === undefined ? 'chosen' : inputs.devices === 'all' ? 'all' : 'given';
    const estimate = input.estimate;
    const fitted = selection === 'chosen' ? fewestThatHold(estimate, candidates) : splitOver(estimate, candidates);
    if (!fitted.fits && vramOnly) {
        // Chosen: what the fewest GPUs (one) would need; given: what those GPUs need together.
        return { message: poolMessage(estimate, candidates, selection === 'chosen' ? 1 : candidates.length), gpus: candidates.map((r) => r.gpu), couldFit: couldEverFit(estimate, candidates, selection === 'chosen') };
    }
    if (!fitted.fits)
        notes.push(`No set of GPUs holds the estimate now; llama.cpp's fit keeps what does not fit in system memory`);
    const gpus = fitted.split.map((s) => s.room.gpu);
    const env = { [DEVICE_VARIABLE.cuda]: gpus.every((g) => g.uuid) ? gpus.map((g) => g.uuid).join(',') : gpus.map((g) => g.index).join(',') };
    // Under allow-offload llama.cpp's fit sets the split itself (and gives up on a split the user set).
    const tensorSplit = vramOnly && gpus.length > 1 ? fitted.split.map((s) => Math.max(1, Math.floor(s.share / placement_MiB))) : undefined;
    const args = [...fitOff, ...(tensorSplit ? ['--split-mode', 'layer', '--tensor-split', tensorSplit.join(',')] : []), ...logged(true)];
    // Under allow-offload the server takes at most what is free; the rest stays in system memory.
    const reservations = fitted.split.map((s) => ({ gpu: s.room.gpu, bytes: vramOnly ? s.bytes : Math.min(s.bytes, Math.max(0, placement_available(s.room))) }));
    return { gpus, env, deviceMask: gpus.map((g) => g.index).join(','), gpuLayers, args, llamaFits, weightsOnGpus: vramOnly, tensorSplit, estimate, reservations, selection, notes };
}
const NO_GPUS = { gpus: [], env: {}, deviceMask: null, gpuLayers: undefined, args: [], llamaFits: false, weightsOnGpus: false, tensorSplit: undefined, estimate: undefined, reservations: [], selection: 'none', notes: [] };
function isShortfall(result) {
    return 'message' in result;
}
/** The placement's GPUs, each with what it reserved there. */
function gpusWithReservations(placement) {
    return placement.gpus.map((g) => ({ ...g, reservedBytes: placement.reservations.find((r) => r.gpu.index === g.index)?.bytes ?? 0 }));
}
/** The GPUs `devices` names (indices or UUIDs), or all of them. */
function selectCandidates(rooms, devices) {
    if (devices === undefined || devices === 'all')
        return rooms;
    const found = devices.map((d) => rooms.find((r) => (typeof d === 'number' ? r.gpu.index === d : r.gpu.uuid === d)));
    const unknown = devices.filter((_, i) => found[i] === undefined);
    if (unknown.length) {
        throw new errors/* ServerError */.gP(`Input '${Input.Devices}' is ${devices.join(',')}: this machine has no GPU ${unknown.join(', ')} (nvidia-smi lists ${rooms.map((r) => `${r.gpu.index} (${r.gpu.uuid ?? 'no UUID'})`).join(', ')})`);
    }
    return found;
}
function placement_available(room) {
    return room.gpu.memoryFreeMib * placement_MiB - room.reservedByOthers;
}
/** The fewest GPUs that hold the estimate, freest first (the freest k hold the most of any k); else all of them. */
function fewestThatHold(estimate, rooms) {
    const freest = [...rooms].sort((a, b) => placement_available(b) - placement_available(a) || a.gpu.index - b.gpu.index);
    for (let k = 1; k <= freest.length; k++) {
        const split = splitOver(estimate, freest.slice(0, k));
        if (split.fits)
            return split;
    }
    return splitOver(estimate, rooms);
}
/**
 * The weights and KV cache split over `rooms` in proportion to the room each has left once its own compute
 * buffers, overhead and a layer of rounding are counted, so that every GPU is as full as the others.
 */
function splitOver(estimate, rooms) {
    const ordered = [...rooms].sort((a, b) => a.gpu.index - b.gpu.index);
    const fixed = perGpuBytes(estimate) + (ordered.length > 1 ? layerBytes(estimate) : 0);
    const room = ordered.map((r) => Math.max(0, placement_available(r) - fixed));
    const total = room.reduce((s, r) => s + r, 0);
    const toSplit = splitBytes(estimate);
    const split = ordered.map((r, i) => {
        const share = total > 0 ? (toSplit * room[i]) / total : toSplit / ordered.length;
        return { room: r, share, bytes: Math.ceil(share + fixed) };
    });
    return { fits: ordered.length > 0 && room.every((r) => r > 0) && total >= toSplit, split };
}
/** Whether the GPUs' whole memory (with nothing else on them) could hold the estimate: else waiting is pointless. */
function couldEverFit(estimate, rooms, anySubset) {
    const totals = rooms.map((r) => r.gpu.memoryTotalMib * placement_MiB).sort((a, b) => b - a);
    const counts = anySubset ? totals.map((_, i) => i + 1) : [totals.length];
    return counts.some((k) => bytesNeeded(estimate, k) <= totals.slice(0, k).reduce((s, t) => s + t, 0));
}
const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
/** The POOL_UNAVAILABLE message: what the model needs, part by part, and what each GPU has. */
function poolMessage(estimate, rooms, gpuCount, noGpu) {
    const free = rooms.reduce((s, r) => s + placement_available(r), 0);
    const perGpu = noGpu ?? rooms.map(describeRoom).join('; ');
    const needs = estimate
        ? `about ${gib(bytesNeeded(estimate, Math.max(1, gpuCount)))} of VRAM (${describeEstimate(estimate)})`
        : 'VRAM';
    return (`POOL_UNAVAILABLE: the model needs ${needs}, but the selected GPUs have ${gib(Math.max(0, free))} free: ${perGpu}. ` +
        `Lower ctx-size, select other devices, or set gpu-policy: allow-offload to let llama.cpp keep layers in system memory.`);
}
function describeEstimate(e) {
    return (`weights ${gib(e.weightsBytes)}, KV cache ${gib(e.kvBytes)} for ${e.kvCells} tokens in ${e.kvTypes}, ` +
        `compute buffers ${gib(e.computeBytes)} and overhead ${gib(e.overheadBytes)} per GPU; ${e.source === 'formula' ? 'estimated from the GGUF header' : 'projected by llama-fit-params'}`);
}
function describeRoom(room) {
    const reserved = room.reservedByOthers > 0 ? `, of which ${gib(room.reservedByOthers)} reserved by other jobs` : '';
    return `${gpuName(room.gpu)}: ${gib(room.gpu.memoryFreeMib * placement_MiB)} free of ${gib(room.gpu.memoryTotalMib * placement_MiB)}${reserved}`;
}

;// CONCATENATED MODULE: ./src/gpu/pool.ts
// The host's GPUs as a pool shared by its jobs: estimate what the model needs, then, holding the placement lock,
// read the GPUs and the live leases, place the model and lease what it takes. When nothing fits while other jobs
// hold the GPUs, wait for them (gpu-wait-timeout), saying who holds what; then fail with POOL_UNAVAILABLE, naming them.









const POLL_MS = 2_000;
/** How often a wait repeats who holds what when nothing changed. */
const REPEAT_MS = 30_000;
async function placeOnPool(request) {
    const gpus = request.backend === 'cuda' ? request.gpus : [];
    const estimate = gpus.length ? await estimateFor(request, gpus) : undefined;
    if (gpus.length === 0) {
        const result = planPlacement({ ...request, rooms: [], estimate });
        if (isShortfall(result))
            throw new errors/* ServerError */.gP(result.message);
        return { placement: result, lease: undefined };
    }
    const wait = request.inputs.gpuWaitTimeoutSeconds;
    const deadline = Date.now() + wait * 1000;
    let dir = gpuLeaseDir(process.env);
    // One look at the GPUs and the leases; a placement that may start now takes its lease before the lock is let go.
    const look = async () => {
        const [now, apps, holders] = await Promise.all([queryNvidiaGpus(), queryComputeApps(), dir ? liveHolders(dir) : []]);
        const rooms = roomsOf(now, holders);
        const result = planPlacement({ ...request, rooms, estimate });
        const seen = { result, holders, apps, othersLoading: othersLoading(request, result, rooms) };
        if (isShortfall(result) || !dir || result.reservations.length === 0 || (seen.othersLoading && Date.now() < deadline))
            return seen;
        return { ...seen, lease: await takeGpuLease(dir, result.reservations, jobName(process.env), estimate?.source ?? 'none') };
    };
    let said = '';
    let saidAt = 0;
    for (;;) {
        let seen;
        try {
            const locked = dir ? await withPlacementLock(dir, look) : undefined;
            if (dir && !locked) {
                lib_core/* warning */.$e('flock(1) is not installed: GPUs are placed without leases, so jobs started at the same time on this host may pick the same GPU');
                dir = undefined;
            }
            seen = locked ? locked.value : await look();
        }
        catch (error) {
            if (error instanceof errors/* ServerError */.gP || !dir)
                throw error;
            lib_core/* warning */.$e(`The GPU lease directory ${dir} cannot be used (${(0,errors/* errorMessage */.gJ)(error)}); GPUs are placed without leases. Set ${GPU_LEASES_VARIABLE} to a directory that every job on this host can write.`);
            dir = undefined;
            continue;
        }
        const { result, holders } = seen;
        const held = describeHolders(holders, result.gpus);
        if (!isShortfall(result) && (!seen.othersLoading || Date.now() >= deadline)) {
            if (seen.othersLoading)
                lib_core/* warning */.$e(`Starting while other jobs still load on these GPUs (${held.join('; ')}): llama.cpp's fit may count memory they are about to take.`);
            return { placement: result, lease: seen.lease };
        }
        if (isShortfall(result) && (!result.couldFit || held.length === 0 || Date.now() >= deadline)) {
            throw new errors/* ServerError */.gP(shortfallMessage(result, held, unleasedApps(seen.apps, holders, result.gpus), wait, saidAt > 0));
        }
        const what = isShortfall(result) ? 'GPU memory' : "other jobs' servers to finish loading, so that llama.cpp's fit counts their memory";
        const line = `Waiting up to ${wait} s (${Input.GpuWaitTimeout}) for ${what}. Held by: ${held.join('; ')}`;
        if (line !== said || Date.now() - saidAt >= REPEAT_MS) {
            lib_core/* info */.pq(line);
            said = line;
            saidAt = Date.now();
        }
        await (0,promises_.setTimeout)(Math.max(100, Math.min(POLL_MS, deadline - Date.now())));
    }
}
/** Under allow-offload llama.cpp fits the model to the memory free when it loads: not while others still load. */
function othersLoading(request, placement, rooms) {
    if (request.inputs.gpuPolicy !== 'allow-offload' || isShortfall(placement))
        return false;
    const uuids = new Set(placement.gpus.map((g) => g.uuid));
    return rooms.some((r) => uuids.has(r.gpu.uuid) && r.reservedByOthers > 0);
}
function shortfallMessage(shortfall, holders, unleased, waitSeconds, waited) {
    const parts = [shortfall.message];
    if (holders.length)
        parts.push(`${waited ? `After waiting ${waitSeconds} s (${Input.GpuWaitTimeout}), these` : 'These'} GPUs are held by: ${holders.join('; ')}.`);
    if (unleased.length)
        parts.push(`Processes on these GPUs that no lease names (nvidia-smi): ${unleased.map((a) => describeApp(a, shortfall.gpus)).join('; ')}.`);
    return parts.join(' ');
}
/**
 * The estimate: llama-fit-params' projection on the GPU the server would most likely get (the freest of those
 * it may use) where the engine has it, else the formula from the GGUF header.
 */
async function estimateFor(request, gpus) {
    const { inputs, model } = request;
    const args = memoryArgs(inputs.serverArgs);
    const formula = estimateVram({ model: model.gguf, modelBytes: model.sizeBytes, ctxSize: inputs.ctxSize, parallel: inputs.parallel, args });
    const binary = fitParamsBeside(request.enginePath);
    const devices = inputs.devices;
    const allowed = Array.isArray(devices) ? gpus.filter((g) => devices.includes(g.index) || (g.uuid !== null && devices.includes(g.uuid))) : gpus;
    const freest = [...allowed].sort((a, b) => b.memoryFreeMib - a.memoryFreeMib)[0];
    if (!binary || !freest)
        return formula;
    const device = { CUDA_VISIBLE_DEVICES: freest.uuid ?? String(freest.index) };
    return (await projectWithFitParams(binary, { modelPath: model.path, ctxSize: inputs.ctxSize, parallel: inputs.parallel, args }, device, formula)) ?? formula;
}

;// CONCATENATED MODULE: ./src/gpu/job.ts
// The GPU side of this job's server: placed and leased before it starts (its notes logged, what post needs saved),
// and once it has loaded, its lease marked allocated and what llama-server allocated reported.








async function placeServer(request) {
    const placed = await placeOnPool(request);
    const { placement } = placed;
    for (const note of placement.notes)
        lib_core/* info */.pq(note);
    if (placement.gpus.length)
        saveGpuState(gpuState(placed, false));
    return placed;
}
function gpuState(placed, pidsComparable) {
    const gpus = gpusWithReservations(placed.placement).map(({ index, uuid, name, reservedBytes }) => ({ index, uuid, name, reservedBytes }));
    return { gpus, leaseFile: placed.lease?.file ?? null, pidsComparable };
}
/** After /health: the lease's reservation is now allocated memory; the log says how much, and what fit decided. */
async function serverLoaded(placed, server) {
    const { placement, lease } = placed;
    // Without the mark, other jobs count the reservation as still to come (the safe side): a warning, not a failure.
    if (lease)
        await markAllocated(lease, server.pid).catch((error) => lib_core/* warning */.$e(`Could not mark the GPU lease ${lease.file} as allocated: ${(0,errors/* errorMessage */.gJ)(error)}`));
    if (placement.gpus.length) {
        const apps = await queryComputeApps();
        saveGpuState(gpuState(placed, apps?.some((a) => a.pid === server.pid) ?? false));
    }
    if (placement.gpus.length === 0 && !placement.llamaFits)
        return undefined;
    const allocation = await readServerAllocation(server.logPath);
    for (const line of allocatedPerGpu(allocation, gpusWithReservations(placement)))
        lib_core/* info */.pq(`llama-server allocated on ${line}`);
    if (placement.llamaFits)
        lib_core/* info */.pq(`llama.cpp's fit decided (gpu-policy allow-offload): ${describeFit(allocation)}`);
    return allocation;
}

;// CONCATENATED MODULE: ./src/outputs.ts


function setProvisionOutputs(model, engine) {
    lib_core/* setOutput */.uH(Output.ModelPath, model.path);
    lib_core/* setOutput */.uH(Output.ModelId, model.id);
    lib_core/* setOutput */.uH(Output.ModelDigest, model.digest);
    lib_core/* setOutput */.uH(Output.ModelCacheHit, String(model.cacheHit));
    lib_core/* setOutput */.uH(Output.EnginePath, engine.path);
    lib_core/* setOutput */.uH(Output.EngineVersion, engine.version);
    lib_core/* setOutput */.uH(Output.EngineCommit, engine.commit ?? '');
    lib_core/* setOutput */.uH(Output.EngineCacheHit, String(engine.cacheHit));
    lib_core/* setOutput */.uH(Output.EngineProvisioningMode, engine.provisioningMode);
    lib_core/* setOutput */.uH(Output.EngineReleaseTag, engine.release?.tag ?? '');
    lib_core/* setOutput */.uH(Output.EngineReleaseAsset, engine.release?.asset ?? '');
    lib_core/* setOutput */.uH(Output.EngineReleaseRuntimeAsset, engine.release?.runtime?.asset ?? '');
}
/** Where OpenAI-compatible clients (the `openai` SDKs' base_url, LangChain, curl) send their requests. */
function openaiBaseUrl(url) {
    return `${url}/v1`;
}
function setServerOutputs(server, handoffPath) {
    lib_core/* setOutput */.uH(Output.Url, server.url);
    lib_core/* setOutput */.uH(Output.OpenaiBaseUrl, openaiBaseUrl(server.url));
    lib_core/* setOutput */.uH(Output.Host, server.host);
    lib_core/* setOutput */.uH(Output.Port, String(server.port));
    lib_core/* setOutput */.uH(Output.Pid, String(server.pid));
    lib_core/* setOutput */.uH(Output.LogPath, server.logPath);
    lib_core/* setOutput */.uH(Output.HandoffPath, handoffPath);
}

;// CONCATENATED MODULE: ./src/handoff.ts



function buildHandoff({ model, engine, server, poolId, parallel, placement }) {
    const e = placement.estimate;
    return {
        schema_version: 1,
        engine: 'llamacpp',
        engine_version: engine.version,
        engine_commit: engine.commit,
        provisioning_mode: engine.provisioningMode,
        engine_release: engine.release ?? null,
        backend: engine.backend,
        url: server.url,
        openai_base_url: openaiBaseUrl(server.url),
        host: server.host,
        port: server.port,
        pid: server.pid,
        pool_id: poolId,
        replica_id: 'r0',
        model: {
            id: model.id,
            path: model.path,
            digest: model.digest,
            size_bytes: model.sizeBytes,
            architecture: model.gguf.architecture,
            ctx_max: model.gguf.contextLength,
        },
        flags: server.argv,
        device_mask: placement.deviceMask,
        slots_total: parallel,
        gpus: placement.gpus.map((g) => ({
            index: g.index,
            uuid: g.uuid,
            name: g.name,
            memory_total_mib: g.memoryTotalMib,
            memory_free_mib: g.memoryFreeMib,
            compute_cap: g.computeCap,
        })),
        tensor_split: placement.tensorSplit ?? null,
        vram_estimate: e
            ? {
                source: e.source,
                total_bytes: bytesNeeded(e, Math.max(1, placement.gpus.length)),
                weights_bytes: e.weightsBytes,
                kv_bytes: e.kvBytes,
                kv_cells: e.kvCells,
                kv_types: e.kvTypes,
                compute_bytes_per_gpu: e.computeBytes,
                overhead_bytes_per_gpu: e.overheadBytes,
                reserved: placement.reservations.map((r) => ({ index: r.gpu.index, bytes: r.bytes })),
            }
            : null,
        log_path: server.logPath,
        started_at: server.startedAt,
    };
}
async function writeHandoff(file, handoff) {
    await writeFileAtomic(file, `${JSON.stringify(handoff, null, 2)}\n`);
}

;// CONCATENATED MODULE: ./src/input-paths.ts
// The paths the inputs name, checked before any work: a cache-dir that cannot be a directory, or a handoff-path
// that is one, fails the step at once with the input's name, not minutes later with an errno.




async function kind(p) {
    const stat = await external_node_fs_.promises.stat(p).catch(() => undefined);
    return !stat ? 'missing' : stat.isDirectory() ? 'directory' : 'other';
}
/** The nearest existing ancestor of `p` (itself when it exists). */
async function existingAncestor(p) {
    let dir = p;
    while ((await kind(dir)) === 'missing' && external_node_path_default().dirname(dir) !== dir)
        dir = external_node_path_default().dirname(dir);
    return dir;
}
async function directoryProblem(dir) {
    const found = await existingAncestor(dir);
    if ((await kind(found)) !== 'directory')
        return `${found === dir ? 'it' : found} is a file`;
    const writable = await external_node_fs_.promises.access(found, external_node_fs_.constants.W_OK).then(() => true, () => false);
    return writable ? undefined : `${found} is not writable by this job`;
}
async function checkInputPaths(inputs) {
    const problems = [];
    const say = (input, value, problem, expected) => problems.push(`Input '${input}' is ${JSON.stringify(value)}: ${problem}; expected ${expected}.`);
    const cacheProblem = await directoryProblem(inputs.cacheDir);
    if (cacheProblem)
        say(Input.CacheDir, inputs.cacheDir, cacheProblem, 'a directory this job can write, or a path where one can be made');
    if (inputs.start) {
        if ((await kind(inputs.handoffPath)) === 'directory') {
            say(Input.HandoffPath, inputs.handoffPath, 'it is a directory', 'the path of a JSON file to write');
        }
        else {
            const parentProblem = await directoryProblem(external_node_path_default().dirname(inputs.handoffPath));
            if (parentProblem)
                say(Input.HandoffPath, inputs.handoffPath, parentProblem, 'a file in a directory this job can write');
        }
    }
    if (problems.length)
        throw new errors/* InputError */.dz(problems);
}

// EXTERNAL MODULE: ./node_modules/zod/v4/core/core.js
var core_core = __webpack_require__(8532);
// EXTERNAL MODULE: ./src/compile-cache.ts
var compile_cache = __webpack_require__(9553);
;// CONCATENATED MODULE: ./src/model/hf-paths.ts
// Where the Hugging Face cache and token file are, found as huggingface_hub (constants.py) and llama.cpp
// (common/hf-cache.cpp) find them. An empty variable counts as unset, as in llama.cpp. Pure.

function set(env, name, homeDir) {
    const value = env[name]?.trim();
    if (!value)
        return undefined;
    // huggingface_hub expands a leading ~, as a shell would have.
    return external_node_path_default().resolve(value === '~' || value.startsWith('~/') ? external_node_path_default().join(homeDir, value.slice(1)) : value);
}
/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
function hfHome(env, homeDir) {
    return set(env, 'HF_HOME', homeDir) ?? external_node_path_default().join(set(env, 'XDG_CACHE_HOME', homeDir) ?? external_node_path_default().join(homeDir, '.cache'), 'huggingface');
}
/** huggingface_hub's cache: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else HF_HOME/hub. */
function hubCacheDir(env, homeDir) {
    return set(env, 'HF_HUB_CACHE', homeDir) ?? set(env, 'HUGGINGFACE_HUB_CACHE', homeDir) ?? external_node_path_default().join(hfHome(env, homeDir), 'hub');
}
/** HF_TOKEN_PATH, else HF_HOME/token: where `hf auth login` writes the token. */
function hfTokenPath(env, homeDir) {
    return set(env, 'HF_TOKEN_PATH', homeDir) ?? external_node_path_default().join(hfHome(env, homeDir), 'token');
}
/**
 * The cache the action uses: llama.cpp's (LLAMA_CACHE, then as huggingface_hub), so that `llama-server -hf`
 * finds what the action fetched; where LLAMA_CACHE points elsewhere, huggingface_hub's is searched as well.
 */
function hfCacheLocation(env, homeDir) {
    const hub = hubCacheDir(env, homeDir);
    const root = set(env, 'LLAMA_CACHE', homeDir) ?? hub;
    return { root, alsoLookIn: root === hub ? [] : [hub] };
}

;// CONCATENATED MODULE: ./src/util/invalid.ts
/** Thrown by pure parsers: `expected` says what a valid value looks like; the input parser adds name and value. */
class Invalid extends Error {
    expected;
    constructor(expected) {
        super(expected);
        this.expected = expected;
        this.name = 'Invalid';
    }
}
/** A URL, or Invalid with what was expected. */
function parseUrl(value, expected) {
    const url = URL.parse(value);
    if (!url)
        throw new Invalid(expected);
    return url;
}

;// CONCATENATED MODULE: ./src/model/ref.ts



const SPLIT_RE = /-(\d{5})-of-(\d{5})\.gguf$/i;
// The Hub's own repo-id rule (huggingface_hub validate_repo_id): word characters, '-' and '.', at most 96.
const HUB_NAME_RE = /^[\w.-]{1,96}$/;
const MODEL_REF_GRAMMAR = 'hf:<owner>/<repo>[@<revision>]/<path/in/repo.gguf>, an http(s):// URL, file:<path> or a plain path';
function parseSplitPart(fileName) {
    const m = SPLIT_RE.exec(fileName);
    if (!m)
        return undefined;
    return { part: Number(m[1]), total: Number(m[2]) };
}
function parseModelRef(value, workspace) {
    const ref = value.trim();
    if (ref === '')
        throw new Invalid(`a model reference: ${MODEL_REF_GRAMMAR}`);
    let parsed;
    if (ref.startsWith('hf:'))
        parsed = parseHubRef(ref.slice(3));
    else if (/^https?:\/\//i.test(ref))
        parsed = parseUrlRef(ref);
    else if (ref.startsWith('file:'))
        parsed = parseFileRef(ref, workspace);
    else if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) {
        throw new Invalid(`one of the supported forms (${MODEL_REF_GRAMMAR}); '${ref.split(':')[0]}:' is not one`);
    }
    else
        parsed = { kind: 'file', path: external_node_path_default().resolve(workspace, ref) };
    return withSplit(parsed);
}
function withSplit(ref) {
    const name = ref.kind === 'hf' ? ref.file : ref.kind === 'url' ? new URL(ref.url).pathname : ref.path;
    const split = parseSplitPart(name);
    if (!split)
        return ref;
    if (split.total < 1 || split.part < 1 || split.part > split.total) {
        throw new Invalid(`a split GGUF name of the form name-0000K-of-0000N.gguf with 1 <= K <= N`);
    }
    if (split.part !== 1) {
        throw new Invalid(`the first part of a split GGUF (…-00001-of-${String(split.total).padStart(5, '0')}.gguf); every part is fetched from it`);
    }
    return { ...ref, split };
}
function parseHubRef(rest) {
    const shape = 'hf:<owner>/<repo>[@<revision>]/<path/in/repo.gguf>';
    const segments = rest.split('/');
    if (segments.length < 3)
        throw new Invalid(`${shape}: owner, repo and a file path`);
    const [owner = '', repoAndRevision = '', ...fileSegments] = segments;
    const at = repoAndRevision.indexOf('@');
    const repo = at === -1 ? repoAndRevision : repoAndRevision.slice(0, at);
    // A revision with '/' (refs/pr/1) is written percent-encoded, as the Hub's own URLs do: refs%2Fpr%2F1.
    const rawRevision = at === -1 ? 'main' : repoAndRevision.slice(at + 1);
    for (const [what, name] of [['owner', owner], ['repo', repo]]) {
        if (!HUB_NAME_RE.test(name) || name.includes('--') || name.includes('..') || /^[.-]|[.-]$/.test(name)) {
            throw new Invalid(`${shape} where the ${what} is 1-96 letters, digits, '_', '-' or '.', without '--' or '..' and not starting or ending with '-' or '.'`);
        }
    }
    let revision;
    try {
        revision = decodeURIComponent(rawRevision);
    }
    catch {
        throw new Invalid(`${shape} with a revision that is a valid percent-encoded git ref`);
    }
    const revisionProblem = gitRefProblem(revision);
    if (revisionProblem)
        throw new Invalid(`${shape} with a revision that git accepts as a ref name, but ${revisionProblem}`);
    // eslint-disable-next-line no-control-regex
    if (fileSegments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || /[\x00-\x1f\x7f]/.test(s))) {
        throw new Invalid(`${shape} with a file path whose parts are not empty, '.', '..' or contain '\\' or a control character`);
    }
    const file = fileSegments.join('/');
    if (!/\.gguf$/i.test(file))
        throw new Invalid(`${shape} naming a .gguf file`);
    return { kind: 'hf', owner, repo, revision, file };
}
function parseUrlRef(ref) {
    const url = parseUrl(ref, 'a valid http(s):// URL');
    // Credentials in a URL end up in logs, outputs and cache keys.
    if (url.username || url.password)
        throw new Invalid('a URL without user name or password in it');
    return { kind: 'url', url: url.href };
}
function parseFileRef(ref, workspace) {
    const rest = ref.slice('file:'.length);
    if (rest.startsWith('//')) {
        const url = parseUrl(ref, 'file:<path> or a file:/// URL');
        if (url.host !== '' && url.host !== 'localhost')
            throw new Invalid('a file: URL on this machine (file:///path)');
        try {
            return { kind: 'file', path: decodeURIComponent(url.pathname) };
        }
        catch {
            throw new Invalid('a file: URL whose path is valid percent-encoding');
        }
    }
    if (rest === '')
        throw new Invalid('file:<path> with a path');
    return { kind: 'file', path: external_node_path_default().resolve(workspace, rest) };
}
/** The model's id as outputs and the handoff show it. */
function modelId(ref, resolvedRevision) {
    switch (ref.kind) {
        case 'hf':
            return `hf:${ref.owner}/${ref.repo}@${resolvedRevision ?? ref.revision}/${ref.file}`;
        case 'url': {
            // Without its query string, where signed URLs carry their credentials, or its fragment.
            const url = new URL(ref.url);
            return `${url.origin}${url.pathname}`;
        }
        case 'file':
            return `file:${ref.path}`;
    }
}

;// CONCATENATED MODULE: ./src/inputs.ts
// Every input is read and validated here, once, into one typed object. Nothing else calls core.getInput.
















/** Defaults that action.yml declares too (a test keeps the two equal); applied when an input is empty. */
const INPUT_DEFAULTS = {
    [Input.LlamaCppRepo]: DEFAULT_LLAMA_CPP_REPO,
    [Input.LlamaCppRef]: DEFAULT_LLAMA_CPP_REF,
    [Input.EngineSource]: 'auto',
    [Input.GithubToken]: DEFAULT_GITHUB_TOKEN,
    [Input.Backend]: 'auto',
    [Input.RemoteCache]: 'engine',
    [Input.RemoteCacheMaxModelSize]: DEFAULT_REMOTE_CACHE_MAX_MODEL_SIZE,
    [Input.Verify]: 'quick',
    [Input.Start]: 'true',
    [Input.Host]: '127.0.0.1',
    [Input.Port]: '0',
    [Input.Parallel]: '1',
    [Input.GpuPolicy]: 'vram-only',
    [Input.GpuWaitTimeout]: '300',
    [Input.HealthTimeout]: '600',
    [Input.NetworkTimeout]: '30',
    [Input.HfCache]: 'true',
    [Input.HandoffPath]: DEFAULT_HANDOFF_PATH,
    [Input.PoolId]: DEFAULT_POOL_ID,
};
const SECRET_INPUTS = new Set([Input.HfToken, Input.ApiKey, Input.GithubToken]);
/** What huggingface_hub takes the token from when it is given none. */
const HF_TOKEN_VARIABLE = 'HF_TOKEN';
/**
 * Reads every declared input from the runner, masks the secrets first, and parses them. Only an hf: model uses
 * the Hub (and hf-endpoint): then, without hf-token or HF_TOKEN, the token comes from huggingface_hub's token file.
 */
function readInputs() {
    const raw = {};
    for (const name of Object.values(Input))
        raw[name] = lib_core/* getInput */.V4(name);
    const homeDir = external_node_os_default().homedir();
    for (const secret of secretsIn(raw, process.env))
        lib_core/* setSecret */.Pq(secret);
    const inputs = parseInputs(raw, { env: process.env, cpuCount: external_node_os_default().availableParallelism(), homeDir });
    if (inputs.model.kind === 'hf' && inputs.hfToken === undefined)
        inputs.hfToken = readTokenFile(hfTokenPath(process.env, homeDir));
    return inputs;
}
/** More than any token; a bigger file is not one. */
const TOKEN_FILE_MAX_BYTES = 4096;
/**
 * The token `hf auth login` saved, masked before it is used; undefined when there is none (as for huggingface_hub, a
 * missing file is no error). A file that is not a token is a warning naming the file, never its content: the job
 * goes on without a token, as it would without the file. Links are followed: the runner's own environment names
 * this file, and secrets mounted by Kubernetes or Docker are links; what is read must still be a small regular file
 * (a FIFO or a device would block the step or never end).
 */
function readTokenFile(file) {
    const read = readSmallFileSync(file, TOKEN_FILE_MAX_BYTES, { followLinks: true });
    if (read.kind === 'missing')
        return undefined;
    const token = read.kind === 'text' ? read.text.trim() : '';
    const problem = read.kind === 'refused' ? read.why : !token ? 'it is empty' : !HEADER_SAFE.test(token) ? 'it does not hold a token: printable ASCII without spaces (the content is not shown)' : undefined;
    if (problem) {
        lib_core/* warning */.$e(`The Hugging Face token file ${file} is not used: ${problem}; going on without a token`);
        return undefined;
    }
    lib_core/* setSecret */.Pq(token);
    return token;
}
/**
 * Every secret the inputs and the environment hold, to mask before anything is printed: the tokens, and the
 * credentials inside URLs (user info of the model, hf-endpoint, llama-cpp-repo and proxy URLs, and a model URL's
 * query string, where signed URLs carry their signature). Pure.
 */
function secretsIn(raw, env) {
    const secrets = [];
    for (const name of SECRET_INPUTS)
        if (raw[name]?.trim() && raw[name].trim() !== DEFAULT_GITHUB_TOKEN)
            secrets.push(raw[name].trim());
    for (const token of [env.HF_TOKEN, env.GITHUB_TOKEN])
        if (token?.trim())
            secrets.push(token.trim());
    const urls = [raw[Input.Model], raw[Input.HfEndpoint], raw[Input.LlamaCppRepo], env.HF_ENDPOINT, ...proxyUrls(env)];
    for (const text of urls)
        secrets.push(...urlSecrets(text?.trim().replace(/^hf:/, '') ?? ''));
    return [...new Set(secrets)].filter((s) => s.length > 0);
}
function urlSecrets(text) {
    const url = URL.parse(text);
    if (!url)
        return [];
    const found = [];
    const decode = (s) => {
        try {
            return decodeURIComponent(s);
        }
        catch {
            return s;
        }
    };
    if (url.password)
        found.push(url.password, decode(url.password));
    else if (url.username)
        found.push(url.username, decode(url.username));
    if (url.hash.length > 1)
        found.push(url.hash.slice(1));
    if (url.search.length > 1) {
        found.push(url.search.slice(1));
        // Each value long enough to be a credential; masking short ones ('1', 'main') would blank the whole log.
        for (const value of url.searchParams.values())
            if (value.length >= 8)
                found.push(value);
    }
    return found;
}
/** Pure: raw input strings in, one typed object out, or an InputError that lists every bad input. */
function parseInputs(raw, ctx) {
    const values = {};
    for (const name of Object.values(Input))
        values[name] = (raw[name] ?? '').trim() || (INPUT_DEFAULTS[name] ?? '');
    const result = schema(ctx).safeParse(values);
    if (result.success)
        return result.data;
    // Longest first, so that a secret inside another is not left half shown.
    const secrets = secretsIn(raw, ctx.env).sort((a, b) => b.length - a.length);
    const masked = (text, minLength = 1) => secrets.reduce((t, secret) => (secret.length >= minLength ? t.split(secret).join('***') : t), text);
    const problems = result.error.issues.map((issue) => {
        if (issue.path[0] === HF_TOKEN_VARIABLE)
            return `The ${HF_TOKEN_VARIABLE} environment variable is not valid (the input '${Input.HfToken}' is empty): expected ${issue.message}.`;
        const name = String(issue.path[0]);
        const given = SECRET_INPUTS.has(name) ? 'is not valid' : `is ${JSON.stringify(masked(redactValue(values[name])))}`;
        // What was expected may quote a piece of the value too (the argument that keeps a quote): masked as well, but
        // not for secrets so short that they would blank ordinary words.
        return `Input '${name}' ${given}: expected ${masked(issue.message, 6)}.`;
    });
    throw new errors/* InputError */.dz(problems);
}
// A field: the trimmed string goes through `parse`, which returns the typed value or throws Invalid.
function field(parse) {
    return schemas/* string */.YjP().transform((value, ctx) => {
        try {
            return parse(value);
        }
        catch (error) {
            if (!(error instanceof Invalid))
                throw error;
            ctx.addIssue({ code: 'custom', message: error.expected });
            return core_core/* NEVER */.tm;
        }
    });
}
const optional = (parse) => (value) => value === '' ? undefined : parse(value);
function integer(min, max) {
    return (value) => {
        if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
            throw new Invalid(`a whole number from ${min} to ${max}`);
        }
        return Number(value);
    };
}
function oneOf(choices) {
    return (value) => {
        if (!choices.includes(value))
            throw new Invalid(`one of ${choices.map((c) => `'${c}'`).join(', ')}`);
        return value;
    };
}
// YAML 1.2 core schema booleans, as core.getBooleanInput accepts them; anything else is an error, not false.
function inputs_boolean(value) {
    if (['true', 'True', 'TRUE'].includes(value))
        return true;
    if (['false', 'False', 'FALSE'].includes(value))
        return false;
    throw new Invalid("'true' or 'false'");
}
const SIZE_UNITS = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
/** `200G`, `512M`, `1.5T`, `200GiB`, `200GB`, or bytes; units are powers of 1024. */
function parseSize(value) {
    const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value);
    const unit = SIZE_UNITS[(m?.[2] ?? '').toUpperCase()];
    const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : 0;
    if (bytes < 1)
        throw new Invalid('a size of at least one byte, such as 200G, 512M or 1.5T (powers of 1024)');
    return bytes;
}
/**
 * Splits `cmake-args` or `server-args` on white space and new lines. There is no shell: quotes would reach the
 * program as literal characters, so an argument that starts with a quote or splits a quoted value is refused
 * rather than silently mangled.
 */
function splitArgs(value) {
    const args = value.split(/\s+/).filter((a) => a !== '');
    const odd = (a, q) => (a.split(q).length - 1) % 2 === 1;
    // Shell quoting: a quote that opens or closes an argument or a value, or one left open by a split.
    const quoted = args.find((a) => /^["']|["']$|=["']/.test(a) || odd(a, '"') || odd(a, "'"));
    if (quoted !== undefined) {
        throw new Invalid(`arguments separated by white space, without quotes (no shell reads them; ${quoted} would keep its quote)`);
    }
    return args;
}
function serverArgs(value) {
    const args = splitArgs(value);
    for (const arg of args) {
        const flag = arg.split('=')[0] ?? arg;
        const input = RESERVED_SERVER_FLAGS[flag];
        if (input)
            throw new Invalid(`llama-server arguments other than ${flag}, which the '${input}' input sets`);
    }
    return args;
}
/** What a token that goes into an HTTP header (Authorization: Bearer …) may hold: printable ASCII, no white space. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;
const TOKEN_EXPECTED = 'printable ASCII without spaces (it is sent in an HTTP Authorization header); the value is not shown because it is secret';
function headerSafe(value) {
    if (value !== undefined && !HEADER_SAFE.test(value))
        throw new Invalid(TOKEN_EXPECTED);
    return value;
}
/**
 * github-token's value, else GITHUB_TOKEN. Outside a runner (local-action, tests) the default arrives as the
 * unevaluated expression: that is no token.
 */
function githubToken(value, env) {
    const given = value === DEFAULT_GITHUB_TOKEN ? '' : value;
    return headerSafe(given || env.GITHUB_TOKEN?.trim() || undefined);
}
function host(value) {
    const hostname = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
    if ((0,external_node_net_.isIP)(value) === 0 && !hostname.test(value))
        throw new Invalid('an IP address or a host name');
    return value;
}
function gpuLayers(value) {
    if (value === 'all')
        return 'all';
    return integer(0, 100_000)(value);
}
function devices(value) {
    if (value === 'all')
        return 'all';
    const list = value.split(',').map((d) => d.trim());
    // nvidia-smi's UUIDs: GPU-<hex groups>, or MIG-… for a MIG instance.
    if (!list.every((d) => /^\d+$/.test(d) || /^(GPU|MIG)-[0-9a-f-]{8,}$/i.test(d)) || new Set(list).size !== list.length) {
        throw new Invalid("GPU indices or UUIDs separated by commas, each once (e.g. 0,1 or GPU-5c1e…), or 'all'");
    }
    // As nvidia-smi writes them: the prefix in capitals, the hex digits in lower case.
    return list.map((d) => (/^\d+$/.test(d) ? Number(d) : `${d.slice(0, 4).toUpperCase()}${d.slice(4).toLowerCase()}`));
}
function digest(value) {
    if (!/^sha256:[0-9a-f]{64}$/.test(value))
        throw new Invalid('sha256:<64 lowercase hex digits>');
    return value;
}
function httpUrl(value) {
    const url = parseUrl(value, 'an http(s):// URL');
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new Invalid('an http(s):// URL');
    if (url.username || url.password || url.search)
        throw new Invalid(`an http(s):// URL without credentials or a query string (give the token in '${Input.HfToken}')`);
    return url.href.replace(/\/+$/, '');
}
function gitRef(value) {
    const problem = gitRefProblem(value);
    if (problem)
        throw new Invalid(`a tag, branch or commit that git accepts as a ref name, but ${problem}`);
    return value;
}
/** A git URL (scheme://… or user@host:path) as given; a local path resolved against the workspace. */
function repo(value, workspace) {
    if (value.startsWith('-'))
        throw new Invalid("a git URL or a local path, not starting with '-'");
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(value))
        throw new Invalid('a git URL or a local path without control characters');
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? URL.parse(value) : null;
    if (url && url.password && url.protocol !== 'https:' && url.protocol !== 'http:') {
        throw new Invalid('a git URL with credentials only over http(s) (they go to git as a header, never in its argv); use an ssh key for ssh');
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^[\w.-]+@[\w.-]+:/.test(value))
        return value;
    return external_node_path_default().resolve(workspace, value);
}
function poolId(value) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
        throw new Invalid("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }
    return value;
}
function cudaArchitectures(value) {
    // CMAKE_CUDA_ARCHITECTURES: '86', '86-real', '75;86;89', 'native', 'all', 'all-major'.
    const list = value.split(/[;,\s]+/).filter(Boolean);
    if (list.length === 0 || !list.every((a) => /^(\d{2,3}[a-z]?(-real|-virtual)?|native|all|all-major)$/.test(a))) {
        throw new Invalid("CUDA architectures such as '89', '86-real' or '75;86;89'");
    }
    return list.join(';');
}
function schema(ctx) {
    const workspace = ctx.env.GITHUB_WORKSPACE || process.cwd();
    const inWorkspace = (value) => external_node_path_default().resolve(workspace, value);
    return schemas/* object */.Ikc({
        [Input.Model]: field((v) => parseModelRef(v, workspace)),
        [Input.ModelDigest]: field(optional(digest)),
        [Input.HfToken]: field((v) => headerSafe(v || undefined)),
        [Input.HfEndpoint]: field((v) => {
            try {
                return httpUrl(v || ctx.env.HF_ENDPOINT?.trim() || DEFAULT_HF_ENDPOINT);
            }
            catch (error) {
                // Empty input: the bad value is the environment's, and the message must say where it came from.
                if (v || !(error instanceof Invalid))
                    throw error;
                throw new Invalid(`${error.expected}; it is empty, and the HF_ENDPOINT environment variable is ${JSON.stringify(redactValue(ctx.env.HF_ENDPOINT ?? ''))}`);
            }
        }),
        [Input.LlamaCppRepo]: field((v) => repo(v, workspace)),
        [Input.LlamaCppRef]: field(gitRef),
        [Input.LlamaServerPath]: field(optional(inWorkspace)),
        [Input.EngineSource]: field(oneOf(['auto', 'release', 'build'])),
        [Input.ReleaseDigest]: field(optional(digest)),
        [Input.GithubToken]: field((v) => githubToken(v, ctx.env)),
        [Input.Backend]: field(oneOf(['auto', 'cpu', 'cuda', 'vulkan', 'hip'])),
        [Input.CudaArchitectures]: field(optional(cudaArchitectures)),
        [Input.CmakeArgs]: field(splitArgs),
        [Input.BuildJobs]: field((v) => (v === '' ? ctx.cpuCount : integer(1, 1024)(v))),
        [Input.CacheDir]: field((v) => (v ? inWorkspace(v) : (0,compile_cache/* defaultCacheDir */.$g)(ctx.env, ctx.homeDir))),
        [Input.CacheMaxSize]: field(optional(parseSize)),
        [Input.RemoteCache]: field(oneOf(['none', 'engine', 'model', 'all'])),
        [Input.RemoteCacheMaxModelSize]: field(parseSize),
        [Input.Verify]: field(oneOf(['quick', 'full'])),
        [Input.Start]: field(inputs_boolean),
        [Input.Host]: field(host),
        [Input.Port]: field(integer(0, 65535)),
        [Input.CtxSize]: field(optional(integer(1, 16_777_216))),
        [Input.GpuLayers]: field(optional(gpuLayers)),
        [Input.Parallel]: field(integer(1, 1024)),
        [Input.ServerArgs]: field(serverArgs),
        [Input.ApiKey]: field((v) => headerSafe(v || undefined)),
        [Input.Devices]: field(optional(devices)),
        [Input.GpuPolicy]: field(oneOf(['vram-only', 'allow-offload'])),
        [Input.GpuWaitTimeout]: field(integer(0, 86_400)),
        [Input.HealthTimeout]: field(integer(1, 86_400)),
        [Input.NetworkTimeout]: field(integer(1, 3_600)),
        [Input.DownloadConnections]: field(optional(integer(1, 64))),
        [Input.HfCache]: field((v) => (inputs_boolean(v) ? hfCacheLocation(ctx.env, ctx.homeDir) : undefined)),
        [Input.HandoffPath]: field(inWorkspace),
        [Input.PoolId]: field(poolId),
    })
        .transform((v, issues) => ({
        model: v[Input.Model],
        modelDigest: v[Input.ModelDigest],
        hfToken: v[Input.HfToken] ?? envHfToken(v[Input.Model], ctx.env, issues),
        hfEndpoint: v[Input.HfEndpoint],
        llamaCppRepo: v[Input.LlamaCppRepo],
        llamaCppRef: v[Input.LlamaCppRef],
        llamaServerPath: v[Input.LlamaServerPath],
        engineSource: v[Input.EngineSource],
        releaseDigest: v[Input.ReleaseDigest],
        githubToken: v[Input.GithubToken],
        backend: v[Input.Backend],
        cudaArchitectures: v[Input.CudaArchitectures],
        cmakeArgs: v[Input.CmakeArgs],
        buildJobs: v[Input.BuildJobs],
        cacheDir: v[Input.CacheDir],
        cacheMaxSizeBytes: v[Input.CacheMaxSize],
        remoteCache: v[Input.RemoteCache],
        remoteCacheMaxModelSizeBytes: v[Input.RemoteCacheMaxModelSize],
        verify: v[Input.Verify],
        start: v[Input.Start],
        host: v[Input.Host],
        port: v[Input.Port],
        ctxSize: v[Input.CtxSize],
        gpuLayers: v[Input.GpuLayers],
        parallel: v[Input.Parallel],
        serverArgs: v[Input.ServerArgs],
        apiKey: v[Input.ApiKey],
        devices: v[Input.Devices],
        gpuPolicy: v[Input.GpuPolicy],
        gpuWaitTimeoutSeconds: v[Input.GpuWaitTimeout],
        healthTimeoutSeconds: v[Input.HealthTimeout],
        networkTimeoutMs: v[Input.NetworkTimeout] * 1000,
        downloadConnections: v[Input.DownloadConnections],
        hfCache: v[Input.HfCache],
        handoffPath: perPoolHandoffPath(v[Input.HandoffPath], v[Input.PoolId], workspace),
        poolId: v[Input.PoolId],
    }));
}
/**
 * HF_TOKEN, for an hf: model that hf-token gives no token for: the Hub is the only use of a token, and a job that
 * does not use it must not fail on one. A bad one is an issue on HF_TOKEN, not on the input the user left empty.
 */
function envHfToken(model, env, issues) {
    const token = env.HF_TOKEN?.trim();
    if (model.kind !== 'hf' || !token)
        return undefined;
    if (HEADER_SAFE.test(token))
        return token;
    issues.addIssue({ code: 'custom', path: [HF_TOKEN_VARIABLE], message: TOKEN_EXPECTED });
    return undefined;
}
/** The default handoff file is per pool, so that two pools in one job never overwrite each other. */
function perPoolHandoffPath(resolved, pool, workspace) {
    if (pool === DEFAULT_POOL_ID || resolved !== external_node_path_default().resolve(workspace, DEFAULT_HANDOFF_PATH))
        return resolved;
    return resolved.replace(/\.json$/, `-${pool}.json`);
}

;// CONCATENATED MODULE: ./src/model/gguf.ts
// Reads a GGUF file's header with Hugging Face's maintained parser; rejects anything llama.cpp would not load.


async function readGgufInfo(file) {
    let parsed;
    try {
        // Loaded when a header is parsed, not with the action: a warm run answers from what the store remembered.
        const { gguf } = await __webpack_require__.e(/* import() */ 102).then(__webpack_require__.bind(__webpack_require__, 7102));
        parsed = await gguf(file, { allowLocalFile: true });
    }
    catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new errors/* ModelError */.me(`${file} is not a GGUF model llama.cpp can load (${why})`);
    }
    const { metadata, tensorInfos } = parsed;
    // llama.cpp reads GGUF versions 2 and 3; version 1 files predate 64-bit sizes and are refused.
    if (metadata.version !== 2 && metadata.version !== 3) {
        throw new errors/* ModelError */.me(`${file} is GGUF version ${metadata.version}; llama.cpp needs version 2 or 3`);
    }
    const kv = metadata;
    const architecture = kv['general.architecture'];
    if (typeof architecture !== 'string' || architecture === '') {
        throw new errors/* ModelError */.me(`${file} has no general.architecture in its GGUF header`);
    }
    const num = (key) => {
        const value = kv[`${architecture}.${key}`];
        if (typeof value === 'number')
            return value;
        if (typeof value === 'bigint')
            return Number(value);
        // Some models give a value per layer (head counts of hybrid models): the largest is what memory must hold.
        if (Array.isArray(value) && value.length && value.every((v) => typeof v === 'number'))
            return Math.max(...value);
        return null;
    };
    const fileType = kv['general.file_type'];
    return {
        version: metadata.version,
        architecture,
        contextLength: num('context_length'),
        blockCount: num('block_count'),
        embeddingLength: num('embedding_length'),
        headCount: num('attention.head_count'),
        headCountKv: num('attention.head_count_kv'),
        keyLength: num('attention.key_length'),
        valueLength: num('attention.value_length'),
        feedForwardLength: num('feed_forward_length'),
        vocabSize: num('vocab_size') ?? (Array.isArray(kv['tokenizer.ggml.tokens']) ? kv['tokenizer.ggml.tokens'].length : null),
        fileType: typeof fileType === 'number' ? fileType : null,
        tensorCount: tensorInfos.length,
    };
}
/** The first 8 bytes of a GGUF file: magic and version. Enough for the parts after the first of a split model. */
async function checkGgufMagic(file) {
    const handle = await external_node_fs_.promises.open(file, 'r');
    try {
        const head = Buffer.alloc(8);
        const { bytesRead } = await handle.read(head, 0, 8, 0);
        if (bytesRead < 8 || head.toString('latin1', 0, 4) !== 'GGUF') {
            throw new errors/* ModelError */.me(`${file} is not a GGUF model llama.cpp can load (it does not start with the GGUF magic)`);
        }
        const version = head.readUInt32LE(4);
        if (version !== 2 && version !== 3)
            throw new errors/* ModelError */.me(`${file} is GGUF version ${version}; llama.cpp needs version 2 or 3`);
    }
    finally {
        await handle.close();
    }
}

// EXTERNAL MODULE: external "node:worker_threads"
var external_node_worker_threads_ = __webpack_require__(5919);
;// CONCATENATED MODULE: ./src/util/ordered-hash.ts
// The sha256 of a file that is written out of order (ranges over several connections): the bytes are hashed in
// order as the written prefix grows, read back from the file (the page cache, as they were just written) in a
// worker thread, so that hashing overlaps the download on another core and the digest is ready moments after the
// last byte. Memory stays one read buffer, whatever the file's size. `after` hashes in one pass at the end
// instead; the benchmark (scripts/bench/download.ts) compares the two.


// Plain CommonJS, run with eval: no separate file for the bundle to carry. Reads are synchronous: they block only
// this thread. Messages are handled in order, so `digest` comes after every `upTo` before it.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const { createHash } = require('node:crypto')
const fd = fs.openSync(workerData.file, 'r')
const hash = createHash('sha256')
const buffer = Buffer.allocUnsafe(4 << 20)
let at = 0
parentPort.on('message', (m) => {
  while (at < m.upTo) {
    const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, m.upTo - at), at)
    if (n <= 0) throw new Error('the file ended at byte ' + at + ', before ' + m.upTo)
    hash.update(buffer.subarray(0, n))
    at += n
  }
  if (m.digest) {
    fs.closeSync(fd)
    parentPort.postMessage('sha256:' + hash.digest('hex'))
  }
})
`;
class WorkerHasher {
    worker;
    sent = 0;
    result;
    constructor(file) {
        this.worker = new external_node_worker_threads_.Worker(WORKER_SOURCE, { eval: true, workerData: { file } });
        this.result = new Promise((resolve, reject) => {
            this.worker.once('message', (digest) => resolve(digest));
            this.worker.once('error', reject);
            this.worker.once('exit', (code) => reject(new Error(`the hashing thread exited (code ${code}) before the digest`)));
        });
        // A failure nobody awaits yet (the download is still running) must not become an unhandled rejection.
        this.result.catch(() => undefined);
    }
    advance(offset) {
        if (offset <= this.sent)
            return;
        this.sent = offset;
        this.worker.postMessage({ upTo: offset });
    }
    async digest(size) {
        this.worker.postMessage({ upTo: size, digest: true });
        try {
            return await this.result;
        }
        finally {
            await this.worker.terminate();
        }
    }
    async close() {
        await this.worker.terminate();
    }
}
class HashAfter {
    file;
    constructor(file) {
        this.file = file;
    }
    advance() { }
    async digest() {
        return await hash_sha256File(this.file);
    }
    async close() { }
}
function orderedHasher(file, mode = 'in-order') {
    return mode === 'in-order' ? new WorkerHasher(file) : new HashAfter(file);
}

;// CONCATENATED MODULE: ./src/model/progress.ts
// Progress of a long download in the log: a line every 10 s or every 10 %, whichever comes first, never one
// per chunk.

/** One progress line: done of total (percent), rate, ETA. Pure. */
function progressLine(label, done, total, elapsedMs) {
    const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
    const mbps = `${(rate / 1e6).toFixed(1)} MB/s`;
    if (!total)
        return `${label}: ${formatBytes(done)}, ${mbps}`;
    const percent = Math.floor((done / total) * 100);
    const eta = rate > 0 ? `ETA ${formatDuration(((total - done) / rate) * 1000)}` : 'ETA unknown';
    return `${label}: ${formatBytes(done)} of ${formatBytes(total)} (${percent}%), ${mbps}, ${eta}`;
}
class ProgressReporter {
    label;
    total;
    log;
    everyMs;
    started = Date.now();
    lastAt = this.started;
    lastPercentStep = 0;
    constructor(label, total, log, everyMs = 10_000) {
        this.label = label;
        this.total = total;
        this.log = log;
        this.everyMs = everyMs;
    }
    update(done) {
        const now = Date.now();
        const step = this.total ? Math.floor((done / this.total) * 10) : 0;
        if (now - this.lastAt >= this.everyMs || (step > this.lastPercentStep && step < 10)) {
            this.lastAt = now;
            this.lastPercentStep = step;
            this.log(progressLine(this.label, done, this.total, now - this.started));
        }
    }
    done(bytes) {
        this.log(`${progressLine(this.label, bytes, this.total, Date.now() - this.started)} - done`);
    }
}

;// CONCATENATED MODULE: ./src/model/download.ts
// One file from a URL into a temporary file, hashed while it streams. A dropped or stalled connection resumes with
// a conditional Range request (If-Range with the first answer's validator, and the answer's validators compared),
// so that a file changed on the server restarts from zero instead of being spliced; 408, 429 and 5xx are retried;
// a write that fails on this machine (full disk, quota, I/O) is fatal at once; a size or digest mismatch deletes
// the file and fails.









/** The version an answer names, as a cache keys it: its ETag (weak or strong), else its Last-Modified. */
function versionOf(response) {
    return response.header('etag') ?? response.header('last-modified') ?? undefined;
}
function validatorsOf(response) {
    const etag = response.header('etag') ?? undefined;
    return { etag: etag && !etag.startsWith('W/') ? etag : undefined, lastModified: response.header('last-modified') ?? undefined, version: versionOf(response) };
}
/** The If-Range value for a resume, or undefined when nothing proves the file unchanged (then: start over). */
function ifRange(v) {
    return v.etag ?? v.lastModified;
}
/** True when an answer's validators contradict those of the version being resumed. */
function changedSince(first, now) {
    if (first.etag && now.etag)
        return first.etag !== now.etag;
    if (first.lastModified && now.lastModified)
        return first.lastModified !== now.lastModified;
    return !!(first.etag || first.lastModified) && !(now.etag || now.lastModified);
}
async function downloadFile(plan) {
    const handle = await external_node_fs_.promises.open(plan.dest, 'w', 0o644);
    let hash = (0,external_node_crypto_.createHash)('sha256');
    let written = 0;
    // Progress for the retry count is the furthest any attempt got: starting over is not progress.
    let furthest = 0;
    let first;
    const progress = new ProgressReporter(plan.label, plan.expectedSize, (line) => lib_core/* info */.pq(line));
    const writeBehind = new WriteBehind(handle, plan.dest);
    const young = new YoungCollection();
    const restart = async () => {
        await handle.truncate(0);
        hash = (0,external_node_crypto_.createHash)('sha256');
        written = 0;
    };
    try {
        await withRetries(`Downloading ${plan.label} from ${redactUrl(plan.url)}`, async () => {
            const condition = first && written > 0 ? ifRange(first) : undefined;
            if (written > 0 && !condition) {
                lib_core/* info */.pq(`${plan.label}: the server gave no ETag or Last-Modified to prove the file unchanged; starting over`);
                await restart();
            }
            const resuming = written > 0;
            const response = await request(plan.url, {
                credential: plan.credential,
                headers: resuming ? { range: `bytes=${written}-`, 'if-range': condition } : {},
                timeoutMs: plan.timeoutMs,
            });
            if (resuming && response.status === 416 && written === plan.expectedSize) {
                await discard(response);
                return;
            }
            if (response.status !== 200 && response.status !== 206) {
                await discard(response);
                throw new HttpStatusError(plan.url, response.status, response);
            }
            const now = validatorsOf(response);
            if (resuming && response.status === 206 && first && changedSince(first, now)) {
                await discard(response);
                lib_core/* info */.pq(`${plan.label}: the file changed on the server since the download began; starting over`);
                await restart();
                first = undefined;
                throw new RetryableError('the file changed on the server', 0);
            }
            if (response.status === 206 && !response.header('content-range')?.startsWith(`bytes ${written}-`)) {
                // A part, but not the one asked for: nothing of it is written; the next attempt asks for the whole file.
                await discard(response);
                await restart();
                first = undefined;
                throw new RetryableError(`the server answered the range request with another range (${response.header('content-range') ?? 'none'})`, 0);
            }
            if (response.status === 200) {
                // The whole file (no Range support, or If-Range said it changed): start over.
                if (resuming)
                    lib_core/* info */.pq(`${plan.label}: the server sent the whole file; starting over`);
                await restart();
                first = now;
            }
            else {
                lib_core/* info */.pq(`${plan.label}: resuming at byte ${written}`);
            }
            first ??= now;
            await receive(response);
        }, DEFAULT_RETRY, () => `${furthest} of ${plan.expectedSize ?? 'an unknown number of'} bytes`);
        await writeBehind.sync();
    }
    catch (error) {
        await handle.close();
        await external_node_fs_.promises.rm(plan.dest, { force: true });
        throw error;
    }
    await handle.close();
    progress.done(written);
    const digest = `sha256:${hash.digest('hex')}`;
    const problem = plan.expectedSize !== undefined && written !== plan.expectedSize
        ? `is ${written} bytes, expected ${plan.expectedSize}`
        : plan.expectedDigest !== undefined && digest !== plan.expectedDigest
            ? `has ${digest}, expected ${plan.expectedDigest}`
            : undefined;
    if (problem) {
        await external_node_fs_.promises.rm(plan.dest, { force: true });
        throw new errors/* ModelError */.me(`${plan.label} from ${redactUrl(plan.url)} ${problem}; the download was deleted`);
    }
    return { digest, size: written, version: first?.version };
    /** The body into the file; a network fault is retryable (what arrived is kept), a local write fault is not. */
    async function receive(response) {
        const body = response.body;
        try {
            for await (const chunk of body) {
                try {
                    // Synchronously, as each piece arrives (see RangeFetcher.receive in parallel-download.ts): no thread hop
                    // per piece, and the bytes are still in the CPU's cache for the hash below.
                    writeFullySync(handle.fd, chunk, written);
                }
                catch (error) {
                    abort(response);
                    if (isLocalWriteFailure(error))
                        throw await localWriteError(error, plan.dest, plan.expectedSize);
                    throw error;
                }
                hash.update(chunk);
                writeBehind.wrote(chunk.length);
                young.received(chunk.length);
                written += chunk.length;
                furthest = Math.max(furthest, written);
                if (plan.expectedSize !== undefined && written > plan.expectedSize) {
                    abort(response);
                    throw new errors/* ModelError */.me(`${plan.label}: the server sent more than the expected ${plan.expectedSize} bytes`);
                }
                progress.update(written);
            }
        }
        catch (error) {
            if (error instanceof Error && (error.name === 'ModelError' || error.name === 'LocalWriteError'))
                throw error;
            if (isLocalWriteFailure(error))
                throw await localWriteError(error, plan.dest, plan.expectedSize);
            // The connection dropped or stalled mid-body: what arrived is kept, and the next attempt asks for the rest.
            throw new RetryableError(`the connection dropped or stalled after ${written} bytes (${error.message})`);
        }
        if (plan.expectedSize !== undefined && written < plan.expectedSize) {
            throw new RetryableError(`the body ended after ${written} of ${plan.expectedSize} bytes`);
        }
    }
}

;// CONCATENATED MODULE: ./src/model/parallel-download.ts
// Large files over several connections: CDNs (the Hub's among them) limit what one connection gets, so a large
// model is fetched as ranges, each a conditional GET (If-Range with the first answer's validator, and every
// answer's validators compared) written at its place in one preallocated temporary file, each resumable with the
// same retries as a single stream. The first range is the probe: a server that answers it with the whole file
// (no Range support) gets one stream instead, as do small files and files of unknown size. Only the first request
// goes to the URL given (for the Hub: one /resolve call, which its rate limit counts); the ranges go to where it
// redirected. The sha256 is computed in order as the written prefix grows (src/util/ordered-hash.ts).











/** Connections for a large file when `download-connections` is empty. */
const AUTO_CONNECTIONS = 8;
/** Below this, automatic means one stream: a few seconds at most to gain, and a request per range to pay. */
const PARALLEL_MIN_BYTES = 32 * 2 ** 20;
const MIN_RANGE = 2 ** 20;
const MAX_RANGE = 64 * 2 ** 20;
/**
 * The ranges of a file of `size` bytes, in order, as [start, end] (inclusive). Each is what is left divided by
 * twice the connections, between 1 and 64 MiB (guided self-scheduling): large ranges while much is left, so that a
 * connection pays for a request (a round trip and the CDN's first byte) every 64 MiB, not every few; smaller and
 * smaller towards the end, so that the connections finish together rather than one of them fetching a last large
 * range alone. Twice, not once: a range then takes about half the time left, so the ranges end in the order they
 * start, and no large one is still arriving at the end while the bytes after it wait for the in-order sha256
 * (with what is left over the connections alone, the hash of 2 GiB over loopback ended a median 0.33 s after the
 * last byte; now 0.10 s). A last piece under 1 MiB goes with the range before it. Pure.
 */
function planRanges(size, connections) {
    const ranges = [];
    for (let start = 0; start < size;) {
        const left = size - start;
        let length = Math.min(MAX_RANGE, Math.max(MIN_RANGE, Math.ceil(left / (2 * connections))));
        // What would be left after this range, if less than a range, goes with it.
        if (left - length < MIN_RANGE)
            length = left;
        ranges.push([start, start + length - 1]);
        start += length;
    }
    return ranges;
}
/** How many connections a file of `size` bytes gets: `setting` (the input) or automatic; 1 is one stream. Pure. */
function connectionsFor(size, setting) {
    if (size === undefined || setting === 1)
        return 1;
    if (setting === undefined && size < PARALLEL_MIN_BYTES)
        return 1;
    const wanted = setting ?? AUTO_CONNECTIONS;
    return Math.max(1, Math.min(wanted, planRanges(size, wanted).length));
}
/** `bytes 0-99/1000` → its numbers; the total is undefined for `*`. Pure. */
function parseContentRange(value) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
    if (!m)
        return undefined;
    return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}
/** The file over `connections(plan)` connections, or one stream where that is what works. */
async function downloadModelFile(plan) {
    const connections = connectionsFor(plan.expectedSize, plan.connections);
    if (connections > 1) {
        const got = await downloadInRanges(plan, plan.expectedSize, connections);
        if (got)
            return got;
    }
    return await downloadFile(plan);
}
const rangeLength = (range) => range.end + 1 - range.start;
/** The server answered a range with something else: the download goes on as one stream, from the start. */
class RangesNotHonoured extends Error {
    name = 'RangesNotHonoured';
}
/** The download in ranges, or undefined when it should be one stream instead (nothing of it is kept). */
async function downloadInRanges(plan, size, connections) {
    const ranges = planRanges(size, connections).map(([start, end]) => ({ start, end, done: 0, finished: false }));
    const handle = await external_node_fs_.promises.open(plan.dest, 'w', 0o644);
    const stop = new AbortController();
    let hasher;
    let kept = false;
    try {
        await preallocate(handle, plan.dest, size);
        const probe = await probeRanges(plan, size, ranges[0], stop.signal);
        if (!probe)
            return undefined;
        lib_core/* info */.pq(`${plan.label}: ${formatBytes(size)} over ${connections} connections, in ${ranges.length} ranges of ${formatBytes(rangeLength(ranges[0]))} down to ${formatBytes(rangeLength(ranges.at(-1)))}`);
        hasher = orderedHasher(plan.dest, plan.hashMode);
        const fetcher = new RangeFetcher(plan, handle, probe, size, stop.signal, new ProgressReporter(plan.label, size, (line) => lib_core/* info */.pq(line)));
        const writeBehind = new WriteBehind(handle, plan.dest);
        let next = 1;
        let prefix = 0;
        const finished = (range) => {
            range.finished = true;
            writeBehind.wrote(rangeLength(range));
            while (prefix < ranges.length && ranges[prefix]?.finished)
                prefix++;
            hasher?.advance(prefix === ranges.length ? size : ranges[prefix].start);
        };
        let failure;
        const connection = async (first) => {
            try {
                if (first) {
                    await fetcher.fetch(ranges[0], first);
                    finished(ranges[0]);
                }
                for (let range = ranges[next++]; range && !stop.signal.aborted; range = ranges[next++]) {
                    await fetcher.fetch(range);
                    finished(range);
                }
            }
            catch (error) {
                // The first failure is the one to report; the others are the aborts it caused.
                failure ??= error;
                stop.abort();
            }
        };
        await Promise.all([connection(probe.response), ...Array.from({ length: connections - 1 }, () => connection())]);
        if (failure instanceof RangesNotHonoured) {
            lib_core/* info */.pq(`${plan.label}: ${failure.message}; downloading it again as one stream`);
            return undefined;
        }
        if (failure)
            throw failure;
        // On disk and hashed: the hashing thread finishes the tail while the kernel writes the file back.
        const [, digest] = await Promise.all([writeBehind.sync(), hasher.digest(size)]);
        if (plan.expectedDigest !== undefined && digest !== plan.expectedDigest) {
            throw new errors/* ModelError */.me(`${plan.label} from ${redactUrl(plan.url)} has ${digest}, expected ${plan.expectedDigest}; the download was deleted`);
        }
        fetcher.progress.done(size);
        kept = true;
        return { digest, size, version: probe.validators.version };
    }
    finally {
        await hasher?.close();
        await handle.close();
        if (!kept)
            await external_node_fs_.promises.rm(plan.dest, { force: true });
    }
}
/** Asks for the first range; undefined when the answer says one stream is the way. */
async function probeRanges(plan, size, first, signal) {
    const response = await withRetries(`Downloading ${plan.label} from ${redactUrl(plan.url)}`, () => request(plan.url, { credential: plan.credential, headers: { range: `bytes=0-${first.end}` }, timeoutMs: plan.timeoutMs, signal }), DEFAULT_RETRY, undefined, signal);
    const oneStream = async (why) => {
        await discard(response);
        lib_core/* info */.pq(`${plan.label}: ${why}; one stream`);
        return undefined;
    };
    if (response.status === 200)
        return await oneStream('the server does not honour ranges');
    if (response.status !== 206) {
        await discard(response);
        throw new HttpStatusError(plan.url, response.status, response);
    }
    const range = parseContentRange(response.header('content-range'));
    if (range?.total !== undefined && range.total !== size) {
        await discard(response);
        throw new errors/* ModelError */.me(`${plan.label} from ${redactUrl(plan.url)} is ${range.total} bytes, expected ${size}; nothing was kept`);
    }
    if (!range || range.start !== 0 || range.end !== first.end)
        return await oneStream(`the server answered a range with ${response.header('content-range') ?? 'no Content-Range'}`);
    const validators = validatorsOf(response);
    // Ranges of two versions of a file must never be spliced: a validator proves them one version, or a known
    // sha256 catches a splice before the file is kept.
    if (!ifRange(validators) && plan.expectedDigest === undefined) {
        return await oneStream('the server gives no ETag or Last-Modified (and no sha256 is known) to prove every range from one version of the file');
    }
    return { response, url: response.url, validators };
}
/** Fetches ranges into the file, each resumed where it stopped; shared by the connections. */
class RangeFetcher {
    plan;
    handle;
    probe;
    size;
    signal;
    progress;
    target;
    received = 0;
    young = new YoungCollection();
    constructor(plan, handle, probe, 
    /** The file's size, as the probe's answer gave it. */
    size, signal, progress) {
        this.plan = plan;
        this.handle = handle;
        this.probe = probe;
        this.size = size;
        this.signal = signal;
        this.progress = progress;
        this.target = probe.url;
    }
    async fetch(range, first) {
        let answer = first;
        await withRetries(`Downloading ${this.plan.label} bytes ${range.start}-${range.end}`, async () => {
            const response = answer ?? (await this.ask(range));
            answer = undefined;
            await this.receive(response, range);
        }, DEFAULT_RETRY, () => range.done, this.signal);
    }
    /** A conditional request for what is missing of `range`; the answer is checked to be those bytes, unchanged. */
    async ask(range) {
        const from = range.start + range.done;
        const url = this.target;
        const condition = ifRange(this.probe.validators);
        const response = await request(url, {
            credential: this.plan.credential,
            headers: { range: `bytes=${from}-${range.end}`, ...(condition ? { 'if-range': condition } : {}) },
            timeoutMs: this.plan.timeoutMs,
            signal: this.signal,
        });
        if (response.status === 206) {
            const got = parseContentRange(response.header('content-range'));
            // The total too: another file of the same ETag (a CDN edge serving another object) would differ there.
            const sameTotal = got?.total === undefined || got.total === this.size;
            if (got?.start === from && got.end === range.end && sameTotal && !changedSince(this.probe.validators, validatorsOf(response))) {
                this.target = response.url;
                return response;
            }
            await discard(response);
            throw new RangesNotHonoured(`the server answered bytes ${from}-${range.end} with ${response.header('content-range') ?? 'no Content-Range'} or another version of the file`);
        }
        await discard(response);
        if (response.status === 200)
            throw new RangesNotHonoured('the server sent the whole file for a range (the file changed on the server, or it stopped honouring ranges)');
        // A signed URL (where the Hub redirects) that expired: the URL given hands out a fresh one.
        if ([401, 403, 404, 410].includes(response.status) && url !== this.plan.url) {
            this.target = this.plan.url;
            throw new RetryableError(`HTTP ${response.status} from ${redactUrl(url)}; asking ${redactUrl(this.plan.url)} again`, 0);
        }
        throw new HttpStatusError(url, response.status, response);
    }
    /**
     * The body at its place in the file, each piece written as it arrives, synchronously, as curl does: the bytes
     * are still in the CPU's cache, and no thread of the pool is woken (nor do several of them queue on the file's
     * lock) for each; the wait, when the disk cannot keep up, is the event loop's, which slows the sockets as it
     * should. A network fault is retryable (what arrived is kept); a local one is not.
     */
    async receive(response, range) {
        const length = rangeLength(range);
        const body = response.body;
        await new Promise((resolve, reject) => {
            let settled = false;
            const settle = (error) => {
                if (settled)
                    return;
                settled = true;
                if (error === undefined)
                    return resolve();
                abort(response);
                reject(error);
            };
            body.on('data', (chunk) => {
                if (settled)
                    return;
                if (range.done + chunk.length > length)
                    return settle(new errors/* ModelError */.me(`${this.plan.label}: the server sent more than bytes ${range.start}-${range.end}`));
                try {
                    writeFullySync(this.handle.fd, chunk, range.start + range.done);
                }
                catch (error) {
                    if (!isLocalWriteFailure(error))
                        return settle(error);
                    settled = true;
                    abort(response);
                    return void localWriteError(error, this.plan.dest, this.plan.expectedSize).then(reject, reject);
                }
                range.done += chunk.length;
                this.received += chunk.length;
                this.young.received(chunk.length);
                this.progress.update(this.received);
            });
            body.once('end', () => settle(range.done < length ? new RetryableError(`the body ended after ${range.done} of the ${length} bytes from ${range.start}`) : undefined));
            body.once('error', (error) => {
                // The connection dropped or stalled mid-body: what arrived is written, and the next attempt asks for the rest.
                settle(new RetryableError(`the connection dropped or stalled after ${range.done} of the ${length} bytes from ${range.start} (${error.message})`));
            });
        });
    }
}

;// CONCATENATED MODULE: ./src/model/remembered-gguf.ts
// What a model's GGUF header says is remembered in the model store (models/gguf-info.json) under the file's path
// and identity (device, inode, size, mtime and ctime in ns): a warm run answers from there instead of parsing the
// header again (the tokenizer alone is 32,000 to 150,000 and more strings). Any change to the file shows in its
// identity and it is parsed again; `verify: full` always parses. Only a header that parsed and passed every check
// is remembered, and only for a file that did not change while it was read and has not changed for a while: a
// filesystem's coarse clock may give a write that follows within the same tick the same timestamps.





/** Older than the coarsest timestamps of a common filesystem (FAT's 2 s), so that a later write shows. */
const SETTLED_NS = 3000000000n;
const MAX_FILE_BYTES = 4 * 2 ** 20;
const Count = schemas/* number */.aig().nullable();
const GgufInfoSchema = schemas/* object */.Ikc({
    version: schemas/* number */.aig(),
    architecture: schemas/* string */.YjP().min(1),
    contextLength: Count,
    blockCount: Count,
    embeddingLength: Count,
    headCount: Count,
    headCountKv: Count,
    keyLength: Count,
    valueLength: Count,
    feedForwardLength: Count,
    vocabSize: Count,
    fileType: Count,
    tensorCount: schemas/* number */.aig(),
});
const remembered_gguf_RecordSchema = schemas/* object */.Ikc({ identity: schemas/* string */.YjP(), info: GgufInfoSchema });
/** True when a file whose ctime is `ctimeNs` may be remembered at `nowNs`: it has not changed for a while. */
function settled(ctimeNs, nowNs) {
    return nowNs - ctimeNs >= SETTLED_NS;
}
/** The remembered header of a file whose identity is now `identity`, if the record is of that very file. */
function recall(record, identity) {
    return record !== undefined && identity !== undefined && record.identity === identity ? record.info : undefined;
}
class RememberedGgufInfo {
    file;
    known;
    prepare;
    parse;
    now;
    constructor(file, options = {}) {
        this.file = file;
        this.prepare = options.prepare ?? (async () => undefined);
        this.parse = options.parse ?? readGgufInfo;
        this.now = options.now ?? (() => BigInt(Date.now()) * 1000000n);
    }
    /** The header of `model` (the file llama-server is given), remembered or parsed. */
    async info(model, verify) {
        const before = await fileIdentity(model);
        if (verify === 'quick') {
            // A store directory this job cannot use (not writable, a planted link) remembers nothing: the header is parsed.
            this.known ??= this.read().catch(() => Object.create(null));
            const remembered = recall((await this.known)[model], before?.key);
            if (remembered)
                return remembered;
        }
        const info = await this.parse(model);
        const after = await fileIdentity(model);
        if (before && after?.key === before.key && settled(after.ctimeNs, this.now())) {
            // Remembering is an optimisation: a cache-dir this job cannot write costs a parse next time, nothing more.
            await this.remember(model, { identity: after.key, info }).catch(() => undefined);
        }
        return info;
    }
    async read() {
        await this.prepare();
        // Without a prototype: a key from the file is only ever a key.
        const records = Object.create(null);
        // Input like any other file in cache-dir: what does not have the shape is dropped.
        const data = parseJson((await readSmallFile(this.file, MAX_FILE_BYTES)) ?? '');
        if (data && typeof data === 'object' && !Array.isArray(data)) {
            for (const [key, value] of Object.entries(data)) {
                const record = remembered_gguf_RecordSchema.safeParse(value);
                if (record.success)
                    records[key] = record.data;
            }
        }
        return records;
    }
    /** No lock between processes: of two jobs writing at once one record is lost, and parsed again next time. */
    async remember(model, record) {
        const records = await this.read();
        records[model] = record;
        // Records of files that are gone (a model removed from the store) are dropped on the way.
        for (const key of Object.keys(records))
            if (key !== model && !(await fileIdentity(key)))
                delete records[key];
        await writeFileAtomic(this.file, `${JSON.stringify(records, null, 1)}\n`);
        this.known = Promise.resolve(records);
    }
}

;// CONCATENATED MODULE: ./src/model/store.ts
// The model store under cache-dir/models: content-addressed by the sha256 of the model (of its first part when
// split). An entry is a directory entries/sha256-<hex>/ holding the parts under their own names (llama.cpp
// finds the other parts of a split model beside the first). It appears only complete and verified.










/** The identity of a file from `fs.stat(file, { bigint: true })`. */
function identityOf(stat) {
    return { size: Number(stat.size), ino: Number(stat.ino), mtime_ms: Number(stat.mtimeNs / 1000000n), dev: Number(stat.dev), ctime_ns: String(stat.ctimeNs) };
}
async function identityOfFile(file) {
    return identityOf(await external_node_fs_.promises.stat(file, { bigint: true }));
}
function sameIdentity(a, b) {
    return a.size === b.size && a.ino === b.ino && a.mtime_ms === b.mtime_ms && a.dev !== undefined && a.dev === b.dev && a.ctime_ns !== undefined && a.ctime_ns === b.ctime_ns;
}
/** The entry (and lock) name of a model: `sha256-<hex>`. */
function modelEntryName(digest) {
    return `sha256-${digest.replace(/^sha256:/, '')}`;
}
const UNRECORDED_GRACE_MS = 10 * 60_000;
/** Each entry carries its own record, so that a damaged catalog can be rebuilt without a download. */
const ENTRY_MANIFEST = '.entry.json';
const Digest = schemas/* string */.YjP().regex(/^sha256:[0-9a-f]{64}$/);
const Identity = { size: schemas/* number */.aig().int().nonnegative(), ino: schemas/* number */.aig(), mtime_ms: schemas/* number */.aig(), dev: schemas/* number */.aig().optional(), ctime_ns: schemas/* string */.YjP().regex(/^\d+$/).optional() };
const PartRecordSchema = schemas/* object */.Ikc({ name: schemas/* string */.YjP(), digest: Digest, ...Identity });
const ModelRecordSchema = schemas/* object */.Ikc({
    id: schemas/* string */.YjP(),
    ref: schemas/* string */.YjP(),
    digest: Digest,
    size_bytes: schemas/* number */.aig().int().nonnegative(),
    path: schemas/* string */.YjP(),
    parts: schemas/* array */.YOg(PartRecordSchema).min(1),
    state: schemas/* enum */.k5n(['Active', 'Retired']),
    last_used: schemas/* string */.YjP(),
});
const ModelCatalogShape = schemas/* object */.Ikc({
    version: schemas/* literal */.euz(1),
    entries: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* unknown */.L5J()),
    hf_revisions: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* object */.Ikc({ commit: schemas/* string */.YjP().regex(/^[0-9a-f]{40}$/), resolved_at: schemas/* string */.YjP() })).default({}),
    sources: schemas/* record */.g1P(schemas/* string */.YjP(), Digest).default({}),
    local_files: schemas/* record */.g1P(schemas/* string */.YjP(), schemas/* object */.Ikc({ ...Identity, digest: Digest })).default({}),
});
const EntryManifestSchema = schemas/* object */.Ikc({
    id: schemas/* string */.YjP(),
    ref: schemas/* string */.YjP(),
    digest: Digest,
    sources: schemas/* array */.YOg(schemas/* string */.YjP()),
    parts: schemas/* array */.YOg(schemas/* object */.Ikc({ name: schemas/* string */.YjP(), digest: Digest })).min(1),
});
/** A part's name as a path inside its entry: one plain file name, never the entry's own manifest. */
function partFileName(name) {
    plainFileName(name, 'A model file name');
    if (name === ENTRY_MANIFEST)
        throw new Error(`A model file may not be named ${ENTRY_MANIFEST}`);
    return name;
}
class ModelStore extends EntryStore {
    /** What the models' GGUF headers said, beside the catalog: a warm run does not parse them again. */
    gguf;
    constructor(cacheDir) {
        const empty = () => ({ version: 1, entries: {}, hf_revisions: {}, sources: {}, local_files: {} });
        super(cacheDir, 'models', {
            empty,
            shape: ModelCatalogShape,
            entry: ModelRecordSchema,
            rebuild: async () => await this.rebuildCatalog(empty()),
        });
        this.gguf = new RememberedGgufInfo(external_node_path_default().join(this.root, 'gguf-info.json'), { prepare: () => this.dir('.') });
    }
    /** The catalog from the entries on disk: each entry's manifest, every part re-hashed. */
    async rebuildCatalog(catalog) {
        for (const name of await this.entryNames()) {
            const found = await this.manifestRecord(name);
            if (!found) {
                lib_core/* warning */.$e(`${this.entryDir(name)} has no valid ${ENTRY_MANIFEST} or does not match it; it is left out of the rebuilt catalog`);
                continue;
            }
            catalog.entries[name] = found.record;
            for (const source of found.sources)
                catalog.sources[source] = found.record.digest;
        }
        return catalog;
    }
    /** Records entry `name` again from its manifest, every part re-hashed; false when that cannot be done. */
    async recordFromManifest(name) {
        const found = await this.manifestRecord(name);
        if (!found)
            return false;
        await this.catalog.update((c) => {
            c.entries[name] = found.record;
            for (const source of found.sources)
                c.sources[source] = found.record.digest;
        });
        return true;
    }
    /** The record of entry `name` from its own manifest, verified by content; undefined when it does not hold. */
    async manifestRecord(name) {
        const dir = this.entryDir(name);
        const manifest = EntryManifestSchema.safeParse(parseJson((await readSmallFile(external_node_path_default().join(dir, ENTRY_MANIFEST), 2 ** 20)) ?? ''));
        if (!manifest.success || modelEntryName(manifest.data.digest) !== name)
            return undefined;
        // A part name that is not a plain file name throws: such a manifest does not hold either.
        const record = await this.verifiedRecord(dir, manifest.data).catch(() => undefined);
        return record ? { record, sources: manifest.data.sources } : undefined;
    }
    async verifiedRecord(dir, manifest) {
        const parts = [];
        for (const part of manifest.parts) {
            const file = childPath(dir, partFileName(part.name), 'A model file name');
            const stat = await external_node_fs_.promises.lstat(file, { bigint: true }).catch(() => undefined);
            if (!stat?.isFile() || (await hash_sha256File(file)) !== part.digest)
                return undefined;
            parts.push({ name: part.name, digest: part.digest, ...identityOf(stat) });
        }
        if (parts[0]?.digest !== manifest.digest)
            return undefined;
        return {
            id: manifest.id,
            ref: manifest.ref,
            digest: manifest.digest,
            size_bytes: parts.reduce((sum, p) => sum + p.size, 0),
            path: external_node_path_default().join('entries', external_node_path_default().basename(dir), parts[0].name),
            parts,
            state: 'Active',
            last_used: new Date().toISOString(),
        };
    }
    /** `findLeased` under the entry's lock. */
    async findAndLease(digest, verify, what) {
        return await this.withEntryLock(modelEntryName(digest), what, () => this.findLeased(digest, verify));
    }
    /** `find`, and a lease for this process on what it found (the caller holds the entry's lock). */
    async findLeased(digest, verify) {
        const found = await this.find(digest, verify);
        if (found)
            await this.lease(modelEntryName(found.digest));
        return found;
    }
    /**
     * The sha256 of a local model file: with `quick`, the one recorded when a file of the same identity was last
     * hashed (a multi-GB file is not read again on every run); otherwise it is hashed and recorded.
     */
    async localDigest(file, verify) {
        const known = await this.recordedLocalDigest(file, verify);
        if (known)
            return known;
        const identity = await identityOfFile(file);
        const digest = await hash_sha256File(file);
        await this.recordLocalDigest(file, digest, identity);
        return digest;
    }
    /** What `localDigest` answers without reading the file: the recorded digest under `quick`, if the identity holds. */
    async recordedLocalDigest(file, verify) {
        if (verify !== 'quick')
            return undefined;
        const [identity, catalog] = await Promise.all([identityOfFile(file), this.catalog.read()]);
        const known = catalog.local_files[file];
        return known && sameIdentity(identity, known) ? known.digest : undefined;
    }
    /** Records that `file`, as it is now, has `digest` (it was just hashed while it was written). */
    async recordLocalDigest(file, digest, identity) {
        const now = identity ?? (await identityOfFile(file));
        await this.catalog.update((c) => {
            c.local_files[file] = { ...now, digest };
        });
    }
    /**
     * The verified entry for `digest`, or undefined. `quick` trusts parts whose identity (FileIdentity) matches the
     * record; otherwise (or with `full`) they are hashed. An entry that fails is removed, with a warning.
     */
    async find(digest, verify) {
        const name = modelEntryName(digest);
        const record = (await this.catalog.read()).entries[name];
        const dir = this.entryDir(name);
        const stat = await external_node_fs_.promises.lstat(dir).catch(() => undefined);
        if (!stat)
            return undefined;
        if (!stat.isDirectory()) {
            await this.removeModel(digest, 'it is not a real directory');
            return undefined;
        }
        if (!record) {
            // A job between its rename and its catalog write (leave it), one that died there, or a record dropped from a
            // damaged catalog: the entry's own manifest, verified by content, records it again; else an old one goes.
            const recovered = await this.recordFromManifest(name);
            if (recovered)
                return await this.find(digest, 'quick');
            if (Date.now() - stat.mtimeMs > UNRECORDED_GRACE_MS)
                await this.removeModel(digest, 'it has no catalog record');
            return undefined;
        }
        const parts = record.parts.map((p) => childPath(dir, partFileName(p.name), 'A model file name'));
        const problem = await this.verifyParts(name, record, parts, verify);
        if (problem) {
            lib_core/* warning */.$e(`The cached model ${record.id} (${digest}) failed verification (${problem}); fetching it again.`);
            await this.removeModel(digest, problem);
            return undefined;
        }
        await this.touch(name);
        return { digest, parts, sizeBytes: record.size_bytes };
    }
    async verifyParts(name, record, parts, verify) {
        let rehashed = false;
        for (const [i, part] of record.parts.entries()) {
            const file = parts[i];
            const stat = await external_node_fs_.promises.lstat(file, { bigint: true }).catch(() => undefined);
            if (!stat?.isFile())
                return `${part.name} is missing or not a regular file`;
            if (Number(stat.size) !== part.size)
                return `${part.name} is ${stat.size} bytes, recorded ${part.size}`;
            if (verify === 'quick' && sameIdentity(identityOf(stat), part))
                continue;
            const digest = await hash_sha256File(file);
            if (digest !== part.digest)
                return `${part.name} has ${digest}, recorded ${part.digest}`;
            rehashed = true;
        }
        if (rehashed) {
            // Verified by content: record the files' identity as it is now (after a move to another filesystem, say).
            const identities = await Promise.all(parts.map(identityOfFile));
            await this.catalog.update((c) => {
                c.entries[name]?.parts.forEach((p, i) => Object.assign(p, identities[i]));
            });
        }
        return undefined;
    }
    /**
     * Records the parts of entry `digest` as they are now, after the caller hard-linked them elsewhere (a new link
     * changes a file's ctime, not its bytes): only where the rest of the identity is still the recorded one.
     */
    async recordRelinked(digest) {
        const name = modelEntryName(digest);
        const dir = this.entryDir(name);
        const record = (await this.catalog.read()).entries[name];
        if (!record)
            return;
        const now = await Promise.all(record.parts.map((p) => identityOfFile(childPath(dir, partFileName(p.name), 'A model file name')).catch(() => undefined)));
        await this.catalog.update((c) => {
            c.entries[name]?.parts.forEach((p, i) => {
                const got = now[i];
                if (got && sameIdentity({ ...got, ctime_ns: p.ctime_ns }, p))
                    p.ctime_ns = got.ctime_ns;
            });
        });
    }
    /** Moves verified parts from a work directory into place as one entry, records it, and leases it (the caller holds its lock). */
    async install(workDir, digest, id, ref, source, parts) {
        const name = modelEntryName(digest);
        const dir = this.entryDir(name);
        const staged = external_node_path_default().join(workDir, 'entry');
        await external_node_fs_.promises.mkdir(staged, { recursive: true });
        for (const part of parts)
            await external_node_fs_.promises.rename(part.file, childPath(staged, partFileName(part.name), 'A model file name'));
        const manifest = { id, ref, digest, sources: [source], parts: parts.map((p) => ({ name: p.name, digest: p.digest })) };
        await writeFileAtomic(external_node_path_default().join(staged, ENTRY_MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
        if (!(await this.publish(staged, name))) {
            // Same content under other names (a re-uploaded file, say): add ours beside them, each file whole.
            for (const part of parts) {
                const target = childPath(dir, part.name, 'A model file name');
                if (!(await external_node_fs_.promises.lstat(target).then(() => true, () => false)))
                    await external_node_fs_.promises.rename(external_node_path_default().join(staged, part.name), target);
            }
        }
        await this.removeWorkDir(workDir);
        const files = parts.map((p) => childPath(dir, p.name, 'A model file name'));
        const identities = await Promise.all(files.map(identityOfFile));
        const record = {
            id,
            ref,
            digest,
            size_bytes: identities.reduce((sum, s) => sum + s.size, 0),
            path: external_node_path_default().relative(this.root, files[0]),
            parts: parts.map((p, i) => ({ name: p.name, digest: p.digest, ...identities[i] })),
            state: 'Active',
            last_used: new Date().toISOString(),
        };
        await this.catalog.update((c) => {
            c.entries[name] = record;
        });
        await this.lease(name);
        return { digest, parts: files, sizeBytes: record.size_bytes };
    }
    async removeModel(digest, why) {
        await this.remove(modelEntryName(digest), why, (c) => {
            for (const [source, d] of Object.entries(c.sources))
                if (d === digest)
                    delete c.sources[source];
        });
    }
}

;// CONCATENATED MODULE: ./src/model/fetch.ts
// Downloads the parts of a model into a private work directory of the store, checks them, and installs them
// as one entry. Nothing becomes an entry unless every part arrived whole and verified.









/** The model in the store, and the source it was recorded under. `entryLocked`: the caller holds the lock of
 * the entry's digest (else it is taken around the install). */
async function fetchIntoStore(store, plan, entryLocked) {
    const workDir = await store.newWorkDir();
    // Parts apart from the staging directory install() makes, whatever their names.
    const partsDir = external_node_path_default().join(workDir, 'parts');
    await external_node_fs_.promises.mkdir(partsDir);
    try {
        const known = plan.parts.reduce((sum, p) => sum + (p.size ?? 0), 0);
        if (known > 0)
            await ensureFreeSpace(workDir, known, plan.id);
        const installed = [];
        let source = plan.source;
        for (const [i, part] of plan.parts.entries()) {
            const file = childPath(partsDir, partFileName(part.name), 'A model file name');
            const got = await downloadModelFile({
                url: part.url,
                credential: part.credential,
                dest: file,
                label: part.name,
                expectedSize: part.size,
                expectedDigest: part.digest ?? (i === 0 ? plan.modelDigest : undefined),
                timeoutMs: plan.timeoutMs,
                connections: plan.connections,
            });
            installed.push({ name: part.name, file, digest: got.digest });
            if (i === 0 && plan.sourceOf && got.version !== undefined)
                source = plan.sourceOf(got.version);
        }
        const first = installed[0];
        if (plan.modelDigest !== undefined && first.digest !== plan.modelDigest) {
            throw new errors/* ModelError */.me(`Input '${Input.ModelDigest}' is ${plan.modelDigest}, but ${plan.id} has ${first.digest}`);
        }
        // Only GGUF models are stored: a wrong URL (an HTML page, say) is refused here.
        await readGgufInfo(first.file);
        for (const part of installed.slice(1))
            await checkGgufMagic(part.file);
        const install = () => store.install(workDir, first.digest, plan.id, plan.ref, source, installed);
        return { stored: entryLocked ? await install() : await store.withEntryLock(modelEntryName(first.digest), plan.id, install), source };
    }
    catch (error) {
        await store.removeWorkDir(workDir);
        throw error;
    }
}
/**
 * Under the entry's lock, so that concurrent jobs fetch once: the stored model when the store has it (found by
 * digest, or by source through the catalog), else fetched with the plan that `plan` makes.
 */
async function findOrFetch(store, wanted, plan) {
    // Keyed by digest when it is known, else by source; eviction takes the digest's lock, so under a source lock
    // the finding and the installing take the digest's lock too (nested, never the other way round).
    const byDigest = wanted.pinned !== undefined;
    return await store.withEntryLock(byDigest ? modelEntryName(wanted.pinned) : wanted.source, wanted.id, async () => {
        const known = wanted.pinned ?? (await store.catalog.read()).sources[wanted.source];
        const hit = !known ? undefined : byDigest ? await store.findLeased(known, wanted.verify) : await store.findAndLease(known, wanted.verify, wanted.id);
        if (hit)
            return await provisionedFromStore(store, hit, { id: wanted.id, cacheHit: true, verify: wanted.verify });
        const { stored, source } = await fetchIntoStore(store, await plan(), byDigest);
        await store.catalog.update((c) => {
            c.sources[source] = stored.digest;
        });
        return await provisionedFromStore(store, stored, { id: wanted.id, cacheHit: false, verify: wanted.verify });
    });
}
async function provisionedFromStore(store, stored, { id, cacheHit, verify }) {
    const first = stored.parts[0];
    return { id, path: first, parts: stored.parts, digest: stored.digest, sizeBytes: stored.sizeBytes, gguf: await store.gguf.info(first, verify), cacheHit, stored: true };
}
/** The names of every part of a split model, from the name of its first part. */
function splitPartNames(firstName, total) {
    const width = (n) => String(n).padStart(5, '0');
    const base = firstName.replace(/-\d{5}-of-\d{5}\.gguf$/i, '');
    return Array.from({ length: total }, (_, i) => `${base}-${width(i + 1)}-of-${width(total)}.gguf`);
}

;// CONCATENATED MODULE: ./src/model/hf-blob-temp.ts
// A download's temporary file in the Hugging Face cache's blobs/, and the lock that says its writer lives.
// Each writer has its own blobs/<sha256>.<host>-<pid>-<random>.incomplete and holds flock(2) on a lock file of the
// same name in .locks/models--<owner>--<repo>/ from before the temporary file exists until after it is gone
// (renamed into place or removed). A pid says nothing about a writer in another PID namespace (a container with
// the same host name) or on another host (a cache on NFS); a lock held through an open descriptor does, across
// namespaces, and the kernel drops it however the writer ends. So another job removes a temporary file only when
// it can take that lock and the lock can be trusted (store/lease.ts: written under this kernel, or on a local
// filesystem); a lock from another host, or one taken without flock(1), counts as live for a week. A temporary
// file without a lock file (from an older version of this action) goes once no one has written it for a day.





/** `<sha256>.<host>-<pid>-<random>.incomplete`: a download of this action in progress (or left by a killed job). */
const OUR_TEMP = /^[0-9a-f]{64}\.[A-Za-z0-9_]{1,40}-\d+-[0-9a-f]{8}\.incomplete$/;
const LOCK_SUFFIX = '.lock';
const UNLOCKED_TEMP_IDLE_MS = 24 * 3600_000;
/** `<host>-<pid>-<random>`: a name part no other writer uses. */
function uniqueSuffix() {
    return `${external_node_os_default().hostname().replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40)}-${process.pid}-${(0,external_node_crypto_.randomBytes)(4).toString('hex')}`;
}
/** A new temporary file name for `hex` in `blobs`, its lock in `locks` taken first. */
async function newBlobTemp(blobs, locks, hex) {
    const name = `${hex}.${uniqueSuffix()}.incomplete`;
    const lock = external_node_path_default().join(locks, name + LOCK_SUFFIX);
    const fd = await createLockedFile(lock);
    return {
        file: external_node_path_default().join(blobs, name),
        release: async () => {
            await external_node_fs_.promises.rm(lock, { force: true });
            if (fd !== undefined)
                (0,external_node_fs_.closeSync)(fd);
        },
    };
}
/**
 * Removes this action's temporary files (and their lock files) whose writer is gone; nothing else. Cleaning up is a
 * courtesy: one that cannot be removed (another user's, in a shared cache) is left, never a reason to fail.
 */
async function removeDeadTemps(blobs, locks) {
    const lockNames = new Set(await external_node_fs_.promises.readdir(locks).catch(() => []));
    for (const name of await external_node_fs_.promises.readdir(blobs)) {
        if (!OUR_TEMP.test(name))
            continue;
        const temp = external_node_path_default().join(blobs, name);
        if (lockNames.delete(name + LOCK_SUFFIX)) {
            const lock = external_node_path_default().join(locks, name + LOCK_SUFFIX);
            if (await lockLives(lock))
                continue;
            await external_node_fs_.promises.rm(temp, { force: true }).catch(() => undefined);
            await external_node_fs_.promises.rm(lock, { force: true }).catch(() => undefined);
        }
        else {
            const stat = await external_node_fs_.promises.lstat(temp).catch(() => undefined);
            if (stat && Date.now() - stat.mtimeMs > UNLOCKED_TEMP_IDLE_MS)
                await external_node_fs_.promises.rm(temp, { force: true }).catch(() => undefined);
        }
    }
    // Lock files without a temporary file: a writer killed between the two, or one about to create it.
    for (const name of lockNames) {
        const file = external_node_path_default().join(locks, name);
        if (name.endsWith(LOCK_SUFFIX) && OUR_TEMP.test(name.slice(0, -LOCK_SUFFIX.length))) {
            if (!(await lockLives(file)))
                await external_node_fs_.promises.rm(file, { force: true }).catch(() => undefined);
            continue;
        }
        // createLockedFile's own temporary name, left when its writer died before renaming it.
        const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
        if (stat?.isFile() && isStaleTemp(name, stat.mtimeMs))
            await external_node_fs_.promises.rm(file, { force: true }).catch(() => undefined);
    }
}
/** Whether the writer that holds lock file `file` lives; a link or anything but a file there is no lock of ours. */
async function lockLives(file) {
    const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
    return !!stat?.isFile() && (await holderLives(file, stat.mtimeMs));
}

;// CONCATENATED MODULE: ./src/model/hf-cache.ts
// The Hugging Face cache's layout (https://huggingface.co/docs/hub/local-cache, llama.cpp's common/hf-cache.cpp):
//   <root>/models--<owner>--<repo>/refs/<revision>              the commit, one line
//   <root>/models--<owner>--<repo>/blobs/<sha256>               the bytes of an LFS file, named by their sha256
//   <root>/models--<owner>--<repo>/snapshots/<commit>/<path>    a relative link to ../../blobs/<sha256>
//   <root>/.locks/models--<owner>--<repo>/<sha256>.lock         flock(2)ed by whoever downloads that blob
// and, of this action, blobs/<sha256>.<host>-<pid>-<random>.incomplete with its lock in .locks/ (hf-blob-temp.ts).
// Other tools write here, so everything read is hostile until checked: directories from the repository folder
// down must be real ones (a link could lead out of the cache), a snapshot entry must link to a blob of this
// repository whose name is a sha256 (the bytes are verified against it by the caller), refs must hold a commit.
// Writes go to a temporary name of this process, then rename: a reader never sees half a file or link. A directory
// where a file or link must go is never removed (it may be another tool's): the cache cannot be used then.





const SHA256 = /^[0-9a-f]{64}$/;
const COMMIT = /^[0-9a-f]{40}$/;
function isCommit(revision) {
    return COMMIT.test(revision);
}
class HfCache {
    root;
    constructor(root) {
        this.root = root;
    }
    /** `models--<owner>--<repo>`, checked to be one plain name. */
    folder(r) {
        return plainFileName(`models--${r.owner}--${r.repo}`, 'A Hugging Face cache folder');
    }
    repoDir(r) {
        return childPath(this.root, this.folder(r), 'A Hugging Face cache folder');
    }
    /** The commit that refs/<revision> holds, or undefined (no such ref, or not a commit). */
    async readRef(r, revision) {
        const segments = revision.split('/');
        const dir = await existingRealDir(this.root, this.folder(r), 'refs', ...segments.slice(0, -1));
        if (!dir)
            return undefined;
        const file = childPath(dir, segments.at(-1), 'A revision');
        const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
        if (!stat?.isFile())
            return undefined;
        // A ref is 40 characters; a huge file planted under its name is never read whole.
        const handle = await external_node_fs_.promises.open(file, 'r');
        try {
            const { bytesRead, buffer } = await handle.read(Buffer.alloc(128), 0, 128, 0);
            const commit = buffer.subarray(0, bytesRead).toString('utf8').trim();
            return COMMIT.test(commit) ? commit : undefined;
        }
        finally {
            await handle.close();
        }
    }
    /** What snapshots/<commit>/<file> is, or undefined when the cache has nothing there. */
    async lookup(r, commit, file) {
        const segments = file.split('/');
        const repoDir = this.repoDir(r);
        const dir = await existingRealDir(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1));
        const snapshot = external_node_path_default().join(repoDir, 'snapshots', commit, ...segments);
        if (dir === null)
            return { kind: 'unusable', snapshot, why: 'a directory on its way is a link or not a directory', replaceable: false };
        if (dir === undefined)
            return undefined;
        const stat = await external_node_fs_.promises.lstat(snapshot).catch(() => undefined);
        if (!stat)
            return undefined;
        if (stat.isFile())
            return { kind: 'found', snapshot, blob: snapshot, digest: undefined };
        if (!stat.isSymbolicLink())
            return { kind: 'unusable', snapshot, why: `it is ${stat.isDirectory() ? 'a directory' : 'neither a link nor a file'}`, replaceable: !stat.isDirectory() };
        const target = external_node_path_default().resolve(dir, await external_node_fs_.promises.readlink(snapshot));
        const blobs = external_node_path_default().join(repoDir, 'blobs');
        const name = external_node_path_default().basename(target);
        if (external_node_path_default().dirname(target) !== blobs)
            return { kind: 'unusable', snapshot, why: `it links to ${target}, outside ${blobs}`, replaceable: true };
        if (!SHA256.test(name))
            return { kind: 'unusable', snapshot, why: `it links to a blob whose name (${name.slice(0, 80)}) is not a sha256, which the action could verify`, replaceable: true };
        if ((await existingRealDir(this.root, this.folder(r), 'blobs')) !== blobs)
            return { kind: 'unusable', snapshot, why: `${blobs} is a link or not a directory`, replaceable: false };
        const blob = await external_node_fs_.promises.lstat(target).catch(() => undefined);
        if (!blob)
            return { kind: 'broken', snapshot, digest: `sha256:${name}` };
        if (!blob.isFile())
            return { kind: 'unusable', snapshot, why: `its blob ${target} is a link or not a regular file`, replaceable: !blob.isDirectory() };
        return { kind: 'found', snapshot, blob: target, digest: `sha256:${name}` };
    }
    /**
     * Why `blob` could have been changed by a user other than this one: the repository's folder, its blobs/,
     * snapshots/ or refs/, or the blob itself is owned by another user, or writable by its group or by anyone (a
     * directory with the sticky bit, whose files only their owners may replace, excepted). Undefined when none is.
     */
    async untrusted(r, blob) {
        const repoDir = this.repoDir(r);
        const uid = process.geteuid?.();
        for (const p of [repoDir, external_node_path_default().join(repoDir, 'blobs'), external_node_path_default().join(repoDir, 'snapshots'), external_node_path_default().join(repoDir, 'refs'), blob]) {
            const stat = await external_node_fs_.promises.lstat(p).catch(() => undefined);
            if (!stat)
                continue;
            if (uid !== undefined && stat.uid !== uid)
                return { path: p, why: `owned by uid ${stat.uid}, not by this job's ${uid}` };
            if (stat.mode & 0o022 && !(stat.isDirectory() && stat.mode & 0o1000)) {
                return { path: p, why: `writable by ${stat.mode & 0o002 ? 'anyone' : 'its group'} (mode ${(stat.mode & 0o7777).toString(8)})` };
            }
        }
        return undefined;
    }
    /** blobs/<sha256> when it is a regular file, else undefined. */
    async existingBlob(r, digest) {
        if (!(await existingRealDir(this.root, this.folder(r), 'blobs')))
            return undefined;
        const blob = this.blobPath(r, digest);
        const stat = await external_node_fs_.promises.lstat(blob).catch(() => undefined);
        return stat?.isFile() ? blob : undefined;
    }
    blobPath(r, digest) {
        return external_node_path_default().join(this.repoDir(r), 'blobs', blobName(digest));
    }
    /**
     * A new temporary file in blobs/ (its own per writer: never one shared `.incomplete`), locked as hf-blob-temp.ts
     * says until `release`. Temporary files of this action's jobs that are gone go first; nothing else there.
     */
    async blobTemp(r, digest) {
        const blobs = await realDirIn(this.root, this.folder(r), 'blobs');
        const locks = await realDirIn(this.root, '.locks', this.folder(r));
        await removeDeadTemps(blobs, locks);
        return await newBlobTemp(blobs, locks, blobName(digest));
    }
    /**
     * What stands in the way of putting blob `digest` and the snapshot link of `file` in place: a directory where
     * either must go, or a link or file where a directory must be. Undefined when nothing does.
     */
    async obstacle(r, commit, file, digest) {
        const segments = file.split('/');
        const snapshot = external_node_path_default().join(this.repoDir(r), 'snapshots', commit, ...segments);
        if ((await existingRealDir(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1))) === null)
            return `a directory on the way to ${snapshot} is a link or not a directory`;
        for (const p of [this.blobPath(r, digest), snapshot]) {
            if ((await external_node_fs_.promises.lstat(p).catch(() => undefined))?.isDirectory())
                return directoryInTheWay(p);
        }
        return undefined;
    }
    /** Renames the verified temporary file `temp` into place as blobs/<sha256>; `temp` is removed when that fails. */
    async installBlob(r, temp, digest) {
        const blob = this.blobPath(r, digest);
        await renameOrRemove(temp, blob);
        return blob;
    }
    /**
     * Files in blobs/ named `<sha256>.<anything>`: downloads of that blob in progress, any tool's (huggingface_hub's
     * `.incomplete`, llama.cpp's `.downloadInProgress`, this action's).
     */
    async downloadsInProgress(r, digest) {
        const blobs = await existingRealDir(this.root, this.folder(r), 'blobs');
        if (!blobs)
            return [];
        const prefix = `${blobName(digest)}.`;
        const found = [];
        for (const name of await external_node_fs_.promises.readdir(blobs).catch(() => [])) {
            const stat = name.startsWith(prefix) ? await external_node_fs_.promises.lstat(external_node_path_default().join(blobs, name)).catch(() => undefined) : undefined;
            if (stat?.isFile())
                found.push({ name, size: stat.size, mtimeMs: stat.mtimeMs });
        }
        return found;
    }
    /** The lock file that huggingface_hub and this action take before downloading `digest`; its directory made. */
    async lockFile(r, digest) {
        const locks = await realDirIn(this.root, '.locks', this.folder(r));
        return external_node_path_default().join(locks, `${blobName(digest)}.lock`);
    }
    /** snapshots/<commit>/<file> as a relative link to blobs/<sha256>, replacing what was there; returns its path. */
    async linkSnapshot(r, commit, file, digest) {
        const segments = file.split('/');
        const dir = await realDirIn(this.root, this.folder(r), 'snapshots', commit, ...segments.slice(0, -1));
        const snapshot = childPath(dir, segments.at(-1), 'A model file name');
        const target = external_node_path_default().relative(dir, this.blobPath(r, digest));
        if ((await external_node_fs_.promises.readlink(snapshot).catch(() => undefined)) === target)
            return snapshot;
        const temp = external_node_path_default().join(dir, `.${external_node_path_default().basename(snapshot)}.${uniqueSuffix()}.tmp`);
        await external_node_fs_.promises.symlink(target, temp);
        await renameOrRemove(temp, snapshot);
        return snapshot;
    }
    /** refs/<revision> holding `commit` (unless it already does, or the revision is that commit). */
    async writeRef(r, revision, commit) {
        if (revision === commit || (await this.readRef(r, revision)) === commit)
            return;
        const segments = revision.split('/');
        const dir = await realDirIn(this.root, this.folder(r), 'refs', ...segments.slice(0, -1));
        const ref = childPath(dir, segments.at(-1), 'A revision');
        const temp = external_node_path_default().join(dir, `.${external_node_path_default().basename(ref)}.${uniqueSuffix()}.tmp`);
        // No newline, as huggingface_hub writes it.
        await external_node_fs_.promises.writeFile(temp, commit, { flag: 'wx', mode: 0o644 });
        await renameOrRemove(temp, ref);
    }
}
function blobName(digest) {
    const hex = digest.replace(/^sha256:/, '');
    if (!SHA256.test(hex))
        throw new Error(`not a sha256: ${digest}`);
    return hex;
}
function directoryInTheWay(p) {
    return `${p} is a directory, which the action does not remove (it may be another tool's); remove it, or set ${Input.HfCache}: false`;
}
/** `temp` renamed to `target`; when that fails `temp` is removed, and a directory at `target` is a CacheLayoutError. */
async function renameOrRemove(temp, target) {
    try {
        await external_node_fs_.promises.rename(temp, target);
    }
    catch (error) {
        await external_node_fs_.promises.rm(temp, { force: true });
        const code = error.code;
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST')
            throw new CacheLayoutError(directoryInTheWay(target));
        throw error;
    }
}
/**
 * `root/a/b…` when every level below `root` exists and is a real directory; undefined when one is missing; null
 * when one is a link or something else. Nothing is created. The root itself may be a link: the user's choice.
 */
async function existingRealDir(root, ...names) {
    if (!(await external_node_fs_.promises.stat(root).then((s) => s.isDirectory(), () => false)))
        return undefined;
    let dir = root;
    for (const name of names) {
        dir = childPath(dir, name, 'A Hugging Face cache path');
        const stat = await external_node_fs_.promises.lstat(dir).catch(() => undefined);
        if (!stat)
            return undefined;
        if (!stat.isDirectory() || stat.isSymbolicLink())
            return null;
    }
    return dir;
}

;// CONCATENATED MODULE: ./src/util/lock-holder.ts
// Who holds flock(2) on a file, for a log line: /proc/locks (Linux) names the process that took the lock, by its
// pid as this PID namespace sees it. That pid is believed only while the process still has the file open (a pid
// can be reused); a holder in another PID namespace shows as 0, one on another host (NFS) not at all, and a lock
// taken for its caller by flock(1), as this action takes its own, names flock(1), which has exited. Only the
// program's name is given, never its arguments (which might hold a secret).

const NOT_SEEN = 'a process not visible from here (in another container or PID namespace, on another host, or a job of this action, whose flock(1) helper has exited)';
/** `pid 123 (python3)`, or what can be said when the holder cannot be seen. */
async function describeLockHolder(file) {
    const real = await external_node_fs_.promises.realpath(file).catch(() => file);
    const stat = await external_node_fs_.promises.stat(real, { bigint: true }).catch(() => undefined);
    const table = await external_node_fs_.promises.readFile('/proc/locks', 'utf8').catch(() => '');
    if (!stat)
        return NOT_SEEN;
    // On overlayfs (a container's root) /proc/locks gives the upper filesystem's device: then the inode alone, the
    // holder confirmed by its open descriptor of this very path.
    const exact = flockHolders(table, stat.dev, stat.ino);
    for (const pid of exact.length ? exact : flockHolders(table, undefined, stat.ino)) {
        if (pid > 0 && (await hasOpen(pid, real)))
            return `pid ${pid} (${await programName(pid)})`;
    }
    return NOT_SEEN;
}
/**
 * The pids /proc/locks gives for FLOCK locks held (not waited for) on the file of that inode, and of that device
 * unless `dev` is undefined. Pure.
 */
function flockHolders(table, dev, ino) {
    // Linux's dev_t: the major number in bits 8-19 and 32-43, the minor in bits 0-7 and 20-31.
    const device = dev === undefined ? undefined : `${((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)}:${(dev & 0xffn) | ((dev >> 12n) & ~0xffn)}`;
    const pids = [];
    // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1577077 0 EOF"; a waiter's line has "->" after the number.
    for (const m of table.matchAll(/^\d+: FLOCK\s+\S+\s+\S+\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/gm)) {
        const here = `${BigInt(`0x${m[2]}`)}:${BigInt(`0x${m[3]}`)}`;
        if (BigInt(m[4]) === ino && (device === undefined || here === device))
            pids.push(Number(m[1]));
    }
    return pids;
}
async function hasOpen(pid, file) {
    const fds = await external_node_fs_.promises.readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds)
        if ((await external_node_fs_.promises.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === file)
            return true;
    return false;
}
async function programName(pid) {
    const comm = (await external_node_fs_.promises.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    // A program name is the kernel's copy of at most 15 bytes; anything else in it is not shown.
    return /^[\x20-\x7e]{1,15}$/.test(comm) ? comm : 'its name is not readable';
}

;// CONCATENATED MODULE: ./src/model/hf-cache-lock.ts
// The Hugging Face cache's own lock convention: whoever downloads a blob holds flock(2) on
// .locks/models--<owner>--<repo>/<sha256>.lock (huggingface_hub through filelock, this action through flock(1) on a
// descriptor it keeps), so that two tools, or two jobs, do not fetch the same multi-GB file at once. The lock only
// saves work: on filesystems where flock silently succeeds for everyone (some NFS mounts), each writer still
// downloads to its own temporary file, verifies it and renames it into place. So a job need not wait behind a
// holder that makes no progress: it waits while the holder's download in blobs/ grows, and goes ahead beside it
// once that has not been written for a few minutes (or after 30 minutes in all).






const DEFAULT_WAIT = { maxWaitMs: 30 * 60_000, stallMs: 5 * 60_000, minWaitMs: 5_000 };
const hf_cache_lock_POLL_MS = 500;
const SAY_EVERY_MS = 30_000;
async function withHfCacheLock(lock, fn, wait = DEFAULT_WAIT) {
    // O_NOFOLLOW: a link planted under the lock's name is never opened (nor what it points to created).
    const handle = await external_node_fs_.promises.open(lock.file, external_node_fs_.constants.O_RDWR | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_NOFOLLOW, 0o664).catch((error) => {
        lib_core/* info */.pq(`Could not open the Hugging Face cache's lock ${lock.file} (${error.code ?? error.message}); going on without it`);
        return undefined;
    });
    try {
        if (handle)
            await acquire(handle.fd, lock, wait);
        return await fn();
    }
    finally {
        // Closing the only descriptor of the lock's open file releases it.
        await handle?.close();
    }
}
async function acquire(fd, lock, wait) {
    const started = Date.now();
    let said = 0;
    for (;;) {
        const locked = await tryLock(fd);
        if (locked !== false) {
            if (locked === undefined)
                lib_core/* info */.pq(`flock(1) is not available: ${lock.what} is fetched without the Hugging Face cache's lock`);
            else if (said)
                lib_core/* info */.pq(`Got the Hugging Face cache's lock for ${lock.what} after ${seconds(Date.now() - started)} s`);
            return;
        }
        const now = Date.now();
        const waited = now - started;
        const downloads = await lock.inProgress();
        const lastWrite = downloads.length ? Math.max(...downloads.map((d) => d.mtimeMs)) : started;
        const holder = () => describeLockHolder(lock.file);
        if (waited >= wait.minWaitMs && now - lastWrite >= wait.stallMs) {
            const why = downloads.length ? `${describe(downloads, now)}, not written for ${seconds(now - lastWrite)} s` : `no download of it has appeared in blobs/ for ${seconds(waited)} s`;
            lib_core/* info */.pq(`${lock.file} is held by ${await holder()}, but ${why}: fetching ${lock.what} beside it`);
            return;
        }
        if (waited >= wait.maxWaitMs) {
            lib_core/* info */.pq(`${lock.file} has been held by ${await holder()} for ${seconds(waited)} s; fetching ${lock.what} beside it`);
            return;
        }
        if (waited >= said * SAY_EVERY_MS) {
            const progress = downloads.length ? `; ${describe(downloads, now)}` : '';
            lib_core/* info */.pq(`Waiting for ${lock.what}: ${await holder()} (huggingface_hub, llama.cpp or another job) holds ${lock.file}${progress}`);
            said++;
        }
        await (0,promises_.setTimeout)(hf_cache_lock_POLL_MS);
    }
}
/** `its download in blobs/: <name> (1.5 MiB, written 2 s ago)`; a name that is not plain letters is not shown. */
function describe(downloads, now) {
    const shown = downloads.slice(0, 3).map((d) => {
        const name = /^[A-Za-z0-9._-]{1,160}$/.test(d.name) ? d.name : 'a file with an odd name';
        return `${name} (${formatBytes(d.size)}, written ${seconds(now - d.mtimeMs)} s ago)`;
    });
    const more = downloads.length > 3 ? ` and ${downloads.length - 3} more` : '';
    return `its download in blobs/: ${shown.join(', ')}${more}`;
}
function seconds(ms) {
    return (Math.max(0, ms) / 1000).toFixed(1);
}

;// CONCATENATED MODULE: ./src/model/hf-cache-model.ts
// hf: models in the runner's Hugging Face cache, the store of record for them: a model already there, whoever put
// it there, is used in place once its bytes are verified against the sha256 it must have (`verify: quick` trusts a
// blob whose identity, ctime included, was recorded when it was last hashed, as for a stored entry); a model that is
// not is downloaded into it in its layout, so that huggingface_hub, `hf download` and `llama-server -hf` find it
// later. A model in cache-dir's own store (from before, or restored from the GitHub Actions cache) is hard-linked
// in rather than fetched again. The action replaces a file of another tool only when its bytes are wrong, and says
// so; it deletes nothing else there.










/** The model from the cache (verified), else from cache-dir's store (linked in), else downloaded into the cache. */
async function provisionThroughHfCache(location, store, model, settings) {
    const cache = new HfCache(location.root);
    const bad = new Set();
    const { found } = await findInCaches(location, store, model, settings.verify, bad);
    const digest = model.parts[0].digest;
    const use = (where, cacheHit) => inPlace(where, model, { digest, cacheHit, store, verify: settings.verify });
    if (found)
        return await use(found, true);
    const lock = { file: await cache.lockFile(model.repo, digest), what: model.id, inProgress: () => cache.downloadsInProgress(model.repo, digest) };
    return await withHfCacheLock(lock, async () => {
        // Another process may have put it there while this one waited for the lock.
        const meanwhile = await findInCaches(location, store, model, settings.verify, bad);
        if (meanwhile.found)
            return await use(meanwhile.found, true);
        const linked = await linkFromStore(cache, store, model, settings.verify);
        if (linked)
            return await use(linked, true);
        return await use(await downloadInto(cache, store, model, settings, bad, meanwhile.have), false);
    });
}
/** Offline (HF_HUB_OFFLINE, or the endpoint out of reach): the model by refs/, checked against its blobs' names. */
async function findOffline(location, store, wanted, verify) {
    const { repo, revision, files } = wanted;
    for (const root of [location.root, ...location.alsoLookIn]) {
        const cache = new HfCache(root);
        const commit = isCommit(revision) ? revision : await cache.readRef(repo, revision);
        if (!commit)
            continue;
        const snapshots = [];
        let digest;
        for (const file of files) {
            const got = await cache.lookup(repo, commit, file);
            // Offline the blob's name is all there is to check the bytes against: a plain file has none.
            if (got?.kind !== 'found' || !got.digest)
                break;
            if (!(await matches(store, { cache, repo, file: got.blob }, got.digest, verify, got.snapshot)))
                break;
            snapshots.push(got.snapshot);
            digest ??= got.digest;
        }
        if (snapshots.length !== files.length || !digest)
            continue;
        return await inPlace({ cache, writable: root === location.root, snapshots }, { repo, revision, commit, id: wanted.id(commit) }, { digest, cacheHit: true, store, verify });
    }
    return undefined;
}
async function inPlace(found, model, { digest, cacheHit, store, verify }) {
    if (found.writable) {
        await found.cache.writeRef(model.repo, model.revision, model.commit).catch((error) => {
            // A cache this job may read but not write (another user's, read-only): the model is still usable.
            lib_core/* info */.pq(`Could not record ${model.revision} → ${model.commit} in ${found.cache.root} (${error.code ?? error.message})`);
        });
    }
    const first = found.snapshots[0];
    let sizeBytes = 0;
    for (const snapshot of found.snapshots)
        sizeBytes += (await external_node_fs_.promises.stat(snapshot)).size;
    if (cacheHit)
        lib_core/* info */.pq(`${model.id} is in the Hugging Face cache at ${found.cache.root}; used in place`);
    return { id: model.id, path: first, parts: found.snapshots, digest, sizeBytes, gguf: await store.gguf.info(first, verify), cacheHit, stored: true };
}
/**
 * Every part in one of the caches with the right bytes (`found`); else, in `have`, the snapshots of the parts that
 * the cache the action writes has (undefined for the others), so that only the rest is downloaded. In that cache a
 * blob without its link is linked.
 */
async function findInCaches(location, store, model, verify, bad) {
    let have = [];
    for (const [i, root] of [location.root, ...location.alsoLookIn].entries()) {
        const cache = new HfCache(root);
        const snapshots = [];
        for (const part of model.parts) {
            const snapshot = await findPart(cache, store, model, part, verify, bad, i === 0);
            snapshots.push(snapshot);
            // From a cache the action does not write, a model is used whole or not at all.
            if (!snapshot && i > 0)
                break;
        }
        if (snapshots.length === model.parts.length && snapshots.every((s) => s !== undefined))
            return { found: { cache, writable: i === 0, snapshots: snapshots }, have };
        if (i === 0)
            have = snapshots;
    }
    return { have };
}
async function findPart(cache, store, model, part, verify, bad, writable) {
    const got = await cache.lookup(model.repo, model.commit, part.file);
    if (got?.kind === 'unusable') {
        hf_cache_model_warnOnce(bad, got.snapshot, `${got.snapshot} in the Hugging Face cache is not used: ${got.why}${writable && got.replaceable ? '. The action puts a link of its own in its place' : ''}`);
        if (!writable || !got.replaceable)
            return undefined;
    }
    if (got?.kind === 'found' && got.digest !== undefined && got.digest !== part.digest) {
        hf_cache_model_warnOnce(bad, got.snapshot, `${got.snapshot} in the Hugging Face cache links to ${got.digest}, but the Hub says ${model.id} has ${part.digest}; it is not used${writable ? ' and the action links it to the right blob' : ''}`);
    }
    else if (got?.kind === 'found') {
        return (await matches(store, { cache, repo: model.repo, file: got.blob }, part.digest, verify, got.snapshot, bad, writable)) ? got.snapshot : undefined;
    }
    // No usable link: the blob itself may be there (another revision's, or a broken link's target).
    if (!writable)
        return undefined;
    const blob = await cache.existingBlob(model.repo, part.digest);
    if (!blob || !(await matches(store, { cache, repo: model.repo, file: blob }, part.digest, verify, blob, bad, true)))
        return undefined;
    return await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest);
}
/**
 * True when `file` has `digest` (with `quick`, by its recorded identity, unless others can write there). A mismatch
 * is a warning (once per file in `seen`), which says whether the download replaces the file (only in the cache the
 * action writes).
 */
async function matches(store, blob, digest, verify, shown, seen = new Set(), replaced = false) {
    const file = blob.file;
    const got = await store.localDigest(file, verify === 'quick' && (await othersCanWrite(blob)) ? 'full' : verify);
    if (got === digest)
        return true;
    const message = `${shown} in the Hugging Face cache has ${got}, not the ${digest} it must have; it is not used`;
    hf_cache_model_warnOnce(seen, file, replaced ? `${message}. The action downloads the model again and replaces that file` : message);
    return false;
}
/** The places this run has said are writable by others: each is said once. */
const untrustedSaid = new Set();
/**
 * Whether someone other than this user could have changed `blob.file` (a shared cache): then its recorded identity
 * proves nothing and it is hashed on every use. Said once per place.
 */
async function othersCanWrite(blob) {
    const untrusted = await blob.cache.untrusted(blob.repo, blob.file);
    if (untrusted && !untrustedSaid.has(untrusted.path)) {
        untrustedSaid.add(untrusted.path);
        lib_core/* info */.pq(`${untrusted.path} in the Hugging Face cache is ${untrusted.why}: its blobs are hashed in full on every use, whatever '${Input.Verify}' says`);
    }
    return untrusted !== undefined;
}
function hf_cache_model_warnOnce(seen, key, message) {
    if (seen.has(key))
        return;
    seen.add(key);
    lib_core/* warning */.$e(message);
}
/** A model in cache-dir's store (by the first part's sha256) hard-linked into the cache; undefined when not there or not linkable. */
async function linkFromStore(cache, store, model, verify) {
    const stored = await store.findAndLease(model.parts[0].digest, verify, model.id);
    if (!stored || stored.parts.length !== model.parts.length)
        return undefined;
    const snapshots = [];
    for (const [i, part] of model.parts.entries()) {
        const file = stored.parts[i];
        if (i > 0 && (await store.localDigest(file, verify)) !== part.digest)
            return undefined;
        const temp = await cache.blobTemp(model.repo, part.digest);
        try {
            try {
                await external_node_fs_.promises.link(file, temp.file);
            }
            catch (error) {
                lib_core/* info */.pq(`${model.id} is in ${store.root}, which cannot be hard-linked into ${cache.root} (${error.code ?? error}); it is downloaded into the Hugging Face cache instead`);
                return undefined;
            }
            await store.recordLocalDigest(await cache.installBlob(model.repo, temp.file, part.digest), part.digest);
        }
        finally {
            await temp.release();
        }
        snapshots.push(await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest));
    }
    // The new links changed the stored files' ctime: recorded, so that the next quick verify need not hash them.
    await store.recordRelinked(stored.digest);
    lib_core/* info */.pq(`${model.id} was in ${store.root}: hard-linked into the Hugging Face cache, not downloaded`);
    return { cache, writable: true, snapshots };
}
/**
 * The parts the cache lacks (`have` holds the snapshots of those it has, verified) downloaded into it: each to its
 * own temporary blob, verified, renamed, linked.
 */
async function downloadInto(cache, store, model, settings, bad, have) {
    const missing = model.parts.flatMap((part, i) => (have[i] ? [] : [{ part, i }]));
    if (missing.length < model.parts.length) {
        lib_core/* info */.pq(`${model.parts.length - missing.length} of the ${model.parts.length} parts of ${model.id} are in the Hugging Face cache, verified; downloading the other ${missing.length}`);
    }
    // A directory where a blob or link must go is found before the download, not after it.
    for (const { part } of missing) {
        const obstacle = await cache.obstacle(model.repo, model.commit, part.file, part.digest);
        if (obstacle)
            throw new CacheLayoutError(obstacle);
    }
    const needed = missing.reduce((sum, { part }) => sum + (part.size ?? 0), 0);
    const snapshots = [...have];
    for (const [n, { part, i }] of missing.entries()) {
        const temp = await cache.blobTemp(model.repo, part.digest);
        const dest = temp.file;
        try {
            if (n === 0 && needed > 0)
                await ensureFreeSpace(external_node_path_default().dirname(dest), needed, model.id);
            await downloadModelFile({
                url: part.url,
                credential: settings.credential,
                dest,
                label: external_node_path_default().basename(part.file),
                expectedSize: part.size,
                expectedDigest: part.digest,
                timeoutMs: settings.timeoutMs,
                connections: settings.connections,
            });
            // Only GGUF models are kept: a file that is not one never enters the cache.
            if (i === 0)
                await readGgufInfo(dest);
            else
                await checkGgufMagic(dest);
            const blob = cache.blobPath(model.repo, part.digest);
            if (bad.has(blob))
                lib_core/* warning */.$e(`Replaced ${blob} in the Hugging Face cache, whose bytes did not match its name, with a verified download`);
            await store.recordLocalDigest(await cache.installBlob(model.repo, dest, part.digest), part.digest);
        }
        catch (error) {
            await external_node_fs_.promises.rm(dest, { force: true });
            throw error;
        }
        finally {
            await temp.release();
        }
        snapshots[i] = await cache.linkSnapshot(model.repo, model.commit, part.file, part.digest);
    }
    return { cache, writable: true, snapshots: snapshots };
}

;// CONCATENATED MODULE: ./src/model/hub.ts
// The Hugging Face Hub's download protocol: GET|HEAD {endpoint}/{owner}/{repo}/resolve/{revision}/{path}.
// For LFS files the answer redirects to a blob host and carries X-Repo-Commit, X-Linked-Etag (the sha256) and
// X-Linked-Size. Errors carry X-Error-Code. The token goes to the endpoint only.




function hubCredential(endpoint, token) {
    return token ? { origin: new URL(endpoint).origin, token } : undefined;
}
function resolveUrl(loc, revision) {
    const file = loc.file.split('/').map(encodeURIComponent).join('/');
    return `${loc.endpoint}/${encodeURIComponent(loc.owner)}/${encodeURIComponent(loc.repo)}/resolve/${encodeURIComponent(revision)}/${file}`;
}
/**
 * Fewer tries than a download gets: when the endpoint is down, a cached model is used after a few seconds
 * rather than after minutes of backoff.
 */
const RESOLVE_RETRY = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 60_000 };
/** Asks the Hub which commit `revision` is and what the file's sha256 and size are, without downloading it. */
async function headHubFile(loc, revision, token, timeoutMs) {
    const url = resolveUrl(loc, revision);
    const response = await withRetries(`Asking ${loc.endpoint} for ${loc.owner}/${loc.repo}@${revision}/${loc.file}`, () => request(url, { method: 'HEAD', credential: hubCredential(loc.endpoint, token), stopAtCrossOriginRedirect: true, timeoutMs }), RESOLVE_RETRY);
    await discard(response);
    if (response.status >= 400)
        throw hubError(loc, revision, token, new HttpStatusError(url, response.status, response));
    const commit = response.header('x-repo-commit');
    if (!commit || !/^[0-9a-f]{40}$/.test(commit)) {
        throw new errors/* ModelError */.me(`${loc.endpoint} did not answer like a Hugging Face Hub (no X-Repo-Commit header for ${loc.owner}/${loc.repo}/${loc.file}); check '${Input.HfEndpoint}'`);
    }
    const etag = response.header('x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '');
    const size = response.header('x-linked-size') ?? (response.status === 200 ? response.header('content-length') : null);
    return {
        commit,
        digest: etag && /^[0-9a-f]{64}$/.test(etag) ? `sha256:${etag}` : undefined,
        size: size && /^\d+$/.test(size) ? Number(size) : undefined,
    };
}
/** The Hub's error, as something a user can act on. */
function hubError(loc, revision, token, error) {
    const code = error.response.header('x-error-code');
    const repo = `${loc.owner}/${loc.repo}`;
    const tokenAdvice = token
        ? `the token in '${Input.HfToken}' (or HF_TOKEN) does not give access to it`
        : `set '${Input.HfToken}' (or HF_TOKEN) to a token that has access`;
    switch (code) {
        case 'GatedRepo':
            return new errors/* ModelError */.me(`${repo} on ${loc.endpoint} is gated: accept its conditions on the Hub with your account, then ${token ? 'make sure the token in ' + `'${Input.HfToken}' belongs to that account` : `set '${Input.HfToken}' to a token of that account`}`);
        case 'RepoNotFound':
            return new errors/* ModelError */.me(`Repository ${repo} was not found on ${loc.endpoint}, or it is private and ${tokenAdvice}`);
        case 'RevisionNotFound':
            return new errors/* ModelError */.me(`Revision '${revision}' was not found in ${repo} on ${loc.endpoint}`);
        case 'EntryNotFound':
            return new errors/* ModelError */.me(`File '${loc.file}' was not found in ${repo} at revision '${revision}' on ${loc.endpoint}`);
    }
    if (error.status === 401 || error.status === 403) {
        return new errors/* ModelError */.me(`${loc.endpoint} refused access to ${repo} (HTTP ${error.status}): ${tokenAdvice}`);
    }
    if (error.status === 404)
        return new errors/* ModelError */.me(`${repo}@${revision}/${loc.file} was not found on ${loc.endpoint} (HTTP 404)`);
    return new errors/* ModelError */.me(`${loc.endpoint} answered HTTP ${error.status} for ${repo}@${revision}/${loc.file}`);
}

;// CONCATENATED MODULE: ./src/model/hf.ts
// hf: refs. The revision is resolved to a commit once; the file's sha256 and size come from the Hub and are
// verified. With `hf-cache` (the default) the model lives in the runner's Hugging Face cache (hf-cache-model.ts);
// otherwise, and for files the Hub gives no sha256 for, in cache-dir's store. Revision → commit is recorded, so
// that HF_HUB_OFFLINE=1 or an unreachable (or rate-limiting) endpoint can still be served from either cache.










function hubOffline(env) {
    return ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase());
}
/** What to do about a 429 from the Hub: without a token, that a token raises the limit. */
function rateLimitAdvice(token) {
    return token
        ? `The Hub counts these requests against the account of the token in '${Input.HfToken}'; fewer jobs at once, or a plan with higher limits, helps`
        : `Without a token the Hub counts the requests of every job behind this runner's IP address together; a token raises the limit: set '${Input.HfToken}' (or HF_TOKEN) to a Hugging Face access token`;
}
async function provisionHubModel(ref, inputs, store) {
    try {
        return await provision(ref, inputs, store);
    }
    catch (error) {
        if (rateLimitBehind(error) && error instanceof Error)
            throw new errors/* ModelError */.me(`${error.message}. ${rateLimitAdvice(inputs.hfToken)}`);
        throw error;
    }
}
async function provision(ref, inputs, store) {
    const loc = { endpoint: inputs.hfEndpoint, owner: ref.owner, repo: ref.repo, file: ref.file };
    const revisionKey = `hf:${ref.owner}/${ref.repo}@${ref.revision}`;
    if (hubOffline(process.env))
        return await fromCacheOnly(ref, inputs, store, 'HF_HUB_OFFLINE is set');
    let head;
    try {
        head = await headHubFile(loc, ref.revision, inputs.hfToken, inputs.networkTimeoutMs);
    }
    catch (error) {
        if (!(error instanceof RetryableError || error instanceof RetriesExhaustedError || error instanceof RateLimitError))
            throw error;
        const why = rateLimitBehind(error) ? `${inputs.hfEndpoint} is rate-limiting this runner (${error.message})` : `${inputs.hfEndpoint} cannot be reached (${error.message})`;
        return await fromCacheOnly(ref, inputs, store, why, error);
    }
    const id = modelId(ref, head.commit);
    lib_core/* info */.pq(`${revisionKey} is commit ${head.commit}`);
    if (inputs.modelDigest && head.digest && inputs.modelDigest !== head.digest) {
        throw new errors/* ModelError */.me(`Input '${Input.ModelDigest}' is ${inputs.modelDigest}, but the Hub says ${id} has ${head.digest}`);
    }
    // Recorded when it changes, not on every warm run: the offline fallback needs the commit, not the time.
    if ((await store.catalog.read()).hf_revisions[revisionKey]?.commit !== head.commit) {
        await store.catalog.update((c) => {
            c.hf_revisions[revisionKey] = { commit: head.commit, resolved_at: new Date().toISOString() };
        });
    }
    const credential = hubCredential(inputs.hfEndpoint, inputs.hfToken);
    const parts = async () => {
        const all = [{ file: ref.file, info: head }];
        for (const file of splitFiles(ref).slice(1))
            all.push({ file, info: await headHubFile({ ...loc, file }, head.commit, inputs.hfToken, inputs.networkTimeoutMs) });
        return all.map(({ file, info }) => ({ file, name: baseName(file), url: resolveUrl({ ...loc, file }, head.commit), size: info.size, digest: info.digest, credential }));
    };
    if (inputs.hfCache && head.digest) {
        const hubParts = await parts();
        // Blobs are named by sha256 there: a file the Hub gives none for (not in LFS) stays in cache-dir's store.
        if (hubParts.every((p) => p.digest !== undefined)) {
            const model = { repo: { owner: ref.owner, repo: ref.repo }, revision: ref.revision, commit: head.commit, id, parts: hubParts };
            const settings = { credential, verify: inputs.verify, timeoutMs: inputs.networkTimeoutMs, connections: inputs.downloadConnections };
            try {
                return await provisionThroughHfCache(inputs.hfCache, store, model, settings);
            }
            catch (error) {
                // A cache this job cannot write (read-only, another user's, a link where a directory belongs) is not a
                // reason to fail: the model goes to cache-dir's store instead.
                if (!(error instanceof CacheLayoutError || ['EACCES', 'EPERM', 'EROFS'].includes(error.code ?? '')))
                    throw error;
                lib_core/* warning */.$e(`The Hugging Face cache at ${inputs.hfCache.root} cannot be used (${(0,errors/* errorMessage */.gJ)(error)}); ${id} is kept in cache-dir instead`);
            }
        }
    }
    const source = `hf:${ref.owner}/${ref.repo}@${head.commit}/${ref.file}`;
    return await findOrFetch(store, { id, source, pinned: head.digest ?? inputs.modelDigest, verify: inputs.verify }, async () => ({
        id,
        ref: `hf:${ref.owner}/${ref.repo}@${ref.revision}/${ref.file}`,
        source,
        parts: await parts(),
        modelDigest: inputs.modelDigest,
        timeoutMs: inputs.networkTimeoutMs,
        connections: inputs.downloadConnections,
    }));
}
async function fromCacheOnly(ref, inputs, store, why, cause) {
    const catalog = await store.catalog.read();
    const recorded = isCommit(ref.revision) ? ref.revision : catalog.hf_revisions[`hf:${ref.owner}/${ref.repo}@${ref.revision}`]?.commit;
    let hit;
    if (inputs.hfCache) {
        // refs/ first, as huggingface_hub and llama.cpp resolve offline; then the commit this action recorded.
        const wanted = { repo: { owner: ref.owner, repo: ref.repo }, revision: ref.revision, files: splitFiles(ref), id: (commit) => modelId(ref, commit) };
        hit = (await findOffline(inputs.hfCache, store, wanted, inputs.verify)) ?? (recorded ? await findOffline(inputs.hfCache, store, { ...wanted, revision: recorded }, inputs.verify) : undefined);
        if (hit)
            lib_core/* notice */.lm(`${why}: used ${hit.id} from the Hugging Face cache at ${inputs.hfCache.root}, by what its refs/ or this action last recorded ${ref.revision} to be`);
    }
    if (!hit) {
        const digest = recorded ? catalog.sources[`hf:${ref.owner}/${ref.repo}@${recorded}/${ref.file}`] : undefined;
        const id = modelId(ref, recorded);
        const stored = digest ? await store.findAndLease(digest, inputs.verify, id) : undefined;
        if (stored) {
            hit = await provisionedFromStore(store, stored, { id, cacheHit: true, verify: inputs.verify });
            lib_core/* notice */.lm(`${why}: used the cached ${id}, recorded when ${ref.revision} was last resolved`);
        }
    }
    const hfCaches = inputs.hfCache ? `the Hugging Face cache at ${[inputs.hfCache.root, ...inputs.hfCache.alsoLookIn].join(' or ')}, nor in ` : '';
    if (!hit)
        throw new errors/* ModelError */.me(`${why}, and ${modelId(ref)} is not in ${hfCaches}the cache at ${store.root}`, { cause });
    if (inputs.modelDigest && inputs.modelDigest !== hit.digest) {
        throw new errors/* ModelError */.me(`Input '${Input.ModelDigest}' is ${inputs.modelDigest}, but the cached ${hit.id} has ${hit.digest}`);
    }
    return hit;
}
/** The paths in the repository of every part (one unless split). */
function splitFiles(ref) {
    if (!ref.split)
        return [ref.file];
    const dir = ref.file.includes('/') ? ref.file.slice(0, ref.file.lastIndexOf('/') + 1) : '';
    return splitPartNames(baseName(ref.file), ref.split.total).map((name) => dir + name);
}
function baseName(file) {
    return file.slice(file.lastIndexOf('/') + 1);
}

;// CONCATENATED MODULE: ./src/model/local.ts
// A local model (`file:` or a plain path) is used in place, never copied, but checked like a fetched one.







async function provisionLocalModel(ref, expectedDigest, store, verify) {
    const dir = external_node_path_default().dirname(ref.path);
    const parts = ref.split ? splitPartNames(external_node_path_default().basename(ref.path), ref.split.total).map((name) => external_node_path_default().join(dir, name)) : [ref.path];
    let sizeBytes = 0;
    for (const part of parts) {
        const stat = await external_node_fs_.promises.stat(part).catch((error) => {
            const why = error.code === 'ENOENT' ? 'does not exist' : error.code === 'EACCES' ? 'cannot be read by this job (permission denied)' : `cannot be read (${error.code ?? error.message})`;
            throw new errors/* ModelError */.me(`Input '${Input.Model}': the model file ${part} ${why}; expected an existing GGUF file (a path relative to GITHUB_WORKSPACE, or absolute)`);
        });
        if (!stat.isFile())
            throw new errors/* ModelError */.me(`Input '${Input.Model}': ${part} is not a regular file`);
        sizeBytes += stat.size;
    }
    const first = parts[0];
    // The header and the recorded digest are looked up side by side; hashing (when none is recorded) waits for the
    // header's checks, so that a file that is no model is refused before it is read whole.
    const [gguf, recorded] = await Promise.all([store.gguf.info(first, verify), store.recordedLocalDigest(first, verify)]);
    for (const part of parts.slice(1))
        await checkGgufMagic(part);
    const digest = recorded ?? (await store.localDigest(first, verify));
    if (expectedDigest !== undefined && digest !== expectedDigest) {
        throw new errors/* ModelError */.me(`Input '${Input.ModelDigest}' is ${expectedDigest}, but ${first} has ${digest}`);
    }
    return { id: modelId(ref), path: first, parts, digest, sizeBytes, gguf, cacheHit: true, stored: false };
}

;// CONCATENATED MODULE: ./src/util/move-file.ts

/** Moves a file, or copies it (then removes the original) where a rename cannot: onto another filesystem. */
async function moveFile(from, to) {
    try {
        await external_node_fs_.promises.rename(from, to);
    }
    catch (error) {
        if (error.code !== 'EXDEV')
            throw error;
        await external_node_fs_.promises.cp(from, to, { preserveTimestamps: true });
        await external_node_fs_.promises.rm(from, { force: true });
    }
}

;// CONCATENATED MODULE: ./src/model/remote.ts
// remote-cache: model or all. A model this job downloaded goes to the GitHub Actions cache in the post step, keyed
// by its sha256, with a manifest of its parts; a later job (an ephemeral runner's, with an empty store) that wants
// the same sha256 restores it instead of downloading it, after checking every part against that manifest. Keys
// are content: a revision that moves wants another sha256, so a cached model is never stale.















const remote_MANIFEST = 'model.json';
/** The remote entry of a model: `model-sha256-<hex>`. */
function remoteModelName(digest) {
    return `model-${modelEntryName(digest)}`;
}
function remoteModelsWanted(inputs) {
    return inputs.remoteCache === 'model' || inputs.remoteCache === 'all';
}
/**
 * Why this model does not go through the GitHub Actions cache, or undefined when it does. Pure: the reasons are
 * the notice users read, so each says what would change it.
 */
function remoteModelSkipReason(inputs, model) {
    const setting = `remote-cache: ${inputs.remoteCache}`;
    if (inputs.model.kind === 'file')
        return `${setting}: a local model is used in place; it is not sent to the GitHub Actions cache.`;
    if (!model.stored)
        return `${setting}: the model is used in place, outside the action's store; it is not sent to the GitHub Actions cache.`;
    if (inputs.model.kind === 'url' && !inputs.modelDigest) {
        return `${setting}: a URL model goes through the GitHub Actions cache only with '${Input.ModelDigest}': a later job must know its sha256 before downloading to look it up.`;
    }
    if (model.sizeBytes > inputs.remoteCacheMaxModelSizeBytes) {
        return (`${setting}: the model (${formatBytes(model.sizeBytes)}) is larger than '${Input.RemoteCacheMaxModelSize}' ` +
            `(${formatBytes(inputs.remoteCacheMaxModelSizeBytes)}), so it is not sent to the GitHub Actions cache, which keeps ` +
            `about 10 GB per repository and evicts the least recently used entries (engines among them) beyond that. ` +
            `It stays in cache-dir; raise '${Input.RemoteCacheMaxModelSize}' to send it.`);
    }
    return undefined;
}
/** The model store, with the GitHub Actions cache behind it: a sha256 the store lacks is looked for there. */
class RemoteBackedModelStore extends ModelStore {
    async findLeased(digest, verify) {
        const found = await super.findLeased(digest, verify);
        if (found || !(await this.restore(digest)))
            return found;
        return await super.findLeased(digest, verify);
    }
    /** Restores `digest` into the store (the caller holds its entry lock); false on a miss or a bad entry. */
    async restore(digest) {
        const dir = await restoreFromRemote(remoteModelName(digest));
        if (!dir)
            return false;
        try {
            const manifest = await checkedManifest(dir, digest);
            for (const part of manifest.parts) {
                const file = external_node_path_default().join(dir, part.name);
                // lstat: a link in the archive would make the store hold a file from elsewhere.
                const stat = await external_node_fs_.promises.lstat(file);
                if (!stat.isFile())
                    throw new Error(`${part.name} is not a regular file`);
                if (stat.size !== part.size)
                    throw new Error(`${part.name} is ${stat.size} bytes, the manifest says ${part.size}`);
                const got = await hash_sha256File(file);
                if (got !== part.digest)
                    throw new Error(`${part.name} has ${got}, the manifest says ${part.digest}`);
            }
            const work = await this.newWorkDir();
            const parts = [];
            await external_node_fs_.promises.mkdir(external_node_path_default().join(work, 'parts'));
            for (const part of manifest.parts) {
                const file = external_node_path_default().join(work, 'parts', part.name);
                await moveFile(external_node_path_default().join(dir, part.name), file);
                parts.push({ name: part.name, file, digest: part.digest });
            }
            await this.install(work, digest, manifest.id, manifest.id, `remote:${remoteModelName(digest)}`, parts);
            return true;
        }
        catch (error) {
            lib_core/* warning */.$e(`The GitHub Actions cache entry of the model ${digest} is not usable (${(0,errors/* errorMessage */.gJ)(error)}); downloading it instead.`);
            return false;
        }
        finally {
            await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
        }
    }
}
/** The manifest of a restored entry, checked as hostile input: it names files that are about to be moved. */
async function checkedManifest(dir, digest) {
    const m = JSON.parse((await readSmallFile(external_node_path_default().join(dir, remote_MANIFEST), 2 ** 20)) ?? 'null');
    if (!m)
        throw new Error(`${remote_MANIFEST} is missing or not a regular file`);
    const parts = Array.isArray(m.parts) ? m.parts : [];
    const wellFormed = m.digest === digest &&
        typeof m.id === 'string' &&
        /^[^\x00-\x1f\x7f]{1,2048}$/.test(m.id) &&
        parts.length > 0 &&
        parts[0]?.digest === digest &&
        parts.every((p) => typeof p.name === 'string' && /^[^/\\]+$/.test(p.name) && p.name !== '.' && p.name !== '..' && p.name !== remote_MANIFEST &&
            Number.isSafeInteger(p.size) && typeof p.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(p.digest));
    if (!wellFormed)
        throw new Error(`${remote_MANIFEST} does not describe ${digest}`);
    return m;
}
/**
 * Leaves the model for the post step to save: a directory in RUNNER_TEMP with its manifest and a link to each part
 * (the post step stages hard links, so a multi-GB model is not copied). Parts after the first are hashed here: the
 * store verified them, but only the first one's sha256 is known to this step.
 */
async function planRemoteModelSave(model, ref) {
    const name = remoteModelName(model.digest);
    const dir = external_node_path_default().join(process.env.RUNNER_TEMP || external_node_os_default().tmpdir(), 'setup-llama-server', 'outgoing', name);
    await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
    await external_node_fs_.promises.mkdir(dir, { recursive: true });
    const parts = [];
    for (const [i, file] of model.parts.entries()) {
        const partName = external_node_path_default().basename(file);
        parts.push({ name: partName, size: (await external_node_fs_.promises.stat(file)).size, digest: i === 0 ? model.digest : await hash_sha256File(file) });
        await external_node_fs_.promises.symlink(file, external_node_path_default().join(dir, partName));
    }
    // A URL's query string may be a signature: it stays out of the cache.
    const id = ref.kind === 'url' ? redactUrl(model.id) : model.id;
    const manifest = { digest: model.digest, id, parts };
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    await external_node_fs_.promises.writeFile(external_node_path_default().join(dir, remote_MANIFEST), text);
    const files = [...parts.map((p) => ({ path: p.name, digest: p.digest })), { path: remote_MANIFEST, digest: `sha256:${(0,external_node_crypto_.createHash)('sha256').update(text).digest('hex')}` }];
    addPendingRemoteSave({ name, dir, files });
    lib_core/* info */.pq(`The post step saves ${name} (${formatBytes(model.sizeBytes)}) to the GitHub Actions cache`);
}

;// CONCATENATED MODULE: ./src/model/url.ts
// http(s):// models. With model-digest the content is pinned and a cached copy needs no network at all;
// without it, the cache keys the file by its URL and the server's ETag or Last-Modified, and says so.
// A query string is treated as a secret (signed URLs carry their signature there): the model's id, the store's
// key and every log line use the URL without it.










/** The file name a URL serves, decoded and checked to be one plain file name before it names a file. */
function urlFileName(url) {
    const last = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
    let name;
    try {
        name = decodeURIComponent(last);
    }
    catch {
        throw new errors/* ModelError */.me(`Input '${Input.Model}' is ${redactUrl(url.href)}: its file name '${last}' is not valid percent-encoding`);
    }
    if (name === '')
        return 'model.gguf';
    const problem = fileNameProblem(name);
    if (problem)
        throw new errors/* ModelError */.me(`Input '${Input.Model}' is ${redactUrl(url.href)}: its file name ${JSON.stringify(name)} cannot be a file name (${problem}); expected a URL ending in a plain file name such as model.gguf`);
    return name;
}
async function provisionUrlModel(ref, inputs, store) {
    const id = modelId(ref);
    const url = new URL(ref.url);
    const firstName = urlFileName(url);
    const pinned = inputs.modelDigest;
    if (pinned) {
        const hit = await store.findAndLease(pinned, inputs.verify, id);
        if (hit)
            return await provisionedFromStore(store, hit, { id, cacheHit: true, verify: inputs.verify });
    }
    const head = await withRetries(`Asking ${redactUrl(ref.url)}`, () => request(ref.url, { method: 'HEAD', timeoutMs: inputs.networkTimeoutMs }));
    await discard(head);
    const ok = head.status >= 200 && head.status < 300;
    const version = ok ? versionOf(head) : undefined;
    const length = ok ? Number(head.header('content-length') ?? NaN) : NaN;
    // Keyed by what identifies the content and is no secret: the URL without its query, and the server's version.
    // Without a version, two queries may name two files (?model=a, ?model=b): then a digest of the query is part of
    // the key (a signed URL re-signed is then fetched again; model-digest avoids that).
    const queryKey = url.search ? `?sha256=${(0,external_node_crypto_.createHash)('sha256').update(url.search).digest('hex').slice(0, 16)}` : '';
    const sourceOf = (v) => (v ? `url:${id}#${v}` : `url:${id}${queryKey}#`);
    const source = sourceOf(version);
    if (!pinned) {
        lib_core/* notice */.lm(`${redactUrl(ref.url)} has no '${Input.ModelDigest}': the cache keys it by URL and ${version ? `the server's ETag/Last-Modified (${version})` : 'nothing else (the server sends no ETag or Last-Modified)'}. Set '${Input.ModelDigest}' to pin its content.`);
    }
    return await findOrFetch(store, { id, source, pinned, verify: inputs.verify }, async () => {
        const names = ref.split ? splitPartNames(firstName, ref.split.total) : [firstName];
        const parts = names.map((name, i) => {
            const partUrl = new URL(url);
            partUrl.pathname = url.pathname.slice(0, url.pathname.lastIndexOf('/') + 1) + encodeURIComponent(name);
            return { name, url: partUrl.href, size: i === 0 && Number.isSafeInteger(length) && length > 0 ? length : undefined };
        });
        // Keyed by the version HEAD named, the model is recorded under the version its download got.
        return {
            id,
            ref: id,
            source,
            sourceOf: version === undefined ? undefined : sourceOf,
            parts,
            modelDigest: pinned,
            timeoutMs: inputs.networkTimeoutMs,
            connections: inputs.downloadConnections,
        };
    });
}

;// CONCATENATED MODULE: ./src/model/provision.ts
// The model input, whatever its form, into a verified GGUF file on this machine.







async function provisionModel(inputs) {
    const ref = inputs.model;
    const remote = remoteModelsWanted(inputs);
    // With remote-cache model or all, a model the store lacks is looked for in the GitHub Actions cache first.
    const store = remote ? new RemoteBackedModelStore(inputs.cacheDir) : new ModelStore(inputs.cacheDir);
    const model = ref.kind === 'file'
        ? await provisionLocalModel(ref, inputs.modelDigest, store, inputs.verify)
        : ref.kind === 'hf'
            ? await provisionHubModel(ref, inputs, store)
            : await provisionUrlModel(ref, inputs, store);
    lib_core/* info */.pq(`Model: ${model.id} at ${model.path} (${model.gguf.architecture}, ${formatBytes(model.sizeBytes)}, ${model.digest}, ${model.cacheHit ? 'cache hit' : 'downloaded'})`);
    if (remote) {
        const skip = remoteModelSkipReason(inputs, model);
        if (skip)
            lib_core/* notice */.lm(skip);
        // What this job downloaded; a model found in a store (local or remote) is already where it needs to be.
        else if (!model.cacheHit)
            await planRemoteModelSave(model, ref);
    }
    return model;
}

;// CONCATENATED MODULE: ./src/phases.ts
const phases = [];
async function timed(name, fn) {
    const started = Date.now();
    try {
        return await fn();
    }
    finally {
        phases.push({ name, ms: Date.now() - started });
    }
}
function recordPhase(name, ms) {
    phases.push({ name, ms });
}
function phaseTimes() {
    return phases;
}

;// CONCATENATED MODULE: ./src/server/features.ts
// What a llama-server binary can be told: its --help lists its flags (older builds lack --fit, for one, and would
// refuse to start when given it).
/** Whether `help` (llama-server --help) lists `flag`, as `-fit, --fit [on|off]` lists --fit. Pure. */
function helpListsFlag(help, flag) {
    const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[\\s,])${escaped}(?=[\\s,=]|$)`, 'm').test(help);
}
/** Which of `flags` the binary knows, from `help` (its --help, however it is had); none when that fails. */
async function serverKnownFlags(help, flags) {
    try {
        const text = await help();
        return new Set(flags.filter((flag) => helpListsFlag(text, flag)));
    }
    catch {
        return new Set();
    }
}

;// CONCATENATED MODULE: ./src/server/argv.ts
// llama-server's command line, from the inputs. Pure, so that tests can check it exactly. The API key is never
// here: it reaches the server as LLAMA_API_KEY in its environment.
function serverArgv(plan) {
    return [
        '--model', plan.modelPath,
        '--host', plan.host,
        '--port', String(plan.port),
        ...(plan.ctxSize === undefined ? [] : ['--ctx-size', String(plan.ctxSize)]),
        ...(plan.gpuLayers === undefined ? [] : ['--n-gpu-layers', String(plan.gpuLayers)]),
        '--parallel', String(plan.parallel),
        ...plan.placement,
        ...plan.extra,
    ];
}
/** The address to reach a server from this machine: a wildcard listen address is reached over loopback. */
function localAddress(host) {
    if (host === '0.0.0.0')
        return '127.0.0.1';
    if (host === '::')
        return '::1';
    return host;
}
function argv_httpUrl(host, port) {
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

;// CONCATENATED MODULE: ./src/server/health.ts
// Readiness: llama-server answers /health with 503 while it loads the model and 200 once it can serve.
// /v1/models answers before the model is loaded, so it is never used for this.




/**
 * The pause between two polls: 5 ms while a small model may become ready any moment (on a warm start every ms
 * of it is the job's), then 25 ms. A poll of a loopback /health costs the server next to nothing.
 */
function pollDelayMs(elapsedMs) {
    return elapsedMs < 2_000 ? 5 : 25;
}
async function waitForHealth(wait) {
    const started = Date.now();
    let exit;
    let spawnError;
    wait.exited.then((e) => (exit = e), (error) => (spawnError = error));
    const headers = wait.apiKey ? { Authorization: `Bearer ${wait.apiKey}` } : {};
    let last = 'no answer yet';
    let nextNotice = started + 10_000;
    while (true) {
        if (spawnError)
            throw spawnError;
        if (exit) {
            const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
            throw new errors/* ServerError */.gP(`llama-server ${how} before it was ready`);
        }
        const elapsed = Date.now() - started;
        if (elapsed > wait.timeoutMs) {
            throw new errors/* ServerError */.gP(`llama-server was not ready within ${wait.timeoutMs / 1000} s (last answer from ${wait.url}/health: ${last})`);
        }
        try {
            // Direct, never through the runner's proxy: the server is on this machine (or its network).
            const status = await localStatus(`${wait.url}/health`, { headers, timeoutMs: 2_000 });
            if (status === 200)
                return { readyAfterMs: Date.now() - started };
            last = `HTTP ${status}`;
        }
        catch (error) {
            last = error.message;
        }
        if (Date.now() >= nextNotice) {
            lib_core/* info */.pq(`Waiting for ${wait.url}/health: ${last} after ${Math.round((Date.now() - started) / 1000)} s`);
            nextNotice += 10_000;
        }
        await Promise.race([(0,promises_.setTimeout)(pollDelayMs(Date.now() - started)), wait.exited.catch(() => undefined)]);
    }
}

;// CONCATENATED MODULE: ./src/server/process-identity.ts


/**
 * When a process started, as an opaque string: with its pid, it names one process even after the pid is reused.
 * Linux: field 22 of /proc/<pid>/stat (clock ticks since boot); elsewhere `ps -o lstart=`. Undefined when the
 * process does not exist.
 */
function processStartTime(pid) {
    if (process.platform === 'linux')
        return statFields(pid)?.[19];
    try {
        return (0,external_node_child_process_.execFileSync)('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined;
    }
    catch {
        return undefined;
    }
}
/**
 * True while any live process is in the group `pgid`. A zombie (exited, not yet reaped, as under a container
 * whose pid 1 never reaps) has stopped: it holds no port, memory or file, so it does not count.
 */
function groupAlive(pgid) {
    try {
        process.kill(-pgid, 0);
    }
    catch (error) {
        if (error.code !== 'EPERM')
            return false;
    }
    if (process.platform !== 'linux')
        return true;
    for (const entry of (0,external_node_fs_.readdirSync)('/proc')) {
        if (!/^\d+$/.test(entry))
            continue;
        const fields = statFields(Number(entry));
        // Fields after the command: [0] state, [2] process group.
        if (fields && Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X')
            return true;
    }
    return false;
}
/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and ')'). */
function statFields(pid) {
    try {
        const stat = (0,external_node_fs_.readFileSync)(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    }
    catch {
        return undefined;
    }
}

;// CONCATENATED MODULE: ./src/server/launch.ts
// Starts llama-server so that it outlives this step: detached in its own process group (so post can stop it
// and everything it forks), output to a log file (never the step's pipes, which would keep the step open).





/** `inherit`: descriptors the server keeps open for its whole life (the leases on its model and engine). */
function launchServer(binary, argv, env, logPath, inherit = []) {
    (0,external_node_fs_.mkdirSync)(external_node_path_default().dirname(logPath), { recursive: true });
    const log = (0,external_node_fs_.openSync)(logPath, 'a');
    let child;
    try {
        child = (0,external_node_child_process_.spawn)(binary, argv, { detached: true, stdio: ['ignore', log, log, ...inherit], env });
    }
    finally {
        (0,external_node_fs_.closeSync)(log);
    }
    const exited = new Promise((resolve, reject) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', (error) => reject(new errors/* ServerError */.gP(`could not start ${binary}: ${error.message}`)));
    });
    // Nobody may wait on an unhandled rejection: health checks race against this promise.
    exited.catch(() => undefined);
    if (child.pid === undefined) {
        // spawn failed synchronously enough that there is no pid; `exited` carries the reason.
        return { pid: -1, startTime: '', logPath, exited };
    }
    child.unref();
    return { pid: child.pid, startTime: processStartTime(child.pid) ?? '', logPath, exited };
}

;// CONCATENATED MODULE: ./src/server/log-tail.ts

/**
 * At --log-verbosity 4 (which the GPU placement asks for) llama-server logs `api_keys: ****` and the key's last
 * characters, which the runner's mask of the whole key does not cover. Pure.
 */
function redactKeyTail(text) {
    // To the end of the line: the key may hold spaces.
    return text.replace(/(api_keys: \*{4})[^\n]*/g, '$1(redacted)');
}
/** The last `lines` lines of a log, read from its end (a long-running server's log can be large). */
async function logTail(file, lines) {
    let handle;
    try {
        handle = await external_node_fs_.promises.open(file, 'r');
    }
    catch {
        return '';
    }
    try {
        const { size } = await handle.stat();
        const length = Math.min(size, 64 * 1024);
        const buffer = Buffer.alloc(length);
        await handle.read(buffer, 0, length, size - length);
        const text = buffer.toString('utf8').replace(/\n+$/, '');
        return redactKeyTail(text.split('\n').slice(-lines).join('\n'));
    }
    finally {
        await handle.close();
    }
}

;// CONCATENATED MODULE: ./src/server/port.ts

/** Asks the OS for a port that is free on `host` now (`port: 0`). */
async function findFreePort(host) {
    return await new Promise((resolve, reject) => {
        const server = external_node_net_default().createServer();
        server.unref();
        server.once('error', reject);
        server.listen({ host, port: 0, exclusive: true }, () => {
            const address = server.address();
            server.close(() => {
                if (address && typeof address === 'object')
                    resolve(address.port);
                else
                    reject(new Error(`could not get a free port on ${host}`));
            });
        });
    });
}
/** True when nothing listens on host:port now. */
async function portIsFree(host, port) {
    return await new Promise((resolve) => {
        const server = external_node_net_default().createServer();
        server.unref();
        server.once('error', () => resolve(false));
        server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
}

;// CONCATENATED MODULE: ./src/server/stop.ts


/** SIGTERM to the whole process group, then SIGKILL to what is left after `graceMs`; returns once it is gone. */
async function stopProcessGroup(pgid, graceMs) {
    // A group of zombies alone (exited, not reaped) has already stopped: nothing to signal or wait for.
    if (!groupAlive(pgid) || !signalGroup(pgid, 'SIGTERM'))
        return 'not-running';
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (!groupAlive(pgid))
            return 'terminated';
        await (0,promises_.setTimeout)(50);
    }
    signalGroup(pgid, 'SIGKILL');
    for (let i = 0; i < 100 && groupAlive(pgid); i++)
        await (0,promises_.setTimeout)(50);
    return 'killed';
}
function signalGroup(pgid, signal) {
    try {
        process.kill(-pgid, signal);
        return true;
    }
    catch (error) {
        if (error.code === 'ESRCH')
            return false;
        throw error;
    }
}

;// CONCATENATED MODULE: ./src/server/start.ts
// Start llama-server for the job and wait until it can serve; on any failure, stop what was started.














const LOG_TAIL_LINES = 30;
/** With port 0, how many free ports are tried when another process takes one before llama-server binds it. */
const PORT_ATTEMPTS = 3;
// What llama-server (tools/server/server-http.cpp) logs when it cannot listen.
const BIND_FAILURE = "couldn't bind HTTP server socket";
/** `inherit`: descriptors the server keeps open while it lives (leases that keep its model and engine cached). */
async function startServer(binary, modelPath, inputs, placement, inherit) {
    if (inputs.port !== 0 && !(await portIsFree(inputs.host, inputs.port))) {
        throw new errors/* ServerError */.gP(`Input '${Input.Port}' is ${inputs.port}: that port is already in use on ${inputs.host}; choose another, or 0 for any free port`);
    }
    const logPath = external_node_path_default().join(process.env.RUNNER_TEMP || external_node_os_default().tmpdir(), 'setup-llama-server', `llama-server-${inputs.poolId}-${Date.now()}.log`);
    lib_core/* info */.pq(`llama-server's log: ${logPath}`);
    for (let attempt = 1;; attempt++) {
        const port = inputs.port === 0 ? await findFreePort(inputs.host) : inputs.port;
        try {
            return await startOnce(binary, modelPath, inputs, placement, port, logPath, inherit);
        }
        catch (error) {
            // The error carries the log's last lines, which say when the port was taken.
            const lostRace = error.message.includes(BIND_FAILURE) && inputs.port === 0 && attempt < PORT_ATTEMPTS;
            if (!lostRace)
                throw error;
            lib_core/* info */.pq(`Port ${port} was taken before llama-server could bind it; trying another`);
        }
    }
}
async function startOnce(binary, modelPath, inputs, placement, port, logPath, inherit) {
    const argv = serverArgv({ modelPath, host: inputs.host, port, ctxSize: inputs.ctxSize, gpuLayers: placement.gpuLayers, parallel: inputs.parallel, placement: placement.args, extra: inputs.serverArgs });
    lib_core/* info */.pq(`Starting ${binary} ${argv.join(' ')}`);
    const startedAt = new Date().toISOString();
    const launched = launchServer(binary, argv, { ...serverEnv(process.env, inputs.apiKey, placement.weightsOnGpus), ...placement.env }, logPath, inherit);
    if (launched.pid === -1) {
        await launched.exited;
        throw new errors/* ServerError */.gP(`could not start ${binary}`);
    }
    // Saved before waiting: if this step fails, times out or is cancelled from here on, post still stops it.
    saveServerState({ pid: launched.pid, startTime: launched.startTime, logPath });
    const url = argv_httpUrl(inputs.host, port);
    lib_core/* info */.pq(`Waiting up to ${inputs.healthTimeoutSeconds} s for ${url}/health to answer 200`);
    try {
        const { readyAfterMs } = await waitForHealth({
            url: argv_httpUrl(localAddress(inputs.host), port),
            apiKey: inputs.apiKey,
            timeoutMs: inputs.healthTimeoutSeconds * 1000,
            exited: launched.exited,
        });
        lib_core/* info */.pq(`llama-server is ready at ${url} after ${(readyAfterMs / 1000).toFixed(2)} s (pid ${launched.pid})`);
        return { pid: launched.pid, host: inputs.host, port, url, argv, logPath, startedAt, readyAfterMs };
    }
    catch (error) {
        await stopProcessGroup(launched.pid, STOP_GRACE_MS);
        const tail = await logTail(logPath, LOG_TAIL_LINES);
        const message = error instanceof Error ? error.message : String(error);
        throw new errors/* ServerError */.gP(`${message}. Last lines of ${logPath}:\n${tail || '(the log is empty)'}`);
    }
}
/**
 * The server's environment: the job's, without what the runner passes only to this action (its inputs, which
 * hold secrets, and its service tokens), plus the API key, which llama-server reads from LLAMA_API_KEY.
 * `weightsOnGpus` (gpu-policy vram-only on a GPU backend): without the variables that place weights elsewhere.
 */
function serverEnv(env, apiKey, weightsOnGpus = false) {
    const result = {};
    const dropped = [];
    for (const [name, value] of Object.entries(jobEnv(env))) {
        // The environment form of a flag that an input owns would go around that input's checks.
        if (RESERVED_SERVER_ENV[name]) {
            dropped.push(`${name} (set '${RESERVED_SERVER_ENV[name]}' instead)`);
            continue;
        }
        if (weightsOnGpus && WEIGHT_PLACEMENT_ENV.includes(name)) {
            dropped.push(`${name} (gpu-policy vram-only puts every weight on the GPUs)`);
            continue;
        }
        result[name] = value;
    }
    if (dropped.length)
        lib_core/* warning */.$e(`Not passed to llama-server: ${dropped.join(', ')}`);
    if (apiKey)
        result.LLAMA_API_KEY = apiKey;
    return result;
}

;// CONCATENATED MODULE: ./src/store/evict.ts
async function evictLeastRecentlyUsed(stores, maxBytes) {
    const all = (await Promise.all(stores.map(async (store) => Object.entries((await store.catalog.read()).entries).map(([name, record]) => ({ store, name, record }))))).flat();
    all.sort((a, b) => a.record.last_used.localeCompare(b.record.last_used));
    let total = all.reduce((sum, e) => sum + e.record.size_bytes, 0);
    const evicted = [];
    for (const { store, name, record } of all) {
        if (total <= maxBytes)
            break;
        const outcome = await store.evictEntry(name);
        // Gone already (another job evicted it meanwhile) counts as room made: it must not cost a second entry.
        if (outcome !== 'in-use')
            total -= record.size_bytes;
        if (outcome === 'removed')
            evicted.push({ name, sizeBytes: record.size_bytes });
    }
    return evicted;
}

;// CONCATENATED MODULE: ./src/store/cache-dir.ts
// The stores of one cache-dir together: what cache-max-size removes.





/** `cache-max-size`: after the run, least recently used entries that nothing uses are removed. */
async function evictCache(inputs) {
    if (inputs.cacheMaxSizeBytes === undefined)
        return;
    const evicted = await evictLeastRecentlyUsed([new ModelStore(inputs.cacheDir), new EngineStore(inputs.cacheDir)], inputs.cacheMaxSizeBytes);
    for (const e of evicted)
        lib_core/* info */.pq(`cache-max-size ${formatBytes(inputs.cacheMaxSizeBytes)}: removed ${e.name} (${formatBytes(e.sizeBytes)})`);
}

;// CONCATENATED MODULE: ./src/store/lease-keeper.ts
// With start: false nothing runs after main, yet what main provisioned must stay until the job's post step: a
// small detached process inherits this process's lease descriptors and holds them until post stops it (or, if
// post never runs, until the runner ends the job's processes; the kernel then releases the leases).

function spawnLeaseKeeper(descriptors) {
    if (descriptors.length === 0)
        return undefined;
    const child = (0,external_node_child_process_.spawn)(process.execPath, ['-e', 'setInterval(() => {}, 2 ** 30)'], {
        detached: true,
        stdio: ['ignore', 'ignore', 'ignore', ...descriptors],
        // It needs nothing, and later steps could read its environment: none of the job's secrets go with it.
        // RUNNER_TRACKING_ID lets the runner end it with the job should post never run.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(process.env.RUNNER_TRACKING_ID ? { RUNNER_TRACKING_ID: process.env.RUNNER_TRACKING_ID } : {}) },
    });
    child.unref();
    return child.pid === undefined ? undefined : { pid: child.pid };
}

// EXTERNAL MODULE: ./src/supported-runner.ts
var supported_runner = __webpack_require__(7884);
;// CONCATENATED MODULE: ./src/summary.ts
// The job summary: what was started, from what, on which GPUs, and how long each phase took.




/** The summary's rows, section by section (pure, so that tests can read them). */
function summaryRows({ model, engine, server, placement, allocation, phases }) {
    const rows = [
        ['Model', 'id', model.id],
        ['Model', 'digest', model.digest],
        ['Model', 'size', formatBytes(model.sizeBytes)],
        ['Model', 'cache hit', String(model.cacheHit)],
        ['Engine', 'path', engine.path],
        ['Engine', 'version', engine.version],
        ['Engine', 'commit', engine.commit ?? '(binary given)'],
        ['Engine', 'backend', engine.backend],
        ['Engine', 'from', engine.release ? `release ${engine.release.tag}: ${[engine.release.asset, engine.release.runtime?.asset].filter(Boolean).join(' and ')}` : engine.provisioningMode === 'binary' ? 'llama-server-path' : 'built from source'],
        ['Engine', 'cache hit', String(engine.cacheHit)],
        ['Engine', 'cache key', engine.cacheKey ?? '(none)'],
    ];
    if (server) {
        rows.push(['Server', 'URL', server.url], ['Server', 'pid', String(server.pid)]);
        const gpus = placement?.gpus ?? [];
        rows.push(['Server', 'GPUs', gpus.length ? gpus.map((g) => `${g.index}: ${g.name}`).join(', ') : 'none (cpu)']);
        if (placement?.estimate && placement.reservations.length) {
            const free = gpus.reduce((s, g) => s + g.memoryFreeMib * 2 ** 20, 0);
            const reserved = placement.reservations.reduce((s, r) => s + r.bytes, 0);
            const source = placement.estimate.source === 'formula' ? 'the GGUF header' : 'llama-fit-params';
            rows.push(['Server', 'VRAM estimate vs free', `${formatBytes(reserved)} of ${formatBytes(free)} (from ${source})`]);
        }
        if (placement?.tensorSplit)
            rows.push(['Server', 'tensor split', placement.tensorSplit.join(',')]);
        if (placement && allocation) {
            for (const line of allocatedPerGpu(allocation, gpusWithReservations(placement)))
                rows.push(['Server', 'allocated (its log)', line]);
            if (placement.llamaFits)
                rows.push(['Server', "llama.cpp's fit decided", describeFit(allocation)]);
        }
    }
    else {
        rows.push(['Server', 'started', 'no (start: false)']);
    }
    for (const phase of phases)
        rows.push(['Time', phase.name, `${(phase.ms / 1000).toFixed(2)} s`]);
    return rows;
}
async function writeSummary(parts) {
    if (!process.env.GITHUB_STEP_SUMMARY)
        return;
    await lib_core/* summary */.z
        .addHeading('llama-server', 3)
        .addTable([
        [{ data: '', header: true }, { data: 'What', header: true }, { data: 'Value', header: true }],
        ...summaryRows(parts).map(([section, what, value]) => [section, what, `<code>${escapeHtml(value)}</code>`]),
    ])
        .write();
}
function escapeHtml(text) {
    return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

;// CONCATENATED MODULE: ./src/main.ts
// The main step: read the inputs, provision model and engine, place and start the server, hand it to the job.





















// performance.mark()s name the points of the warm path that `npm run bench` breaks the step's time down by.
const mark = (name) => performance.mark(`setup-llama-server:${name}`);
async function main_run() {
    mark('run');
    try {
        const unsupported = (0,supported_runner/* unsupportedRunner */.W)({ platform: process.platform, arch: process.arch, env: process.env });
        if (unsupported)
            return lib_core/* setFailed */.C1(unsupported);
        const inputs = readInputs();
        await checkInputPaths(inputs);
        mark('inputs');
        // Neither the GPUs nor the engine's plan (its binary checked, or tools, commit and key) depend on the model:
        // they are found while the model is looked up. The plan's failure is reported after the model's.
        const gpuQuery = gpusFor(inputs.backend);
        const engineQuery = planEngine(inputs, gpuQuery);
        engineQuery.catch(() => undefined);
        const model = await timed('model (resolve + fetch)', () => provisionModel(inputs));
        mark('model');
        const engine = await timed('engine (resolve + build)', async () => provisionEngine(inputs, await engineQuery));
        mark('engine');
        const gpus = await gpuQuery;
        // Post gives the store leases back once their holder (the server, or the keeper) is stopped.
        saveLeaseState(takenLeaseFiles());
        setProvisionOutputs(model, engine);
        let server;
        let placement;
        let allocation;
        if (inputs.start) {
            // GPUs (gpu/): chosen, split and leased against the host's other jobs; the lease goes to the server.
            // What the server can be told (its --help): llama.cpp's own fit, and the log level that shows its allocations.
            const known = engine.backend === 'cpu' ? new Set() : await serverKnownFlags(() => engineHelp(engine.path, inputs), ['--fit', LOG_VERBOSITY_FLAG]);
            const serverFlags = { serverFits: known.has('--fit'), serverVerbosity: known.has(LOG_VERBOSITY_FLAG) };
            const placed = await timed('place (GPUs)', () => placeServer({ backend: engine.backend, provisioningMode: engine.provisioningMode, enginePath: engine.path, ...serverFlags, inputs, model, gpus }));
            placement = placed.placement;
            const gpuLease = placed.lease ? [placed.lease.fd] : [];
            // The server inherits the leases on its model, engine and GPUs: they hold while it lives, however it ends.
            server = await timed('start', () => startServer(engine.path, model.path, inputs, placed.placement, [...heldLeaseDescriptors(), ...gpuLease]));
            recordPhase('load (until /health answered 200)', server.readyAfterMs);
            allocation = await serverLoaded(placed, server);
            const handoff = buildHandoff({ model, engine, server, poolId: inputs.poolId, parallel: inputs.parallel, placement });
            await writeHandoff(inputs.handoffPath, handoff);
            lib_core/* info */.pq(`Handoff: ${inputs.handoffPath}`);
            setServerOutputs(server, inputs.handoffPath);
        }
        else {
            lib_core/* info */.pq('start is false: the model and the engine are ready; no server was started.');
            // Until the post step, nothing may evict what this step just provided.
            const keeper = spawnLeaseKeeper(heldLeaseDescriptors());
            if (keeper)
                saveKeeperState({ pid: keeper.pid, startTime: processStartTime(keeper.pid) ?? '' });
        }
        await writeSummary({ model, engine, server, placement, allocation, phases: phaseTimes() });
        await evictCache(inputs);
    }
    catch (error) {
        (0,errors/* failStep */.vy)(error);
    }
}


/***/ }),

/***/ 8641:
/***/ ((__unused_webpack_module, __unused_webpack___webpack_exports__, __webpack_require__) => {

/* harmony import */ var zod__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8532);
// zod compiles a parser for an object schema the first time it parses with it (new Function). A step parses each
// shape once or twice (its inputs, a catalog, a remembered file), so compiling costs more than it saves: about 5 ms
// of CPU on a warm start. The entry points import this before anything that defines a schema.

zod__WEBPACK_IMPORTED_MODULE_0__/* .config */ .$W({ jitless: true });


/***/ })

};
