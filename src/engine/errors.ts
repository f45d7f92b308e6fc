import {ConflictError, NotFoundError} from '../core/index.js'

/**
 * An engine's error answer. 404 and 409 come as the core's NotFoundError and ConflictError (so
 * callers test the kind, not the text), yet every engine error is still `instanceof EngineError`.
 */
const ENGINE = Symbol('berth.engine-error')

interface Branded {
  [ENGINE]: true
  statusCode?: number
}

export class EngineError extends Error {
  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && ENGINE in x
  }

  readonly [ENGINE] = true as const
  constructor(message: string, readonly statusCode?: number) {
    super(message)
  }
}

export class EngineNotFoundError extends NotFoundError implements Branded {
  readonly [ENGINE] = true as const
  constructor(message: string, readonly statusCode = 404) {
    super(message)
  }
}

export class EngineConflictError extends ConflictError implements Branded {
  readonly [ENGINE] = true as const
  constructor(message: string, readonly statusCode = 409) {
    super(message)
  }
}

/** The typed error for an engine's answer with this status. */
export function engineError(message: string, status?: number): EngineError | EngineNotFoundError | EngineConflictError {
  if (status === 404) return new EngineNotFoundError(message)
  if (status === 409) return new EngineConflictError(message)
  return new EngineError(message, status)
}

export interface HttpResult<T = unknown> {
  status: number
  body: T
  text: string
}

/** The engine's own error text (`{"message": ...}`), else the HTTP status. */
export function engineMessage(r: HttpResult): string {
  const b = r.body as {message?: string} | undefined
  return (typeof b === 'object' && b?.message) || r.text.trim() || `HTTP ${r.status}`
}
