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
  try {
    if (error instanceof Error) return error.message
    const message = (error as { message?: unknown } | undefined)?.message
    if (typeof message === 'string') return message
    return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error))
  } catch {
    return 'an error that cannot be described'
  }
}

const OURS = ['InputError', 'ModelError', 'EngineError', 'ServerError', 'LocalWriteError', 'RetriesExhaustedError', 'RateLimitError', 'RequestError', 'UnsafeNameError', 'CacheLayoutError']

export function failStep(error: unknown): void {
  core.setFailed(errorMessage(error))
  if (error instanceof Error && error.stack && !OURS.includes(error.name)) {
    // Not one of ours: the stack helps whoever reports it.
    core.debug(error.stack)
  }
}

/**
 * A fault that escapes every promise (a library throwing from a socket event, say) must still end as one
 * readable failed step, never a raw stack trace; the stack goes to debug output. `then` runs after, so that post
 * can still stop a server main started.
 */
export function guardProcess(then: () => Promise<void> | void = () => undefined): void {
  let handled = false
  const onFault = (error: unknown) => {
    if (handled) return
    handled = true
    try {
      // Never changes the error itself: a DOMException or a frozen object would throw here.
      core.setFailed(`Unexpected error: ${errorMessage(error)}`)
      const stack = (error as { stack?: unknown } | undefined)?.stack
      if (typeof stack === 'string') core.debug(stack)
    } catch {
      process.exitCode = 1
    }
    void Promise.resolve()
      .then(then)
      .catch(() => undefined)
      .finally(() => process.exit(1))
  }
  process.on('uncaughtException', onFault)
  process.on('unhandledRejection', onFault)
}
