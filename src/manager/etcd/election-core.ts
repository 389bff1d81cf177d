/**
 * The leader election's decisions, without etcd or timers (leader.ts is the adapter). The protocol is etcd's own
 * (clientv3/concurrency): every manager puts a key `<prefix><lease id>` bound to its lease; the candidate whose key
 * has the lowest create revision is the leader; a key disappears when its lease is revoked or expires.
 *
 * The safety rule: a leader must stop acting as one before anyone else can start. etcd expires a lease no earlier
 * than TTL after it received the last keep-alive, which it received after we sent it; so the lease is certainly
 * alive until `sentAt + TTL`. A leader deposes itself at `sentAt + TTL − margin` when no later keep-alive was
 * acknowledged (a partition, a dead member), before its key can vanish and another candidate become first.
 */

/** A candidate key as read from etcd. */
export interface Candidate {
  readonly key: string
  /** The key's create revision (decimal string from etcd, compared as a bigint). */
  readonly createRevision: string
  /** What the candidate announced: its manager's node id. */
  readonly value: string
}

export interface ElectionTiming {
  /** The lease TTL etcd granted, s. */
  readonly ttlSeconds: number
  /** How long before the lease can expire a leader steps down, ms. */
  readonly marginMs: number
  /** Keep-alive period, ms: several fit in TTL − margin, so one lost keep-alive does not depose a leader. */
  readonly keepaliveMs: number
}

/** Keep-alives every TTL/5, deposed TTL/5 before the lease can expire: three keep-alives may fail in a row. */
export function electionTiming(ttlSeconds: number): ElectionTiming {
  const ttlMs = ttlSeconds * 1000
  return Object.freeze({ ttlSeconds, marginMs: Math.max(500, Math.floor(ttlMs / 5)), keepaliveMs: Math.max(200, Math.floor(ttlMs / 5)) })
}

/** The leader among candidates: the lowest create revision (none when there is no candidate). */
export function leaderOf(candidates: readonly Candidate[]): Candidate | undefined {
  let best: Candidate | undefined
  for (const c of candidates) if (!best || BigInt(c.createRevision) < BigInt(best.createRevision)) best = c
  return best
}

export type ElectionChange = 'elected' | 'deposed' | null

/**
 * One contender's view: its own key, the last candidates read, and until when its lease is certainly alive.
 * `evaluate(now)` says whether it leads and whether that changed since the last evaluation.
 */
export class ElectionState {
  readonly #marginMs: number
  #ownKey: string | undefined
  #candidates: readonly Candidate[] = []
  #safeUntilMs = -Infinity
  #leading = false

  constructor(o: { marginMs: number }) {
    this.#marginMs = o.marginMs
  }

  /** A new lease and key (a new campaign): nothing is known about it until its first acknowledged keep-alive. */
  campaign(ownKey: string): void {
    this.#ownKey = ownKey
    this.#safeUntilMs = -Infinity
  }

  /** The lease was granted or kept alive by a request sent at `sentAtMs`; etcd answered a TTL of `ttlSeconds`. */
  leaseAcked(sentAtMs: number, ttlSeconds: number): void {
    if (ttlSeconds <= 0) return this.leaseLost()
    this.#safeUntilMs = Math.max(this.#safeUntilMs, sentAtMs + ttlSeconds * 1000 - this.#marginMs)
  }

  /** etcd says the lease is gone (expired or revoked), or we resigned: no key of ours stands. */
  leaseLost(): void {
    this.#ownKey = undefined
    this.#safeUntilMs = -Infinity
  }

  observe(candidates: readonly Candidate[]): void {
    this.#candidates = candidates
  }

  /** Until when, at most, the current lease lets this contender lead (ms; -Infinity without one). */
  safeUntilMs(): number {
    return this.#safeUntilMs
  }

  ownKey(): string | undefined {
    return this.#ownKey
  }

  /**
   * The leader as last observed (it may be this contender). Undefined when the first key is this contender's own
   * but its lease is no longer certain (it stepped down): nobody may be leading then, not even us.
   */
  leader(): Candidate | undefined {
    const first = leaderOf(this.#candidates)
    return first !== undefined && first.key === this.#ownKey && !this.#leading ? undefined : first
  }

  isLeader(): boolean {
    return this.#leading
  }

  evaluate(nowMs: number): ElectionChange {
    const first = leaderOf(this.#candidates)
    const leading = this.#ownKey !== undefined && first?.key === this.#ownKey && nowMs < this.#safeUntilMs
    if (leading === this.#leading) return null
    this.#leading = leading
    return leading ? 'elected' : 'deposed'
  }
}
