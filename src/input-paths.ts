// The paths the inputs name, checked before any work: a cache-dir that cannot be a directory, or a handoff-path
// that is one, fails the step at once with the input's name, not minutes later with an errno.
import { constants, promises as fs } from 'node:fs'
import path from 'node:path'
import { Input, type InputName } from './constants.js'
import { InputError } from './errors.js'
import type { ActionInputs } from './inputs.js'

async function kind(p: string): Promise<'missing' | 'directory' | 'other'> {
  const stat = await fs.stat(p).catch(() => undefined)
  return !stat ? 'missing' : stat.isDirectory() ? 'directory' : 'other'
}

/** The nearest existing ancestor of `p` (itself when it exists). */
async function existingAncestor(p: string): Promise<string> {
  let dir = p
  while ((await kind(dir)) === 'missing' && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}

async function directoryProblem(dir: string): Promise<string | undefined> {
  const found = await existingAncestor(dir)
  if ((await kind(found)) !== 'directory') return `${found === dir ? 'it' : found} is a file`
  const writable = await fs.access(found, constants.W_OK).then(() => true, () => false)
  return writable ? undefined : `${found} is not writable by this job`
}

export async function checkInputPaths(inputs: Pick<ActionInputs, 'cacheDir' | 'handoffPath' | 'start'>): Promise<void> {
  const problems: string[] = []
  const say = (input: InputName, value: string, problem: string, expected: string) =>
    problems.push(`Input '${input}' is ${JSON.stringify(value)}: ${problem}; expected ${expected}.`)
  const cacheProblem = await directoryProblem(inputs.cacheDir)
  if (cacheProblem) say(Input.CacheDir, inputs.cacheDir, cacheProblem, 'a directory this job can write, or a path where one can be made')
  if (inputs.start) {
    if ((await kind(inputs.handoffPath)) === 'directory') {
      say(Input.HandoffPath, inputs.handoffPath, 'it is a directory', 'the path of a JSON file to write')
    } else {
      const parentProblem = await directoryProblem(path.dirname(inputs.handoffPath))
      if (parentProblem) say(Input.HandoffPath, inputs.handoffPath, parentProblem, 'a file in a directory this job can write')
    }
  }
  if (problems.length) throw new InputError(problems)
}
