/**
 * A latest-wins queue: `offer(v)` runs `run(v)` after the runs before it, one at a time; while one runs, only the
 * newest value offered waits (each offer replaces the waiting one). For reconcilers fed whole desired states (a
 * catalog snapshot): a burst of changes costs one pass for the newest, not one per change.
 */
export class LatestWins<T> {
  readonly #run: (v: T) => Promise<void>
  #waiting: { v: T } | null = null
  #chain: Promise<void> = Promise.resolve()

  constructor(run: (v: T) => Promise<void>) {
    this.#run = run
  }

  offer(v: T): void {
    const idle = this.#waiting === null
    this.#waiting = { v }
    if (!idle) return
    this.#chain = this.#chain.then(async () => {
      const w = this.#waiting
      this.#waiting = null
      if (w) await this.#run(w.v)
    })
  }

  /** Resolves when every run offered so far is done. */
  settled(): Promise<void> {
    return this.#chain
  }
}
