import { readFileSync } from 'node:fs'
import type { Clock } from '../base/index.ts'

/**
 * The ingress's admission limits (docs/ingress.md, "Limits"), pure counters the proxies consult on their accept
 * path, so a flood of clients is refused one connection at a time instead of crashing the agent with EMFILE:
 *
 * - `FdBudget`: file descriptors the ingress may hold across every published port of the process. A proxied TCP
 *   connection costs 2 (client + upstream), a UDP flow 1 (its upstream socket). A connection the budget cannot pay
 *   for is closed on accept and counted.
 * - `SourceCaps`: open connections (UDP: flows) per client address on one published port; 0 = no cap.
 * - `Throttle`: one log line per interval, carrying how many events it stood for.
 */

/** Why a connection was refused by a limit (the proxies' `rejected(reason)` hook gets these strings). */
export const REFUSED_FD_BUDGET = 'fd budget exhausted'
export const REFUSED_PER_SOURCE = 'per-source cap reached'

/** Descriptors a proxied TCP connection holds (client socket + upstream socket). */
export const TCP_CONNECTION_FDS = 2
/** Descriptors a UDP flow holds (its connected upstream socket; the listener is shared). */
export const UDP_FLOW_FDS = 1

/** A process-wide budget of descriptors: take before opening, give back once closed. */
export class FdBudget {
  readonly capacity: number
  #used = 0
  #refused = 0

  /** `capacity`: descriptors, ≥ 0 (0 refuses every connection). */
  constructor(capacity: number) {
    this.capacity = capacity
  }

  /** Descriptors held now. */
  get used(): number {
    return this.#used
  }

  /** Connections refused for want of descriptors since construction. */
  get refused(): number {
    return this.#refused
  }

  /** Reserve `fds`; false (and counted) when that would exceed the capacity. */
  take(fds: number): boolean {
    if (this.#used + fds > this.capacity) {
      this.#refused++
      return false
    }
    this.#used += fds
    return true
  }

  give(fds: number): void {
    this.#used = Math.max(0, this.#used - fds)
  }
}

/** Open connections per source address on one published port. */
export class SourceCaps {
  readonly cap: number
  readonly #open = new Map<string, number>()
  #refused = 0

  /** `cap`: connections per source address; 0 = no cap (nothing is tracked). */
  constructor(cap: number) {
    this.cap = cap
  }

  get enabled(): boolean {
    return this.cap > 0
  }

  /** Connections refused by the cap since construction. */
  get refused(): number {
    return this.#refused
  }

  /** Open connections of `src` now. */
  openOf(src: string): number {
    return this.#open.get(src) ?? 0
  }

  /** True (and counted as a refusal) when `src` has `cap` open already: a check that takes nothing. */
  refuses(src: string): boolean {
    if (this.cap <= 0 || (this.#open.get(src) ?? 0) < this.cap) return false
    this.#refused++
    return true
  }

  /** Count one more connection of `src`; false (and counted) when it already has `cap`. Always true without a cap. */
  take(src: string): boolean {
    if (this.cap <= 0) return true
    const n = this.#open.get(src) ?? 0
    if (n >= this.cap) {
      this.#refused++
      return false
    }
    this.#open.set(src, n + 1)
    return true
  }

  give(src: string): void {
    if (this.cap <= 0) return
    const n = this.#open.get(src) ?? 0
    if (n <= 1) this.#open.delete(src)
    else this.#open.set(src, n - 1)
  }
}

/** Lets one event through per `everyMs`; `hit()` returns how many events the line stands for, or 0 to stay quiet. */
export class Throttle {
  readonly #clock: Pick<Clock, 'now'>
  readonly #everyMs: number
  #last = -Infinity
  #held = 0

  constructor(clock: Pick<Clock, 'now'>, everyMs: number) {
    this.#clock = clock
    this.#everyMs = everyMs
  }

  hit(): number {
    this.#held++
    const now = this.#clock.now()
    if (now - this.#last < this.#everyMs) return 0
    this.#last = now
    const n = this.#held
    this.#held = 0
    return n
  }
}

/**
 * The soft RLIMIT_NOFILE of this process (Node raises its soft limit to the hard one at start), from
 * /proc/self/limits; `fallback` where that file is missing or unreadable.
 */
export function openFileLimit(read: (path: string) => string = (p) => readFileSync(p, 'utf8'), fallback = 1024): number {
  try {
    const line = read('/proc/self/limits').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER
    const n = Number(soft)
    return Number.isSafeInteger(n) && n > 0 ? n : fallback
  } catch {
    return fallback
  }
}

/** The limits a listener applies on accept. */
export interface Admission {
  fdBudget?: FdBudget | undefined
  perSource?: SourceCaps | undefined
}

/** True when `a` counts connections per source (callers look the peer address up only then). */
export function capsSources(a: Admission): boolean {
  return a.perSource?.enabled === true
}

/**
 * Admit a new connection (or flow) of `src` (null when no cap counts sources: capsSources) that needs `fds`
 * descriptors: the per-source cap first, then the budget. Refused: `hooks.rejected(reason)` is called, nothing
 * stays taken, and the result is false. Admitted: true; hand `src` back to `release` when it closes.
 */
export function admit(a: Admission, fds: number, src: string | null, hooks: { rejected(reason: string): void }): boolean {
  if (src !== null && a.perSource && !a.perSource.take(src)) {
    hooks.rejected(REFUSED_PER_SOURCE)
    return false
  }
  if (a.fdBudget && !a.fdBudget.take(fds)) {
    if (src !== null) a.perSource?.give(src)
    hooks.rejected(REFUSED_FD_BUDGET)
    return false
  }
  return true
}

/** Give back what `admit` took for a connection that has closed. */
export function release(a: Admission, fds: number, src: string | null): void {
  a.fdBudget?.give(fds)
  if (src !== null) a.perSource?.give(src)
}
