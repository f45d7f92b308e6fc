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
    try {
      const v = await attempt(deadline - Date.now())
      if (v !== undefined) return v
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason
      last = err
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      const why = last instanceof Error ? `: ${last.message.split('\n')[0]}` : ''
      throw new Error(`${opts.what ?? 'timed out'}${why}`)
    }
    await sleep(Math.min(interval, left), opts.signal)
    interval = Math.min(interval * (opts.backoff ?? 1), opts.maxIntervalMs ?? Number.POSITIVE_INFINITY)
  }
}
