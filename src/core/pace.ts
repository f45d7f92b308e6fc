/**
 * Pacing for one rate-limited API scope (a cloud's credentials and region). Until the API
 * first answers 429 nothing waits. A 429 closes the gate for its Retry-After, a little longer
 * at random (callers told to wait together must not return together), and sets a rate from
 * what got through in the last second; each success then raises that rate by 2 % and each
 * later 429 cuts it by 30 % (about one 429 per 18 calls once the limit is found). A hundred parallel creates
 * so share the limit instead of each being refused again and again.
 */
import {sleep} from './poll.js'

const MIN_RATE = 0.5
const MAX_RATE = 1000
/** Growth per success: a limit several times the first estimate is found within a few dozen calls. */
const GROW = 1.02
const CUT = 0.7

export class Pacer {
  /** Requests a second; Infinity until the first 429. */
  private rate = Infinity
  private nextSlot = 0
  private gateUntil = 0
  private lastCut = 0
  private recent: number[] = []
  readonly stats = {throttled: 0, waitedMs: 0}

  /** Wait for this request's turn (at once while no 429 was seen). */
  async take(signal?: AbortSignal): Promise<void> {
    const now = Date.now()
    let at = Math.max(now, this.gateUntil)
    if (Number.isFinite(this.rate)) {
      at = Math.max(at, this.nextSlot)
      this.nextSlot = at + 1000 / this.rate
    }
    if (at <= now) return
    this.stats.waitedMs += at - now
    await sleep(at - now, signal)
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
    if (now - this.lastCut < 1000) return
    this.lastCut = now
    const through = this.recent.filter(t => t >= now - 1000).length
    this.rate = Math.max(MIN_RATE, Number.isFinite(this.rate) ? this.rate * CUT : through || 1)
  }

  /** The current pace, for debug lines and the bench (Infinity: not throttled yet). */
  get perSecond(): number {
    return this.rate
  }
}
