// Issue 8's attacks, each tried through the runner harness as a user or a hostile server would, then checked on the
// filesystem and in everything the step wrote: files outside cache-dir unchanged, no secret in the step's output
// (mask commands aside), its outputs, summary, handoff, or any file under the job's directories. The servers are
// real (test/support/hub-server.ts); the engine is the TEST DOUBLE built from test/fixtures/engine.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { ggufWithPayload, writeHeaderOnlyModel } from '../support/gguf-writer.js'
import { hubServerForFile } from '../support/hub-fixture.js'
import { sha256 } from '../support/hub-server.js'
import { newJobDirs, processesWithTrackingId, runMain, runPost, type JobDirs, type MainRun, type StepResult } from '../support/runner.js'

const fakeServer = inject('fakeLlamaServer')
const hub = hubServerForFile()

/** Every regular file under `dir` (links not followed), with its content. */
function filesUnder(dir: string): { file: string; text: string }[] {
  const found: { file: string; text: string }[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) found.push(...filesUnder(file))
    else if (entry.isFile()) found.push({ file, text: readFileSync(file, 'latin1') })
  }
  return found
}

/** Asserts that `secret` appears nowhere the step could leave it, but in the mask command that hides it. */
function expectNowhere(secret: string, steps: StepResult[], dirs: JobDirs): void {
  for (const step of steps) {
    const output = `${step.stdout}\n${step.stderr}`.replace(/^::add-mask::.*$/gm, '')
    expect(output).not.toContain(secret)
    expect(JSON.stringify(step.outputs)).not.toContain(secret)
    expect(step.summary).not.toContain(secret)
  }
  for (const { file, text } of filesUnder(dirs.root)) {
    // The runner's own files of inputs would hold it; the action's files (cache, handoff, logs, state) must not.
    expect(text.includes(secret) ? file : 'clean').toBe('clean')
  }
}

/** A directory outside cache-dir with a file in it, to prove that nothing was written or deleted there. */
function victim(dirs: JobDirs): { dir: string; file: string; unchanged: () => void } {
  const dir = path.join(dirs.root, 'victim')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'notes.txt')
  writeFileSync(file, 'precious\n')
  return {
    dir,
    file,
    unchanged: () => {
      expect(readdirSync(dir)).toEqual(['notes.txt'])
      expect(readFileSync(file, 'utf8')).toBe('precious\n')
    },
  }
}

function cacheDir(dirs: JobDirs): string {
  return path.join(dirs.toolCache, 'setup-llama-server')
}

/** Runs main expecting a clean failure: exit 1, no stack trace, no process left. */
async function failsWith(inputs: Record<string, string>, dirs = newJobDirs()): Promise<MainRun> {
  const run = await runMain({ dirs, inputs })
  expect(run.exitCode).toBe(1)
  expect(run.stderr).not.toMatch(/\n\s+at /) // no stack trace
  expect(processesWithTrackingId(run.trackingId)).toEqual([])
  return run
}

const provisionOnly = { 'llama-server-path': fakeServer, start: 'false' }
/** hf: models into cache-dir's store, whose directories these attacks plant links in (hf-cache.test.ts attacks the other). */
const intoStore = { 'hf-cache': 'false' }

describe('paths: nothing written or deleted outside cache-dir', () => {
  it("a URL whose file name decodes to '../..' is refused before a byte is fetched", async () => {
    const dirs = newJobDirs()
    const target = victim(dirs)
    const body = ggufWithPayload(4096)
    const rel = path.relative(path.join(cacheDir(dirs), 'models', 'tmp', 'x'), target.file)
    const evil = `/x/${encodeURIComponent(rel)}`
    hub().plainFiles.set(decodeURIComponent(evil), { body })
    const before = hub().requests.length
    const run = await runMain({ dirs, inputs: { model: `${hub().blobOrigin}${evil}`, ...provisionOnly } })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/^Input 'model' is http:\/\/127\.0\.0\.1:\d+\/x\/.*: its file name ".*notes\.txt" cannot be a file name \(it has '\/' or '\\'\); expected a URL ending in a plain file name/)
    expect(hub().requests.slice(before)).toEqual([])
    target.unchanged()
  })

  it('a split URL model never names a part outside its entry either', async () => {
    const dirs = newJobDirs()
    const run = await runMain({ dirs, inputs: { model: `${hub().blobOrigin}/x/%2E%2E-00001-of-00002.gguf`, ...provisionOnly } })
    // '..-00001-of-00002.gguf' is one plain name: legal, and the server has no such file.
    expect(run.exitCode).toBe(1)
    expect(existsSync(path.join(cacheDir(dirs), '..-00002-of-00002.gguf'))).toBe(false)
  })

  it("a catalog entry named '../../../x' is dropped with a warning; cache-max-size deletes nothing outside", async () => {
    const dirs = newJobDirs()
    const target = victim(dirs)
    const models = path.join(cacheDir(dirs), 'models')
    mkdirSync(path.join(models, 'entries'), { recursive: true })
    const evilName = path.relative(path.join(models, 'entries'), target.dir)
    const record = { id: 'x', ref: 'x', digest: `sha256:${'0'.repeat(64)}`, size_bytes: 10 ** 12, path: 'x', parts: [{ name: 'notes.txt', digest: `sha256:${'0'.repeat(64)}`, size: 1, ino: 1, mtime_ms: 1 }], state: 'Active', last_used: '2000-01-01T00:00:00.000Z' }
    writeFileSync(path.join(models, 'catalog.json'), JSON.stringify({ version: 1, entries: { [evilName]: record }, hf_revisions: {}, sources: {}, local_files: {} }))
    // A lease directory of the same name must not be emptied through the check either.
    mkdirSync(path.join(models, 'leases'), { recursive: true })
    const model = path.join(dirs.workspace, 'm.gguf')
    writeHeaderOnlyModel(model)
    const run = await runMain({ dirs, inputs: { model, ...provisionOnly, 'cache-max-size': '1K' } })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/::warning::.*catalog\.json: the entry ".*victim" is dropped \(it has '\/' or '\\'\)/)
    target.unchanged()
    await runPost(run)
  })

  it('links planted in leases/, locks/, tmp/ and entries/ are never written or deleted through', async () => {
    const dirs = newJobDirs()
    const target = victim(dirs)
    const m = hubModel()
    const models = path.join(cacheDir(dirs), 'models')
    const entry = `sha256-${m.digest.slice(7)}`
    for (const sub of ['leases', 'locks', 'tmp', 'entries']) mkdirSync(path.join(models, sub), { recursive: true })
    // Links where the action writes a lease, takes a lock, makes a work directory and installs the entry.
    symlinkSync(target.dir, path.join(models, 'leases', entry))
    symlinkSync(target.dir, path.join(models, 'entries', entry))
    symlinkSync(target.dir, path.join(models, 'tmp', 'trash-aaaaaaaaaaaa'))
    symlinkSync(target.file, path.join(models, 'locks', `${entry}.lock`))
    const run = await runMain({ dirs, inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, ...provisionOnly, ...intoStore } })
    // The lease directory is a link: refused, naming it, rather than followed.
    expect(run.errors.join('\n')).toMatch(/leases\/sha256-[0-9a-f]{64} is a symbolic link; the action writes only into real directories inside its cache/)
    target.unchanged()
    expect(statSync(target.file).isFile()).toBe(true)
    await runPost(run)
  })

  it('with links only in locks/, tmp/ and entries/, the model is installed in a real directory and the links go', async () => {
    const dirs = newJobDirs()
    const target = victim(dirs)
    const m = hubModel()
    const models = path.join(cacheDir(dirs), 'models')
    const entry = `sha256-${m.digest.slice(7)}`
    for (const sub of ['locks', 'tmp', 'entries']) mkdirSync(path.join(models, sub), { recursive: true })
    symlinkSync(target.dir, path.join(models, 'entries', entry))
    symlinkSync(target.dir, path.join(models, 'tmp', 'trash-aaaaaaaaaaaa'))
    symlinkSync(target.file, path.join(models, 'locks', `${entry}.lock`))
    const run = await runMain({ dirs, inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, ...provisionOnly, ...intoStore } })
    expect(run.errors).toEqual([])
    const installed = path.join(models, 'entries', entry)
    expect(lstatSync(installed).isDirectory()).toBe(true)
    expect(run.outputs['model-path']).toBe(path.join(installed, 'm.gguf'))
    expect(existsSync(path.join(models, 'tmp', 'trash-aaaaaaaaaaaa'))).toBe(false)
    target.unchanged()
    await runPost(run)
  })

  it('a whole store directory that is a link is refused, not followed', async () => {
    const dirs = newJobDirs()
    const target = victim(dirs)
    mkdirSync(cacheDir(dirs), { recursive: true })
    symlinkSync(target.dir, path.join(cacheDir(dirs), 'models'))
    const m = hubModel()
    const run = await runMain({ dirs, inputs: { model: m.ref, 'hf-endpoint': hub().endpoint, ...provisionOnly, ...intoStore } })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toMatch(/setup-llama-server\/models is a symbolic link/)
    target.unchanged()
  })
})

let repoCount = 0
function hubModel() {
  const id = `attack/model-${++repoCount}`
  const body = ggufWithPayload(8 * 1024)
  const commit = hub().addRepo(id, { 'm.gguf': body })
  return { ref: `hf:${id}/m.gguf`, digest: `sha256:${sha256(body)}`, commit }
}

describe('secrets: masked first, and never in a log line, an error, an output, the summary, the handoff or the catalog', () => {
  it("a signed URL's query string is in no output, file or log line; model-id is the URL without it", async () => {
    const dirs = newJobDirs()
    const body = ggufWithPayload(8 * 1024)
    hub().plainFiles.set('/signed/model.gguf', { body, etag: '"v1"' })
    const signature = 'SIGc0ffee1234567890abcdef'
    const url = `${hub().blobOrigin}/signed/model.gguf?X-Amz-Signature=${signature}&X-Amz-Credential=AKIAEXAMPLE12345`
    const run = await runMain({ dirs, inputs: { model: url, 'llama-server-path': fakeServer } })
    expect(run.errors).toEqual([])
    expect(run.outputs['model-id']).toBe(`${hub().blobOrigin}/signed/model.gguf`)
    expect(run.stdout).toContain(`::add-mask::${signature}`)
    const post = await runPost(run)
    expectNowhere(signature, [run, post], dirs)
    expectNowhere('AKIAEXAMPLE12345', [run, post], dirs)
    // The request did carry it: the signature is what lets the download through.
    expect(hub().requests.some((r) => r.path.includes(signature))).toBe(true)
  })

  it('user:password@ in model and hf-endpoint is refused without printing the password', async () => {
    const dirs = newJobDirs()
    const password = 'hunter2-PASSWORD-xyz'
    const run = await runMain({ dirs, inputs: { model: `https://user:${password}@example.invalid/m.gguf`, 'hf-endpoint': `https://u:${password}@hub().invalid`, ...provisionOnly } })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain(`Input 'model' is "https://***@example.invalid/m.gguf": expected a URL without user name or password in it.`)
    expect(run.errors[0]).toContain(`Input 'hf-endpoint' is "https://***@hub().invalid": expected an http(s):// URL without credentials or a query string`)
    expectNowhere(password, [run], dirs)
  })

  it("git's error does not print llama-cpp-repo's token, and the token never reaches git's argv", async () => {
    const dirs = newJobDirs()
    const token = 'ghp_SECRETTOKEN1234567890'
    // A server that records what git sends and refuses it: the token must travel as a header, not in the URL.
    const seen: { url: string; authorization: string | undefined }[] = []
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', authorization: req.headers.authorization })
      res.writeHead(403).end('no')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    try {
      const model = path.join(dirs.workspace, 'm.gguf')
      writeHeaderOnlyModel(model)
      const run = await runMain({ dirs, inputs: { model, 'llama-cpp-repo': `http://x-access-token:${token}@127.0.0.1:${port}/llama.cpp.git`, 'llama-cpp-ref': 'v1', backend: 'cpu', start: 'false' } })
      expect(run.exitCode).toBe(1)
      expect(run.errors[0]).toMatch(/git ls-remote http:\/\/127\.0\.0\.1:\d+\/llama\.cpp\.git failed/)
      expectNowhere(token, [run], dirs)
      expect(seen.length).toBeGreaterThan(0)
      expect(seen.every((r) => !r.url.includes(token))).toBe(true)
      expect(seen.some((r) => r.authorization === `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`)).toBe(true)
    } finally {
      server.close()
    }
  })

  it('hf-token and api-key that cannot go in an HTTP header are refused naming the input, not the value', async () => {
    const dirs = newJobDirs()
    const model = path.join(dirs.workspace, 'm.gguf')
    writeHeaderOnlyModel(model)
    const run = await runMain({ dirs, inputs: { model, 'llama-server-path': fakeServer, 'api-key': 'clé-secrète-ÜBER', 'hf-token': 'hf_tok en' } })
    expect(run.exitCode).toBe(1)
    expect(run.errors[0]).toContain("Input 'hf-token' is not valid: expected printable ASCII without spaces")
    expect(run.errors[0]).toContain("Input 'api-key' is not valid: expected printable ASCII without spaces")
    expectNowhere('clé-secrète-ÜBER', [run], dirs)
    expectNowhere('hf_tok en', [run], dirs)
    expect(processesWithTrackingId(run.trackingId)).toEqual([])
  })
})

describe('what the step prints', () => {
  it("llama-server's log cannot run workflow commands when post (or a failed main) prints it", async () => {
    const dirs = newJobDirs()
    const model = path.join(dirs.workspace, 'm.gguf')
    writeHeaderOnlyModel(model)
    // A llama-server that writes workflow commands into its log, then runs as usual.
    const evil = path.join(dirs.root, 'evil-llama-server')
    writeFileSync(evil, `#!/bin/sh\necho '::error::pwned by the log'\necho '::add-mask::precious'\necho '::warning::also pwned'\nexec '${fakeServer}' "$@"\n`)
    chmodSync(evil, 0o755)
    const run = await runMain({ dirs, inputs: { model, 'llama-server-path': evil } })
    expect(run.errors).toEqual([])
    const post = await runPost(run)
    expect(post.exitCode).toBe(0)
    // The lines are printed, between a stop-commands marker and its token, so the runner reads them as text.
    const m = /^::stop-commands::([0-9a-f]{32})$\n([\s\S]*?)^::\1::$/m.exec(post.stdout)
    expect(m?.[2]).toContain('::error::pwned by the log')
    expect(m?.[2]).toContain('::add-mask::precious')
    const outside = post.stdout.replace(m?.[0] ?? '', '')
    expect(outside).not.toMatch(/^::(error|warning|add-mask)::/m)
  })

  it('a local model that does not exist says so, naming the input', async () => {
    const run = await failsWith({ model: 'models/missing.gguf', 'llama-server-path': fakeServer })
    expect(run.errors[0]).toMatch(/^Input 'model': the model file .*\/workspace\/models\/missing\.gguf does not exist; expected an existing GGUF file/)
  })

  it('a cache-dir that is a file, and a handoff-path that is a directory, fail before anything starts', async () => {
    const dirs = newJobDirs()
    writeFileSync(path.join(dirs.workspace, 'cache'), 'a file')
    mkdirSync(path.join(dirs.workspace, 'handoff'))
    const model = path.join(dirs.workspace, 'm.gguf')
    writeHeaderOnlyModel(model)
    const run = await failsWith({ model, 'llama-server-path': fakeServer, 'cache-dir': 'cache', 'handoff-path': 'handoff' }, dirs)
    expect(run.errors[0]).toBe(
      `Input 'cache-dir' is "${dirs.workspace}/cache": it is a file; expected a directory this job can write, or a path where one can be made.\n` +
        `Input 'handoff-path' is "${dirs.workspace}/handoff": it is a directory; expected the path of a JSON file to write.`,
    )
    expect(run.stdout).not.toMatch(/Starting /)
  })

  it('a malformed percent-encoding names the input and the part', async () => {
    const run = await failsWith({ model: `${hub().blobOrigin}/x/bad%E0%A4%A.gguf`, ...provisionOnly })
    expect(run.errors[0]).toMatch(/^Input 'model' is http:\/\/127\.0\.0\.1:\d+\/x\/bad%E0%A4%A\.gguf: its file name 'bad%E0%A4%A\.gguf' is not valid percent-encoding/)
  })

  it('a redirect to a non-HTTP URL is refused at once, not retried', async () => {
    let hits = 0
    const server = http.createServer((_req, res) => {
      hits++
      res.writeHead(302, { Location: 'file:///etc/passwd' }).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const run = await failsWith({ model: `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`, ...provisionOnly })
      expect(run.errors[0]).toMatch(/redirected to a file: URL; only http\(s\) redirects are followed/)
      expect(hits).toBe(1)
    } finally {
      server.close()
    }
  })
})

describe('inputs that go around the policy', () => {
  it.each([
    ['--hf-repo org/model', 'model'],
    ['-hfd org/draft', 'model'],
    ['--mmproj-url http://x/y', 'model'],
    ['--device CUDA0', 'devices'],
    ['--tensor-split 1,1', 'devices'],
    ['-mg 1', 'devices'],
  ])('server-args %s is refused, naming the input %s', async (args, owner) => {
    const run = await failsWith({ model: 'm.gguf', 'llama-server-path': fakeServer, 'server-args': args })
    expect(run.errors[0]).toContain(`expected llama-server arguments other than ${args.split(' ')[0]}, which the '${owner}' input sets`)
  })

  it("quotes in cmake-args are refused as shell quoting: -DA='x y' does not become two arguments", async () => {
    const run = await failsWith({ model: 'm.gguf', 'cmake-args': "-DA='x y'" })
    expect(run.errors[0]).toContain(`Input 'cmake-args' is "-DA='x y'": expected arguments separated by white space, without quotes`)
  })

  it('a cache-max-size that rounds to zero bytes is refused like 0', async () => {
    const run = await failsWith({ model: 'm.gguf', 'cache-max-size': '0.0001K' })
    expect(run.errors[0]).toBe(`Input 'cache-max-size' is "0.0001K": expected a size of at least one byte, such as 200G, 512M or 1.5T (powers of 1024).`)
  })

  it('LLAMA_ARG_* variables of flags the inputs own do not reach llama-server', async () => {
    const dirs = newJobDirs()
    const model = path.join(dirs.workspace, 'm.gguf')
    writeHeaderOnlyModel(model)
    const run = await runMain({ dirs, inputs: { model, 'llama-server-path': fakeServer }, env: { LLAMA_ARG_HF_REPO: 'org/unverified', LLAMA_ARG_THREADS: '2' } })
    expect(run.errors).toEqual([])
    expect(run.stdout).toMatch(/::warning::Not passed to llama-server: LLAMA_ARG_HF_REPO \(set 'model' instead\)/)
    const environ = readFileSync(`/proc/${run.outputs.pid}/environ`, 'latin1').split('\0')
    expect(environ).not.toContain('LLAMA_ARG_HF_REPO=org/unverified')
    expect(environ).toContain('LLAMA_ARG_THREADS=2')
    await runPost(run)
  })
})
