import type { Clock, Random, TimerHandle } from '../base/clock.ts'
import type { SubnetPool } from './ipam.ts'

/**
 * Decentralised subnet allocation over gossip (pure; clock and random injected).
 *
 * A node publishes a *claim* for a free subnet in its gossip tags, watches everyone else's tags for `settleMs`,
 * and only then *holds* it (creates its bridge, routes, peers). Two claims for the same subnet are resolved the
 * same way on every node: a held subnet beats a claim; between two claims (or two holders after a healed
 * partition) the smaller node name wins; on a cluster agent a subnet the manager registered to another node beats both. The loser picks another free subnet and starts over. A node's lease is
 * persisted, so a restarted node prefers its old subnet — and members that *failed* keep theirs reserved, so a
 * node that comes back gets its subnet again. Only members that *left* free their subnet.
 */

export interface PeerClaim {
  node: string
  subnet: string
  held: boolean
  /** The manager registered this subnet to `node` (cluster agents): it beats any claim that is not registered. */
  registered?: boolean
}

export type ClaimEvent =
  | { type: 'claiming'; subnet: string }
  | { type: 'held'; subnet: string }
  | { type: 'lost'; subnet: string; to: string }
  | { type: 'exhausted' }

export interface SubnetClaimOptions {
  pool: SubnetPool
  self: string
  clock: Clock
  random: Random
  /** How long a claim must stand unchallenged before it is held (a few gossip convergence times). */
  settleMs: number
  /** A persisted lease from an earlier run. */
  preferred?: string | null
  /**
   * The earlier run stopped without leaving and its network is still up (an adopted interface): the preferred
   * subnet is held at once unless a peer's claim beats it, so peers never stop routing to this node over a restart.
   */
  resume?: boolean
  /** Publish our claim (the agent puts it in gossip tags). */
  publish(subnet: string, held: boolean): void
  emit(e: ClaimEvent): void
}

/** True if `a` keeps `subnet` against `b` (the rule every node applies identically). */
export function winsAgainst(a: PeerClaim, b: PeerClaim): boolean {
  if ((a.registered ?? false) !== (b.registered ?? false)) return a.registered ?? false
  if (a.held !== b.held) return a.held
  return a.node < b.node
}

export class SubnetClaim {
  readonly #o: SubnetClaimOptions
  #subnet: string | null = null
  #held = false
  #timer: TimerHandle | null = null
  #peers: PeerClaim[] = []
  #resume: boolean

  constructor(o: SubnetClaimOptions) {
    this.#o = o
    this.#resume = o.resume ?? false
  }

  get subnet(): string | null {
    return this.#subnet
  }

  get held(): boolean {
    return this.#held
  }

  /** Begin with what gossip knows now (call after joining). */
  start(peers: PeerClaim[]): void {
    this.#peers = peers.filter((p) => p.node !== this.#o.self)
    this.#claim(this.#o.preferred ?? null)
  }

  /** Gossip changed: re-check for conflicts. */
  update(peers: PeerClaim[]): void {
    this.#peers = peers.filter((p) => p.node !== this.#o.self)
    const subnet = this.#subnet
    if (subnet === null) {
      if (this.#timer === null) this.#claim(null)
      return
    }
    const me: PeerClaim = { node: this.#o.self, subnet, held: this.#held }
    const beaten = this.#peers.find((p) => p.subnet === subnet && !winsAgainst(me, p))
    if (!beaten) return
    const wasHeld = this.#held
    this.#held = false
    if (wasHeld) this.#o.emit({ type: 'lost', subnet, to: beaten.node })
    this.#claim(null)
  }

  stop(): void {
    this.#o.clock.clearTimeout(this.#timer)
    this.#timer = null
  }

  #taken(): Set<string> {
    return new Set(this.#peers.map((p) => p.subnet))
  }

  #claim(preferred: string | null): void {
    this.stop()
    const taken = this.#taken()
    if (this.#subnet) taken.add(this.#subnet)
    const subnet = this.#o.pool.choose(taken, this.#o.random, preferred)
    this.#subnet = subnet
    this.#held = false
    if (subnet === null) {
      this.#o.emit({ type: 'exhausted' })
      return
    }
    const resume = this.#resume && subnet === this.#o.preferred
    this.#resume = false // once: a subnet lost later is claimed again the usual way
    if (resume) {
      this.#settle()
      return
    }
    this.#o.publish(subnet, false)
    this.#o.emit({ type: 'claiming', subnet })
    this.#timer = this.#o.clock.setTimeout(() => this.#settle(), this.#o.settleMs)
  }

  #settle(): void {
    this.#timer = null
    const subnet = this.#subnet
    if (subnet === null) return
    const me: PeerClaim = { node: this.#o.self, subnet, held: false }
    if (this.#peers.some((p) => p.subnet === subnet && !winsAgainst(me, p))) {
      this.#claim(null)
      return
    }
    this.#held = true
    this.#o.publish(subnet, true)
    this.#o.emit({ type: 'held', subnet })
  }
}
