import type { Clock } from '../base/clock.ts'

/**
 * Per-key retry back-off: after a failure a key waits `firstMs`, doubling per further failure up to `maxMs`.
 * One timer, for the earliest pending retry, calls `onDue` (the runner plans again and runs what is due).
 */
export class RetrySchedule {
  readonly #clock: Clock
  readonly #firstMs: number
  readonly #maxMs: number
  readonly #onDue: () => void
  readonly #keys = new Map<string, { at: number; delayMs: number }>()
  #timer: ReturnType<Clock['setTimeout']> | null = null
  #timerAt = Infinity

  constructor(clock: Clock, firstMs: number, maxMs: number, onDue: () => void) {
    this.#clock = clock
    this.#firstMs = firstMs
    this.#maxMs = maxMs
    this.#onDue = onDue
  }

  /** Record a failure of `key`; returns how long it now waits, ms. */
  fail(key: string): number {
    const prev = this.#keys.get(key)
    const delayMs = prev ? Math.min(prev.delayMs * 2, this.#maxMs) : this.#firstMs
    this.#keys.set(key, { at: this.#clock.now() + delayMs, delayMs })
    this.#arm()
    return delayMs
  }

  /** `key` succeeded: forget its back-off. */
  ok(key: string): void {
    this.#keys.delete(key)
  }

  /** `key` must still wait. */
  waiting(key: string): boolean {
    const r = this.#keys.get(key)
    return r !== undefined && r.at > this.#clock.now()
  }

  /** Forget keys that are due but have nothing to retry any more (their container or task went away). */
  prune(stillPending: ReadonlySet<string>): void {
    const now = this.#clock.now()
    for (const [k, r] of this.#keys) if (r.at <= now && !stillPending.has(k)) this.#keys.delete(k)
  }

  cancel(): void {
    this.#clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#timerAt = Infinity
  }

  #arm(): void {
    const now = this.#clock.now()
    let at = Infinity
    for (const r of this.#keys.values()) if (r.at > now && r.at < at) at = r.at
    if (at === Infinity || at >= this.#timerAt) return
    this.#clock.clearTimeout(this.#timer)
    this.#timerAt = at
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null
      this.#timerAt = Infinity
      this.#arm()
      this.#onDue()
    }, at - now)
  }
}
