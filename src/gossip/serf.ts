import type { Clock, Random, TimerHandle } from '../base/clock.ts'
import { BroadcastQueue } from './broadcast-queue.ts'
import type { Memberlist, MemberlistDelegate } from './memberlist.ts'
import type { Member, MemberEvent } from './state.ts'
import {
  SERF_MSG, decodeSerfMessage, decodeSerfPushPull, decodeTags, encodeSerfMessage, encodeSerfPushPull, encodeTags,
  type SerfMessage,
} from './serf-wire.ts'
import { ipFromBytes } from './ip.ts'
import { tagsProblem } from './tags.ts'
import { LamportClock, type SerfConfig, type SerfCounters, type SerfEvent, type SerfMember, type SerfStatus } from './serf-types.ts'

/**
 * serf's layer over memberlist, so that `serf members` shows us alive / leaving / left / failed exactly as it shows
 * a serf agent: Lamport clocks, join and leave intents, serf's push/pull state, tags in metadata, user events,
 * query acks, and reconnection to failed members. Pure apart from the injected clock and random.
 */

export { LamportClock } from './serf-types.ts'
export type { SerfConfig, SerfCounters, SerfEvent, SerfMember, SerfStatus } from './serf-types.ts'

const INTENT_TTL_MS = 5 * 60_000
/** serf MaxQueueDepth: a flood of events or intents cannot grow the queue past this. */
const MAX_QUEUE_DEPTH = 4096
/** The serf message type we use for mesh's own direct messages; serf logs and drops unknown types. */
export const MESH_DIRECT = 0x6d

export class SerfLayer implements MemberlistDelegate {
  readonly clock = new LamportClock()
  readonly eventClock = new LamportClock()
  readonly queryClock = new LamportClock()
  readonly #cfg: SerfConfig
  readonly #time: Clock
  readonly #random: Random
  readonly #emit: (e: SerfEvent) => void
  readonly #members = new Map<string, SerfMember>()
  readonly #intents = new Map<string, { type: 'join' | 'leave'; ltime: number; atMs: number }>()
  readonly #seenEvents = new Map<number, Set<string>>()
  readonly #seenQueries = new Set<string>()
  readonly #queue: BroadcastQueue
  readonly counters: SerfCounters = { tagsRefused: 0, relaysRefused: 0, membersReaped: 0 }
  #tags: Record<string, string>
  #ml: Memberlist | null = null
  #leaving = false
  #reconnectTimer: TimerHandle | null = null

  constructor(cfg: SerfConfig, time: Clock, random: Random, emit: (e: SerfEvent) => void) {
    this.#cfg = cfg
    this.#time = time
    this.#random = random
    this.#emit = emit
    this.#tags = { ...cfg.tags }
    this.#queue = new BroadcastQueue(cfg.retransmitMult, () => Math.max(1, this.#members.size), MAX_QUEUE_DEPTH)
  }

  attach(ml: Memberlist): void {
    this.#ml = ml
  }

  members(): SerfMember[] {
    return [...this.#members.values()]
  }

  member(name: string): SerfMember | undefined {
    return this.#members.get(name)
  }

  countAlive(): number {
    let n = 0
    for (const m of this.#members.values()) if (m.state === 'alive' && m.status !== 'left') n++
    return n
  }

  get tags(): Record<string, string> {
    return { ...this.#tags }
  }

  set tags(t: Record<string, string>) {
    this.#tags = { ...t }
  }

  // ---- memberlist delegate ------------------------------------------------------------------------------

  nodeMeta(): Uint8Array {
    return encodeTags(this.#tags)
  }

  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    return this.#queue.take(overhead, limit)
  }

  localState(_join: boolean): Uint8Array {
    const status: Record<string, number> = {}
    const left: string[] = []
    for (const m of this.#members.values()) {
      status[m.name] = m.statusLTime
      if (m.status === 'left') left.push(m.name)
    }
    return encodeSerfPushPull({
      LTime: this.clock.time(), StatusLTimes: status, LeftMembers: left,
      EventLTime: this.eventClock.time(), Events: [], QueryLTime: this.queryClock.time(),
    })
  }

  mergeRemoteState(buf: Uint8Array, _join: boolean): void {
    const pp = decodeSerfPushPull(buf)
    if (pp.LTime > 0) this.clock.witness(pp.LTime - 1)
    if (pp.EventLTime > 0) this.eventClock.witness(pp.EventLTime - 1)
    if (pp.QueryLTime > 0) this.queryClock.witness(pp.QueryLTime - 1)
    const left = new Set(pp.LeftMembers)
    for (const name of left) this.#leaveIntent(name, (pp.StatusLTimes[name] ?? 0) + 1)
    for (const [name, ltime] of Object.entries(pp.StatusLTimes)) {
      if (!left.has(name)) this.#joinIntent(name, ltime)
    }
  }

  notifyUser(payload: Uint8Array): void {
    let msg: SerfMessage
    try {
      msg = decodeSerfMessage(payload)
    } catch {
      return
    }
    switch (msg.type) {
      case SERF_MSG.join:
        if (this.#joinIntent(msg.Node, msg.LTime)) this.#broadcast(payload)
        return
      case SERF_MSG.leave:
        if (this.#leaveIntent(msg.Node, msg.LTime)) this.#broadcast(payload)
        return
      case SERF_MSG.userEvent:
        if (this.#userEvent(msg.Name, msg.Payload, msg.LTime)) this.#broadcast(payload)
        return
      case SERF_MSG.query:
        return this.#query(msg, payload)
      case SERF_MSG.relay:
        return this.#relay(msg)
      case MESH_DIRECT:
        this.#emit({ type: 'direct', payload: msg.Payload })
        return
      default:
        return
    }
  }

  event(e: MemberEvent): void {
    switch (e.type) {
      case 'join': return this.#memberJoin(e.member)
      case 'update': return this.#memberUpdate(e.member, 'update')
      case 'suspect': return this.#memberUpdate(e.member, 'suspect')
      case 'alive': return this.#memberUpdate(e.member, 'alive')
      case 'dead':
      case 'left': return this.#memberGone(e.member)
      case 'refuted':
        this.#emit({ type: 'refuted', incarnation: e.incarnation, accusedBy: e.accusedBy })
        return
      case 'conflict':
        this.#emit({ type: 'conflict', name: e.existing.name, existing: `${e.existing.ip}:${e.existing.port}`,
          other: `${ipFromBytes(e.other.Addr) ?? '?'}:${e.other.Port}` })
        return
    }
  }

  // ---- our own intents ----------------------------------------------------------------------------------

  /** After joining: announce our join intent at the current clock. */
  broadcastJoin(): void {
    const ltime = this.clock.time()
    this.clock.witness(ltime)
    this.#joinIntent(this.#cfg.name, ltime)
    this.#broadcast(encodeSerfMessage({ type: SERF_MSG.join, LTime: ltime, Node: this.#cfg.name }))
  }

  /** Graceful leave, first half: gossip our leave intent; resolves when it is used up (or at once if alone). */
  broadcastLeave(): Promise<void> {
    this.#leaving = true
    const ltime = this.clock.time()
    this.clock.increment()
    this.#leaveIntent(this.#cfg.name, ltime)
    const others = [...this.#members.values()].some((m) => m.name !== this.#cfg.name && m.status === 'alive')
    if (!others) return Promise.resolve()
    return new Promise((resolve) => {
      this.#queue.queue({
        key: null, data: encodeSerfMessage({ type: SERF_MSG.leave, LTime: ltime, Node: this.#cfg.name, Prune: false }), onDone: resolve,
      })
    })
  }

  /** Gossip a user event to every member (serf `event`). */
  userEvent(name: string, payload: Uint8Array, coalesce = false): void {
    const ltime = this.eventClock.time()
    this.eventClock.increment()
    this.#userEvent(name, payload, ltime)
    this.#broadcast(encodeSerfMessage({ type: SERF_MSG.userEvent, LTime: ltime, Name: name, Payload: payload, CC: coalesce }))
  }

  /** Send bytes to one member directly (best effort), delivered there as a `direct` event. */
  sendDirect(name: string, payload: Uint8Array): boolean {
    const ml = this.#ml
    const m = ml?.members.get(name)
    if (!ml || !m || (m.state !== 'alive' && m.state !== 'suspect')) return false
    ml.sendUser(m, encodeSerfMessage({ type: MESH_DIRECT, Payload: payload }))
    return true
  }

  /** Every `reconnectIntervalMs`, try to rejoin one random failed member and forget long-gone ones. */
  startReconnect(): void {
    const tick = () => {
      this.#reconnectTimer = this.#time.setTimeout(() => {
        this.#reap()
        const failed = [...this.#members.values()].filter((m) => m.status === 'failed')
        const pick = failed[Math.floor(this.#random.next() * failed.length)]
        if (pick && this.#ml && !this.#leaving) {
          void this.#ml.pushPull({ ip: pick.ip, port: pick.port }, true).catch(() => undefined)
        }
        tick()
      }, this.#cfg.reconnectIntervalMs)
    }
    tick()
  }

  stop(): void {
    this.#time.clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = null
  }

  // ---- internals ----------------------------------------------------------------------------------------

  #broadcast(data: Uint8Array): void {
    this.#queue.queue({ key: null, data })
  }

  #toMember(m: Member, status: SerfStatus, prev?: SerfMember): SerfMember {
    let tags: Record<string, string> = {}
    try {
      tags = decodeTags(m.meta)
      if (tagsProblem(tags) !== null) {
        this.counters.tagsRefused++
        tags = prev?.tags ?? {}
      }
    } catch {
      tags = prev?.tags ?? {}
    }
    return {
      name: m.name, ip: m.ip, port: m.port, tags, status, state: m.state, incarnation: m.incarnation,
      vsn: [...m.vsn], statusLTime: prev?.statusLTime ?? 0, changedMs: this.#time.now(),
    }
  }

  #memberJoin(m: Member): void {
    const prev = this.#members.get(m.name)
    const cur = this.#toMember(m, 'alive', prev)
    const intent = this.#intents.get(m.name)
    if (intent && this.#time.now() - intent.atMs < INTENT_TTL_MS && intent.ltime > cur.statusLTime) {
      cur.statusLTime = intent.ltime
      if (intent.type === 'leave') cur.status = 'leaving'
      this.#intents.delete(m.name)
    }
    this.#members.set(m.name, cur)
    this.#emit({ type: 'join', member: { ...cur } })
    this.#capGone()
  }

  #memberUpdate(m: Member, type: 'update' | 'suspect' | 'alive'): void {
    const prev = this.#members.get(m.name)
    if (!prev) return this.#memberJoin(m)
    const cur = this.#toMember(m, prev.status, prev)
    this.#members.set(m.name, cur)
    this.#emit({ type, member: { ...cur } })
  }

  #memberGone(m: Member): void {
    const prev = this.#members.get(m.name)
    if (!prev) return
    const status: SerfStatus = prev.status === 'leaving' || prev.status === 'left' ? 'left' : 'failed'
    const cur = this.#toMember(m, status, prev)
    this.#members.set(m.name, cur)
    this.#emit({ type: status === 'left' ? 'leave' : 'fail', member: { ...cur } })
    this.#capGone()
  }

  /** Reap failed and left members, oldest first, while there are more than the caps allow. */
  #capGone(): void {
    if (this.#members.size <= Math.min(this.#cfg.maxMembers, this.#cfg.maxDeadMembers)) return
    const gone = [...this.#members.values()].filter((x) => x.status === 'failed' || x.status === 'left')
    let excess = Math.max(gone.length - this.#cfg.maxDeadMembers, this.#members.size - this.#cfg.maxMembers)
    if (excess <= 0) return
    gone.sort((a, b) => a.changedMs - b.changedMs)
    for (const x of gone) {
      if (excess-- <= 0) break
      this.#members.delete(x.name)
      this.counters.membersReaped++
      this.#emit({ type: 'reap', member: { ...x } })
    }
  }

  /** serf handleNodeJoinIntent; true = new information, re-gossip it. */
  #joinIntent(name: string, ltime: number): boolean {
    this.clock.witness(ltime)
    const m = this.#members.get(name)
    if (!m) return this.#rememberIntent(name, 'join', ltime)
    if (ltime <= m.statusLTime) return false
    m.statusLTime = ltime
    if (m.status === 'leaving') {
      m.status = 'alive'
      m.changedMs = this.#time.now()
    }
    return true
  }

  /** serf handleNodeLeaveIntent; refutes an old leave intent about ourselves. */
  #leaveIntent(name: string, ltime: number): boolean {
    this.clock.witness(ltime)
    if (name === this.#cfg.name && !this.#leaving) {
      const self = this.#members.get(name)
      if (self && ltime > self.statusLTime) this.broadcastJoin()
      return false
    }
    const m = this.#members.get(name)
    if (!m) return this.#rememberIntent(name, 'leave', ltime)
    if (ltime <= m.statusLTime) return false
    m.statusLTime = ltime
    if (m.status === 'alive') {
      m.status = 'leaving'
      m.changedMs = this.#time.now()
      return true
    }
    if (m.status === 'failed') {
      m.status = 'left'
      m.changedMs = this.#time.now()
      this.#emit({ type: 'leave', member: { ...m } })
      return true
    }
    return m.status === 'leaving'
  }

  #rememberIntent(name: string, type: 'join' | 'leave', ltime: number): boolean {
    const prev = this.#intents.get(name)
    if (prev && prev.ltime >= ltime) return false
    // Intents about names we do not know yet: as many as members we could hold, so a flood cannot grow the map.
    if (!prev && this.#intents.size >= this.#cfg.maxMembers) return false
    this.#intents.set(name, { type, ltime, atMs: this.#time.now() })
    return true
  }

  #userEvent(name: string, payload: Uint8Array, ltime: number): boolean {
    this.eventClock.witness(ltime)
    if (ltime + 512 < this.eventClock.time()) return false
    const key = `${name}\0${Buffer.from(payload).toString('base64')}`
    let seen = this.#seenEvents.get(ltime)
    if (seen?.has(key)) return false
    if (!seen) {
      seen = new Set()
      this.#seenEvents.set(ltime, seen)
      for (const t of this.#seenEvents.keys()) if (t + 512 < this.eventClock.time()) this.#seenEvents.delete(t)
    }
    seen.add(key)
    this.#emit({ type: 'user', name, payload, ltime })
    return true
  }

  #query(q: Extract<SerfMessage, { type: typeof SERF_MSG.query }>, raw: Uint8Array): void {
    this.queryClock.witness(q.LTime)
    const key = `${q.LTime}:${q.ID}`
    if (this.#seenQueries.has(key)) return
    this.#seenQueries.add(key)
    if (this.#seenQueries.size > 4096) this.#seenQueries.delete(this.#seenQueries.values().next().value as string)
    if ((q.Flags & 2) === 0) this.#broadcast(raw)
    const ml = this.#ml
    const ip = ipFromBytes(q.Addr)
    if (!ml || ip === null || (q.Flags & 1) === 0) return
    // The ack goes only to the member that asked, at the address it gossips from (review #11: no reflection).
    const source = ml.members.get(q.SourceNode)
    if (!source || source.ip !== ip || source.port !== q.Port || !reachable(source)) {
      this.counters.relaysRefused++
      return
    }
    const ack = encodeSerfMessage({ type: SERF_MSG.queryResponse, LTime: q.LTime, ID: q.ID, From: this.#cfg.name, Flags: 1, Payload: null })
    ml.sendUser(source, ack)
  }

  /** Forward a relayed message, but only to a member at that address (review #11: serf relays to any ip:port). */
  #relay(r: Extract<SerfMessage, { type: typeof SERF_MSG.relay }>): void {
    const ml = this.#ml
    const ip = ipFromBytes(r.DestAddr)
    if (!ml || ip === null) return
    const dest = ml.members.atAddress(ip, r.DestPort)
    if (!dest || !reachable(dest)) {
      this.counters.relaysRefused++
      return
    }
    ml.sendUser({ ...dest, vsn: Uint8Array.of(0, 0, 0, 0, 0, 0) }, r.Inner)
  }

  #reap(): void {
    const now = this.#time.now()
    for (const [name, intent] of this.#intents) if (now - intent.atMs > INTENT_TTL_MS) this.#intents.delete(name)
    for (const m of [...this.#members.values()]) {
      const limit = m.status === 'failed' ? this.#cfg.reconnectTimeoutMs : m.status === 'left' ? this.#cfg.tombstoneTimeoutMs : Infinity
      if (now - m.changedMs > limit) {
        this.#members.delete(m.name)
        this.#emit({ type: 'reap', member: { ...m } })
      }
    }
  }
}

/** A member we may send to on someone else's request: alive or suspect, not dead or gone. */
function reachable(m: Member): boolean {
  return m.state === 'alive' || m.state === 'suspect'
}
