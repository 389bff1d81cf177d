import type { Clock, TimerHandle } from '../../src/base/clock.ts'

interface Pending {
  at: number
  seq: number
  fn: () => void
}

/**
 * Virtual time. Timers fire in (time, creation) order when the test advances the clock; microtasks queued by a
 * timer callback (promise continuations) run before the next timer fires, like on the real event loop.
 */
export class FakeClock implements Clock {
  #now = 0
  #seq = 0
  #heap: Pending[] = []
  #cancelled = new Set<number>()

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.#seq
    this.#push({ at: this.#now + Math.max(0, ms), seq, fn })
    return { id: seq }
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    if (handle) this.#cancelled.add(handle.id)
  }

  /** Number of timers still pending (cancelled ones excluded lazily). */
  get pending(): number {
    return this.#heap.length - this.#cancelled.size
  }

  /** Run every timer due up to now + ms, draining microtasks after each one. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms
    for (;;) {
      await drainMicrotasks()
      const top = this.#heap[0]
      if (!top || top.at > until) break
      this.#pop()
      if (this.#cancelled.delete(top.seq)) continue
      this.#now = Math.max(this.#now, top.at)
      top.fn()
    }
    this.#now = until
    await drainMicrotasks()
  }

  #push(p: Pending): void {
    const h = this.#heap
    h.push(p)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (less(h[parent] as Pending, p)) break
      h[i] = h[parent] as Pending
      i = parent
    }
    h[i] = p
  }

  #pop(): void {
    const h = this.#heap
    const last = h.pop() as Pending
    if (h.length === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      const cur = m === i ? last : (h[m] as Pending)
      let best = cur
      if (l < h.length && less(h[l] as Pending, best)) { m = l; best = h[l] as Pending }
      if (r < h.length && less(h[r] as Pending, best)) { m = r; best = h[r] as Pending }
      if (m === i) break
      h[i] = best
      i = m
    }
    h[i] = last
  }
}

function less(a: Pending, b: Pending): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

async function drainMicrotasks(): Promise<void> {
  // A few turns let chains of awaits settle; setImmediate would leave virtual time.
  for (let i = 0; i < 8; i++) await Promise.resolve()
}
