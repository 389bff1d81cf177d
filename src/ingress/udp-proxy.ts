import dgram from 'node:dgram'
import type { Clock, TimerHandle } from '../base/index.ts'
import type { Backend, Balancer } from './balancer.ts'
import type { PortProxy } from './port-proxy.ts'
import { IngressError } from './errors.ts'
import { admit, capsSources, REFUSED_PER_SOURCE, release, UDP_FLOW_FDS, type FdBudget, type SourceCaps } from './limits.ts'

/**
 * The UDP data plane of one published port. Each client flow (client address:port) gets its own upstream socket,
 * connected to the backend the balancer picked for it, so replies map back to the client without any lookup and
 * the backend sees one peer per client. Flows expire after `idleTimeoutMs` without a packet either way (a sweep
 * every idle/4, not a timer per packet); the table holds at most `maxFlows`: when full, the least recently USED flow
 * (a datagram either way) is dropped to make room. The table is a Map kept in order of last use (a flow is
 * re-inserted on each datagram, O(1)), so eviction takes its first entry and the sweep stops at the first flow
 * still live. Each flow holds one descriptor of the process-wide `fdBudget` and counts against its client
 * address's `perSource` cap; a new flow either refuses is not opened (its datagram is dropped). An ICMP port unreachable from the backend (ECONNREFUSED on the connected socket) ejects it and moves the
 * flow to the next backend; the datagram in flight is lost, as UDP allows.
 */

export interface UdpProxyHooks {
  flowOpened(b: Backend): void
  flowFailed(b: Backend, err: string): void
  rejected(reason: string): void
  flowClosed(b: Backend, bytesIn: number, bytesOut: number): void
}

export interface UdpProxyOptions {
  bindAddr: string
  port: number
  balancer: Balancer
  clock: Clock
  idleTimeoutMs: number
  maxFlows: number
  /** Descriptors shared by every listener of the process (one per flow). Default: no budget. */
  fdBudget?: FdBudget
  /** Flows per client address on this port. Default: no cap. */
  perSource?: SourceCaps
  hooks: UdpProxyHooks
}

interface Flow {
  key: string
  addr: string
  port: number
  backend: Backend
  sock: dgram.Socket
  lastSeen: number
  bytesIn: number
  bytesOut: number
  ready: boolean
  queue: Buffer[] | null
}

/** Datagrams held per flow while its upstream socket binds. */
const MAX_QUEUED = 64

export class UdpProxy implements PortProxy {
  readonly #o: UdpProxyOptions
  #sock: dgram.Socket | null = null
  readonly #flows = new Map<string, Flow>()
  #sweep: TimerHandle | null = null
  readonly #timers = new Set<TimerHandle>()

  constructor(o: UdpProxyOptions) {
    this.#o = o
  }

  get port(): number {
    try {
      return this.#sock?.address().port ?? this.#o.port
    } catch {
      return this.#o.port
    }
  }

  get open(): number {
    return this.#flows.size
  }

  async start(): Promise<void> {
    const opts: dgram.SocketOptions & { reusePort: boolean } = { type: 'udp4', reusePort: true } // Node ≥ 23.1
    const sock = dgram.createSocket(opts)
    this.#sock = sock
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err) => reject(new IngressError(`ingress: cannot listen on ${this.#o.bindAddr}:${this.#o.port}/udp: ${err.message}`, { cause: err })))
      sock.bind({ address: this.#o.bindAddr, port: this.#o.port }, () => resolve())
    })
    sock.on('error', () => undefined)
    sock.on('message', (msg, rinfo) => this.#fromClient(msg, rinfo.address, rinfo.port))
    this.#scheduleSweep()
  }

  closeListener(): Promise<void> {
    return this.stop()
  }

  async stop(): Promise<void> {
    this.#o.clock.clearTimeout(this.#sweep)
    this.#sweep = null
    for (const h of this.#timers) this.#o.clock.clearTimeout(h)
    this.#timers.clear()
    for (const f of [...this.#flows.values()]) this.#close(f)
    const s = this.#sock
    this.#sock = null
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }

  /** Flows to these backends are dropped after `graceMs` (their next datagram opens a flow elsewhere). */
  retire(backends: readonly Backend[], graceMs: number): void {
    const set = new Set(backends)
    const victims = [...this.#flows.values()].filter((f) => set.has(f.backend))
    if (victims.length === 0) return
    const h = this.#o.clock.setTimeout(() => {
      this.#timers.delete(h)
      for (const f of victims) if (this.#flows.get(f.key) === f && !this.#o.balancer.eligible(f.backend)) this.#close(f)
    }, graceMs)
    this.#timers.add(h)
  }

  openByBackend(): Map<string, number> {
    const m = new Map<string, number>()
    for (const f of this.#flows.values()) m.set(f.backend.key, (m.get(f.backend.key) ?? 0) + 1)
    return m
  }

  queuedBytes(): number {
    return 0
  }

  liveBytes(): Map<string, [number, number]> {
    const m = new Map<string, [number, number]>()
    for (const f of this.#flows.values()) {
      const v = m.get(f.backend.key) ?? [0, 0]
      v[0] += f.bytesIn
      v[1] += f.bytesOut
      m.set(f.backend.key, v)
    }
    return m
  }

  #fromClient(msg: Buffer, addr: string, port: number): void {
    const key = `${addr}:${port}`
    let f = this.#flows.get(key)
    if (f) this.#touch(f)
    else {
      f = this.#open(key, addr, port, undefined) ?? undefined
      if (!f) return
    }
    f.lastSeen = this.#o.clock.now()
    f.bytesIn += msg.length
    if (f.ready) f.sock.send(msg)
    else if (f.queue && f.queue.length < MAX_QUEUED) f.queue.push(msg)
  }

  #open(key: string, addr: string, port: number, exclude: Set<string> | undefined): Flow | null {
    const o = this.#o
    const b = o.balancer.pick(exclude)
    if (!b) {
      o.hooks.rejected('no healthy endpoint')
      return null
    }
    const src = capsSources(o) ? addr : null
    // A source at its cap evicts nobody: its new flow is refused before the table makes room.
    if (src !== null && o.perSource?.refuses(src)) {
      o.hooks.rejected(REFUSED_PER_SOURCE)
      return null
    }
    if (this.#flows.size >= o.maxFlows) {
      const lru = this.#flows.values().next().value as Flow | undefined
      if (lru) this.#close(lru)
    }
    if (!admit(o, UDP_FLOW_FDS, src, o.hooks)) return null
    o.balancer.acquire(b)
    const sock = dgram.createSocket({ type: 'udp4' })
    const f: Flow = { key, addr, port, backend: b, sock, lastSeen: o.clock.now(), bytesIn: 0, bytesOut: 0, ready: false, queue: [] }
    this.#flows.set(key, f)
    o.hooks.flowOpened(b)
    sock.on('message', (reply) => {
      this.#touch(f)
      f.lastSeen = o.clock.now()
      f.bytesOut += reply.length
      this.#sock?.send(reply, f.port, f.addr)
    })
    sock.on('error', (err) => this.#failed(f, (err as NodeJS.ErrnoException).code ?? err.message))
    sock.connect(b.port, b.ip, () => {
      f.ready = true
      const q = f.queue
      f.queue = null
      if (q) for (const m of q) sock.send(m)
    })
    return f
  }

  #failed(f: Flow, err: string): void {
    if (this.#flows.get(f.key) !== f) return
    this.#o.balancer.failed(f.backend)
    this.#o.hooks.flowFailed(f.backend, err)
    this.#close(f)
    // The next datagram of this client opens a flow on another backend.
  }

  #close(f: Flow): void {
    if (this.#flows.get(f.key) !== f) return
    this.#flows.delete(f.key)
    release(this.#o, UDP_FLOW_FDS, this.#o.perSource?.enabled ? f.addr : null)
    this.#o.balancer.release(f.backend)
    this.#o.hooks.flowClosed(f.backend, f.bytesIn, f.bytesOut)
    try {
      f.sock.close()
    } catch {
      // already closed
    }
  }

  /** `f` was used: move it to the most recent end of the table (a Map keeps insertion order). */
  #touch(f: Flow): void {
    if (this.#flows.get(f.key) !== f) return
    this.#flows.delete(f.key)
    this.#flows.set(f.key, f)
  }

  /** Flow keys from least to most recently used (what a full table evicts first). */
  flowsByUse(): string[] {
    return [...this.#flows.keys()]
  }

  #scheduleSweep(): void {
    const every = Math.max(50, Math.floor(this.#o.idleTimeoutMs / 4))
    this.#sweep = this.#o.clock.setTimeout(() => {
      const cutoff = this.#o.clock.now() - this.#o.idleTimeoutMs
      // In order of last use: the first flow seen since the cutoff ends the sweep.
      // (A Map iterator survives deleting the entry it is on.)
      for (const f of this.#flows.values()) {
        if (f.lastSeen > cutoff) break
        this.#close(f)
      }
      if (this.#sock) this.#scheduleSweep()
    }, every)
  }
}
