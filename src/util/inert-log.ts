// Text from a program the action ran (llama-server's log, compiler output) is printed so that no line of it can
// act as a workflow command (`::error::`, `::add-mask::`, `::set-output::`…): the runner's stop-commands, with a
// token nobody can guess, switches command processing off until the token is given back.
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'

/** Runs `fn` with workflow commands switched off for whatever it prints. */
export async function withInertOutput<T>(fn: () => T | Promise<T>): Promise<T> {
  const token = randomBytes(16).toString('hex')
  core.info(`::stop-commands::${token}`)
  try {
    return await fn()
  } finally {
    core.info(`::${token}::`)
  }
}

export async function printInert(text: string): Promise<void> {
  await withInertOutput(() => core.info(text))
}
