/**
 * DnsServer: the socket adapter around Responder (answers) and Forwarder (upstreams). UDP and TCP on every listen
 * address; nothing here decides an answer. UDP goes through node:dgram or the batched addon (udp.ts, `udp` option).
 */
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import type { Registry } from 'prom-client'
import type { CatalogView, DnsStatus } from '../api/index.ts'
import { realClock, type Clock, type Random } from '../base/clock.ts'
import { FORWARD, Responder } from './answer.ts'
import { DnsError } from './errors.ts'
import { Forwarder, type Upstream } from './forward.ts'
import { registerDnsMetrics, registerSummedDnsMetrics, type DnsLatency } from './metrics.ts'
import { dnsConfig, parseResolvConf, parseUpstream, type DnsConfig, type DnsOptions, type ListenAddress } from './options.ts'
import { tcpQuery } from './tcp-client.ts'
import { bindPair, closeBound, type Bound } from './listen.ts'
import { loadUdpAddon, syncLookup4, syncLookup6, type UdpAnswer } from './udp.ts'
import { addCounters, DnsWorkers, type DnsCounters } from './workers.ts'
import { HEADER_BYTES, type Query } from './wire.ts'

export type Log = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface DnsServerOptions extends DnsOptions {
  catalog: CatalogView
  log?: Log
  clock?: Clock
  random?: Random
  /** Internal (dns-worker.ts): UDP only, no TCP sockets and no worker threads of its own. */
  udpOnly?: boolean
}


export type { DnsStatus }

/** A TCP connection may hold this many forwarded queries and this many unsent bytes before it is closed. */
const TCP_MAX_PENDING = 64
const TCP_MAX_WRITE_BUFFER = 1 << 20

export class DnsServer {
  readonly #cfg: DnsConfig
  readonly #catalog: CatalogView
  readonly #log: Log
  readonly #clock: Clock
  readonly #random: Random
  readonly #responder: Responder
  #forwarder: Forwarder | null = null
  #upstreams: Upstream[] = []
  #fwdSockets: dgram.Socket[] = []
  #bound: Bound[] = []
  /** Addresses added after start (each network's gateway on this node), by `host:port`. */
  #extra = new Map<string, Bound>()
  /** Drops counted by batched sockets since closed (a gateway address unbound, a stop). */
  #closedDropped = 0
  /** Extra addresses that could not be bound yet (the bridge not up): logged once each, retried on the next call. */
  #unbound = new Set<string>()
  #extraChain: Promise<void> = Promise.resolve()
  #conns = new Set<net.Socket>()
  #unsubscribe: (() => void) | null = null
  #latency: DnsLatency | null = null
  #running = false
  #tcpForwards = 0
  #udpKind: 'dgram' | 'batched' = 'dgram'
  readonly #opts: DnsOptions
  readonly #udpOnly: boolean
  #workers: DnsWorkers | null = null

  constructor(opts: DnsServerOptions) {
    this.#cfg = dnsConfig(opts)
    const { catalog: _c, log: _l, clock: _k, random: _r, udpOnly, ...plain } = opts
    this.#opts = plain
    this.#udpOnly = udpOnly === true
    this.#catalog = opts.catalog
    this.#log = opts.log ?? (() => {})
    this.#clock = opts.clock ?? realClock()
    this.#random = opts.random ?? { next: Math.random }
    this.#responder = new Responder(opts.catalog, this.#cfg)
  }

  get config(): DnsConfig {
    return this.#cfg
  }

  async start(): Promise<void> {
    if (this.#running) return
    try {
      this.#upstreams = this.#resolveUpstreams()
      this.#udpKind = this.#chooseUdp()
      await this.#startForwarder()
      for (const addr of this.#cfg.listen) this.#bound.push(await this.#bindPair(addr))
      this.#unsubscribe = this.#catalog.onChange(() => setImmediate(() => {
        if (!this.#running) return
        this.#responder.zone()
        this.#workers?.catalogChanged()
      }))
      this.#responder.zone()
      if (this.#cfg.workers > 1 && !this.#udpOnly) await this.#startWorkers()
      this.#running = true
      this.#log('info', 'dns listening', { listen: this.#bound.map((b) => `${b.addr.host}:${b.addr.port}`), upstreams: this.#upstreams.map((u) => `${u.host}:${u.port}`) })
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop(): Promise<void> {
    this.#running = false
    const workers = this.#workers
    this.#workers = null
    this.#unsubscribe?.()
    this.#unsubscribe = null
    this.#forwarder?.stop()
    this.#forwarder = null
    for (const c of this.#conns) c.destroy()
    this.#conns.clear()
    const closing: Promise<void>[] = []
    for (const b of [...this.#bound, ...this.#extra.values()]) {
      this.#closedDropped += b.udp.dropped
      closing.push(closeBound(b))
    }
    for (const s of this.#fwdSockets) closing.push(new Promise((r) => { try { s.close(() => r()) } catch { r() } }))
    this.#bound = []
    this.#extra.clear()
    this.#unbound.clear()
    this.#fwdSockets = []
    if (workers !== null) closing.push(workers.stop())
    await Promise.all(closing)
  }

  /** N−1 worker threads on the addresses and ports just bound, with the upstreams and UDP path chosen here. */
  async #startWorkers(): Promise<void> {
    const w = new DnsWorkers(this.#cfg.workers - 1, {
      ...this.#opts,
      listen: this.#bound.map((b) => ({ ...b.addr })),
      upstreams: this.#upstreams.map((u) => (u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`)),
      udp: this.#udpKind,
      workers: 1,
    }, () => this.#catalog.current(), this.#log)
    this.#workers = w
    await w.start()
  }

  /** The worker threads (null with workers 1); tests and benchmarks read their state here. */
  get workers(): DnsWorkers | null {
    return this.#workers
  }

  /** This thread's counters, as one plain object (what a worker posts to the main thread). */
  counters(): DnsCounters {
    const st = this.#responder.stats
    return {
      answers: new Float64Array(st.answers), forwarded: st.forwarded, dropped: st.dropped, formerr: st.formerr,
      zoneBuilds: st.zoneBuilds, udpDropped: this.#udpDropped(), forwardTimeouts: this.#forwarder?.timeouts ?? 0,
      forwardInflight: (this.#forwarder?.inflight ?? 0) + this.#tcpForwards,
    }
  }

  /** Bring the zone up to the catalog's current snapshot now; its revision. */
  zoneRevision(): number {
    return this.#responder.zone().revision
  }

  /** This thread's counters plus every worker's (the last each posted). */
  #allCounters(): DnsCounters {
    let c = this.counters()
    for (const w of this.#workers?.list() ?? []) c = addCounters(c, w.counters) as DnsCounters
    return c
  }

  status(): DnsStatus {
    const st = this.#allCounters()
    const answered = sum(st.answers)
    const zone = this.#running ? this.#responder.zone() : null
    const workers = this.#workers === null ? {} : {
      workers: [{ id: 0, running: this.#running, restarts: 0, answered: sum(this.#responder.stats.answers) },
        ...this.#workers.list().map((w) => ({ id: w.id, running: w.running, restarts: w.restarts, answered: w.counters === null ? 0 : sum(w.counters.answers) }))],
    }
    return {
      running: this.#running,
      listen: [...this.#bound, ...this.#extra.values()].map((b) => ({ ...b.addr })),
      upstreams: this.#upstreams.map((u) => `${u.host}:${u.port}`),
      domain: this.#cfg.domain,
      ttlSec: this.#cfg.ttlSec,
      zone: zone ? { revision: zone.revision, names: zone.names.size } : null,
      answered,
      forwarded: st.forwarded,
      forwardInflight: st.forwardInflight,
      forwardTimeouts: st.forwardTimeouts,
      dropped: st.dropped + st.udpDropped,
      formerr: st.formerr,
      tcpConnections: this.#conns.size,
      udp: this.#udpKind,
      ...workers,
    }
  }

  #udpDropped(): number {
    let n = this.#closedDropped
    for (const b of this.#bound) n += b.udp.dropped
    for (const b of this.#extra.values()) n += b.udp.dropped
    return n
  }

  /** The UDP path for this start: the `udp` option, auto falling back to dgram with one log line. */
  #chooseUdp(): 'dgram' | 'batched' {
    if (this.#cfg.udp === 'dgram') return 'dgram'
    const r = loadUdpAddon()
    if ('addon' in r) return 'batched'
    if (this.#cfg.udp === 'batched') throw new DnsError(`dns: udp mode batched: batched UDP unavailable (${r.error})`)
    this.#log('warn', `dns: batched UDP unavailable (${r.error}); using node:dgram`)
    return 'dgram'
  }

  #bindPair(addr: ListenAddress): Promise<Bound> {
    return bindPair(addr, this.#udpKind, this.#answerUdp, this.#udpOnly ? null : (c) => this.#onConn(c), this.#cfg.maxTcpConnections, this.#log)
  }

  /**
   * Answer on these addresses too, besides `listen` (each user network's gateway on this node, where its containers'
   * DNS goes): binds the new ones, closes those no longer given. An address that cannot be bound yet (its bridge is
   * not up) is retried on the next call. Calls run one after another; a no-op before start and after stop.
   */
  setExtraListen(addrs: readonly ListenAddress[]): Promise<void> {
    this.#workers?.setExtra(addrs)
    this.#extraChain = this.#extraChain.then(() => this.#reconcileExtra(addrs))
    return this.#extraChain
  }

  async #reconcileExtra(addrs: readonly ListenAddress[]): Promise<void> {
    if (!this.#running) return
    const fixed = new Set(this.#bound.map((b) => `${b.addr.host}:${b.addr.port}`))
    const wanted = new Map(addrs.map((a) => [`${a.host}:${a.port}`, a]))
    for (const [key, b] of this.#extra) {
      if (wanted.has(key)) continue
      this.#extra.delete(key)
      this.#closedDropped += b.udp.dropped // the counter is the socket's: keep its count so the metric never steps down
      await closeBound(b)
      this.#log('info', 'dns stopped listening', { listen: key })
    }
    for (const key of this.#unbound) if (!wanted.has(key)) this.#unbound.delete(key)
    for (const [key, a] of wanted) {
      if (this.#extra.has(key) || fixed.has(key)) continue
      try {
        const b = await this.#bindPair(a)
        if (!this.#running) { await closeBound(b); return }
        this.#extra.set(key, b)
        this.#unbound.delete(key)
        this.#log('info', 'dns listening', { listen: key })
      } catch (err) {
        if (!this.#unbound.has(key)) this.#log('debug', 'dns cannot listen here yet; retried', { listen: key, err: (err as Error).message })
        this.#unbound.add(key)
      }
    }
  }

  registerMetrics(registry: Registry): void {
    if (this.#cfg.workers === 1) {
      this.#latency = registerDnsMetrics(registry, {
        stats: this.#responder.stats,
        forwardTimeouts: () => this.#forwarder?.timeouts ?? 0,
        forwardInflight: () => (this.#forwarder?.inflight ?? 0) + this.#tcpForwards,
        tcpConnections: () => this.#conns.size,
        udpDropped: () => this.#udpDropped(),
      })
      return
    }
    // With workers: every counter is this thread's plus the workers', and answers per thread.
    this.#latency = registerSummedDnsMetrics(registry, () => this.#allCounters(), () => this.#conns.size,
      () => this.status().workers?.map((w) => ({ worker: String(w.id), answered: w.answered })) ?? [])
  }

  #resolveUpstreams(): Upstream[] {
    let list = this.#cfg.upstreams as string[] | null
    if (list === null) {
      try {
        list = parseResolvConf(readFileSync(this.#cfg.resolvConf, 'utf8'))
      } catch (err) {
        this.#log('warn', 'no upstream resolvers: cannot read resolv.conf; foreign names get SERVFAIL', { file: this.#cfg.resolvConf, err: (err as Error).message })
        list = []
      }
    }
    const own = new Set(this.#cfg.listen.map((l) => `${l.host}:${l.port}`))
    return list.map(parseUpstream).filter((u) => !own.has(`${u.host}:${u.port}`))
  }

  async #startForwarder(): Promise<void> {
    const sockets = new Map<4 | 6, dgram.Socket>()
    for (const fam of new Set(this.#upstreams.map((u) => (net.isIPv6(u.host) ? 6 : 4) as 4 | 6))) {
      const s = dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4', lookup: fam === 6 ? syncLookup6 : syncLookup4 })
      s.on('error', (err) => this.#log('warn', 'upstream socket error', { err: err.message }))
      s.on('message', (m, r) => { this.#forwarder?.receive(m, r.address, r.port) })
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, () => { s.off('error', reject); resolve() }) })
      sockets.set(fam, s)
      this.#fwdSockets.push(s)
    }
    const ups = this.#upstreams
    this.#forwarder = new Forwarder({
      upstreams: ups,
      attemptMs: this.#cfg.forwardAttemptMs,
      timeoutMs: this.#cfg.forwardTimeoutMs,
      maxInflight: this.#cfg.maxInflight,
      clock: this.#clock,
      random: this.#random,
      send: (i, bytes) => {
        const u = ups[i] as Upstream
        sockets.get(net.isIPv6(u.host) ? 6 : 4)?.send(bytes, u.port, u.host)
      },
    })
  }

  readonly #answerUdp: UdpAnswer = (msg, fromIp, fromPort, reply) => {
    const lat = this.#latency
    const t0 = lat === null ? 0 : performance.now()
    const r = this.#responder.handle(msg, fromIp, false)
    if (r === null) return null
    if (r === FORWARD) {
      this.#forward(msg, fromIp, false, t0, (out) => reply.send(out, fromPort, fromIp))
      return null
    }
    if (lat !== null) lat.local.observe((performance.now() - t0) / 1000)
    return r
  }

  /** Forward the responder's current query; `send` gets the answer or SERVFAIL. */
  #forward(msg: Buffer, fromIp: string, tcp: boolean, t0: number, send: (out: Buffer) => void): void {
    const q: Query = { ...this.#responder.query }
    const fwd = this.#forwarder
    const done = (out: Buffer) => {
      send(out)
      if (this.#latency !== null) this.#latency.forward.observe((performance.now() - t0) / 1000)
    }
    if (fwd === null) { done(this.#responder.servfail(msg, q)); return }
    const started = fwd.forward(msg, q.qEnd, (answer) => {
      if (answer === null) { done(this.#responder.servfail(msg, q)); return }
      this.#responder.stats.count(q.qtype, (answer[3] as number) & 15)
      if (tcp && ((answer[2] as number) & 0x02) !== 0) { this.#retryTcp(msg, q, done); return }
      done(answer)
    })
    if (started === 'sent') this.#responder.stats.forwarded++
    else {
      if (started === 'no-upstreams') this.#log('debug', 'no upstream resolver for a foreign name', { from: fromIp })
      done(this.#responder.servfail(msg, q))
    }
  }

  /** A truncated upstream answer for a TCP client: ask the first upstream again over TCP. */
  #retryTcp(msg: Buffer, q: Query, done: (out: Buffer) => void): void {
    const u = this.#upstreams[0] as Upstream
    if (this.#tcpForwards >= this.#cfg.maxInflight) { done(this.#responder.servfail(msg, q)); return }
    this.#tcpForwards++
    tcpQuery(u.host, u.port, msg, this.#cfg.forwardTimeoutMs).then(
      (answer) => { this.#tcpForwards--; done(answer) },
      () => { this.#tcpForwards--; done(this.#responder.servfail(msg, q)) },
    )
  }

  #onConn(conn: net.Socket): void {
    if (!this.#running) { conn.destroy(); return }
    this.#conns.add(conn)
    let buf: Buffer = Buffer.alloc(0)
    let pending = 0
    let clientDone = false
    const fromIp = conn.remoteAddress ?? ''
    const write = (out: Buffer) => {
      if (conn.destroyed || conn.writableEnded) return
      const frame = Buffer.allocUnsafe(2 + out.length)
      frame.writeUInt16BE(out.length, 0)
      out.copy(frame, 2)
      conn.write(frame)
      if (conn.writableLength > TCP_MAX_WRITE_BUFFER) conn.destroy()
      else if (clientDone && pending === 0) conn.end()
    }
    conn.setNoDelay(true)
    conn.setTimeout(this.#cfg.tcpIdleMs, () => conn.destroy())
    conn.on('error', () => {})
    // A client may send its queries and shut down its side: answer what is pending, then close ours.
    conn.on('end', () => { clientDone = true; if (pending === 0) conn.end() })
    conn.on('close', () => this.#conns.delete(conn))
    conn.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (len < HEADER_BYTES) { this.#responder.stats.dropped++; conn.destroy(); return }
        if (buf.length < 2 + len) break
        const msg = buf.subarray(2, 2 + len)
        buf = buf.subarray(2 + len)
        const t0 = this.#latency === null ? 0 : performance.now()
        const r = this.#responder.handle(msg, fromIp, true)
        if (r === null) continue
        if (r === FORWARD) {
          if (pending >= TCP_MAX_PENDING) { write(this.#responder.servfail(msg, this.#responder.query)); continue }
          pending++
          const copy = Buffer.from(msg)
          this.#forward(copy, fromIp, true, t0, (out) => { pending--; write(out) })
          continue
        }
        write(r)
        if (this.#latency !== null) this.#latency.local.observe((performance.now() - t0) / 1000)
      }
      if (buf.length === 0) buf = Buffer.alloc(0)
      else buf = Buffer.from(buf) // do not pin the whole chunk for a partial frame
    })
  }
}

function sum(a: Float64Array): number {
  let n = 0
  for (const v of a) n += v
  return n
}
