export const id = 6;
export const ids = [6];
export const modules = {

/***/ 6:
/***/ ((module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
__webpack_require__.r(__webpack_exports__);
/* harmony import */ var _zod_jitless_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8641);
/* harmony import */ var _compile_cache_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(5393);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3916);
/* harmony import */ var _post_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(9704);




(0,_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .guardProcess */ .Vh)();
await (0,_post_js__WEBPACK_IMPORTED_MODULE_3__/* .run */ .e)();
(0,_compile_cache_js__WEBPACK_IMPORTED_MODULE_1__/* .exitWhenIdle */ .fm)();

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 3916:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Vh: () => (/* binding */ guardProcess),
/* harmony export */   gJ: () => (/* binding */ errorMessage)
/* harmony export */ });
/* unused harmony exports InputError, ModelError, EngineError, ServerError, failStep */
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
class ModelError extends (/* unused pure expression or super */ null && (Error)) {
    name = 'ModelError';
}
class EngineError extends (/* unused pure expression or super */ null && (Error)) {
    name = 'EngineError';
}
class ServerError extends (/* unused pure expression or super */ null && (Error)) {
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
const OURS = (/* unused pure expression or super */ null && (['InputError', 'ModelError', 'EngineError', 'ServerError', 'LocalWriteError', 'RetriesExhaustedError', 'RateLimitError', 'RequestError', 'UnsafeNameError', 'CacheLayoutError']));
function failStep(error) {
    core.setFailed(errorMessage(error));
    if (error instanceof Error && error.stack && !OURS.includes(error.name)) {
        // Not one of ours: the stack helps whoever reports it.
        core.debug(error.stack);
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

/***/ 9704:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  e: () => (/* binding */ run)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 7 modules
var lib_core = __webpack_require__(3838);
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
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:timers/promises"
var promises_ = __webpack_require__(8500);
;// CONCATENATED MODULE: ./src/state.ts
// What main leaves for post, in one place. Post reads it by name; when main started no server, there is none.

const SERVER = 'server';
/** The process that holds main's leases when no server was started (start: false). */
const KEEPER = 'lease-keeper';
/** The lease files main took on store entries: post gives them back. */
const LEASES = 'leases';
function saveServerState(state) {
    core.saveState(SERVER, JSON.stringify(state));
}
function readServerState() {
    const ref = readProcessRef(SERVER);
    const logPath = parseState(SERVER)?.logPath;
    return ref && typeof logPath === 'string' ? { ...ref, logPath } : undefined;
}
function saveKeeperState(state) {
    core.saveState(KEEPER, JSON.stringify(state));
}
function readKeeperState() {
    return readProcessRef(KEEPER);
}
function saveLeaseState(files) {
    if (files.length)
        core.saveState(LEASES, JSON.stringify(files));
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
    const raw = lib_core/* getState */.Gu(name);
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
const pending = (/* unused pure expression or super */ null && ([]));
function addPendingRemoteSave(save) {
    pending.push(save);
    core.saveState(REMOTE_SAVES, JSON.stringify(pending));
}
function readPendingRemoteSaves() {
    const parsed = parseState(REMOTE_SAVES);
    return Array.isArray(parsed) ? parsed : [];
}
const GPUS = 'gpus';
function saveGpuState(state) {
    core.saveState(GPUS, JSON.stringify(state));
}
function readGpuState() {
    const parsed = parseState(GPUS);
    if (!Array.isArray(parsed?.gpus))
        return undefined;
    const gpus = parsed.gpus.filter((g) => typeof g?.index === 'number' && (typeof g.uuid === 'string' || g.uuid === null) && typeof g.name === 'string' && typeof g.reservedBytes === 'number');
    return { gpus, leaseFile: typeof parsed.leaseFile === 'string' ? parsed.leaseFile : null, pidsComparable: parsed.pidsComparable === true };
}

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __webpack_require__(1421);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
var external_node_os_default = /*#__PURE__*/__webpack_require__.n(external_node_os_);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
var external_node_path_default = /*#__PURE__*/__webpack_require__.n(external_node_path_);
// EXTERNAL MODULE: ./node_modules/zod/v4/classic/schemas.js + 15 modules
var schemas = __webpack_require__(9691);
;// CONCATENATED MODULE: ./src/util/read-file.ts
// Reading a small file found in a cache (a catalog, a manifest, a lease) that anyone with access could have
// replaced: never through a link, never from a FIFO or a device (which would block or never end), never more than
// a bound. Undefined when it is not such a file. The token file, which the runner's own environment names, may be
// reached through a link (followLinks); the rest holds for it too.

/** JSON from outside, or undefined when it is not JSON: the caller's schema decides the rest. */
function read_file_parseJson(text) {
    try {
        return JSON.parse(text);
    }
    catch {
        return undefined;
    }
}
/** Open errors that mean "no such small file here" rather than a fault. */
const NOT_THERE = (/* unused pure expression or super */ null && (['ENOENT', 'ELOOP', 'ENOTDIR', 'ENXIO', 'EISDIR']));
// O_NONBLOCK: opening a FIFO with no writer would wait for one; fstat then refuses it.
function openFlags(followLinks) {
    return constants.O_RDONLY | constants.O_NONBLOCK | (followLinks ? 0 : constants.O_NOFOLLOW);
}
/** Why an opened file is not a small regular file, or undefined. */
function problemWith(stat, maxBytes) {
    if (!stat.isFile())
        return `it is not a regular file (${stat.isFIFO() ? 'a FIFO' : stat.isDirectory() ? 'a directory' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'a socket or other special file'})`;
    if (stat.size > maxBytes)
        return `it is ${stat.size} bytes, more than the ${maxBytes} such a file can be`;
    return undefined;
}
async function read_file_readSmallFile(file, maxBytes) {
    let handle;
    try {
        handle = await fs.open(file, openFlags(false));
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
        fd = openSync(file, openFlags(options.followLinks ?? false));
    }
    catch (error) {
        const code = error.code ?? 'error';
        if (code === 'ENOENT' || code === 'ENOTDIR')
            return { kind: 'missing' };
        return { kind: 'refused', why: code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be opened (${code})` };
    }
    try {
        const stat = fstatSync(fd);
        const problem = problemWith(stat, maxBytes);
        if (problem)
            return { kind: 'refused', why: problem };
        const buffer = Buffer.alloc(stat.size);
        const bytesRead = readSync(fd, buffer, 0, stat.size, 0);
        return { kind: 'text', text: buffer.subarray(0, bytesRead).toString('utf8') };
    }
    catch (error) {
        return { kind: 'refused', why: `it cannot be read (${error.code ?? 'error'})` };
    }
    finally {
        closeSync(fd);
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








const OTHER_HOST_LEASE_MS = (/* unused pure expression or super */ null && (7 * 24 * 3600_000));
/** A temporary lock file (written, not yet renamed into place) of a process that died is removed after this long. */
const PENDING_GRACE_MS = 60_000;
/** `locked`: whether its writer could lock it; a lease without a lock can only be judged by its age. */
const LeaseFile = schemas/* object */.Ikc({ boot_id: schemas/* string */.YjP(), host: schemas/* string */.YjP(), pid: schemas/* number */.aig().int(), created: schemas/* string */.YjP(), locked: schemas/* boolean */.zMY() });
/** Filesystem types (statfs f_type) shared between hosts, where another host's flock may not be seen. */
const NETWORK_FILESYSTEMS = new Set([0x6969 /* NFS */, 0xff534d42 /* CIFS */, 0xfe534d42 /* SMB2 */, 0x517b /* SMB */, 0x65735546 /* FUSE */, 0x0bd00bd0 /* Lustre */, 0x47504653 /* GPFS */, 0x00c36400 /* Ceph */, 0x01021997 /* 9P */, 0x5346414f /* AFS */]);
async function onNetworkFilesystem(file) {
    const stats = await fs.statfs(path.dirname(file)).catch(() => undefined);
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
async function lease_tryLock(fd, waitSeconds = 0) {
    return await new Promise((resolve) => {
        const wait = waitSeconds > 0 ? ['-w', String(waitSeconds)] : ['-n'];
        const child = (0,external_node_child_process_.spawn)('flock', ['-x', ...wait, '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
        child.once('error', () => resolve(undefined)); // no flock(1): the lock cannot be used
        child.once('exit', (code) => resolve(code === 0 ? true : code === 1 ? false : undefined));
    });
}
/** A name for a file of this process's (a lease, a work directory): host, pid and randomness, file-name safe. */
function lease_processFileId() {
    return `${os.hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64)}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
/** Descriptors of the leases this process holds, to hand to the process that will keep them. */
const held = new Set();
/** The lease files this process wrote, for post to give back. */
const taken = (/* unused pure expression or super */ null && ([]));
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
async function lease_createLockedFile(file, extra = {}) {
    // Written and locked under a temporary name, then renamed (the lock follows the file): under its final name a
    // lock file is locked from its first moment, so a checker never takes a new one for a dead one.
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
    await fs.writeFile(temp, leaseContent(true, extra), { flag: 'wx', mode: 0o644 });
    const fd = openSync(temp, 'r');
    const locked = await lease_tryLock(fd);
    // Without flock(1) here, the file says so: a checker must not take its free lock for a dead holder.
    if (!locked)
        await fs.writeFile(temp, leaseContent(false, extra));
    await fs.rename(temp, file);
    if (locked)
        return fd;
    closeSync(fd);
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
        const locked = await lease_tryLock(fd);
        return locked === undefined ? undefined : !locked;
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
function leaseContent(locked, extra) {
    return `${JSON.stringify({ ...extra, boot_id: bootId(), host: os.hostname(), pid: process.pid, created: new Date().toISOString(), locked })}\n`;
}
/** True when `content` (a lease or lock file's) was written under this kernel, by a writer that locked it. */
function writtenUnderThisKernel(content) {
    const parsed = LeaseFile.safeParse(read_file_parseJson(content));
    return parsed.success && parsed.data.locked && parsed.data.boot_id === bootId();
}
/** Takes a lease on the entry whose lease directory is `leaseDir`, held until this process and its heirs exit. */
async function takeLease(leaseDir) {
    // Post gives each job's leases back; those of a job that never got there (killed with its runner) are removed
    // here, so that the directory does not grow. Housekeeping only (eviction judges every lease itself), so it runs
    // beside the rest of the step, not before the lease: each lease it checks costs a flock(1) process. It never
    // removes a live lease, this one included (locked before it has its name); a failure leaves them for later.
    void hasLiveLease(leaseDir).catch(() => undefined);
    const file = path.join(leaseDir, `${lease_processFileId()}.lease`);
    // Locked or not (no flock(1) here), the file is a lease; a checker that cannot lock it falls back on its age.
    const fd = await lease_createLockedFile(file);
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
        if (!external_node_path_default().isAbsolute(file) || !file.endsWith('.lease') || external_node_path_default().basename(external_node_path_default().dirname(external_node_path_default().dirname(file))) !== 'leases')
            continue;
        const stat = await external_node_fs_.promises.lstat(file).catch(() => undefined);
        // Housekeeping: a file that cannot be removed is left for the next job's pruning, and fails nothing.
        if (stat?.isFile() && (await lockIsHeld(file)) === false)
            await external_node_fs_.promises.rm(file, { force: true }).catch(() => undefined);
    }
}
/** True when a live process holds a lease; dead leases are removed on the way. */
async function hasLiveLease(leaseDir) {
    let names;
    try {
        names = await fs.readdir(leaseDir);
    }
    catch {
        return false;
    }
    let live = false;
    for (const name of names) {
        const file = path.join(leaseDir, name);
        if (name.endsWith('.lease')) {
            if (await leaseIsLive(file))
                live = true;
        }
        else {
            const stat = await fs.lstat(file).catch(() => undefined);
            if (stat && isStaleTemp(name, stat.mtimeMs))
                await fs.rm(file, { force: true, recursive: true });
        }
    }
    return live;
}
async function leaseIsLive(file) {
    const stat = await fs.lstat(file).catch(() => undefined);
    if (!stat?.isFile()) {
        // A link or a directory is not a lease this action wrote: remove the name, never follow it.
        if (stat)
            await fs.unlink(file).catch(() => undefined);
        return false;
    }
    if (await holderLives(file, stat.mtimeMs))
        return true;
    await fs.rm(file, { force: true, recursive: true });
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

;// CONCATENATED MODULE: ./src/util/atomic-write.ts



/**
 * Writes a file so that a reader sees the old content or the whole new one, never a part: a temporary file
 * beside it, flushed, then renamed over it.
 */
async function atomic_write_writeFileAtomic(file, data) {
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const handle = await fs.open(temp, 'w', 0o644);
    try {
        await handle.writeFile(data);
        await handle.sync();
    }
    finally {
        await handle.close();
    }
    try {
        await fs.rename(temp, file);
    }
    catch (error) {
        await fs.rm(temp, { force: true });
        throw error;
    }
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
    const stat = await fs.lstat(dir).catch(() => undefined);
    if (!stat) {
        await fs.mkdir(dir, { recursive: true, mode: 0o1777 });
        await fs.chmod(dir, 0o1777).catch(() => undefined);
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
    const file = path.join(await leaseDir(dir), 'placement.lock');
    await fs.writeFile(file, '', { flag: 'wx', mode: 0o644 }).catch((error) => {
        if (error.code !== 'EEXIST')
            throw error;
    });
    // Read-only is enough for flock(2), and lets every user lock a file one of them created; never through a link.
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
        const locked = await tryLock(fd, PLACEMENT_LOCK_WAIT_S);
        if (locked === undefined)
            return undefined;
        if (!locked)
            throw new Error(`another job held ${file} for more than ${PLACEMENT_LOCK_WAIT_S} s`);
        return { value: await fn() };
    }
    finally {
        closeSync(fd);
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
    const parsed = LeaseRecord.safeParse(read_file_parseJson(content));
    if (!parsed.success)
        return undefined;
    const server = ServerRecord.safeParse(read_file_parseJson(await external_node_fs_.promises.readFile(sidecar(file), 'utf8').catch(() => '')));
    return {
        file,
        job: oneLine(parsed.data.job),
        since: oneLine(parsed.data.created),
        gpus: parsed.data.gpus.map((g) => ({ uuid: g.uuid, index: g.index, name: oneLine(g.name), reservedBytes: g.reserved_bytes })),
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
    const file = path.join(dir, `${id}.lease`);
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
function oneLine(text) {
    // eslint-disable-next-line no-control-regex
    return text.replace(/[\x00-\x1f\x7f]/g, ' ');
}

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __webpack_require__(7975);
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



const execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
const GPU_QUERY = (/* unused pure expression or super */ null && (['--query-gpu=index,uuid,name,memory.total,memory.free,compute_cap', '--format=csv,noheader,nounits']));
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
        const { stdout } = await execFileAsync(program, args, { timeout: 30_000, encoding: 'utf8' });
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
const DRIVER_CUDA = (/* unused pure expression or super */ null && ([
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
]));
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

;// CONCATENATED MODULE: ./src/gpu/release.ts
// After post has stopped the server: did its GPU memory come back, and who else holds memory on this job's GPUs?
// A process that no live GPU lease accounts for is reported (pid, program, memory) so that a user sees an orphan
// before it breaks the next job; nothing here signals any process.









/** The driver frees a dead process's memory at once, but its exit may take a moment: how long to look again. */
const RELEASE_WAIT_MS = 10_000;
/**
 * Post, once the server is stopped: what llama-server said it allocated on this job's GPUs (its log, against what
 * the job reserved), then checkGpusReleased. A failure here is a warning: the server is already stopped.
 */
async function checkServerGpus(server) {
    const state = readGpuState();
    if (!state?.gpus.length)
        return;
    try {
        const allocated = allocatedPerGpu(await readServerAllocation(server.logPath), state.gpus);
        for (const line of allocated)
            lib_core/* info */.pq(`llama-server had allocated on ${line}`);
        if (allocated.length && process.env.GITHUB_STEP_SUMMARY) {
            await lib_core/* summary */.z.addHeading('llama-server GPU memory', 3).addList(allocated).write();
        }
        // The lease ended with the server; its file goes (one still locked stays: something still holds it).
        if (state.leaseFile && (await lockIsHeld(state.leaseFile)) === false)
            await removeLease(state.leaseFile);
        if (state.pidsComparable)
            await checkGpusReleased({ gpus: state.gpus, serverPid: server.pid });
        else
            lib_core/* info */.pq("nvidia-smi did not list llama-server under its pid (a container without the host's PID namespace, or nothing on the GPU): whether its GPU memory came back, and whose other processes are there, cannot be told here.");
    }
    catch (error) {
        lib_core/* warning */.$e(`Could not check this job's GPUs after stopping llama-server: ${(0,errors/* errorMessage */.gJ)(error)}`);
    }
}
async function checkGpusReleased(job) {
    const gpus = job.gpus;
    const uuids = new Set(gpus.map((g) => g.uuid));
    let apps = await queryComputeApps();
    if (apps === undefined) {
        lib_core/* info */.pq('nvidia-smi cannot list compute processes here: whether the server gave its GPU memory back is not checked.');
        return;
    }
    const deadline = Date.now() + RELEASE_WAIT_MS;
    while (apps.some((a) => a.pid === job.serverPid && uuids.has(a.gpuUuid)) && Date.now() < deadline) {
        await (0,promises_.setTimeout)(250);
        apps = (await queryComputeApps()) ?? [];
    }
    const still = apps.filter((a) => a.pid === job.serverPid && uuids.has(a.gpuUuid));
    if (still.length)
        lib_core/* warning */.$e(`llama-server (pid ${job.serverPid}) still holds GPU memory after it was stopped: ${still.map((a) => `${a.usedMib ?? '?'} MiB on GPU ${gpus.find((g) => g.uuid === a.gpuUuid)?.index}`).join(', ')}.`);
    else
        lib_core/* info */.pq(`llama-server's GPU memory was given back (nvidia-smi lists no process of it on GPU ${gpus.map((g) => g.index).join(', ')}).`);
    const dir = gpuLeaseDir(process.env);
    const holders = await liveHolders(dir);
    const others = describeHolders(holders, gpus);
    if (others.length)
        lib_core/* info */.pq(`Other jobs on this job's GPUs: ${others.join('; ')}`);
    for (const app of unleasedApps(apps, holders, gpus, [job.serverPid]))
        lib_core/* warning */.$e(orphanMessage(app, gpus));
}
function orphanMessage(app, gpus) {
    return (`${describeApp(app, gpus, programOf(app))}, a GPU this job used, and no job on this host has leased it: an orphan of an ` +
        `earlier job, or work outside these actions. It was not stopped; it will take memory from the next job.`);
}
/**
 * The program of a process (its argv[0], never its arguments: another job's command line may carry secrets),
 * where it can be read; else the name nvidia-smi gives.
 */
function programOf(app) {
    try {
        const program = (0,external_node_fs_.readFileSync)(`/proc/${app.pid}/cmdline`, 'utf8').split('\0')[0];
        if (program)
            return program.slice(0, 200);
    }
    catch {
        // not ours to read, or gone
    }
    return app.processName;
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

;// CONCATENATED MODULE: ./src/util/hash.ts


/** `sha256:<hex>` of a file, streamed so that a multi-GB model never sits in memory. */
async function sha256File(file) {
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
    await fs.rm(dir, { recursive: true, force: true });
    try {
        const hit = await cache.restoreCache([dir], remoteCacheKey(name));
        if (hit) {
            core.info(`Restored ${name} from the GitHub Actions cache`);
            return dir;
        }
        core.info(`${name} is not in the GitHub Actions cache`);
    }
    catch (error) {
        core.warning(`Could not restore ${name} from the GitHub Actions cache: ${errorMessage(error)}`);
    }
    await fs.rm(dir, { recursive: true, force: true });
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
        await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
        await linkTree(source, dir);
        // What goes to the cache is what main verified, file for file: every job that restores it trusts this key.
        const problem = await stagedProblem(dir, expected);
        if (problem) {
            lib_core/* warning */.$e(`${name} is not saved to the GitHub Actions cache: ${problem} since the main step verified it`);
            return;
        }
        await cache.saveCache([dir], remoteCacheKey(name));
        lib_core/* info */.pq(`Saved ${name} to the GitHub Actions cache`);
    }
    catch (error) {
        // Another job saved the same key first: nothing lost. Matched by name: the class may come from another bundle.
        if (error.name === 'ReserveCacheError')
            lib_core/* info */.pq(`${name} is already in the GitHub Actions cache`);
        else
            lib_core/* warning */.$e(`Could not save ${name} to the GitHub Actions cache: ${(0,errors/* errorMessage */.gJ)(error)}`);
    }
    finally {
        await external_node_fs_.promises.rm(dir, { recursive: true, force: true });
    }
}
/** Why the staged tree is not exactly the expected files with their digests, or undefined. */
async function stagedProblem(dir, expected) {
    if (expected.length === 0)
        return 'nothing was recorded to check it against';
    const found = (await external_node_fs_.promises.readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory());
    const names = found.map((e) => external_node_path_default().relative(dir, external_node_path_default().join(e.parentPath, e.name))).sort();
    const wanted = expected.map((f) => f.path).sort();
    if (JSON.stringify(names) !== JSON.stringify(wanted))
        return `its files are not those recorded (${names.filter((n) => !wanted.includes(n)).concat(wanted.filter((w) => !names.includes(w))).join(', ')} changed)`;
    for (const file of expected) {
        if ((await sha256File(external_node_path_default().join(dir, file.path))) !== file.digest)
            return `${file.path} changed`;
    }
    return undefined;
}
/** A copy of the tree `source` at `target`, each file a hard link when possible, else a copy. */
async function linkTree(source, target) {
    await external_node_fs_.promises.mkdir(target, { recursive: true });
    for (const entry of await external_node_fs_.promises.readdir(source, { withFileTypes: true })) {
        const from = external_node_path_default().join(source, entry.name);
        const to = external_node_path_default().join(target, entry.name);
        const real = entry.isSymbolicLink() ? await external_node_fs_.promises.realpath(from) : from;
        if ((await external_node_fs_.promises.stat(real)).isDirectory()) {
            await linkTree(real, to);
            continue;
        }
        try {
            await external_node_fs_.promises.link(real, to);
        }
        catch {
            await external_node_fs_.promises.cp(real, to, { preserveTimestamps: true });
        }
    }
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
    await withInertOutput(() => lib_core/* info */.pq(text));
}

;// CONCATENATED MODULE: ./src/post.ts
// The post step (runs always): stop the server that main started, if it still is ours, show its log, and save
// to the GitHub Actions cache what main built.











async function run() {
    try {
        const server = readServerState();
        if (server) {
            await stopServer(server.pid, server.startTime);
            await checkServerGpus(server);
            const tail = await logTail(server.logPath, 100);
            lib_core/* startGroup */.Oh(`llama-server log (last 100 lines of ${server.logPath})`);
            await printInert(tail || '(empty)');
            lib_core/* endGroup */.N4();
            lib_core/* info */.pq(`The whole log: ${server.logPath}`);
        }
        else {
            lib_core/* info */.pq('No server was started by this action: nothing to stop.');
        }
        const keeper = readKeeperState();
        if (keeper && processStartTime(keeper.pid) === keeper.startTime) {
            // It held main's leases for start: false; the job is over, so they go.
            await stopProcessGroup(keeper.pid, STOP_GRACE_MS);
        }
        for (const save of readPendingRemoteSaves())
            await saveToRemote(save.name, save.dir, save.files ?? []);
        await giveBackLeases(readLeaseState());
    }
    catch (error) {
        // A post step that cannot clean up must say so loudly: the next job on this runner would inherit the mess.
        lib_core/* setFailed */.C1(`Could not stop llama-server: ${(0,errors/* errorMessage */.gJ)(error)}`);
    }
}
async function stopServer(pid, startTime) {
    const now = processStartTime(pid);
    if (now !== undefined && now !== startTime) {
        lib_core/* warning */.$e(`pid ${pid} is no longer the llama-server this job started (its start time differs); not signalling it.`);
        return;
    }
    // The leader may be gone while processes it forked still hold its group; a group id is not reused while any
    // member lives, so the group is still ours.
    if (now === undefined && !groupAlive(pid)) {
        lib_core/* info */.pq(`llama-server (pid ${pid}) had already exited.`);
        return;
    }
    const result = await stopProcessGroup(pid, STOP_GRACE_MS);
    const how = { 'not-running': 'had already exited', terminated: 'stopped with SIGTERM', killed: `did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM and was killed` }[result];
    lib_core/* info */.pq(`llama-server (pid ${pid}) ${how}.`);
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
