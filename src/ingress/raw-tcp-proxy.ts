import type { Clock, TimerHandle } from '../base/index.ts'
import type { Backend } from './balancer.ts'
import type { PortProxy } from './port-proxy.ts'
import { IngressError } from './errors.ts'
import { proxyV1, proxyV2 } from './proxy-protocol.ts'
import type { TcpProxyOptions } from './tcp-proxy.ts'
import { admit, capsSources, release, TCP_CONNECTION_FDS } from './limits.ts'

/**
 * The fast TCP engine: the same proxy as tcp-proxy.ts on libuv's TCP handles (Node's `tcp_wrap`/`stream_wrap`
 * bindings, the layer net.Socket is built on) instead of net.Socket streams. Profiling the net engine with a new
 * connection per request showed ~150 µs of user CPU per proxied connection, mostly stream and Socket machinery
 * (two Duplex objects, their states, listeners, nextTicks, destroy chains); HAProxy spends ~20. Here a connection
 * is one small object and two handles, and a chunk is read → writeBuffer with no stream in between.
 *
 * Semantics are the net engine's: nothing is read from the client until the backend is connected (a retry replays
 * nothing); at most one write is outstanding per direction: when the kernel does not take a chunk at once, the
 * other side stops reading until the write completes (backpressure: ≤ one read chunk, 64 KiB, queued per
 * direction); EOF on one side shuts down the other side's write half after its pending write (half-close); both
 * closed when both halves are done; a read error resets both. Connect and idle timeouts come from one sweep timer
 * per listener (no timer per connection), so their precision is the sweep interval (¼ of the shorter timeout,
 * at most 1 s). Admission on accept is the net engine's (a per-source cap, the process-wide fd budget: limits.ts);
 * the peer address is only asked of the kernel when a per-source cap is set.
 *
 * `rawBindingsAvailable()` says whether this Node exposes the bindings; the controller falls back to the net engine.
 */

interface Handle {
  readStart(): number
  readStop(): number
  writeBuffer(req: object, buf: Uint8Array): number
  shutdown(req: object): number
  close(cb?: () => void): void
  setNoDelay(on: boolean): number
  getpeername(out: Record<string, unknown>): number
  getsockname(out: Record<string, unknown>): number
  onread: ((ab: ArrayBuffer | undefined) => void) | null
  [PAIR]?: Pair
}
interface ServerHandle {
  bind(addr: string, port: number, flags?: number): number
  listen(backlog: number): number
  getsockname(out: Record<string, unknown>): number
  close(cb?: () => void): void
  onconnection: ((err: number, h: Handle | undefined) => void) | null
}
interface TcpBinding {
  TCP: new (kind: number) => Handle & ServerHandle & { connect(req: object, ip: string, port: number): number }
  TCPConnectWrap: new () => Record<string, unknown>
  constants: { SOCKET: number; SERVER: number; UV_TCP_REUSEPORT?: number }
}
interface StreamBinding {
  WriteWrap: new () => Record<string, unknown>
  ShutdownWrap: new () => Record<string, unknown>
  streamBaseState: Int32Array
  kReadBytesOrError: number
  kArrayBufferOffset: number
  kLastWriteWasAsync: number
}

const PAIR = Symbol('mesh.pair')
const UV_EOF = -4095
let tcpB: TcpBinding | null = null
let streamB: StreamBinding | null = null

function load(): boolean {
  if (tcpB && streamB) return true
  try {
    const binding = (process as unknown as { binding(n: string): unknown }).binding
    tcpB = binding('tcp_wrap') as TcpBinding
    streamB = binding('stream_wrap') as StreamBinding
    return typeof tcpB.TCP === 'function' && streamB.streamBaseState instanceof Int32Array
  } catch {
    tcpB = null
    streamB = null
    return false
  }
}

/** Whether this Node exposes libuv's TCP handles (process.binding tcp_wrap / stream_wrap). */
export function rawBindingsAvailable(): boolean {
  return load()
}

/** One proxied connection. Fields, not closures: every callback is a module-level function. */
class Pair {
  u: Handle | null = null
  backend: Backend | null = null
  tried: Set<string> | null = null
  t0 = 0
  /** Sweep time of the last byte either way (or of the connect start). */
  last = 0
  connected = false
  closed = false
  /** Bit 1: client EOF seen, 2: upstream EOF seen, 4: client write half shut, 8: upstream write half shut. */
  halves = 0
  /** Bytes of the outstanding write towards the client / the upstream (0 = none). */
  toClient = 0
  toUp = 0
  bytesIn = 0
  bytesOut = 0
  /** The client's address when a per-source cap counts it. */
  src: string | null = null
  readonly proxy: RawTcpProxy
  readonly c: Handle
  constructor(proxy: RawTcpProxy, c: Handle) {
    this.proxy = proxy
    this.c = c
  }
}

export class RawTcpProxy implements PortProxy {
  readonly o: TcpProxyOptions
  #server: ServerHandle | null = null
  #port = 0
  readonly pairs = new Set<Pair>()
  #sweep: TimerHandle | null = null
  #timers = new Set<TimerHandle>()
  /** Clock reading of the last sweep: what `last` and connect starts are compared with. */
  now = 0

  constructor(o: TcpProxyOptions) {
    this.o = o
  }

  get port(): number {
    return this.#port || this.o.port
  }

  get open(): number {
    return this.pairs.size
  }

  async start(): Promise<void> {
    if (!load()) throw new IngressError('ingress: the raw TCP engine needs process.binding("tcp_wrap"); use the net engine')
    const b = tcpB as TcpBinding
    const h = new b.TCP(b.constants.SERVER)
    const where = `${this.o.bindAddr}:${this.o.port}/tcp`
    let err = h.bind(this.o.bindAddr, this.o.port, b.constants.UV_TCP_REUSEPORT ?? 0) // as net's listen({ reusePort: true })
    if (!err) err = h.listen(4096)
    if (err) {
      h.close()
      throw new IngressError(`ingress: cannot listen on ${where}: ${errname(err)}`)
    }
    const out: Record<string, unknown> = {}
    h.getsockname(out)
    this.#port = Number(out.port)
    h.onconnection = (status, client) => {
      if (status || !client) return
      this.#accept(client)
    }
    this.#server = h
    this.now = this.o.clock.now()
    this.#scheduleSweep()
  }

  async closeListener(): Promise<void> {
    const s = this.#server
    this.#server = null
    if (s) await new Promise<void>((r) => s.close(() => r()))
  }

  async stop(): Promise<void> {
    this.o.clock.clearTimeout(this.#sweep)
    this.#sweep = null
    for (const t of this.#timers) this.o.clock.clearTimeout(t)
    this.#timers.clear()
    for (const p of [...this.pairs]) teardown(p, true)
    const s = this.#server
    this.#server = null
    if (s) await new Promise<void>((r) => s.close(() => r()))
  }

  retire(backends: readonly Backend[], graceMs: number): void {
    if (backends.length === 0) return
    const set = new Set(backends)
    const victims = [...this.pairs].filter((p) => p.backend && set.has(p.backend))
    if (victims.length === 0) return
    const h = this.o.clock.setTimeout(() => {
      this.#timers.delete(h)
      for (const p of victims) if (!p.closed && p.backend && !this.o.balancer.eligible(p.backend)) teardown(p, false)
    }, graceMs)
    this.#timers.add(h)
  }

  openByBackend(): Map<string, number> {
    const m = new Map<string, number>()
    for (const p of this.pairs) if (p.backend && p.connected) m.set(p.backend.key, (m.get(p.backend.key) ?? 0) + 1)
    return m
  }

  liveBytes(): Map<string, [number, number]> {
    const m = new Map<string, [number, number]>()
    for (const p of this.pairs) {
      if (!p.backend) continue
      const v = m.get(p.backend.key) ?? [0, 0]
      v[0] += p.bytesIn
      v[1] += p.bytesOut
      m.set(p.backend.key, v)
    }
    return m
  }

  queuedBytes(): number {
    let n = 0
    for (const p of this.pairs) n += p.toClient + p.toUp
    return n
  }

  #accept(c: Handle): void {
    const o = this.o
    if (this.pairs.size >= o.maxConnections) {
      c.close()
      return
    }
    const src = capsSources(o) ? peerAddress(c) : null
    if (!admit(o, TCP_CONNECTION_FDS, src, o.hooks)) {
      c.close()
      return
    }
    c.setNoDelay(true)
    const p = new Pair(this, c)
    p.src = src
    c[PAIR] = p
    this.pairs.add(p)
    dial(p)
  }

  #scheduleSweep(): void {
    const o = this.o
    const every = Math.max(10, Math.min(1000, Math.floor(Math.min(o.idleTimeoutMs || Infinity, o.connectTimeoutMs) / 4)))
    this.#sweep = o.clock.setTimeout(() => {
      this.now = o.clock.now()
      for (const p of this.pairs) {
        if (!p.connected) {
          if (p.u && this.now - p.t0 >= o.connectTimeoutMs) connectFailed(p, 'ETIMEDOUT')
        } else if (o.idleTimeoutMs > 0 && this.now - p.last >= o.idleTimeoutMs) teardown(p, false)
      }
      if (this.#server) this.#scheduleSweep()
    }, every)
  }
}

function peerAddress(h: Handle): string {
  const peer: Record<string, unknown> = {}
  h.getpeername(peer)
  return String(peer.address ?? '')
}

function errname(err: number): string {
  try {
    return (process as unknown as { binding(n: string): { errname(e: number): string } }).binding('uv').errname(err)
  } catch {
    return String(err)
  }
}

function dial(p: Pair): void {
  const px = p.proxy
  const o = px.o
  const b = o.balancer.pick(p.tried ?? undefined)
  if (!b) {
    o.hooks.rejected(p.tried ? 'every backend failed' : 'no healthy endpoint')
    teardown(p, true)
    return
  }
  p.backend = b
  o.balancer.acquire(b)
  p.t0 = px.now
  p.last = px.now
  const tb = tcpB as TcpBinding
  const u = new tb.TCP(tb.constants.SOCKET)
  u[PAIR] = p
  p.u = u
  const req = new tb.TCPConnectWrap()
  req.oncomplete = afterConnect
  req.pair = p
  req.started = o.clock.now()
  const err = u.connect(req, b.ip, b.port)
  if (err) connectFailed(p, errname(err))
}

function afterConnect(this: Record<string, unknown>, status: number, handle: Handle): void {
  const p = this.pair as Pair
  // Torn down or timed out meanwhile: whoever gave up on this handle has closed it.
  if (p.closed || p.u !== handle) return
  if (status < 0) {
    connectFailed(p, errname(status))
    return
  }
  const o = p.proxy.o
  const b = p.backend as Backend
  p.connected = true
  o.balancer.succeeded(b)
  o.hooks.connected(b, o.clock.now() - (this.started as number))
  handle.setNoDelay(true)
  if (o.proxyProtocol) {
    const peer: Record<string, unknown> = {}
    const local: Record<string, unknown> = {}
    p.c.getpeername(peer)
    p.c.getsockname(local)
    const a = { srcAddr: String(peer.address ?? ''), srcPort: Number(peer.port ?? 0), dstAddr: String(local.address ?? ''), dstPort: Number(local.port ?? 0) }
    write(p, handle, p.c, o.proxyProtocol === 'v1' ? proxyV1(a) : proxyV2(a))
  }
  p.c.onread = onClientRead
  handle.onread = onUpRead
  // A PROXY header the kernel did not take at once holds the client back until it is written.
  if (!p.toUp) p.c.readStart()
  handle.readStart()
}

function connectFailed(p: Pair, err: string): void {
  const o = p.proxy.o
  const b = p.backend as Backend
  const u = p.u
  p.u = null
  if (u) {
    u.onread = ignoreRead
    u.close()
  }
  o.balancer.failed(b)
  o.balancer.release(b)
  p.backend = null
  if (p.closed) return
  ;(p.tried ??= new Set()).add(b.key)
  const retry = p.tried.size < o.maxAttempts
  o.hooks.connectFailed(b, err, retry)
  if (retry) dial(p)
  else {
    o.hooks.rejected('every backend failed')
    teardown(p, true)
  }
}

function onClientRead(this: Handle, ab: ArrayBuffer | undefined): void {
  const p = this[PAIR] as Pair
  const s = (streamB as StreamBinding).streamBaseState
  const n = s[(streamB as StreamBinding).kReadBytesOrError] as number
  if (n > 0) {
    p.bytesIn += n
    p.last = p.proxy.now
    write(p, p.u as Handle, this, new Uint8Array(ab as ArrayBuffer, s[(streamB as StreamBinding).kArrayBufferOffset], n))
  } else if (n === UV_EOF) {
    this.readStop()
    p.halves |= 1
    if (p.toUp) return // shut down once the pending write is done (afterWrite)
    // The upstream has ended too and nothing is pending towards it: close both now (close sends the FIN).
    if ((p.halves & 2) && !p.toClient) teardown(p, false)
    else shut(p, p.u as Handle, 8)
  } else if (n < 0) teardown(p, true)
}

function onUpRead(this: Handle, ab: ArrayBuffer | undefined): void {
  const p = this[PAIR] as Pair
  const s = (streamB as StreamBinding).streamBaseState
  const n = s[(streamB as StreamBinding).kReadBytesOrError] as number
  if (n > 0) {
    p.bytesOut += n
    p.last = p.proxy.now
    write(p, p.c, this, new Uint8Array(ab as ArrayBuffer, s[(streamB as StreamBinding).kArrayBufferOffset], n))
  } else if (n === UV_EOF) {
    this.readStop()
    p.halves |= 2
    if (p.toClient) return
    if ((p.halves & 1) && !p.toUp) teardown(p, false)
    else shut(p, p.c, 4)
  } else if (n < 0) teardown(p, true)
}

/** Write `buf` to `dst`; if the kernel did not take it all, stop reading `src` until the write completes. */
function write(p: Pair, dst: Handle, src: Handle, buf: Uint8Array): void {
  const sb = streamB as StreamBinding
  const req = new sb.WriteWrap()
  req.handle = dst
  req.oncomplete = afterWrite
  req.async = false
  req.pair = p
  req.src = src
  req.buffer = buf
  const err = dst.writeBuffer(req, buf)
  if (err) {
    teardown(p, true)
    return
  }
  if (sb.streamBaseState[sb.kLastWriteWasAsync]) {
    req.async = true
    if (dst === p.c) p.toClient = buf.length
    else p.toUp = buf.length
    src.readStop()
  }
}

function afterWrite(this: Record<string, unknown>, status: number): void {
  const p = this.pair as Pair
  if (!this.async || p.closed) return
  if (status < 0) {
    teardown(p, true)
    return
  }
  const toClient = this.handle === p.c
  if (toClient) p.toClient = 0
  else p.toUp = 0
  // The source's EOF came while this write was pending: shut down now. Else read from it again.
  if (toClient) {
    if (p.halves & 2) shut(p, p.c, 4)
    else (this.src as Handle).readStart()
  } else if (p.halves & 1) shut(p, p.u as Handle, 8)
  else if (p.connected) (this.src as Handle).readStart()
}

function shut(p: Pair, h: Handle, bit: number): void {
  if (p.halves & bit) return
  p.halves |= bit
  const req = new (streamB as StreamBinding).ShutdownWrap()
  req.oncomplete = afterShutdown
  req.handle = h
  req.pair = p
  if (h.shutdown(req)) afterShutdown.call(req)
}

function afterShutdown(this: Record<string, unknown>): void {
  const p = this.pair as Pair
  if (!p.closed && (p.halves & 15) === 15) teardown(p, false)
}

/** Close both sides and account for the connection once. */
function teardown(p: Pair, error: boolean): void {
  if (p.closed) return
  p.closed = true
  const px = p.proxy
  px.pairs.delete(p)
  release(px.o, TCP_CONNECTION_FDS, p.src)
  for (const h of [p.c, p.u]) {
    if (!h) continue
    h.onread = ignoreRead
    h.close()
  }
  const b = p.backend
  if (b) {
    px.o.balancer.release(b)
    if (p.connected) px.o.hooks.closed(b, p.bytesIn, p.bytesOut, error)
  }
}

function ignoreRead(): void {}
