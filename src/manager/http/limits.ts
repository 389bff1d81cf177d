/**
 * The API server's resource limits (src/config ApiLimits): head, body and idle timeouts, and connection caps overall
 * and per source address. Node's own `requestTimeout` cannot exempt one route, and a log upload is a request body
 * that lasts as long as the CLI follows, so the body timeout is kept here per request: `streaming(req)` lifts the
 * body and idle timeouts for a route that streams, and is called only after the caller is authenticated.
 */
import type http from 'node:http'
import type { Socket } from 'node:net'
import type { ApiLimits } from '../../config/index.ts'

const BODY_TIMER = Symbol('mesh.bodyTimer')
type Timed = http.IncomingMessage & { [BODY_TIMER]?: NodeJS.Timeout }

/** Options for `http.createServer`: Node checks head timeouts every `connectionsCheckingInterval` (30 s by default). */
export function serverOptions(limits: Readonly<ApiLimits>): http.ServerOptions {
  return { connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(limits.headersTimeoutMs / 4))) }
}

/** Apply the limits to a server (made with `serverOptions`) before it listens. */
export function applyLimits(server: http.Server, limits: Readonly<ApiLimits>): void {
  server.headersTimeout = limits.headersTimeoutMs
  server.requestTimeout = 0 // per request below: a log upload is a body that lasts as long as `service logs -f`
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.timeout = limits.idleTimeoutMs // no byte either way while a request is open: the socket is destroyed
  server.maxConnections = limits.maxConnections // Node closes the excess at once

  const perSource = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress
    if (addr === undefined) return // unix socket: root only
    const n = (perSource.get(addr) ?? 0) + 1
    if (n > limits.maxConnectionsPerSource) {
      socket.destroy()
      return
    }
    perSource.set(addr, n)
    socket.once('close', () => {
      const left = (perSource.get(addr) ?? 1) - 1
      if (left <= 0) perSource.delete(addr)
      else perSource.set(addr, left)
    })
  })

  // Ahead of the app, so a route's `streaming(req)` comes after (and wins over) these per-request settings.
  server.prependListener('request', (req: Timed) => {
    req.socket.setTimeout(limits.idleTimeoutMs) // Node clears the socket timeout when a kept-alive connection is reused
    if (req.complete) return
    const timer = setTimeout(() => {
      if (!req.complete) req.socket.destroy()
    }, limits.bodyTimeoutMs)
    timer.unref()
    req[BODY_TIMER] = timer
    req.once('end', () => clearTimeout(timer))
    req.once('close', () => clearTimeout(timer))
  })
}

/** This request streams (a long body or a long answer): no body or idle timeout for it. Call after authentication. */
export function streaming(req: http.IncomingMessage): void {
  clearTimeout((req as Timed)[BODY_TIMER])
  req.socket.setTimeout(0)
}
