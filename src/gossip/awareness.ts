/**
 * Lifeguard local health awareness (memberlist awareness.go): a score in [0, max) that rises when we fail to
 * refute or our probes go unanswered (a sign that *we* are slow), and falls on good probes. Timeouts scale by
 * (score + 1), so an overloaded node slows down instead of accusing healthy peers.
 */
export class Awareness {
  readonly #max: number
  #score = 0

  constructor(max: number) {
    this.#max = max
  }

  get score(): number {
    return this.#score
  }

  applyDelta(delta: number): void {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta))
  }

  scaleTimeout(ms: number): number {
    return ms * (this.#score + 1)
  }
}
