import { randomBytes } from 'node:crypto'
import type { Clock, TimerHandle } from '../base/clock.ts'
import { keyFingerprint } from '../base/secret.ts'
import type { Store } from './store.ts'
import { RequestRefusedError } from './request-refused.ts'
import { beginRotation, missingAcks, nextRotationStep, resumeRotation, type ClusterKeyring, type Rotation } from './key-rotation.ts'
import type { GossipKeyring, GossipKeysView } from '../api/watch.ts'

/**
 * The cluster's gossip keyring, kept by the manager (Swarm: managers generate the gossip keys and push them over
 * TLS). Store meta: `gossip_keyring` (ClusterKeyring JSON), `gossip_rotation` (the rotation under way, if any),
 * `gossip_key_rotation_ms` (automatic rotation interval; 0 = off). Agents get the keyring in their join reply and
 * on their watch stream, and acknowledge each version they applied to whichever manager their stream is on. The
 * acks are kept in the store (meta `gossip_acks`, `{nodeId: version}`, written only when a node's version grows), so
 * the leading manager, which steps the rotation, sees the acks every manager received, and a new leader after a
 * failover resumes where the old one was. Rotation steps: key-rotation.ts.
 */

export const META_KEYRING = 'gossip_keyring'
export const META_ROTATION = 'gossip_rotation'
export const META_ROTATION_MS = 'gossip_key_rotation_ms'
/** The highest keyring version each node acknowledged, `{nodeId: version}` (any manager writes; the leader reads). */
export const META_ACKS = 'gossip_acks'
/** How long one rotation step waits for every ready node's ack. */
export const DEFAULT_ACK_WAIT_MS = 30_000
/** How often a running rotation looks at the acks again. */
const POLL_MS = 200

export interface GossipKeysOptions {
  store: Store
  clock: Clock
  now: () => number
  /** How long one step waits for acks. Default 30 s. */
  ackWaitMs?: number
  /** A new AES-256 key, base64 (as `serf keygen`). Default: 32 random bytes. */
  newKey?: () => string
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

/** `gossip_acks` as stored; anything malformed counts as no ack (a node acknowledges again on its next stream). */
function storedAcks(raw: string | undefined): Map<string, number> {
  const acks = new Map<string, number>()
  if (!raw) return acks
  let parsed: unknown
  try { parsed = JSON.parse(raw) } catch { return acks }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return acks
  for (const [id, v] of Object.entries(parsed)) if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) acks.set(id, v)
  return acks
}

/** A new random 32-byte key, base64: AES-256, as `serf keygen` makes. */
export function generateGossipKey(): string {
  return randomBytes(32).toString('base64')
}

export class GossipKeys {
  readonly #o: GossipKeysOptions
  readonly #acks = new Map<string, number>()
  readonly #listeners = new Set<() => void>()
  #poll: TimerHandle | null = null
  #auto: TimerHandle | null = null
  #running = false
  #stopped = false

  constructor(o: GossipKeysOptions) {
    this.#o = o
  }

  /**
   * At manager start, after the cluster exists: make the keyring when the store has none. A new cluster gets
   * `seed` (from --encrypt*) or one random key; a store made before encrypted gossip gets `seed`, or stays without a
   * keyring (null: its nodes gossip in plaintext until restarted with a key; docs/security.md). `rotationMs`
   * (from --gossip-key-rotation) is stored when given, else 12 h for a new keyring.
   */
  async init(o: { created: boolean; seed: readonly string[]; rotationMs?: number }): Promise<ClusterKeyring | null> {
    const now = this.#o.now()
    const fresh = o.seed.length > 0 ? [...new Set(o.seed)] : o.created ? [this.#newKey()] : null
    const ring = await this.#o.store.transact((tx) => {
      const existing = tx.getMeta(META_KEYRING)
      if (o.rotationMs !== undefined) tx.setMeta(META_ROTATION_MS, String(o.rotationMs))
      if (existing) return JSON.parse(existing) as ClusterKeyring
      if (!fresh) return null
      const made: ClusterKeyring = { version: 1, keys: fresh, rotatedAt: now }
      tx.setMeta(META_KEYRING, JSON.stringify(made))
      if (tx.getMeta(META_ROTATION_MS) === undefined) tx.setMeta(META_ROTATION_MS, String(12 * 3600_000))
      return made
    })
    return ring
  }

  /** The keyring, or null when the cluster gossips in plaintext. */
  keyring(): ClusterKeyring | null {
    const raw = this.#o.store.getMeta(META_KEYRING)
    return raw ? JSON.parse(raw) as ClusterKeyring : null
  }

  /** What the join reply and the watch stream carry: `{version, keys}`, or null. */
  message(): GossipKeyring | null {
    const r = this.keyring()
    return r ? { version: r.version, keys: r.keys } : null
  }

  rotation(): Rotation | null {
    const raw = this.#o.store.getMeta(META_ROTATION)
    return raw ? JSON.parse(raw) as Rotation : null
  }

  /** The automatic rotation interval, ms (0 = off). */
  intervalMs(): number {
    return Number(this.#o.store.getMeta(META_ROTATION_MS) ?? 0)
  }

  /** What `mesh key ls` shows: fingerprints, never keys. */
  view(): GossipKeysView {
    const ring = this.keyring()
    const r = this.rotation()
    return {
      encrypted: ring !== null,
      version: ring?.version ?? 0,
      keys: (ring?.keys ?? []).map((k, i) => ({ fingerprint: keyFingerprint(Buffer.from(k, 'base64')), primary: i === 0 })),
      rotatedAt: ring?.rotatedAt ?? 0,
      rotationIntervalMs: this.intervalMs(),
      rotation: r ? {
        phase: r.phase, version: r.version, newKey: keyFingerprint(Buffer.from(r.newKey, 'base64')),
        waitingFor: (r.stalled ?? this.#missing(r.version)).map((id) => this.#o.store.getNode(id)?.hostname ?? id), stalled: r.stalled !== undefined,
      } : null,
    }
  }

  /** Hear every keyring change (watch streams send the new one). */
  onChange(cb: () => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  /**
   * A node applied keyring `version`: recorded in the store when it is higher than the node's recorded ack (one
   * small write per node and keyring version), so the leader sees it whichever manager heard it. Rejects when the
   * store does not commit (no quorum): the node acknowledges again when its stream reopens.
   */
  async ack(nodeId: string, version: number): Promise<void> {
    if ((this.#acks.get(nodeId) ?? 0) < version) this.#acks.set(nodeId, version)
    if ((storedAcks(this.#o.store.getMeta(META_ACKS)).get(nodeId) ?? 0) < version) {
      await this.#o.store.transact((tx) => {
        const acks = storedAcks(tx.getMeta(META_ACKS))
        if ((acks.get(nodeId) ?? 0) >= version) return
        acks.set(nodeId, version)
        // Only nodes the cluster still has: a removed node's entry goes with the next write.
        for (const id of [...acks.keys()]) if (!tx.getNode(id)) acks.delete(id)
        tx.setMeta(META_ACKS, JSON.stringify(Object.fromEntries(acks)))
      })
    }
    if (this.#running) this.#kick(0)
  }

  /** Every ack: the store's (all managers') merged with those this manager heard and has not seen committed yet. */
  #allAcks(raw: string | undefined): Map<string, number> {
    const acks = storedAcks(raw)
    for (const [id, v] of this.#acks) if ((acks.get(id) ?? 0) < v) acks.set(id, v)
    return acks
  }

  /**
   * Start a rotation (or resume a stalled one); resolves once its first step is published. Progress: view().
   * Refused when the cluster has no keyring, or a rotation is already running.
   */
  async rotate(): Promise<Rotation> {
    const waitMs = this.#o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS
    const newKey = this.#newKey()
    const now = this.#o.now()
    const r = await this.#o.store.transact((tx) => {
      const rawRing = tx.getMeta(META_KEYRING)
      if (!rawRing) throw new RequestRefusedError('MESH_ERR_CONFLICT', 'this cluster gossips in plaintext (no keyring): restart its manager with --encrypt-file KEYFILE to give it one (docs/security.md)')
      const rawRot = tx.getMeta(META_ROTATION)
      if (rawRot) {
        const cur = JSON.parse(rawRot) as Rotation
        if (!cur.stalled) throw new RequestRefusedError('MESH_ERR_CONFLICT', `a gossip key rotation is already under way (step ${cur.phase})`)
        const resumed = resumeRotation(cur, now, waitMs)
        tx.setMeta(META_ROTATION, JSON.stringify(resumed))
        return resumed
      }
      const begun = beginRotation(JSON.parse(rawRing) as ClusterKeyring, newKey, now, waitMs)
      tx.setMeta(META_KEYRING, JSON.stringify(begun.ring))
      tx.setMeta(META_ROTATION, JSON.stringify(begun.rotation))
      return begun.rotation
    })
    this.#o.log('info', 'gossip key rotation: step', { phase: r.phase, version: r.version })
    this.#changed()
    this.#running = true
    this.#kick(POLL_MS)
    return r
  }

  /** Automatic rotation every intervalMs() (checked each minute), and a rotation a manager restart interrupted. */
  start(): void {
    this.#stopped = false
    const r = this.rotation()
    if (r && !r.stalled) {
      this.#running = true
      this.#kick(POLL_MS)
    }
    this.#scheduleAuto()
  }

  stop(): void {
    this.#stopped = true
    this.#o.clock.clearTimeout(this.#poll)
    this.#o.clock.clearTimeout(this.#auto)
    this.#poll = null
    this.#auto = null
  }

  #scheduleAuto(): void {
    if (this.#stopped) return
    this.#auto = this.#o.clock.setTimeout(() => {
      this.#auto = null
      this.#autoRotate().catch((err: Error) => this.#o.log('error', 'automatic gossip key rotation failed', { err: err.message }))
        .finally(() => this.#scheduleAuto())
    }, Math.min(60_000, Math.max(1000, this.intervalMs() || 60_000)))
  }

  async #autoRotate(): Promise<void> {
    const interval = this.intervalMs()
    const ring = this.keyring()
    if (interval <= 0 || !ring || this.#running) return
    const r = this.rotation()
    if (!r && this.#o.now() - ring.rotatedAt < interval) return
    this.#o.log('info', r ? 'resuming a stalled gossip key rotation' : 'automatic gossip key rotation')
    await this.rotate()
  }

  #kick(ms: number): void {
    if (this.#stopped || this.#poll) return
    this.#poll = this.#o.clock.setTimeout(() => {
      this.#poll = null
      this.#step().catch((err: Error) => {
        this.#o.log('error', 'gossip key rotation step failed', { err: err.message })
        this.#kick(POLL_MS * 5)
      })
    }, ms)
  }

  async #step(): Promise<void> {
    const waitMs = this.#o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS
    const now = this.#o.now()
    const step = await this.#o.store.transact((tx) => {
      const rawRot = tx.getMeta(META_ROTATION)
      const rawRing = tx.getMeta(META_KEYRING)
      if (!rawRot || !rawRing) return null
      const rotation = JSON.parse(rawRot) as Rotation
      if (rotation.stalled) return null
      const acks = this.#allAcks(tx.getMeta(META_ACKS))
      const readyNodes = tx.listNodes().filter((n) => n.state === 'ready').map((n) => n.id)
      const s = nextRotationStep({ ring: JSON.parse(rawRing) as ClusterKeyring, rotation, readyNodes, acks, now }, waitMs)
      if (s.kind === 'advance') {
        tx.setMeta(META_KEYRING, JSON.stringify(s.ring))
        if (s.rotation) tx.setMeta(META_ROTATION, JSON.stringify(s.rotation))
        else tx.deleteMeta(META_ROTATION)
      }
      if (s.kind === 'stall') tx.setMeta(META_ROTATION, JSON.stringify(s.rotation))
      return s
    })
    if (!step) {
      this.#running = false
      return
    }
    if (step.kind === 'wait') return this.#kick(POLL_MS)
    this.#running = step.kind === 'advance' && step.rotation !== null
    if (step.kind === 'stall') {
      const names = step.rotation.stalled?.map((id) => this.#o.store.getNode(id)?.hostname ?? id) ?? []
      this.#o.log('warn', 'gossip key rotation stalled: nodes did not acknowledge the keyring (run mesh key rotate to resume)', { phase: step.rotation.phase, nodes: names })
      return
    }
    this.#o.log('info', step.rotation ? 'gossip key rotation: step' : 'gossip key rotation finished', { phase: step.rotation?.phase ?? 'done', version: step.ring.version })
    this.#changed()
    if (this.#running) this.#kick(POLL_MS)
  }

  #missing(version: number): string[] {
    const ready = this.#o.store.listNodes().filter((n) => n.state === 'ready').map((n) => n.id)
    return missingAcks(ready, this.#allAcks(this.#o.store.getMeta(META_ACKS)), version)
  }

  #newKey(): string {
    return (this.#o.newKey ?? generateGossipKey)()
  }

  #changed(): void {
    for (const l of this.#listeners) l()
  }
}
