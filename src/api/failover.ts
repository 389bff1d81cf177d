/**
 * Which manager to ask next, for every client that knows several (the worker link, the CLI with a list of hosts).
 * Pure: no sockets, no timers. Swarm's agents and docker's `-H a -H b` behave the same way: stay with the manager
 * that answers; when it cannot be reached, try the others in their listed order, then wrap around.
 *
 * What counts as "cannot be reached" is decided here once: no connection was made (refused, unreachable, name not
 * found, the connect timed out), or — for a read, which is safe to send twice — the connection failed before an
 * answer came (reset, timeout). An HTTP answer, whatever its status ("not leader", "no quorum", 4xx), never moves
 * a client to another manager: that manager is alive and said what it had to say.
 */

/** Error codes of a connection that was never made: the request did not reach the manager, so resending is safe. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ENOENT'])
/** Codes of a connection that broke before the answer: a read may be resent elsewhere, a write may have been applied. */
const BROKEN = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED'])

/** True when `err` says the request never reached the manager (safe to send to another one, even a write). */
export function isConnectFailure(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null
  if (typeof e !== 'object' || e === null) return false
  if (e.syscall === 'connect' || e.syscall === 'getaddrinfo') return true
  return typeof e.code === 'string' && NOT_CONNECTED.has(e.code)
}

/** True when a request that failed with `err` (no HTTP answer) should go to the next manager. */
export function shouldFailOver(err: unknown, method: string): boolean {
  if (isConnectFailure(err)) return true
  const code = (err as { code?: unknown } | null)?.code
  return method.toUpperCase() === 'GET' && typeof code === 'string' && BROKEN.has(code)
}

/** The indexes of `count` managers in the order to try them: `current` first, then the ones after it, wrapping. */
export function failoverOrder(count: number, current: number): number[] {
  if (count <= 0) return []
  const start = ((current % count) + count) % count
  return Array.from({ length: count }, (_, i) => (start + i) % count)
}
