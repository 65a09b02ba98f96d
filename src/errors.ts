// Errors a user can act on. Each says what was wrong and what to do; `failStep` turns any thrown value, Error
// or not, into a failed step.
import * as core from '@actions/core'

export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'))
    this.name = 'InputError'
  }
}

export class ModelError extends Error {
  override name = 'ModelError'
}

export class EngineError extends Error {
  override name = 'EngineError'
}

export class ServerError extends Error {
  override name = 'ServerError'
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error)
}

export function failStep(error: unknown): void {
  core.setFailed(errorMessage(error))
  if (error instanceof Error && error.stack && !['InputError', 'ModelError', 'EngineError', 'ServerError'].includes(error.name)) {
    // Not one of ours: the stack helps whoever reports it.
    core.debug(error.stack)
  }
}
