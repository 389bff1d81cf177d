import type { Leadership } from '../../src/manager/leadership.ts'

/** A Leadership a test elects and deposes by hand (`set(true)` / `set(false)`); listeners hear each change once. */
export class FakeLeadership implements Leadership {
  #leading: boolean
  #leader: string | undefined
  readonly #listeners = new Set<(leading: boolean) => void>()

  constructor(o: { leading?: boolean; leader?: string } = {}) {
    this.#leading = o.leading ?? false
    this.#leader = o.leader
  }

  isLeader(): boolean {
    return this.#leading
  }

  leader(): string | undefined {
    return this.#leader
  }

  onChange(cb: (leading: boolean) => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  /** Elect (true) or depose (false) this manager; `leader`: who leads as observed afterwards. */
  set(leading: boolean, leader?: string): void {
    this.#leader = leader
    if (leading === this.#leading) return
    this.#leading = leading
    for (const cb of this.#listeners) cb(leading)
  }
}
