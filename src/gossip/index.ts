/**
 * src/gossip — SWIM membership, wire-compatible with HashiCorp memberlist 0.2.2 and serf 0.9.4.
 *
 * What it does: joins a cluster over UDP+TCP (default port 7946), detects failures with SWIM + Lifeguard
 * (probe, indirect probe, TCP fallback, suspicion with confirmations, local health), disseminates state by
 * piggybacked gossip and push/pull, and runs serf's layer on top so real `serf` agents list us as they list
 * each other (alive / leaving / left / failed). Other subsystems publish node facts as tags (metadata, ≤ 512 B),
 * subscribe to member events, and use user events (cluster-wide) or direct messages (one node). Packets and streams
 * are AES-GCM encrypted with a keyring (memberlist's): set before start (the cluster's, from agent/), changed at
 * runtime key by key (installKey → useKey → removeKey, or applyKeys in that order), listed by fingerprint only.
 *
 * Who calls it: agent/ (process wiring) and, through events, src/overlay and src/catalog.
 * Invariants: the core (memberlist.ts, state.ts, serf.ts) is pure — clock, random and transport are injected —
 * so the same code runs on real sockets and on a FakeNetwork with virtual time. Wire formats are in wire.ts
 * and serf-wire.ts and are append-only.
 * Never: block on the network in an event handler, throw on hostile input (decode and decrypt errors are counted),
 * send a Vsn that is not exactly 6 bytes (it crashes serf), or expose a key (status shows fingerprints).
 */
import type { GossipConfig } from '../config/gossip.ts'
import { ConfigError } from '../base/errors.ts'
import type { MemberInfo } from '../api/index.ts'
import { mathRandom, realClock, type Clock, type Random } from '../base/clock.ts'
import { Keyring } from './keyring.ts'
import { Memberlist, type MemberlistCounters } from './memberlist.ts'
import { NetTransport } from './net-transport.ts'
import { SerfLayer, type SerfCounters, type SerfEvent, type SerfMember, type SerfStatus } from './serf.ts'
import { encodeTags } from './serf-wire.ts'
import { tagsProblem } from './tags.ts'
import { parseHostPort, type Address, type Transport } from './transport.ts'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { META_MAX_BYTES } from './wire.ts'
import { DEFAULT_GOSSIP_PORT } from '../config/index.ts'

export type { Address, Transport } from './transport.ts'
export { NetTransport } from './net-transport.ts'
export { registerGossipMetrics, type GossipMetricSource } from './metrics.ts'
export { keepPeersSnapshot, loadPeers, savedPeers, PEERS_FILE, type PeersSource } from './peers-snapshot.ts'
export type { SerfEvent as GossipEvent, SerfMember, SerfStatus } from './serf.ts'
export type { MemberInfo } from '../api/index.ts'


export interface GossipDeps {
  clock?: Clock
  random?: Random
  /** Defaults to a NetTransport on the configured bind address. */
  transport?: Transport
  /** Socket-level errors that did not stop anything (for logs). */
  onTransportError?: (err: Error, where: string) => void
}

export interface GossipCounters extends MemberlistCounters, SerfCounters {
  health: number
}

/** Build the keyring from base64 keys; the first is the primary. */
export function keyringFromConfig(keys: readonly string[]): Keyring | null {
  if (keys.length === 0) return null
  const parsed = keys.map((k, i) => {
    try {
      return Keyring.parseKey(k)
    } catch (err) {
      throw new ConfigError(`--encrypt key ${i + 1}: ${(err as Error).message}`)
    }
  })
  return new Keyring(parsed)
}

/** One installed gossip key as status and `mesh key ls` show it: its fingerprint, never the key. */
export interface GossipKeyInfo {
  fingerprint: string
  primary: boolean
}

export { keyFingerprint } from '../base/secret.ts'

export class Gossip {
  readonly config: Readonly<GossipConfig>
  readonly #clock: Clock
  readonly #ml: Memberlist
  #keyring: Keyring | null
  readonly #serf: SerfLayer
  readonly #listeners = new Set<(e: SerfEvent) => void>()
  #started = false
  #stopped = false

  /** Validates keys and tags; opens nothing until start(). */
  constructor(config: Readonly<GossipConfig>, deps: GossipDeps = {}) {
    this.config = config
    const clock = deps.clock ?? realClock()
    const random = deps.random ?? mathRandom
    this.#clock = clock
    const keyring = keyringFromConfig(config.encryptKeys)
    this.#keyring = keyring
    checkTags(config.tags)
    const transport = deps.transport ?? new NetTransport({
      bindAddr: config.bindAddr, bindPort: config.bindPort, streamTimeoutMs: config.tcpTimeoutMs,
      ...(deps.onTransportError ? { onError: deps.onTransportError } : {}),
    })
    this.#serf = new SerfLayer({
      name: config.name, tags: config.tags, retransmitMult: config.retransmitMult,
      reconnectIntervalMs: config.reconnectIntervalMs, reconnectTimeoutMs: config.reconnectTimeoutMs,
      tombstoneTimeoutMs: config.tombstoneTimeoutMs, maxMembers: config.maxMembers, maxDeadMembers: config.maxDeadMembers,
    }, clock, random, (e) => { for (const l of this.#listeners) l(e) })
    this.#ml = new Memberlist({
      ...config,
      name: config.name,
      advertise: { ip: config.advertiseAddr, port: config.advertisePort },
    }, { clock, random, transport, keyring, delegate: this.#serf })
    this.#serf.attach(this.#ml)
  }

  // ---- keyring (memberlist's keyring operations, serf's key manager) ----------------------------------------

  /** Whether packets and streams are encrypted (a keyring is installed). */
  get encrypted(): boolean {
    return this.#keyring !== null
  }

  /**
   * Before start(): gossip with this keyring (primary first), e.g. the cluster's, replacing the configured keys.
   * After start() a keyring changes only key by key (installKey, useKey, removeKey, applyKeys).
   */
  setKeyring(keys: readonly Uint8Array[]): void {
    if (this.#started) throw new ConfigError('the gossip keyring is set before start; change keys with installKey, useKey and removeKey')
    const keyring = new Keyring(keys)
    this.#ml.setKeyring(keyring)
    this.#keyring = keyring
  }

  /** Install a key: packets encrypted with it are accepted from now on (we still encrypt with the primary). */
  installKey(key: Uint8Array): boolean {
    return this.#ring().addKey(key)
  }

  /** Make an installed key the primary: we encrypt with it from now on. */
  useKey(key: Uint8Array): void {
    this.#ring().useKey(key)
  }

  /** Remove a key that is not the primary: packets encrypted with it are dropped from now on. */
  removeKey(key: Uint8Array): boolean {
    return this.#ring().removeKey(key)
  }

  /** Move to a whole keyring (primary first): install, then switch primary, then remove (Keyring.apply). */
  applyKeys(keys: readonly Uint8Array[]): { installed: number; primaryChanged: boolean; removed: number } {
    return this.#ring().apply(keys)
  }

  /** The installed keys' fingerprints, primary first (never the keys); empty when gossip is plaintext. */
  keys(): GossipKeyInfo[] {
    return this.#keyring?.fingerprints() ?? []
  }

  #ring(): Keyring {
    if (!this.#keyring) throw new ConfigError('gossip is not encrypted on this node (--gossip-plaintext): there is no keyring to change')
    return this.#keyring
  }

  /** Subscribe to member and user events; returns the unsubscribe function. */
  on(listener: (e: SerfEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Bind UDP+TCP and start probing/gossip. Then join the configured seeds, if any. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#ml.start()
    this.#serf.startReconnect()
    if (this.config.join.length > 0) {
      try {
        await this.join(this.config.join)
      } catch (err) {
        await this.stop()
        throw err
      }
    }
  }

  /** Join through one or more seeds (`host[:port]`); resolves with the number that answered. */
  async join(seeds: readonly string[]): Promise<number> {
    const addrs = await resolveSeeds(seeds, this.config.bindPort === 0 ? DEFAULT_GOSSIP_PORT : this.config.advertisePort)
    const n = await this.#ml.join(addrs)
    this.#serf.broadcastJoin()
    return n
  }

  /** Graceful leave: serf leave intent, memberlist dead-about-self, then wait for it to spread, then stop. */
  async leave(timeoutMs = 5000): Promise<void> {
    if (this.#stopped) return
    await Promise.race([this.#serf.broadcastLeave(), this.#sleep(timeoutMs)])
    await this.#ml.leave(timeoutMs)
    await this.#sleep(this.config.leavePropagateDelayMs)
    await this.stop()
  }

  /** Stop without telling anyone (peers will see us fail). */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#serf.stop()
    await this.#ml.stop()
  }

  get localAddress(): Address {
    return { ip: this.config.advertiseAddr, port: this.#ml.members.self()?.port ?? this.config.advertisePort }
  }

  /** Our current tags. */
  get tags(): Record<string, string> {
    return this.#serf.tags
  }

  /** Merge tags into ours (a null value removes a key) and publish. */
  updateTags(patch: Record<string, string | null>): void {
    const next = this.#serf.tags
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete next[k]
      else next[k] = v
    }
    this.setTags(next)
  }

  /** Publish new tags (metadata) to the cluster. */
  setTags(tags: Record<string, string>): void {
    checkTags(tags)
    this.#serf.tags = tags
    if (this.#started && !this.#stopped) this.#ml.updateMeta() // before start: the first alive carries them
  }

  /** A cluster-wide user event, delivered to every member's `user` event (and visible to serf event handlers). */
  userEvent(name: string, payload: Uint8Array, coalesce = false): void {
    this.#serf.userEvent(name, payload, coalesce)
  }

  /** Best-effort message to one member, delivered there as a `direct` event. False if the member is not alive. */
  sendDirect(node: string, payload: Uint8Array): boolean {
    return this.#serf.sendDirect(node, payload)
  }

  members(): MemberInfo[] {
    const now = this.#clock.now()
    return this.#serf.members().map((m) => toInfo(m, now))
  }

  /** One member by name (cheaper than members() on large clusters). */
  member(name: string): MemberInfo | undefined {
    const m = this.#serf.member(name)
    return m ? toInfo(m, this.#clock.now()) : undefined
  }

  /** How many members (us included) are alive. */
  aliveCount(): number {
    return this.#serf.countAlive()
  }

  counters(): GossipCounters {
    return { ...this.#ml.counters, ...this.#serf.counters, health: this.#ml.awareness.score }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((r) => this.#clock.setTimeout(r, ms))
  }
}

function toInfo(m: SerfMember, now: number): MemberInfo {
  return {
    name: m.name, address: `${m.ip.includes(':') ? `[${m.ip}]` : m.ip}:${m.port}`, ip: m.ip, port: m.port,
    state: m.status === 'left' ? 'left' : m.status === 'leaving' && m.state === 'alive' ? 'leaving' : m.state === 'left' ? 'dead' : m.state,
    status: m.status, incarnation: m.incarnation, tags: { ...m.tags }, protocol: [...m.vsn],
    sinceChangeMs: Math.max(0, Math.round(now - m.changedMs)),
  }
}

/** Our tags must pass the checks every peer applies to them (tags.ts), and fit in memberlist's metadata. */
function checkTags(tags: Record<string, string>): void {
  const problem = tagsProblem(tags)
  if (problem !== null) throw new ConfigError(problem)
  const size = encodeTags(tags).length
  if (size > META_MAX_BYTES) throw new ConfigError(`tags encode to ${size} bytes; memberlist metadata is limited to ${META_MAX_BYTES}`)
}

/** Resolve `host[:port]` seeds; hostnames through the system resolver. */
export async function resolveSeeds(seeds: readonly string[], defaultPort: number): Promise<Address[]> {
  const out: Address[] = []
  for (const s of seeds) {
    const hp = parseHostPort(s, defaultPort)
    if (!hp) throw new ConfigError(`join address "${s}": want HOST or HOST:PORT`)
    if (isIP(hp.host)) {
      out.push({ ip: hp.host, port: hp.port })
      continue
    }
    try {
      const r = await lookup(hp.host)
      out.push({ ip: r.address, port: hp.port })
    } catch {
      throw new ConfigError(`join address "${s}": cannot resolve host "${hp.host}"`)
    }
  }
  return out
}
