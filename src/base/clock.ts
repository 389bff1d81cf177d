/**
 * Time and randomness, injected into the gossip core so that tests and simulations run on virtual time with a
 * seeded generator and a failing seed replays exactly.
 */

export type TimerHandle = { readonly id: number }

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle | null | undefined): void
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number
}

/** A uniform integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random.next() * n)
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1)
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}

/** mulberry32: small, fast, good enough for protocol randomness in tests and simulations. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

/** The same generator as a bare function (for tests and fuzzers that want `() => number`). */
export function seededRandomFn(seed: number): () => number {
  const r = seededRandom(seed)
  return () => r.next()
}

export const mathRandom: Random = { next: () => Math.random() }

/** The real clock: performance.now() and Node timers, unref'd so they never keep a process alive on their own. */
export function realClock(): Clock {
  let ids = 0
  const timers = new Map<number, NodeJS.Timeout>()
  return {
    now: () => performance.now(),
    setTimeout(fn, ms) {
      const handle = { id: ++ids }
      const t = setTimeout(() => {
        timers.delete(handle.id)
        fn()
      }, Math.max(0, ms))
      t.unref()
      timers.set(handle.id, t)
      return handle
    },
    clearTimeout(handle) {
      if (!handle) return
      const t = timers.get(handle.id)
      if (t) {
        clearTimeout(t)
        timers.delete(handle.id)
      }
    },
  }
}
