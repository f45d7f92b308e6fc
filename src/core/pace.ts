/**
 * Pacing for one rate-limited API scope (a cloud's credentials and region). Until the API
 * first answers 429 nothing waits. A 429 closes the gate for its Retry-After, a little longer
 * at random, and sets a rate from what got through in the last second; requests then leave one
 * queue at that rate, which grows by 1 % a success and is cut by 30 % on a 429 (at most once a
 * second). A hundred parallel creates so share the limit instead of each being refused again
 * and again; the queue is first in, first out, and one timer serves it.
 */
const MIN_RATE = 0.5
const MAX_RATE = 1000
/** Growth per success: a limit several times the first estimate is found within a few dozen calls. */
const GROW = 1.01
const CUT = 0.7

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
  signal?: AbortSignal
  onAbort?: () => void
}

export class Pacer {
  /** Requests a second; Infinity until the first 429. */
  private rate = Infinity
  private nextSlot = 0
  private gateUntil = 0
  private lastCut = 0
  private recent: number[] = []
  private readonly queue: Waiter[] = []
  private timer?: NodeJS.Timeout
  readonly stats = {throttled: 0, waitedMs: 0}

  /** Wait for this request's turn (at once while no 429 was seen). */
  take(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (!this.queue.length && this.ready(Date.now())) {
      this.consume(Date.now())
      return Promise.resolve()
    }
    const t0 = Date.now()
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {resolve: () => {
        this.stats.waitedMs += Date.now() - t0
        resolve()
      }, reject, signal}
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w)
          if (i >= 0) this.queue.splice(i, 1)
          reject(signal.reason)
        }
        signal.addEventListener('abort', w.onAbort, {once: true})
      }
      this.queue.push(w)
      this.schedule()
    })
  }

  ok(): void {
    const now = Date.now()
    this.recent.push(now)
    if (this.recent.length > 256 || this.recent[0] < now - 1000) this.recent = this.recent.filter(t => t >= now - 1000)
    if (Number.isFinite(this.rate)) this.rate = Math.min(MAX_RATE, this.rate * GROW)
  }

  /** A 429: `retryAfterMs` as the API asked (undefined: it did not say), `fallbackMs` otherwise. */
  throttled(retryAfterMs: number | undefined, fallbackMs = 1000): void {
    const now = Date.now()
    this.stats.throttled++
    const wait = (retryAfterMs ?? fallbackMs) * (1 + Math.random() * 0.2) + Math.random() * 100
    this.gateUntil = Math.max(this.gateUntil, now + wait)
    // One cut per second: the answers of one burst of requests tell one thing, not many.
    if (now - this.lastCut >= 1000) {
      this.lastCut = now
      const through = this.recent.filter(t => t >= now - 1000).length
      this.rate = Math.max(MIN_RATE, Number.isFinite(this.rate) ? this.rate * CUT : through || 1)
    }
    this.reschedule()
  }

  private ready(now: number): boolean {
    return now >= this.gateUntil && (!Number.isFinite(this.rate) || now >= this.nextSlot)
  }

  private consume(now: number): void {
    if (Number.isFinite(this.rate)) this.nextSlot = Math.max(now, this.nextSlot) + 1000 / this.rate
  }

  private reschedule(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.queue.length) this.schedule()
  }

  private schedule(): void {
    if (this.timer || !this.queue.length) return
    const now = Date.now()
    const at = Math.max(this.gateUntil, Number.isFinite(this.rate) ? this.nextSlot : 0)
    this.timer = setTimeout(() => {
      this.timer = undefined
      for (let t = Date.now(); this.queue.length && this.ready(t); t = Date.now()) {
        const w = this.queue.shift()!
        this.consume(t)
        if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort)
        w.resolve()
      }
      this.schedule()
    }, Math.max(0, at - now))
  }
}
