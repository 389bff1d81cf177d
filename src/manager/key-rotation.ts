/**
 * The gossip key rotation as a pure state machine (no clock, no store: `now` and the nodes' acknowledgements come
 * in, the next keyring goes out). The order is serf's key manager's, made safe by waiting between steps:
 *
 *   1. install  — the new key is added to every node's keyring (everyone decrypts with it; nobody encrypts with it)
 *   2. use      — the new key becomes primary (everyone encrypts with it; the old one still decrypts)
 *   3. remove   — the old key is removed
 *
 * Each step publishes a keyring with a higher `version`; the next step starts only when every READY node has
 * acknowledged that version (agents acknowledge the version they applied). A node that is down is not waited for:
 * it gets the current keyring from its watch stream when it comes back. An ack that does not come before the
 * step's deadline stalls the rotation where it stands: every keyring published so far still holds both keys, so
 * nobody is cut off, and `mesh key rotate` resumes it.
 */

/** The cluster's gossip keyring as the manager keeps it (store meta `gossip_keyring`) and pushes it to agents. */
export interface ClusterKeyring {
  /** Grows by one with every change; agents acknowledge the version they applied. */
  version: number
  /** Base64 AES keys, primary first. */
  keys: string[]
  /** When the last rotation finished (or the keyring was made), ms since the epoch. */
  rotatedAt: number
}

export type RotationPhase = 'install' | 'use' | 'remove'

/** A rotation under way (store meta `gossip_rotation`). */
export interface Rotation {
  phase: RotationPhase
  /** The key being brought in and the primary it replaces (base64). */
  newKey: string
  oldKey: string
  /** The keyring version this phase waits for every ready node to acknowledge. */
  version: number
  /** Give up waiting at this time (ms since the epoch). */
  deadline: number
  /** Set when the deadline passed with acks missing: the nodes that had not acknowledged. */
  stalled?: string[]
}

/** What the rotation sees of the cluster at one moment. */
export interface RotationView {
  ring: ClusterKeyring
  rotation: Rotation
  /** Ids of the nodes that are ready (gossip sees them alive). */
  readyNodes: readonly string[]
  /** The highest keyring version each node acknowledged. */
  acks: ReadonlyMap<string, number>
  now: number
}

export type RotationStep =
  /** Acks missing, deadline not reached: look again later. */
  | { kind: 'wait'; missing: string[] }
  /** Every ready node applied this phase's keyring: publish `ring` and go on with `rotation` (null: finished). */
  | { kind: 'advance'; ring: ClusterKeyring; rotation: Rotation | null }
  /** The deadline passed with acks missing: keep the keyring, mark the rotation stalled. */
  | { kind: 'stall'; rotation: Rotation }

/** Phase 1: add `newKey` to the keyring (the primary stays). */
export function beginRotation(ring: ClusterKeyring, newKey: string, now: number, waitMs: number): { ring: ClusterKeyring; rotation: Rotation } {
  const oldKey = ring.keys[0] as string
  const next: ClusterKeyring = { ...ring, version: ring.version + 1, keys: [...ring.keys.filter((k) => k !== newKey), newKey] }
  return { ring: next, rotation: { phase: 'install', newKey, oldKey, version: next.version, deadline: now + waitMs } }
}

/** A stalled rotation, given a new deadline (`mesh key rotate` again, or the next automatic rotation). */
export function resumeRotation(rotation: Rotation, now: number, waitMs: number): Rotation {
  const { stalled: _, ...rest } = rotation
  return { ...rest, deadline: now + waitMs }
}

/** The ready nodes that have not acknowledged `version`. */
export function missingAcks(readyNodes: readonly string[], acks: ReadonlyMap<string, number>, version: number): string[] {
  return readyNodes.filter((n) => (acks.get(n) ?? 0) < version)
}

/** The next step of a rotation that is not stalled. */
export function nextRotationStep(v: RotationView, waitMs: number): RotationStep {
  const r = v.rotation
  const missing = missingAcks(v.readyNodes, v.acks, r.version)
  if (missing.length > 0) {
    return v.now >= r.deadline ? { kind: 'stall', rotation: { ...r, stalled: missing } } : { kind: 'wait', missing }
  }
  const version = v.ring.version + 1
  switch (r.phase) {
    case 'install': {
      const ring = { ...v.ring, version, keys: [r.newKey, ...v.ring.keys.filter((k) => k !== r.newKey)] }
      return { kind: 'advance', ring, rotation: { ...r, phase: 'use', version, deadline: v.now + waitMs } }
    }
    case 'use': {
      const ring = { ...v.ring, version, keys: v.ring.keys.filter((k) => k !== r.oldKey) }
      return { kind: 'advance', ring, rotation: { ...r, phase: 'remove', version, deadline: v.now + waitMs } }
    }
    case 'remove':
      return { kind: 'advance', ring: { ...v.ring, rotatedAt: v.now }, rotation: null }
  }
}
