// What a llama-server binary can be told: its --help lists its flags (older builds lack --fit, for one, and would
// refuse to start when given it).

/** Whether `help` (llama-server --help) lists `flag`, as `-fit, --fit [on|off]` lists --fit. Pure. */
export function helpListsFlag(help: string, flag: string): boolean {
  const escaped = flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`(^|[\\s,])${escaped}(?=[\\s,=]|$)`, 'm').test(help)
}

/** Which of `flags` the binary knows, from `help` (its --help, however it is had); none when that fails. */
export async function serverKnownFlags(help: () => Promise<string>, flags: string[]): Promise<Set<string>> {
  try {
    const text = await help()
    return new Set(flags.filter((flag) => helpListsFlag(text, flag)))
  } catch {
    return new Set()
  }
}
