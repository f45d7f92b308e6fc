/**
 * The one way berth waits: an abortable sleep and a poll loop with a deadline. Every wait for a
 * host, an engine, a cloud operation or a lock goes through here, so Ctrl-C ends each of them.
 */
import {setTimeout as delay} from 'node:timers/promises'

/** Sleep ms; rejects with the signal's reason when aborted (no listener is left behind). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason)
  return delay(ms, undefined, {signal}).then(() => undefined, err => {
    throw signal?.aborted ? signal.reason : err
  })
}

export interface PollOptions {
  /** Give up after this long (ms). */
  timeoutMs: number
  /** First pause between attempts (ms); grows by `backoff` up to `maxIntervalMs`. */
  intervalMs?: number
  backoff?: number
  maxIntervalMs?: number
  signal?: AbortSignal
  /** Message of the error thrown at the deadline (the last attempt's error is appended). */
  what?: string
  /** Errors that end the wait at once (a refused host key, bad input) rather than count as "not yet". */
  fatal?: (err: unknown) => boolean
  /**
   * The error thrown at the deadline, when `what` is not enough (given the last attempt's error).
   * May be async: the message can need a last look (a log's tail) or the wait a clean-up first.
   */
  timeoutError?: (last: unknown) => Error | Promise<Error>
  /** Called before the pause after an attempt that threw (for debug lines). */
  onRetry?: (err: unknown, pauseMs: number) => void
}

/**
 * Call `attempt` until it returns a value other than undefined, or the deadline passes. An
 * attempt that throws counts as "not yet"; at the deadline the last error is reported.
 */
export async function poll<T>(attempt: (left: number) => Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs
  let interval = opts.intervalMs ?? 250
  let last: unknown
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason
    let failed = false
    try {
      const v = await attempt(deadline - Date.now())
      if (v !== undefined) return v
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason
      if (opts.fatal?.(err)) throw err
      last = err
      failed = true
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      if (opts.timeoutError) throw await opts.timeoutError(last)
      const why = last instanceof Error ? `: ${last.message.split('\n')[0]}` : ''
      throw new Error(`${opts.what ?? 'timed out'}${why}`)
    }
    const pause = Math.min(interval, left)
    if (failed) opts.onRetry?.(last, pause)
    await sleep(pause, opts.signal)
    interval = Math.min(interval * (opts.backoff ?? 1), opts.maxIntervalMs ?? Number.POSITIVE_INFINITY)
  }
}

/**
 * Wait until `check` says true, or give up quietly at the deadline (false): for waits whose
 * end is only a courtesy (a peer that may never come). Errors from `check` end the wait.
 */
export async function pollUntil(check: () => Promise<boolean>, opts: {timeoutMs: number; intervalMs: number; signal?: AbortSignal}): Promise<boolean> {
  const deadline = Date.now() + opts.timeoutMs
  for (;;) {
    opts.signal?.throwIfAborted()
    if (await check()) return true
    const left = deadline - Date.now()
    if (left <= 0) return false
    await sleep(Math.min(opts.intervalMs, left), opts.signal)
  }
}
