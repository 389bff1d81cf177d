import type { Clock, Random } from '../base/clock.ts'
import { randomInt, shuffle } from '../base/clock.ts'
import { ipFromBytes } from './ip.ts'
import { Suspicion, suspicionTimeoutMs } from './suspicion.ts'
import { MSG, type Alive, type Dead, type PacketMessage, type PushNodeState, type Suspect } from './wire.ts'

/**
 * The member table and memberlist's state rules (state.go: aliveNode, suspectNode, deadNode, mergeState):
 * which alive/suspect/dead messages are accepted, refutation, suspicion timers, and the events they cause.
 * Pure: time comes from the injected clock; messages to re-gossip go out through `broadcast`.
 */

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/**
 * The highest incarnation the wire carries (uint32). An accusation (suspect or dead) at this value that arrives
 * from the network is ignored: the accused could only refute it with 2^32, which does not encode, so accepting it
 * would evict the node until it restarts (security review #5). Accusations we raise ourselves (our probe failed,
 * our suspicion timed out, our own leave) are accepted at any value. Our own incarnation saturates here.
 */
export const INCARNATION_MAX = 0xffff_ffff

export interface Member {
  name: string
  /** Raw address bytes (4 or 16). */
  addr: Uint8Array
  ip: string
  port: number
  meta: Uint8Array
  /** [pmin, pmax, pcur, dmin, dmax, dcur] */
  vsn: Uint8Array
  incarnation: number
  state: MemberState
  /** Clock time of the last state change, ms. */
  stateChangeMs: number
}

export type MemberEvent =
  | { type: 'join'; member: Member }
  | { type: 'update'; member: Member }
  | { type: 'alive'; member: Member } /** suspect → alive again */
  | { type: 'suspect'; member: Member; from: string }
  | { type: 'dead'; member: Member; from: string }
  | { type: 'left'; member: Member }
  | { type: 'refuted'; incarnation: number; accusedBy: string }
  | { type: 'conflict'; existing: Member; other: Alive }

export interface StateDeps {
  clock: Clock
  random: Random
  selfName: string
  suspicionMult: number
  suspicionMaxTimeoutMult: number
  probeIntervalMs: number
  deadNodeReclaimMs: number
  /** Most entries the table holds (any state, us included); see GossipConfig.maxMembers. */
  maxMembers: number
  /** A new member was refused because the table is full. */
  refused(name: string): void
  /** Queue a message for gossip; `key` = subject node, a newer one replaces it. */
  broadcast(key: string, msg: PacketMessage, onDone?: () => void): void
  emit(event: MemberEvent): void
  /** Lifeguard: our health got worse (refutations count against us). */
  healthDelta(delta: number): void
  /** True while we are leaving: alive about ourselves is ignored, death about ourselves accepted. */
  leaving(): boolean
}

const STATE_NAMES: Record<number, MemberState> = { 0: 'alive', 1: 'suspect', 2: 'dead', 3: 'left' }
export const STATE_NUMBERS: Record<MemberState, 0 | 1 | 2 | 3> = { alive: 0, suspect: 1, dead: 2, left: 3 }

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

export class MemberTable {
  readonly #d: StateDeps
  readonly #map = new Map<string, Member>()
  /** Probe order (memberlist keeps a shuffled slice and a round-robin index). */
  #order: string[] = []
  readonly #timers = new Map<string, Suspicion>()

  constructor(deps: StateDeps) {
    this.#d = deps
  }

  get size(): number {
    return this.#map.size
  }

  get(name: string): Member | undefined {
    return this.#map.get(name)
  }

  all(): Member[] {
    return [...this.#map.values()]
  }

  /**
   * Up to k distinct random members that `exclude` does not reject (memberlist kRandomNodes: at most 3n random
   * draws, so it stays O(k) on large clusters).
   */
  sample(k: number, exclude: (m: Member) => boolean): Member[] {
    const list = this.#order
    const n = list.length
    const out: Member[] = []
    const seen = new Set<string>()
    for (let i = 0; i < 3 * n && out.length < k; i++) {
      const name = list[randomInt(this.#d.random, n)] as string
      if (seen.has(name)) continue
      seen.add(name)
      const m = this.#map.get(name)
      if (m && !exclude(m)) out.push(m)
    }
    return out
  }

  order(): readonly string[] {
    return this.#order
  }

  self(): Member {
    return this.#map.get(this.#d.selfName) as Member
  }

  /** Shuffle the probe order and forget dead/left members older than `purgeMs` (memberlist resetNodes). */
  reset(purgeMs: number): void {
    const now = this.#d.clock.now()
    for (const m of [...this.#map.values()]) {
      if ((m.state === 'dead' || m.state === 'left') && now - m.stateChangeMs > purgeMs && m.name !== this.#d.selfName) {
        this.#map.delete(m.name)
      }
    }
    this.#order = shuffle(this.#d.random, [...this.#map.keys()])
  }

  /** Apply an alive message. `bootstrap` marks our own initial alive. */
  alive(a: Alive, bootstrap = false): void {
    const d = this.#d
    const isSelf = a.Node === d.selfName
    if (isSelf && d.leaving() && !bootstrap) return
    if (a.Vsn.length !== 6) return
    // memberlist aliveNode: "Ignoring an alive message … because protocol version(s) are wrong" (spec §11). Such a
    // node, once listed, makes every later push/pull with us fail serf's version check (nobody can join us).
    const [pmin = 0, pmax = 0] = a.Vsn
    if (pmin === 0 || pmax === 0 || pmin > pmax) return
    const ip = ipFromBytes(a.Addr)
    if (ip === null) return
    let m = this.#map.get(a.Node)
    let updatesNode = false
    if (!m) {
      if (this.#map.size >= d.maxMembers && !this.#evictOldestGone()) {
        d.refused(a.Node)
        return
      }
      m = {
        name: a.Node, addr: a.Addr, ip, port: a.Port, meta: a.Meta, vsn: a.Vsn,
        incarnation: 0, state: 'dead', stateChangeMs: d.clock.now(),
      }
      this.#map.set(a.Node, m)
      // Insert at a random place in the probe order, as memberlist does, so new nodes are probed fairly.
      const at = randomInt(d.random, this.#order.length + 1)
      this.#order.splice(at, 0, a.Node)
    } else if (!sameBytes(m.addr, a.Addr) || m.port !== a.Port) {
      const reclaimable = d.deadNodeReclaimMs > 0 && m.state === 'dead' &&
        d.clock.now() - m.stateChangeMs > d.deadNodeReclaimMs
      if (m.state === 'left' || reclaimable) {
        updatesNode = true
      } else {
        d.emit({ type: 'conflict', existing: { ...m }, other: a })
        return
      }
    }
    if (a.Incarnation <= m.incarnation && !isSelf && !updatesNode) return
    if (a.Incarnation < m.incarnation && isSelf) return

    this.#timers.get(a.Node)?.cancel()
    this.#timers.delete(a.Node)

    if (isSelf && !bootstrap) {
      if (a.Incarnation === m.incarnation && sameBytes(a.Meta, m.meta) && sameBytes(a.Vsn, m.vsn)) return
      this.refute(m, a.Incarnation, a.Node)
      return
    }
    d.broadcast(a.Node, a)
    const old = m.state
    const metaChanged = !sameBytes(m.meta, a.Meta)
    m.incarnation = a.Incarnation
    m.meta = a.Meta
    m.vsn = a.Vsn
    m.addr = a.Addr
    m.ip = ip
    m.port = a.Port
    if (m.state !== 'alive') {
      m.state = 'alive'
      m.stateChangeMs = d.clock.now()
    }
    if (old === 'dead' || old === 'left') d.emit({ type: 'join', member: { ...m } })
    else if (metaChanged) d.emit({ type: 'update', member: { ...m } })
    else if (old === 'suspect') d.emit({ type: 'alive', member: { ...m } })
  }

  /** Apply a suspect message; `local` = raised by our own probe, not received. */
  suspect(s: Suspect, local = false): void {
    const d = this.#d
    const m = this.#map.get(s.Node)
    if (!m || s.Incarnation < m.incarnation || (s.Incarnation >= INCARNATION_MAX && !local)) return
    const timer = this.#timers.get(s.Node)
    if (timer) {
      if (timer.confirm(s.From)) d.broadcast(s.Node, s)
      return
    }
    if (m.state !== 'alive') return
    if (s.Node === d.selfName) {
      this.refute(m, s.Incarnation, s.From)
      return
    }
    d.broadcast(s.Node, s)
    m.incarnation = s.Incarnation
    m.state = 'suspect'
    const changedAt = d.clock.now()
    m.stateChangeMs = changedAt
    d.emit({ type: 'suspect', member: { ...m }, from: s.From })

    const n = this.#map.size
    let k = d.suspicionMult - 2
    if (n - 2 < k) k = 0
    const min = suspicionTimeoutMs(d.suspicionMult, n, d.probeIntervalMs)
    const max = d.suspicionMaxTimeoutMult * min
    this.#timers.set(s.Node, new Suspicion(d.clock, s.From, k, min, max, () => {
      this.#timers.delete(s.Node)
      const cur = this.#map.get(s.Node)
      if (cur && cur.state === 'suspect' && cur.stateChangeMs === changedAt) {
        this.dead({ type: MSG.dead, Incarnation: cur.incarnation, Node: cur.name, From: d.selfName }, undefined, true)
      }
    }))
  }

  /**
   * Apply a dead message; `onDone` fires when our re-gossip of it is used up (graceful leave waits on it); `local`
   * = raised by us (suspicion timeout, our own leave), not received.
   */
  dead(msg: Dead, onDone?: () => void, local = false): void {
    const d = this.#d
    const m = this.#map.get(msg.Node)
    if (!m || msg.Incarnation < m.incarnation || (msg.Incarnation >= INCARNATION_MAX && !local)) return
    this.#timers.get(msg.Node)?.cancel()
    this.#timers.delete(msg.Node)
    if (m.state === 'dead' || m.state === 'left') return
    if (msg.Node === d.selfName && !d.leaving()) {
      this.refute(m, msg.Incarnation, msg.From)
      return
    }
    d.broadcast(msg.Node, msg, onDone)
    m.incarnation = msg.Incarnation
    m.state = msg.Node === msg.From ? 'left' : 'dead'
    m.stateChangeMs = d.clock.now()
    if (m.state === 'left') d.emit({ type: 'left', member: { ...m } })
    else d.emit({ type: 'dead', member: { ...m }, from: msg.From })
  }

  /** Merge a push/pull peer's view: alive as alive, left as left, dead or suspect only as *suspect*. */
  merge(nodes: PushNodeState[]): void {
    for (const r of nodes) {
      const state = STATE_NAMES[r.State]
      if (state === 'alive') {
        this.alive({ type: MSG.alive, Incarnation: r.Incarnation, Node: r.Name, Addr: r.Addr, Port: r.Port, Meta: r.Meta, Vsn: r.Vsn })
      } else if (state === 'left') {
        this.dead({ type: MSG.dead, Incarnation: r.Incarnation, Node: r.Name, From: r.Name })
      } else {
        this.suspect({ type: MSG.suspect, Incarnation: r.Incarnation, Node: r.Name, From: this.#d.selfName })
      }
    }
  }

  /** Our full view, for push/pull. */
  snapshot(): PushNodeState[] {
    return this.all().map((m) => ({
      Name: m.name, Addr: m.addr, Port: m.port, Meta: m.meta, Incarnation: m.incarnation,
      State: STATE_NUMBERS[m.state], Vsn: m.vsn,
    }))
  }

  /** Bump our incarnation past `accused` and gossip that we are alive. */
  refute(self: Member, accused: number, accusedBy: string): void {
    const d = this.#d
    self.incarnation = Math.min(Math.max(self.incarnation, accused) + 1, INCARNATION_MAX)
    d.healthDelta(1)
    d.emit({ type: 'refuted', incarnation: self.incarnation, accusedBy })
    d.broadcast(self.name, this.aliveOf(self))
  }

  /** Our incarnation for a metadata change: one more, saturating at INCARNATION_MAX. */
  bumpSelf(): Member {
    const self = this.self()
    self.incarnation = Math.min(self.incarnation + 1, INCARNATION_MAX)
    return self
  }

  /** The member that gossips from ip:port, if any (relays and indirect probes go only to members). */
  atAddress(ip: string, port: number): Member | undefined {
    for (const m of this.#map.values()) if (m.port === port && m.ip === ip) return m
    return undefined
  }

  /** Make room in a full table: forget the dead or left member that changed state longest ago. */
  #evictOldestGone(): boolean {
    let oldest: Member | undefined
    for (const m of this.#map.values()) {
      if ((m.state === 'dead' || m.state === 'left') && m.name !== this.#d.selfName &&
        (!oldest || m.stateChangeMs < oldest.stateChangeMs)) oldest = m
    }
    if (!oldest) return false
    this.#map.delete(oldest.name)
    const at = this.#order.indexOf(oldest.name)
    if (at >= 0) this.#order.splice(at, 1)
    return true
  }

  aliveOf(m: Member): Alive {
    return { type: MSG.alive, Incarnation: m.incarnation, Node: m.name, Addr: m.addr, Port: m.port, Meta: m.meta, Vsn: m.vsn }
  }

  cancelTimers(): void {
    for (const t of this.#timers.values()) t.cancel()
    this.#timers.clear()
  }
}

