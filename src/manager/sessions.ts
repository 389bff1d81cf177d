import { createHash, randomBytes } from 'node:crypto'
import type { Clock } from '../base/clock.ts'
import { dashboardLimits, type DashboardLimits } from '../config/index.ts'

/**
 * Dashboard sessions and the one-time login codes that open them (pure: the clock and the random bytes are
 * injected). An admin mints a code (`mesh ui login`, POST /v1/ui/login-codes); the login page trades it, once and
 * within `loginCodeTtlMs`, for a session: a random 256-bit id the browser keeps in the `mesh_session` cookie.
 * The manager keeps only SHA-256 hashes of codes and session ids (a lookup by hash, so no comparison depends on
 * the secret), never the secrets themselves. A session ends after `sessionIdleMs` without a request, after
 * `sessionLifetimeMs` whatever its use, at logout, or when `maxSessions` newer ones push it out. Login attempts are
 * counted per source address, `loginAttemptsPerMinute` at most, right or wrong. Sessions live in memory: a
 * manager restart ends them all (log in again).
 */

/** `n` cryptographically random bytes (default: node:crypto's randomBytes). */
export type SecretBytes = (n: number) => Uint8Array

export interface SessionsOptions {
  /** Monotonic milliseconds (the manager's clock). */
  clock: Clock
  randomBytes?: SecretBytes
  limits?: Readonly<DashboardLimits>
}

export interface LoginCode {
  /** The code to type into the login page (32 hex digits, 128 bits); shown once, kept only as a hash. */
  code: string
  expiresInMs: number
}

interface Session { created: number; lastSeen: number }
interface Window { start: number; count: number }

const RATE_WINDOW_MS = 60_000

const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex')

export class DashboardSessions {
  readonly limits: Readonly<DashboardLimits>
  readonly #clock: Clock
  readonly #random: SecretBytes
  /** hash(code) → expiry; insertion order is age. */
  readonly #codes = new Map<string, number>()
  /** hash(session id) → times; re-inserted on use, so the first entry is the least recently used. */
  readonly #sessions = new Map<string, Session>()
  /** source address → its current one-minute window of login attempts; insertion order is age. */
  readonly #attempts = new Map<string, Window>()

  constructor(o: SessionsOptions) {
    this.#clock = o.clock
    this.#random = o.randomBytes ?? ((n) => randomBytes(n))
    this.limits = o.limits ?? dashboardLimits()
  }

  /** A new single-use login code, valid for `loginCodeTtlMs`; beyond `maxLoginCodes` unused ones the oldest goes. */
  mintCode(): LoginCode {
    this.#pruneCodes()
    const code = Buffer.from(this.#random(16)).toString('hex')
    while (this.#codes.size >= this.limits.maxLoginCodes) this.#codes.delete(this.#codes.keys().next().value as string)
    this.#codes.set(hash(code), this.#clock.now() + this.limits.loginCodeTtlMs)
    return { code, expiresInMs: this.limits.loginCodeTtlMs }
  }

  /**
   * Count one login attempt from `source`; false when it is over this minute's budget (the attempt must then be
   * refused without looking at its code). Called before the request body is read.
   */
  allowAttempt(source: string): boolean {
    const now = this.#clock.now()
    let w = this.#attempts.get(source)
    if (!w || now - w.start >= RATE_WINDOW_MS) {
      this.#attempts.delete(source)
      if (this.#attempts.size >= this.limits.maxLoginSources) {
        for (const [k, v] of this.#attempts) if (now - v.start >= RATE_WINDOW_MS) this.#attempts.delete(k)
        while (this.#attempts.size >= this.limits.maxLoginSources) this.#attempts.delete(this.#attempts.keys().next().value as string)
      }
      w = { start: now, count: 0 }
      this.#attempts.set(source, w)
    }
    w.count++
    return w.count <= this.limits.loginAttemptsPerMinute
  }

  /** Trade a login code for a new session id; null when the code is unknown, used or expired. Uses the code up. */
  login(code: string): string | null {
    this.#pruneCodes()
    const h = hash(code.trim())
    if (!this.#codes.delete(h)) return null
    this.#pruneSessions()
    while (this.#sessions.size >= this.limits.maxSessions) this.#sessions.delete(this.#sessions.keys().next().value as string)
    const id = Buffer.from(this.#random(32)).toString('base64url')
    const now = this.#clock.now()
    this.#sessions.set(hash(id), { created: now, lastSeen: now })
    return id
  }

  /**
   * Whether `id` names a live session. `touch` (a request) restarts its idle time; a live stream checks without
   * touching, so an open dashboard nobody uses still ends after `sessionIdleMs`.
   */
  check(id: string | undefined, touch = true): boolean {
    if (!id) return false
    const h = hash(id)
    const s = this.#sessions.get(h)
    if (!s) return false
    if (!this.#live(s, this.#clock.now())) {
      this.#sessions.delete(h)
      return false
    }
    if (touch) {
      s.lastSeen = this.#clock.now()
      this.#sessions.delete(h)
      this.#sessions.set(h, s)
    }
    return true
  }

  /** End a session (logout); true when it was live. */
  logout(id: string | undefined): boolean {
    if (!id) return false
    return this.#sessions.delete(hash(id))
  }

  /** Live sessions now. */
  get size(): number {
    this.#pruneSessions()
    return this.#sessions.size
  }

  #live(s: Session, now: number): boolean {
    return now - s.created < this.limits.sessionLifetimeMs && now - s.lastSeen < this.limits.sessionIdleMs
  }

  #pruneSessions(): void {
    const now = this.#clock.now()
    for (const [h, s] of this.#sessions) if (!this.#live(s, now)) this.#sessions.delete(h)
  }

  #pruneCodes(): void {
    const now = this.#clock.now()
    for (const [h, expires] of this.#codes) if (now >= expires) this.#codes.delete(h)
  }
}
