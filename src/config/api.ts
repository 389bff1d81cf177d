/**
 * Limits of the manager's HTTP API server (src/manager/http): what `listen(app, where, limits)` uses when none are
 * given. docs/configuration.md ("Manager API limits") and docs/security.md ("Manager API") list them.
 */
export interface ApiLimits {
  /** A client must send its whole request head (line and headers) within this long, ms, or is disconnected. */
  headersTimeoutMs: number
  /**
   * A request body (JSON, the login form) must arrive in full within this long after the head, ms, or the connection
   * is closed. Streaming bodies (an agent's log upload) are exempt once the sender is authenticated.
   */
  bodyTimeoutMs: number
  /**
   * A connection with no byte either way this long while a request is open is closed, ms. Streaming answers (the
   * watch stream, events, log streams, the dashboard's SSE) are exempt once the caller is authenticated.
   */
  idleTimeoutMs: number
  /** An idle keep-alive connection between requests is closed after this long, ms (Node's default 5 s). */
  keepAliveTimeoutMs: number
  /** Open connections on one listener; more are closed at once (each agent holds one watch stream). */
  maxConnections: number
  /** Open connections from one source address; more are closed at once. The unix socket has no limit. */
  maxConnectionsPerSource: number
}

export function apiLimits(): Readonly<ApiLimits> {
  return Object.freeze({
    headersTimeoutMs: 10_000, bodyTimeoutMs: 30_000, idleTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000,
    maxConnections: 4_096, maxConnectionsPerSource: 256,
  })
}
