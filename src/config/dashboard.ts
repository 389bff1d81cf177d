/**
 * The dashboard's sessions and login codes (src/manager/sessions.ts): what a Manager uses when none are given.
 * docs/security.md ("Dashboard") and docs/configuration.md list them.
 */
export interface DashboardLimits {
  /** A session with no request for this long ends, ms (an open live stream is not a request). Default 30 min. */
  sessionIdleMs: number
  /** A session ends this long after its login whatever its use, ms; also the cookie's Max-Age. Default 8 h. */
  sessionLifetimeMs: number
  /** Live sessions at most; a login beyond it ends the least recently used one. Default 64. */
  maxSessions: number
  /** A login code (`mesh ui login`) must be used within this long, ms, and only once. Default 5 min. */
  loginCodeTtlMs: number
  /** Unused login codes kept at most; minting beyond it drops the oldest. Default 16. */
  maxLoginCodes: number
  /** Login attempts (right or wrong) from one source address per minute; more get 429. Default 5. */
  loginAttemptsPerMinute: number
  /** Source addresses whose login attempts are counted at once; beyond it the oldest count is dropped. Default 4096. */
  maxLoginSources: number
}

export function dashboardLimits(): Readonly<DashboardLimits> {
  return Object.freeze({
    sessionIdleMs: 30 * 60_000, sessionLifetimeMs: 8 * 3_600_000, maxSessions: 64,
    loginCodeTtlMs: 5 * 60_000, maxLoginCodes: 16, loginAttemptsPerMinute: 5, maxLoginSources: 4096,
  })
}
