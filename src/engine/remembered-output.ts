// What a program prints about itself (`cc --version`, `nvcc --version`, `llama-server --version`) depends only on
// the program, what the dynamic loader gives it, and the machine. It is remembered in the engine store
// (engines/programs.json), with a snapshot of all of these, and a warm run answers from there instead of starting
// the program: any change to the snapshot runs it again. Only on Linux, where the snapshot can be taken cheaply;
// elsewhere the program always runs.
import { execFile } from 'node:child_process'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { z } from 'zod'
import { writeFileAtomic } from '../util/atomic-write.js'
import { jobEnv } from '../util/child-env.js'
import { fileIdentity } from '../util/file-identity.js'

const execFileAsync = promisify(execFile)

/** What the output rests on. Files are named by path and identity (device, inode, size, mtime and ctime in ns). */
interface Snapshot {
  host: string
  /** A reboot may bring another kernel, driver or library: everything is asked again once. */
  boot: string
  program: [string, string]
  /** The program's directory changes when a file is added beside it (a library found through $ORIGIN). */
  programDir: string
  /** Rewritten by ldconfig whenever a system library is installed, upgraded or removed. */
  ldCache: string
  ldLibraryPath: string
  /** The shared libraries the loader resolved for the program when it was run, each with its identity. */
  libraries: [string, string][]
}

interface Remembered {
  snapshot: Snapshot
  output: string
}

interface ProgramsFile {
  version: 1
  programs: Record<string, Remembered>
}

// The file is input like any other in cache-dir: what does not have this shape is dropped.
const RememberedSchema = z.object({
  snapshot: z.object({
    host: z.string(),
    boot: z.string(),
    program: z.tuple([z.string(), z.string()]),
    programDir: z.string(),
    ldCache: z.string(),
    ldLibraryPath: z.string(),
    libraries: z.array(z.tuple([z.string(), z.string()])),
  }),
  output: z.string(),
})
const ProgramsFileSchema = z.object({ version: z.literal(1), programs: z.record(z.string(), z.unknown()) })

export interface OutputOptions {
  timeoutMs: number
  /** The program's shared libraries are part of what its output rests on (it proves that it runs here). */
  libraries?: boolean
  /** Run it even when a remembered output holds (`verify: full`); what it says is remembered again. */
  fresh?: boolean
}

export async function identity(file: string): Promise<string> {
  return (await fileIdentity(file))?.key ?? 'missing'
}

export async function bootId(): Promise<string> {
  return (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim()
}

/** `libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)` lines. */
export function parseLoadedObjects(output: string): string[] {
  const files = new Set<string>()
  for (const line of output.split('\n')) {
    const m = /=>\s*(\/\S+)\s+\(0x/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line)
    if (m?.[1]) files.add(m[1])
  }
  return [...files].sort()
}

export class RememberedOutputs {
  private known: Promise<ProgramsFile> | undefined
  /** This instance's writes, one after the other (cc, c++ and nvcc are asked at once). */
  private writing: Promise<unknown> = Promise.resolve()

  /** `prepare` checks (or makes) the file's directory before it is read or written, as a store's catalog does. */
  constructor(
    private readonly file: string,
    private readonly prepare: () => Promise<unknown> = async () => undefined,
  ) {}

  /** stdout and stderr of `program args`, remembered from an earlier run when nothing it rests on changed. */
  async output(program: string, args: string[], options: OutputOptions): Promise<string> {
    if (process.platform !== 'linux') return await run(program, args, options.timeoutMs)
    const key = `${os.hostname()} ${program} ${args.join(' ')}`
    this.known ??= this.read()
    const known = (await this.known).programs[key]
    const now = await snapshot(program, known?.snapshot.libraries.map(([f]) => f) ?? [])
    if (known && !options.fresh && JSON.stringify(now) === JSON.stringify(known.snapshot)) return known.output
    const output = await run(program, args, options.timeoutMs)
    const libraries = options.libraries ? await identities(await loadedObjects(program, options.timeoutMs)) : []
    await this.remember(key, { snapshot: { ...now, libraries }, output })
    return output
  }

  private async read(): Promise<ProgramsFile> {
    await this.prepare()
    const programs: Record<string, Remembered> = {}
    try {
      const file = ProgramsFileSchema.safeParse(JSON.parse(await fs.readFile(this.file, 'utf8')))
      for (const [key, value] of Object.entries(file.success ? file.data.programs : {})) {
        const record = RememberedSchema.safeParse(value)
        if (record.success) programs[key] = record.data
      }
    } catch {
      // absent, or not JSON: start again
    }
    return { version: 1, programs }
  }

  /**
   * No lock between processes: two jobs writing at once lose one record, and the loser's program runs again next
   * time. Records of programs that are gone (an engine removed from the store) are dropped on the way.
   */
  private async remember(key: string, record: Remembered): Promise<void> {
    const write = this.writing.then(async () => {
      const data = await this.read()
      data.programs[key] = record
      for (const [k, r] of Object.entries(data.programs)) if ((await identity(r.snapshot.program[0])) === 'missing') delete data.programs[k]
      await writeFileAtomic(this.file, `${JSON.stringify(data, null, 1)}\n`)
      this.known = Promise.resolve(data)
    })
    this.writing = write.catch(() => undefined)
    await write
  }
}

/** Taken before the program runs (a change while it runs then shows next time); libraries are added after. */
async function snapshot(program: string, libraries: string[]): Promise<Snapshot> {
  const [programId, dirId, ldCache, boot, libs] = await Promise.all([
    identity(program),
    identity(path.dirname(program)),
    identity('/etc/ld.so.cache'),
    bootId(),
    identities(libraries),
  ])
  return {
    host: os.hostname(),
    boot,
    program: [program, programId],
    programDir: dirId,
    ldCache,
    ldLibraryPath: process.env.LD_LIBRARY_PATH ?? '',
    libraries: libs,
  }
}

async function identities(files: string[]): Promise<[string, string][]> {
  return await Promise.all(files.map(async (f): Promise<[string, string]> => [f, await identity(f)]))
}

async function run(program: string, args: string[], timeoutMs: number): Promise<string> {
  // The job's environment, not the action's inputs (tokens): the program may come from a downloaded archive.
  const { stdout, stderr } = await execFileAsync(program, args, { env: jobEnv(process.env), timeout: timeoutMs, encoding: 'utf8' })
  return `${stdout}\n${stderr}`
}

/**
 * The shared libraries the loader resolves for `program`, from `ldd` (which asks the dynamic loader; the program
 * is run anyway, for its --version). None for a static program, or where ldd is missing: the rest of the
 * snapshot still holds.
 */
async function loadedObjects(program: string, timeoutMs: number): Promise<string[]> {
  try {
    const { stdout } = await execFileAsync('ldd', [program], { timeout: timeoutMs, encoding: 'utf8' })
    return parseLoadedObjects(stdout)
  } catch {
    return []
  }
}
