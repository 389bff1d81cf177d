/**
 * Operations serialized per key, concurrent across keys up to a limit (the runner's "one operation per task at a
 * time, at most N tasks at once"). An operation's failure is handed to `settled` and does not stop its key's chain.
 */
export class KeyedQueue {
  readonly #limit: number
  readonly #settled: (key: string, failure: { err: unknown } | null) => void
  readonly #chains = new Map<string, Promise<void>>()
  #active = 0
  readonly #waiting: (() => void)[] = []

  /** `settled(key, failure)` runs after each operation (failure null on success), once `has(key)` is false again. */
  constructor(limit: number, settled: (key: string, failure: { err: unknown } | null) => void) {
    this.#limit = limit
    this.#settled = settled
  }

  /** True while `key` has an operation queued or running. */
  has(key: string): boolean {
    return this.#chains.has(key)
  }

  keys(): string[] {
    return [...this.#chains.keys()]
  }

  /** Run `fn` after every earlier operation of `key`, once a slot is free. */
  push(key: string, fn: () => Promise<void>): void {
    const prev = this.#chains.get(key) ?? Promise.resolve()
    const next: Promise<void> = prev
      .then(() => this.#slot(fn))
      .then(() => null, (err: unknown) => ({ err }))
      .then((failure) => {
        if (this.#chains.get(key) === next) this.#chains.delete(key) // before settled: it may plan this key again
        this.#settled(key, failure)
      })
    this.#chains.set(key, next)
  }

  /** Every chain now in the queue. */
  pending(): Promise<void>[] {
    return [...this.#chains.values()]
  }

  async #slot(fn: () => Promise<void>): Promise<void> {
    while (this.#active >= this.#limit) await new Promise<void>((r) => this.#waiting.push(r))
    this.#active++
    try {
      await fn()
    } finally {
      this.#active--
      this.#waiting.shift()?.()
    }
  }
}
