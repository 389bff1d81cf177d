import type { GossipConfig } from '../config/gossip.ts'
import { GossipJoinError } from '../base/errors.ts'
import { Awareness } from './awareness.ts'
import { BroadcastQueue } from './broadcast-queue.ts'
import type { Clock, Random, TimerHandle } from '../base/clock.ts'
import { decodePacket, encodeMessage, encodePacket, encodeStream, tryDecodeStream } from './codec.ts'
import type { Keyring } from './keyring.ts'
import { MemberTable, type Member, type MemberEvent } from './state.ts'
import { addressKey, type Address, type Framer, type Transport } from './transport.ts'
import { MSG, VSN, type Ack, type IndirectPing, type PacketMessage, type Ping, type PushPull, type StreamMessage } from './wire.ts'
import { ipFromBytes, ipToBytes } from './ip.ts'

/**
 * memberlist's protocol engine: probing (direct, indirect, TCP fallback), gossip of piggybacked broadcasts,
 * push/pull anti-entropy, join and leave. Pure apart from the injected clock, random and transport.
 */

/** The gossip settings the engine uses (see src/config/gossip.ts for what each means), plus who we are. */
export type MemberlistConfig = Pick<GossipConfig,
  | 'probeIntervalMs' | 'probeTimeoutMs' | 'indirectChecks' | 'suspicionMult' | 'suspicionMaxTimeoutMult'
  | 'awarenessMaxMultiplier' | 'gossipIntervalMs' | 'gossipNodes' | 'gossipToTheDeadMs' | 'retransmitMult'
  | 'pushPullIntervalMs' | 'tcpTimeoutMs' | 'deadNodePurgeMs' | 'deadNodeReclaimMs' | 'udpBufferBytes'
  | 'enableCompression' | 'tcpPings' | 'maxMembers'> & { name: string; advertise: Address }

/** What the layer above (serf) plugs in: metadata, user messages, its broadcasts and its push/pull state. */
export interface MemberlistDelegate {
  nodeMeta(): Uint8Array
  notifyUser(payload: Uint8Array): void
  /** Extra broadcasts to piggyback, within `limit` bytes, each costing `overhead` more. */
  getBroadcasts(overhead: number, limit: number): Uint8Array[]
  localState(join: boolean): Uint8Array
  mergeRemoteState(state: Uint8Array, join: boolean): void
  event(e: MemberEvent): void
}

export interface MemberlistCounters {
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  decodeErrors: number
  decryptFailures: number
  probes: number
  probeFailures: number
  pushPulls: number
  /** Messages inside packets (a compound packet carries several). */
  messagesIn: number
  messagesOut: number
  /** Members this node started to suspect (suspect events it raised or accepted). */
  suspicions: number
  /** New members refused because the member table was full (gossip.maxMembers). */
  membersRefused: number
  /** Indirect ping requests dropped because the target or the requester is not a member. */
  indirectPingsRefused: number
}

export interface MemberlistDeps {
  clock: Clock
  random: Random
  transport: Transport
  keyring: Keyring | null
  delegate: MemberlistDelegate
}

const COMPOUND_HEADER = 2
const COMPOUND_PART = 2
const ENCRYPT_OVERHEAD = 29

interface AckHandler {
  onAck(payload: Uint8Array | null): void
  onNack(): void
  timer: TimerHandle
}

export class Memberlist {
  readonly config: Readonly<MemberlistConfig>
  readonly counters: MemberlistCounters = {
    packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, decodeErrors: 0, decryptFailures: 0,
    probes: 0, probeFailures: 0, pushPulls: 0, messagesIn: 0, messagesOut: 0, suspicions: 0,
    membersRefused: 0, indirectPingsRefused: 0,
  }
  readonly #d: MemberlistDeps
  readonly members: MemberTable
  readonly awareness: Awareness
  readonly #queue: BroadcastQueue
  readonly #acks = new Map<number, AckHandler>()
  #seq = 0
  #probeIndex = 0
  #leaving = false
  #running = false
  #timers: { probe: TimerHandle | null; gossip: TimerHandle | null; pushPull: TimerHandle | null } = {
    probe: null, gossip: null, pushPull: null,
  }

  constructor(config: MemberlistConfig, deps: MemberlistDeps) {
    this.config = Object.freeze({ ...config })
    this.#d = deps
    this.awareness = new Awareness(config.awarenessMaxMultiplier)
    this.#queue = new BroadcastQueue(config.retransmitMult, () => this.members.size)
    this.members = new MemberTable({
      clock: deps.clock,
      random: deps.random,
      selfName: config.name,
      suspicionMult: config.suspicionMult,
      suspicionMaxTimeoutMult: config.suspicionMaxTimeoutMult,
      probeIntervalMs: config.probeIntervalMs,
      deadNodeReclaimMs: config.deadNodeReclaimMs,
      maxMembers: config.maxMembers,
      refused: () => { this.counters.membersRefused++ },
      broadcast: (key, msg, onDone) => this.#queue.queue({ key, data: encodeMessage(msg), onDone }),
      emit: (e) => {
        if (e.type === 'suspect') this.counters.suspicions++
        deps.delegate.event(e)
      },
      healthDelta: (delta) => this.awareness.applyDelta(delta),
      leaving: () => this.#leaving,
    })
  }

  /** Turn encryption on (or replace the keyring) before start(); the keyring itself changes at runtime through its own methods. */
  setKeyring(keyring: Keyring | null): void {
    if (this.#running) throw new Error('the keyring is replaced only before start(); change keys with its methods')
    this.#d.keyring = keyring
  }

  get leaving(): boolean {
    return this.#leaving
  }

  /** Open the transport, announce ourselves (incarnation 1) and start the probe, gossip and push/pull loops. */
  async start(): Promise<void> {
    const t = this.#d.transport
    await t.listen<StreamMessage>({
      onPacket: (data, from) => this.#onPacket(data, from),
      frame: this.#framer,
      onStream: (msg, from) => this.#onStream(msg, from),
      onStreamError: (err) => this.#streamError(err),
    })
    this.members.alive({
      type: MSG.alive, Incarnation: 1, Node: this.config.name, Addr: ipToBytes(this.config.advertise.ip),
      Port: this.config.advertise.port, Meta: this.#d.delegate.nodeMeta(), Vsn: Uint8Array.from(VSN),
    }, true)
    this.#running = true
    this.#scheduleProbe(this.#jitter(this.config.probeIntervalMs))
    this.#scheduleGossip()
    this.#schedulePushPull(true)
  }

  /** Stop loops and close the transport. Safe to call twice or after a failed start. */
  async stop(): Promise<void> {
    this.#running = false
    const c = this.#d.clock
    c.clearTimeout(this.#timers.probe)
    c.clearTimeout(this.#timers.gossip)
    c.clearTimeout(this.#timers.pushPull)
    for (const h of this.#acks.values()) c.clearTimeout(h.timer)
    this.#acks.clear()
    this.members.cancelTimers()
    await this.#d.transport.close()
  }

  /** Push/pull with each seed (Join=true). Resolves with how many answered; rejects if none did. */
  async join(seeds: Address[]): Promise<number> {
    let ok = 0
    const errors: string[] = []
    for (const seed of seeds) {
      try {
        await this.pushPull(seed, true)
        ok++
      } catch (err) {
        errors.push(`${addressKey(seed)}: ${(err as Error).message}`)
      }
    }
    if (ok === 0 && seeds.length > 0) {
      throw new GossipJoinError(`could not join the cluster: ${errors.join('; ')}`)
    }
    return ok
  }

  /** Broadcast our death (From = us, i.e. left) and wait until it has been gossiped or `timeoutMs` passes. */
  async leave(timeoutMs: number): Promise<void> {
    if (this.#leaving) return
    this.#leaving = true
    const self = this.members.self()
    const anyAlive = this.members.all().some((m) => m.name !== self.name && m.state === 'alive')
    const done = new Promise<void>((resolve) => {
      this.members.dead({ type: MSG.dead, Incarnation: self.incarnation, Node: self.name, From: self.name }, resolve, true)
      if (!anyAlive) resolve()
    })
    await this.#waitFor(done, timeoutMs)
  }

  /** Our metadata changed: bump incarnation and gossip a new alive. */
  updateMeta(): void {
    const self = this.members.bumpSelf()
    self.meta = this.#d.delegate.nodeMeta()
    this.#queue.queue({ key: self.name, data: encodeMessage(this.members.aliveOf(self)) })
  }

  /** Send a user message to one member over UDP (best effort). */
  sendUser(to: Member, payload: Uint8Array): void {
    this.#sendMsg(to, encodeMessage({ type: MSG.user, Payload: payload }), to)
  }

  // ---- probing -------------------------------------------------------------------------------------------

  #jitter(ms: number): number {
    return Math.floor(this.#d.random.next() * ms)
  }

  #scheduleProbe(delayMs: number): void {
    if (!this.#running) return
    this.#timers.probe = this.#d.clock.setTimeout(() => {
      const started = this.#d.clock.now()
      this.#probe().finally(() => {
        const elapsed = this.#d.clock.now() - started
        this.#scheduleProbe(Math.max(0, this.config.probeIntervalMs - elapsed))
      })
    }, delayMs)
  }

  /** Pick the next member in round-robin order, skipping us and the dead; reshuffle at the end. */
  async #probe(): Promise<void> {
    const order = this.members.order()
    for (let checked = 0; checked <= order.length; checked++) {
      if (this.#probeIndex >= this.members.order().length) {
        this.members.reset(this.config.deadNodePurgeMs)
        this.#probeIndex = 0
        continue
      }
      const name = this.members.order()[this.#probeIndex++] as string
      const m = this.members.get(name)
      if (!m || name === this.config.name || m.state === 'dead' || m.state === 'left') continue
      await this.probeNode(m)
      return
    }
  }

  /** One SWIM probe round against `target` (memberlist probeNode). Exposed for tests. */
  async probeNode(target: Member): Promise<void> {
    const c = this.#d.clock
    this.counters.probes++
    const interval = this.awareness.scaleTimeout(this.config.probeIntervalMs)
    const seq = ++this.#seq
    let nacks = 0
    let acked = false
    let resolveAck!: (ok: boolean) => void
    const ackPromise = new Promise<boolean>((r) => { resolveAck = r })
    this.#acks.set(seq, {
      onAck: () => { acked = true; resolveAck(true) },
      onNack: () => { nacks++ },
      timer: c.setTimeout(() => { this.#acks.delete(seq); resolveAck(false) }, interval),
    })
    const deadline = c.now() + interval
    const self = this.members.self()
    const ping: Ping = {
      type: MSG.ping, SeqNo: seq, Node: target.name,
      SourceAddr: self.addr, SourcePort: self.port, SourceNode: self.name,
    }
    const dest = { ip: target.ip, port: target.port }
    if (target.state === 'alive') {
      this.#sendMsg(dest, encodeMessage(ping), null)
    } else {
      const suspect = encodeMessage({ type: MSG.suspect, Incarnation: target.incarnation, Node: target.name, From: self.name })
      this.#sendParts(dest, [encodeMessage(ping), suspect], null)
    }
    if (await this.#waitFor(ackPromise, this.config.probeTimeoutMs)) {
      this.awareness.applyDelta(-1)
      return
    }

    // Indirect probes through k random live members, and a TCP ping in parallel.
    const helpers = this.#randomMembers(this.config.indirectChecks,
      (m) => m.name === self.name || m.name === target.name || m.state !== 'alive')
    let expectedNacks = 0
    for (const h of helpers) {
      const wantsNack = (h.vsn[1] ?? 0) >= 4
      if (wantsNack) expectedNacks++
      const ind: IndirectPing = {
        type: MSG.indirectPing, SeqNo: seq, Target: target.addr, Port: target.port, Node: target.name,
        Nack: wantsNack, SourceAddr: self.addr, SourcePort: self.port, SourceNode: self.name,
      }
      this.#sendMsg({ ip: h.ip, port: h.port }, encodeMessage(ind), h)
    }
    let tcp: Promise<boolean> = Promise.resolve(false)
    if (this.config.tcpPings && (target.vsn[1] ?? 0) >= 3) {
      tcp = this.#tcpPing(dest, target.name, seq, Math.max(1, deadline - c.now()))
    }
    if (await ackPromise) {
      this.awareness.applyDelta(-1)
      return
    }
    if (!acked && await tcp) {
      this.awareness.applyDelta(-1)
      return
    }
    this.counters.probeFailures++
    this.awareness.applyDelta(expectedNacks > 0 ? Math.max(0, expectedNacks - nacks) : 1)
    const cur = this.members.get(target.name)
    if (cur && cur.state !== 'dead' && cur.state !== 'left') {
      this.members.suspect({ type: MSG.suspect, Incarnation: cur.incarnation, Node: cur.name, From: self.name }, true)
    }
  }

  async #tcpPing(to: Address, node: string, seq: number, timeoutMs: number): Promise<boolean> {
    const self = this.members.self()
    const ping: Ping = { type: MSG.ping, SeqNo: seq, Node: node, SourceAddr: self.addr, SourcePort: self.port, SourceNode: self.name }
    try {
      const reply = await this.#d.transport.request(to, this.#encodeStream(ping), this.#framer, timeoutMs)
      return reply.type === MSG.ack && reply.SeqNo === seq
    } catch {
      return false
    }
  }

  #randomMembers(k: number, exclude: (m: Member) => boolean): Member[] {
    return this.members.sample(k, exclude)
  }

  // ---- gossip --------------------------------------------------------------------------------------------

  #scheduleGossip(): void {
    if (!this.#running) return
    this.#timers.gossip = this.#d.clock.setTimeout(() => {
      this.gossip()
      this.#scheduleGossip()
    }, this.config.gossipIntervalMs)
  }

  /** One gossip round: queued broadcasts to `gossipNodes` random members (alive, suspect, recently dead). */
  gossip(): void {
    const now = this.#d.clock.now()
    const targets = this.#randomMembers(this.config.gossipNodes, (m) => {
      if (m.name === this.config.name) return true
      if (m.state === 'alive' || m.state === 'suspect') return false
      if (m.state === 'dead') return now - m.stateChangeMs > this.config.gossipToTheDeadMs
      return true
    })
    const budget = this.config.udpBufferBytes - COMPOUND_HEADER - (this.#d.keyring ? ENCRYPT_OVERHEAD : 0)
    for (const m of targets) {
      const parts = this.#takeBroadcasts(COMPOUND_PART, budget)
      if (parts.length === 0) return
      this.#sendParts({ ip: m.ip, port: m.port }, parts, m)
    }
  }

  #takeBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const own = this.#queue.take(overhead, limit)
    const used = own.reduce((n, b) => n + b.length + overhead, 0)
    // The delegate's broadcasts are user messages: memberlist prepends the user type byte (hence overhead + 1).
    const user = this.#d.delegate.getBroadcasts(overhead + 1, limit - used)
    return own.concat(user.map((b) => encodeMessage({ type: MSG.user, Payload: b })))
  }

  // ---- push/pull -----------------------------------------------------------------------------------------

  #schedulePushPull(first = false): void {
    if (!this.#running || this.config.pushPullIntervalMs <= 0) return
    const n = this.members.size
    const scale = n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
    const period = this.config.pushPullIntervalMs * scale
    this.#timers.pushPull = this.#d.clock.setTimeout(() => {
      const peer = this.#randomMembers(1, (m) => m.name === this.config.name || m.state !== 'alive')[0]
      const done = peer ? this.pushPull({ ip: peer.ip, port: peer.port }, false).catch(() => undefined) : Promise.resolve()
      void done.finally(() => this.#schedulePushPull())
    }, first ? this.#jitter(period) + period / 2 : period)
  }

  /** Exchange full state with `peer` over TCP and merge its reply. */
  async pushPull(peer: Address, join: boolean): Promise<void> {
    this.counters.pushPulls++
    const req: PushPull = { type: MSG.pushPull, Join: join, Nodes: this.members.snapshot(), UserState: this.#d.delegate.localState(join) }
    const reply = await this.#d.transport.request(peer, this.#encodeStream(req), this.#framer, this.config.tcpTimeoutMs)
    if (reply.type === MSG.err) throw new GossipJoinError(`remote error: ${reply.Error}`)
    if (reply.type !== MSG.pushPull) throw new GossipJoinError(`unexpected reply type ${reply.type} to push/pull`)
    this.#mergeRemote(reply, join)
  }

  #mergeRemote(pp: PushPull, join: boolean): void {
    const problem = incompatibleVersion(pp)
    if (problem) throw new GossipJoinError(problem)
    this.members.merge(pp.Nodes)
    if (pp.UserState.length > 0) this.#d.delegate.mergeRemoteState(pp.UserState, join)
  }

  // ---- receiving -----------------------------------------------------------------------------------------

  readonly #framer: Framer<StreamMessage> = (buf) => {
    const r = tryDecodeStream(buf, this.#d.keyring)
    return r.done ? { value: r.msg, bytes: r.bytes } : null
  }

  #onPacket(data: Uint8Array, from: Address): void {
    this.counters.packetsIn++
    this.counters.bytesIn += data.length
    let decoded: { messages: PacketMessage[]; errors: unknown[] }
    try {
      decoded = decodePacket(data, this.#d.keyring)
    } catch (err) {
      if ((err as { code?: string }).code === 'MESH_ERR_GOSSIP_DECRYPT') this.counters.decryptFailures++
      else this.counters.decodeErrors++
      return
    }
    this.counters.decodeErrors += decoded.errors.length
    this.counters.messagesIn += decoded.messages.length
    for (const msg of decoded.messages) this.#handle(msg, from)
  }

  #handle(msg: PacketMessage, from: Address): void {
    switch (msg.type) {
      case MSG.ping: return this.#onPing(msg, from)
      case MSG.indirectPing: return this.#onIndirectPing(msg, from)
      case MSG.ack: {
        const h = this.#acks.get(msg.SeqNo)
        if (!h) return
        this.#acks.delete(msg.SeqNo)
        this.#d.clock.clearTimeout(h.timer)
        return h.onAck(msg.Payload)
      }
      case MSG.nack: return this.#acks.get(msg.SeqNo)?.onNack()
      case MSG.suspect: return this.members.suspect(msg)
      case MSG.alive: return this.members.alive(msg)
      case MSG.dead: return this.members.dead(msg)
      case MSG.user: return this.#d.delegate.notifyUser(msg.Payload)
    }
  }

  #replyAddress(src: { SourceAddr?: Uint8Array; SourcePort?: number }, from: Address): Address {
    if (src.SourceAddr && src.SourceAddr.length > 0 && src.SourcePort) {
      return { ip: ipFromBytes(src.SourceAddr) ?? from.ip, port: src.SourcePort }
    }
    return from
  }

  #onPing(p: Ping, from: Address): void {
    if (p.Node !== '' && p.Node !== this.config.name) return
    const ack: Ack = { type: MSG.ack, SeqNo: p.SeqNo, Payload: null }
    const to = this.#replyAddress(p, from)
    // Anyone may ping us and name any reply address; only members get queued broadcasts piggybacked, so a forged
    // ping is answered with an ack of its own size, not a full packet (review #11: reflection).
    if (this.members.atAddress(to.ip, to.port)) this.#sendMsg(to, encodeMessage(ack), null)
    else this.#sendParts(to, [encodeMessage(ack)], null)
  }

  /**
   * Probe `ind.Target` for a member and pass its ack (or a nack) back. Both the target and the requester must be
   * members at those addresses: otherwise anyone could make us send pings and acks to any ip:port (review #11).
   */
  #onIndirectPing(ind: IndirectPing, from: Address): void {
    const self = this.members.self()
    const replyTo = this.#replyAddress(ind, from)
    const target = { ip: ipFromBytes(ind.Target) ?? '', port: ind.Port }
    const member = this.members.atAddress(target.ip, target.port)
    if (!member || (ind.Node !== '' && member.name !== ind.Node) || !this.members.atAddress(replyTo.ip, replyTo.port)) {
      this.counters.indirectPingsRefused++
      return
    }
    const seq = ++this.#seq
    let nackTimer: TimerHandle | null = null
    const timer = this.#d.clock.setTimeout(() => this.#acks.delete(seq), this.config.probeTimeoutMs)
    this.#acks.set(seq, {
      onAck: () => {
        this.#d.clock.clearTimeout(nackTimer)
        this.#sendMsg(replyTo, encodeMessage({ type: MSG.ack, SeqNo: ind.SeqNo, Payload: null }), null)
      },
      onNack: () => undefined,
      timer,
    })
    if (ind.Nack) {
      nackTimer = this.#d.clock.setTimeout(() => {
        this.#sendMsg(replyTo, encodeMessage({ type: MSG.nack, SeqNo: ind.SeqNo }), null)
      }, this.config.probeTimeoutMs)
    }
    const ping: Ping = {
      type: MSG.ping, SeqNo: seq, Node: ind.Node, SourceAddr: self.addr, SourcePort: self.port, SourceNode: self.name,
    }
    this.#sendMsg(target, encodeMessage(ping), null)
  }

  async #onStream(msg: StreamMessage, _from: Address): Promise<Uint8Array | null> {
    switch (msg.type) {
      case MSG.ping:
        if (msg.Node !== '' && msg.Node !== this.config.name) return null
        return this.#encodeStream({ type: MSG.ack, SeqNo: msg.SeqNo, Payload: null })
      case MSG.pushPull: {
        const reply = this.#encodeStream({
          type: MSG.pushPull, Join: msg.Join, Nodes: this.members.snapshot(), UserState: this.#d.delegate.localState(msg.Join),
        })
        try {
          this.#mergeRemote(msg, msg.Join)
        } catch (err) {
          return this.#encodeStream({ type: MSG.err, Error: (err as Error).message })
        }
        return reply
      }
      case MSG.user:
        this.#d.delegate.notifyUser(msg.Payload)
        return null
      default:
        return this.#encodeStream({ type: MSG.err, Error: `unexpected message type ${msg.type}` })
    }
  }

  #streamError(err: unknown): Uint8Array | null {
    if ((err as { code?: string }).code === 'MESH_ERR_GOSSIP_DECRYPT') this.counters.decryptFailures++
    else this.counters.decodeErrors++
    try {
      return this.#encodeStream({ type: MSG.err, Error: (err as Error).message })
    } catch {
      return null
    }
  }

  // ---- sending -------------------------------------------------------------------------------------------

  #encodeStream(msg: StreamMessage): Uint8Array {
    return encodeStream(msg, { compress: this.config.enableCompression, keyring: this.#d.keyring })
  }

  /** Send one message, piggybacking queued broadcasts when they fit. */
  #sendMsg(to: Address, msg: Uint8Array, node: Member | null): void {
    const budget = this.config.udpBufferBytes - msg.length - COMPOUND_HEADER - (this.#d.keyring ? ENCRYPT_OVERHEAD : 0)
    const extra = budget > 0 ? this.#takeBroadcasts(COMPOUND_PART, budget) : []
    this.#sendParts(to, [msg, ...extra], node)
  }

  #sendParts(to: Address, parts: Uint8Array[], node: Member | null): void {
    const crc = node !== null && (node.vsn[1] ?? 0) >= 5
    const data = encodePacket(parts, { crc, compress: this.config.enableCompression, keyring: this.#d.keyring })
    this.counters.packetsOut++
    this.counters.messagesOut += parts.length
    this.counters.bytesOut += data.length
    this.#d.transport.sendPacket(to, data)
  }

  async #waitFor<T>(p: Promise<T>, ms: number): Promise<T | false> {
    let timer: TimerHandle | null = null
    const timeout = new Promise<false>((r) => { timer = this.#d.clock.setTimeout(() => r(false), ms) })
    try {
      return await Promise.race([p, timeout])
    } finally {
      this.#d.clock.clearTimeout(timer)
    }
  }
}

/** memberlist verifyProtocol: every alive node's current versions must lie in the range all of them support. */
export function incompatibleVersion(pp: PushPull): string | null {
  const alive = pp.Nodes.filter((n) => n.State === 0)
  const vsns = alive.map((n) => n.Vsn).concat([Uint8Array.from(VSN)])
  const pmin = Math.max(...vsns.map((v) => v[0] ?? 0))
  const pmax = Math.min(...vsns.map((v) => v[1] ?? 0))
  const dmin = Math.max(...vsns.map((v) => v[3] ?? 0))
  const dmax = Math.min(...vsns.map((v) => v[4] ?? 0))
  for (const n of alive) {
    const pcur = n.Vsn[2] ?? 0
    const dcur = n.Vsn[5] ?? 0
    if (pcur < pmin || pcur > pmax) return `node '${n.Name}' protocol version (${pcur}) is incompatible: [${pmin}, ${pmax}]`
    if (dcur < dmin || dcur > dmax) return `node '${n.Name}' delegate protocol version (${dcur}) is incompatible: [${dmin}, ${dmax}]`
  }
  return null
}

