/**
 * Errors the user can act on: printed as one line, no stack. Each kind has a code, and the
 * code decides the exit status in one place (exitCodeOf), so scripts can tell them apart.
 */
export type ErrorCode = 'usage' | 'not_found' | 'exists' | 'not_running' | 'conflict' | 'cloud_api' | 'precreate' | 'interrupted' | 'failed'

/** Exit status per code: 1 as docker-machine (usage errors too), 3 for a failed pre-create check, 130 for Ctrl-C. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  failed: 1, usage: 1, not_found: 1, exists: 1, not_running: 1, conflict: 1, cloud_api: 1, precreate: 3, interrupted: 130,
}

export class UserError extends Error {
  readonly code: ErrorCode
  readonly exitCode: number
  /** `new UserError(msg)` is a plain failure; a number keeps the old (message, exitCode) form. */
  constructor(message: string, codeOrExit: ErrorCode | number = 'failed') {
    super(message)
    this.name = 'UserError'
    if (typeof codeOrExit === 'number') {
      this.code = codeOrExit === 130 ? 'interrupted' : 'failed'
      this.exitCode = codeOrExit
    } else {
      this.code = codeOrExit
      this.exitCode = EXIT_CODES[codeOrExit]
    }
  }
}

/** Something named does not exist (a machine, a swarm, a node, a cloud resource). */
export class NotFoundError extends UserError {
  constructor(message: string) {
    super(message, 'not_found')
    this.name = 'NotFoundError'
  }
}

export class ExistsError extends UserError {
  constructor(message: string) {
    super(message, 'exists')
    this.name = 'ExistsError'
  }
}

/** The request clashes with the state of things (a lock held, the last manager, a port taken). */
export class ConflictError extends UserError {
  constructor(message: string) {
    super(message, 'conflict')
    this.name = 'ConflictError'
  }
}

/** A cloud API answered with an error berth cannot fix by retrying. */
export class CloudApiError extends UserError {
  constructor(message: string, readonly status?: number) {
    super(message, 'cloud_api')
    this.name = 'CloudApiError'
  }
}

/** The exit status for any error: codes for berth's own, oclif's exit for its parse errors, else 1. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UserError) return err.exitCode
  const oclif = (err as {oclif?: {exit?: number}} | undefined)?.oclif
  return oclif?.exit ?? 1
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0]
  return String(err)
}
