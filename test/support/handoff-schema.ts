import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './runner.js'

const ajv = new Ajv2020({ allErrors: true, strict: true })
addFormats.default(ajv)
const validate = ajv.compile(JSON.parse(readFileSync(path.join(ROOT, 'schema', 'handoff.schema.json'), 'utf8')))

/** The errors of a handoff against schema/handoff.schema.json; empty when it is valid. */
export function handoffSchemaErrors(handoff: unknown): string[] {
  return validate(handoff) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`)
}
