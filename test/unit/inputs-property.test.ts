// Property-based: every input, and the model-ref grammar, under random and hostile strings. parseInputs either
// returns a typed configuration or throws an InputError whose every line names an input; it never crashes, and
// never echoes a secret. Seeded: the seed is printed, and FC_SEED=<n> replays a run.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Input, type InputName } from '../../src/constants.js'
import { InputError } from '../../src/errors.js'
import { parseInputs, secretsIn, type InputContext } from '../../src/inputs.js'

const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)
const params = { seed, numRuns: 300 }
console.log(`inputs-property: fast-check seed ${seed} (FC_SEED=${seed} replays it)`)

const ctx: InputContext = { env: { GITHUB_WORKSPACE: '/ws', RUNNER_TOOL_CACHE: '/tc' }, cpuCount: 2, homeDir: '/home/u' }
const names = Object.values(Input) as InputName[]

// Hostile pieces: path tricks, percent-encoding, URL credentials, control characters, shell and workflow syntax.
const hostile = fc.constantFrom(
  '..', '../', '..%2F', '%2e%2e', '%', '%E0%A4%A', '\u0000', '\n', '\r\n', '\t', ' ', '"', "'", '`', '$(id)', ';', '|',
  '::error::x', '::add-mask::', 'hf:', 'file:', 'http://', 'https://u:SECRETPASSWORD1@h/', '?sig=SECRETSIGNATURE1', '@', '/', '\\',
  '--', '-', '=', 'é', '\u202e', '🦙', '.gguf', '-00001-of-00003.gguf', 'sha256:', '0', '-1', '1e9', 'true', 'all', ',',
)
const piece = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }), hostile)
const value = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''))

function check(raw: Partial<Record<InputName, string>>): void {
  let thrown: unknown
  try {
    parseInputs(raw, ctx)
    return
  } catch (error) {
    thrown = error
  }
  // Anything but an InputError (a TypeError, a URIError…) would reach the user as a raw crash.
  expect(thrown).toBeInstanceOf(InputError)
  const problems = (thrown as InputError).problems
  expect(problems.length).toBeGreaterThan(0)
  for (const line of problems) expect(line).toMatch(/^Input '[a-z-]+' (is not valid|is ".*"): expected .+\.$/s)
  const message = problems.join('\n')
  // Secrets as long as real ones: a one-letter "secret" is found in any sentence by chance.
  const secrets = [...secretsIn(raw, ctx.env), raw[Input.HfToken]?.trim(), raw[Input.ApiKey]?.trim()]
  for (const secret of secrets) if (secret && secret.length >= 8) expect(message).not.toContain(secret)
}

describe('parseInputs under random and hostile input', () => {
  it('each input alone: a typed config or an InputError that names it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...names), value, (name, v) => check({ model: 'm.gguf', [name]: v })),
      params,
    )
  })

  it('every input at once', () => {
    fc.assert(fc.property(fc.dictionary(fc.constantFrom(...names), value), (raw) => check(raw)), params)
  })

  it('the model-ref grammar: hf:, URLs, file: and paths built from hostile parts', () => {
    const prefix = fc.constantFrom('hf:', 'hf:org/', 'hf:org/repo/', 'hf:org/repo@', 'http://h/', 'https://u:p@h/', 'file:', 'file://', 'file:///', '', '/', './')
    fc.assert(fc.property(prefix, value, value, (p, a, b) => check({ model: `${p}${a}/${b}` })), params)
  })

  it('a secret in a URL is never echoed, whatever surrounds it', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/)
    fc.assert(
      fc.property(secret, value, fc.constantFrom(Input.Model, Input.HfEndpoint, Input.LlamaCppRepo), (s, junk, name) => {
        check({ model: 'm.gguf', [name]: `https://user:${s}@host${junk}/x.gguf?sig=${s}` })
        check({ model: 'm.gguf', [Input.HfToken]: `${s}${junk}`, [Input.ApiKey]: `${junk}${s}` })
      }),
      params,
    )
  })
})
