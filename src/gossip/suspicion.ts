import type { Clock, TimerHandle } from '../base/clock.ts'

/**
 * Lifeguard suspicion timeouts (memberlist suspicion.go). A suspected node is declared dead when its timer runs
 * out; each independent confirmation from another member shortens the timer logarithmically towards `minMs`.
 */

/** min suspicion timeout = mult × max(1, log10(n)) × interval (memberlist suspicionTimeout). */
export function suspicionTimeoutMs(mult: number, n: number, intervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(mult * nodeScale * intervalMs)
}

/** Timeout after `confirmations` of `k` expected: max − ln(c+1)/ln(k+1) × (max − min), floored at min. */
export function remainingSuspicionMs(confirmations: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(k + 1)
  const raw = maxMs - frac * (maxMs - minMs)
  return Math.max(minMs, Math.floor(raw))
}

export class Suspicion {
  readonly #clock: Clock
  readonly #k: number
  readonly #minMs: number
  readonly #maxMs: number
  readonly #start: number
  readonly #confirmers = new Set<string>()
  readonly #onTimeout: (confirmations: number) => void
  #timer: TimerHandle | null = null

  /** `from` is the member whose suspicion started this; it never counts as a confirmation. */
  constructor(clock: Clock, from: string, k: number, minMs: number, maxMs: number, onTimeout: (n: number) => void) {
    this.#clock = clock
    this.#k = k
    this.#minMs = minMs
    this.#maxMs = maxMs
    this.#onTimeout = onTimeout
    this.#start = clock.now()
    this.#confirmers.add(from)
    const timeout = k < 1 ? minMs : maxMs
    this.#timer = clock.setTimeout(() => this.#fire(), timeout)
  }

  get confirmations(): number {
    return this.#confirmers.size - 1
  }

  /** Record a confirmation; returns true if `from` is new (the caller then re-gossips the suspicion). */
  confirm(from: string): boolean {
    if (this.confirmations >= this.#k || this.#confirmers.has(from)) return false
    this.#confirmers.add(from)
    const total = remainingSuspicionMs(this.confirmations, this.#k, this.#minMs, this.#maxMs)
    const left = total - (this.#clock.now() - this.#start)
    this.#clock.clearTimeout(this.#timer)
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, left))
    return true
  }

  cancel(): void {
    this.#clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  #fire(): void {
    this.#timer = null
    this.#onTimeout(this.confirmations)
  }
}
