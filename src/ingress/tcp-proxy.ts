import net from 'node:net'
import type { Clock, TimerHandle } from '../base/index.ts'
import type { Backend, Balancer } from './balancer.ts'
import type { PortProxy } from './port-proxy.ts'
import { IngressError } from './errors.ts'
import { proxyV1, proxyV2 } from './proxy-protocol.ts'
import { admit, capsSources, release, TCP_CONNECTION_FDS, type FdBudget, type SourceCaps } from './limits.ts'

/**
 * The TCP data plane of one published port: a `net.Server` whose connections are forwarded to a backend the
 * balancer picks. Built for speed (see docs/ingress.md, "Performance"):
 *  - no stream.pipe and no per-connection closures: every listener is a module-level function that finds its
 *    connection through a symbol on the socket (`this[CONN]`);
 *  - `pauseOnConnect`: nothing is read from the client before the backend is connected, so a retry on another
 *    backend replays nothing and nothing is buffered meanwhile;
 *  - 'data' → write(), and pause()/resume() on the writer's return value and 'drain': at most one socket's
 *    high-water mark plus one read chunk is ever queued per direction (backpressure);
 *  - allowHalfOpen both ways ('end' → end()), Nagle off, idle timeout on the client socket (it sees traffic of both
 *    directions), bytes counted from the sockets' own counters at close, not per chunk;
 *  - admission on accept (limits.ts): a client over its address's `perSource` cap, or one the process-wide
 *    `fdBudget` cannot pay 2 descriptors for, is closed at once and reported through `rejected(reason)`; the
 *    descriptors are given back when the client socket closes.
 */

export interface TcpProxyHooks {
  /** A backend accepted a connection after `ms` (connect latency). */
  connected(b: Backend, ms: number): void
  /** A connect to `b` failed (refused, unreachable, timed out); the client's connection is retried elsewhere if `retried`. */
  connectFailed(b: Backend, err: string, retried: boolean): void
  /** A client connection was refused: no backend took it (or `reason`). */
  rejected(reason: string): void
  /** A forwarded connection ended; bytes client→backend (`bytesIn`) and backend→client (`bytesOut`). */
  closed(b: Backend, bytesIn: number, bytesOut: number, error: boolean): void
}

export interface TcpProxyOptions {
  bindAddr: string
  port: number
  balancer: Balancer
  clock: Clock
  /** Close a connection with no traffic in either direction for this long, ms (0 = never). */
  idleTimeoutMs: number
  /** Give up a backend connect after this long and try the next one, ms. */
  connectTimeoutMs: number
  /** Connect attempts per client connection (first try + retries). */
  maxAttempts: number
  /** Open client connections beyond this are closed at once by the kernel-side accept (net.Server.maxConnections). */
  maxConnections: number
  /** Descriptors shared by every listener of the process (2 per connection). Default: no budget. */
  fdBudget?: FdBudget
  /** Open connections per client address on this port. Default: no cap. */
  perSource?: SourceCaps
  proxyProtocol?: 'v1' | 'v2'
  hooks: TcpProxyHooks
}

const CONN = Symbol('mesh.conn')
type Sock = net.Socket & { [CONN]?: Conn }

class Conn {
  upstream: Sock | null = null
  backend: Backend | null = null
  tried: Set<string> | null = null
  t0 = 0
  connected = false
  done = false
  /** The client's address when a per-source cap counts it. */
  src: string | null = null
  readonly proxy: TcpProxy
  readonly client: Sock
  constructor(proxy: TcpProxy, client: Sock) {
    this.proxy = proxy
    this.client = client
  }
}

export class TcpProxy implements PortProxy {
  readonly #o: TcpProxyOptions
  #server: net.Server | null = null
  readonly #conns = new Set<Conn>()
  readonly #timers = new Set<TimerHandle>()

  constructor(o: TcpProxyOptions) {
    this.#o = o
  }

  get port(): number {
    const a = this.#server?.address()
    return a && typeof a === 'object' ? a.port : this.#o.port
  }

  /** Open client connections. */
  get open(): number {
    return this.#conns.size
  }

  async start(): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true })
    server.maxConnections = this.#o.maxConnections
    server.on('connection', (s: Sock) => this.#accept(s))
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new IngressError(`ingress: cannot listen on ${this.#o.bindAddr}:${this.#o.port}/tcp: ${err.message}`, { cause: err })))
      server.listen({ host: this.#o.bindAddr, port: this.#o.port, backlog: 4096, reusePort: true }, () => resolve())
    })
    server.on('error', () => undefined)
  }

  async closeListener(): Promise<void> {
    const server = this.#server
    this.#server = null
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async stop(): Promise<void> {
    for (const h of this.#timers) this.#o.clock.clearTimeout(h)
    this.#timers.clear()
    const server = this.#server
    this.#server = null
    for (const c of [...this.#conns]) destroyConn(c)
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /**
   * These backends take no new connections (stopping, unhealthy or gone): their open connections continue until
   * `graceMs` has passed, then are closed.
   */
  retire(backends: readonly Backend[], graceMs: number): void {
    if (backends.length === 0) return
    const set = new Set(backends)
    const victims = [...this.#conns].filter((c) => c.backend && set.has(c.backend))
    if (victims.length === 0) return
    const h = this.#o.clock.setTimeout(() => {
      this.#timers.delete(h)
      for (const c of victims) {
        // Still stopping (or gone)? A backend that came back healthy keeps its connections.
        if (!c.done && c.backend && !this.#o.balancer.eligible(c.backend)) destroyConn(c)
      }
    }, graceMs)
    this.#timers.add(h)
  }

  /** Open connections per backend key. */
  openByBackend(): Map<string, number> {
    const m = new Map<string, number>()
    for (const c of this.#conns) if (c.backend && c.connected) m.set(c.backend.key, (m.get(c.backend.key) ?? 0) + 1)
    return m
  }

  /** Bytes queued in this process (both directions' write buffers) across open connections. */
  queuedBytes(): number {
    let n = 0
    for (const c of this.#conns) n += c.client.writableLength + (c.upstream?.writableLength ?? 0)
    return n
  }

  /** Bytes moved so far by connections still open, per backend key: [in, out]. */
  liveBytes(): Map<string, [number, number]> {
    const m = new Map<string, [number, number]>()
    for (const c of this.#conns) {
      if (!c.backend) continue
      const v = m.get(c.backend.key) ?? [0, 0]
      v[0] += c.client.bytesRead
      v[1] += c.client.bytesWritten
      m.set(c.backend.key, v)
    }
    return m
  }

  #accept(client: Sock): void {
    const o = this.#o
    const src = capsSources(o) ? (client.remoteAddress ?? '') : null
    if (!admit(o, TCP_CONNECTION_FDS, src, o.hooks)) {
      client.destroy()
      return
    }
    const c = new Conn(this, client)
    c.src = src
    client[CONN] = c
    client.on('error', noop)
    client.on('close', onClientClose)
    this.#conns.add(c)
    this.dial(c)
  }

  /** @internal Connect `c` to the next backend, or close the client when there is none. */
  dial(c: Conn): void {
    const o = this.#o
    const b = o.balancer.pick(c.tried ?? undefined)
    if (!b) {
      o.hooks.rejected(c.tried ? 'every backend failed' : 'no healthy endpoint')
      c.client.destroy()
      return
    }
    c.backend = b
    o.balancer.acquire(b)
    c.t0 = o.clock.now()
    const up = net.connect({ host: b.ip, port: b.port, noDelay: true, allowHalfOpen: true }) as Sock
    up[CONN] = c
    c.upstream = up
    up.setTimeout(o.connectTimeoutMs)
    up.on('timeout', onUpConnectTimeout)
    up.on('error', onUpError)
    up.on('close', onUpClose)
    up.once('connect', onUpConnect)
  }

  /** @internal */
  connectFailed(c: Conn, up: Sock, err: string): void {
    const o = this.#o
    const b = c.backend as Backend
    up.removeListener('timeout', onUpConnectTimeout)
    up[CONN] = undefined
    up.destroy()
    o.balancer.failed(b)
    if (c.done) return // the client left meanwhile; finished() has released the backend
    o.balancer.release(b)
    c.upstream = null
    c.backend = null
    ;(c.tried ??= new Set()).add(b.key)
    const retry = c.tried.size < o.maxAttempts
    o.hooks.connectFailed(b, err, retry)
    if (retry) this.dial(c)
    else {
      o.hooks.rejected('every backend failed')
      c.client.destroy()
    }
  }

  /** @internal */
  upConnected(c: Conn, up: Sock): void {
    const o = this.#o
    const b = c.backend as Backend
    up.setTimeout(0)
    up.removeListener('timeout', onUpConnectTimeout)
    c.connected = true
    o.balancer.succeeded(b)
    o.hooks.connected(b, o.clock.now() - c.t0)
    const client = c.client
    if (o.proxyProtocol) {
      const a = { srcAddr: client.remoteAddress ?? '', srcPort: client.remotePort ?? 0, dstAddr: client.localAddress ?? '', dstPort: client.localPort ?? 0 }
      up.write(o.proxyProtocol === 'v1' ? proxyV1(a) : proxyV2(a))
    }
    client.on('data', onClientData)
    client.on('end', onClientEnd)
    client.on('drain', onClientDrain)
    up.on('data', onUpData)
    up.on('end', onUpEnd)
    up.on('drain', onUpDrain)
    if (o.idleTimeoutMs > 0) {
      client.setTimeout(o.idleTimeoutMs)
      client.on('timeout', onIdle)
    }
    client.resume()
  }

  /** @internal */
  finished(c: Conn, error: boolean): void {
    if (!this.#conns.delete(c)) return
    release(this.#o, TCP_CONNECTION_FDS, c.src)
    const b = c.backend
    if (b) {
      this.#o.balancer.release(b)
      if (c.connected) this.#o.hooks.closed(b, c.client.bytesRead, c.client.bytesWritten, error)
    }
  }
}

function noop(): void {}

function destroyConn(c: Conn): void {
  c.done = true
  c.upstream?.destroy()
  c.client.destroy()
}

function onClientData(this: Sock, chunk: Buffer): void {
  if (!(this[CONN] as Conn).upstream!.write(chunk)) this.pause()
}

function onUpData(this: Sock, chunk: Buffer): void {
  if (!(this[CONN] as Conn).client.write(chunk)) this.pause()
}

function onClientDrain(this: Sock): void {
  ;(this[CONN] as Conn).upstream?.resume()
}

function onUpDrain(this: Sock): void {
  ;(this[CONN] as Conn).client.resume()
}

function onClientEnd(this: Sock): void {
  ;(this[CONN] as Conn).upstream?.end()
}

function onUpEnd(this: Sock): void {
  ;(this[CONN] as Conn).client.end()
}

function onIdle(this: Sock): void {
  destroyConn(this[CONN] as Conn)
}

function onClientClose(this: Sock, hadError: boolean): void {
  const c = this[CONN] as Conn
  // A reset (or our own destroy) tears the other side down; a clean close leaves the upstream to flush its end().
  if (hadError || !c.connected) {
    c.done = true
    c.upstream?.destroy()
  }
  c.proxy.finished(c, hadError)
}

function onUpError(this: Sock, err: Error): void {
  const c = this[CONN]
  if (!c || c.upstream !== this) return
  if (!c.connected) c.proxy.connectFailed(c, this, (err as NodeJS.ErrnoException).code ?? err.message)
}

function onUpConnectTimeout(this: Sock): void {
  const c = this[CONN]
  if (c && c.upstream === this && !c.connected) c.proxy.connectFailed(c, this, 'ETIMEDOUT')
}

function onUpConnect(this: Sock): void {
  const c = this[CONN]
  if (!c || c.upstream !== this) return
  if (c.done) {
    this.destroy()
    return
  }
  c.proxy.upConnected(c, this)
}

function onUpClose(this: Sock, hadError: boolean): void {
  const c = this[CONN]
  if (!c || c.upstream !== this || !c.connected) return
  if (hadError) {
    c.done = true
    c.client.destroy()
  }
}
