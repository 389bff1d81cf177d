import type { HealthTarget } from './health-check.ts'

/**
 * When to probe what (pure policy; the controller does the connects and applies the answers). Two kinds of probe,
 * priced so that a cluster can afford them at 10,000 endpoints:
 *
 * - **Node probes**: one TCP connect per remote NODE (its agent's gossip port) every `nodeIntervalMs` (250 ms): a
 *   node that does not answer within `nodeTimeoutMs` is down, and every endpoint on it leaves the kernel rules at
 *   once; the first passing probe brings them back. Gossip's `suspect` can mark a node down before its probe fails
 *   (`markDown`). Cost: nodes × 4 connects/s per node, whatever the number of endpoints.
 * - **Endpoint probes**: one TCP connect per endpoint (address and port, shared by every published port that targets
 *   it) every `endpointIntervalMs` (500 ms), for a dead task on a live node; the interval stretches so that at most
 *   `maxEndpointProbesPerSec` start per second (past 250 endpoints; 10,000 endpoints at 500/s: every 20 s; a dead
 *   task on a live node is then known through its own node's report to the manager's catalog, and from the proxy
 *   path's failed connects).
 *
 * Every next probe is drawn with ±`jitter` of its interval (new targets start at a random point of their first
 * interval), so probes spread instead of bursting; at most `maxConcurrent` are in flight; a target is never probed
 * again while its last probe is in flight; nodes come before endpoints when the in-flight cap is reached.
 */

export interface ProbePolicyOptions {
  nodeIntervalMs: number
  nodeTimeoutMs: number
  endpointIntervalMs: number
  endpointTimeoutMs: number
  maxConcurrent: number
  maxEndpointProbesPerSec: number
  /** Fraction of an interval, 0-0.5: each next probe is `interval × (1 ± jitter)` away. */
  jitter: number
  /** Uniform in [0, 1); injected so tests replay. */
  random: () => number
}

/** A remote node: its name (the catalog's `endpoint.node`, gossip's member name) and where its agent answers. */
export interface NodeTarget extends HealthTarget {
  name: string
}

/** An endpoint to probe: `key` is `ip:port` (the balancers' backend key). */
export interface EndpointTarget extends HealthTarget {
  key: string
}

export interface Probe {
  kind: 'node' | 'endpoint'
  /** Node name or endpoint key. */
  key: string
  target: HealthTarget
  timeoutMs: number
}

/** A node's state changed by a probe or a mark: the rules must follow. */
export type NodeChange = 'down' | 'up' | null

interface Slot {
  target: HealthTarget
  next: number
  inflight: boolean
}

export class ProbeSchedule {
  readonly #o: ProbePolicyOptions
  readonly #nodes = new Map<string, Slot>()
  readonly #endpoints = new Map<string, Slot>()
  readonly #down = new Set<string>()
  #inflight = 0

  constructor(o: ProbePolicyOptions) {
    this.#o = o
  }

  /** The remote nodes to probe now (others are forgotten, with their down state). */
  setNodes(nodes: Iterable<NodeTarget>, now: number): void {
    const want = new Map<string, HealthTarget>()
    for (const n of nodes) want.set(n.name, { ip: n.ip, port: n.port })
    this.#sync(this.#nodes, want, this.#o.nodeIntervalMs, now, (name) => this.#down.delete(name))
  }

  /** The endpoints to probe now (by key; others are forgotten). */
  setEndpoints(endpoints: Iterable<EndpointTarget>, now: number): void {
    const want = new Map<string, HealthTarget>()
    for (const e of endpoints) want.set(e.key, { ip: e.ip, port: e.port })
    this.#sync(this.#endpoints, want, this.endpointIntervalMs(), now)
  }

  /** The endpoint interval in force: the configured one, stretched to keep within maxEndpointProbesPerSec. */
  endpointIntervalMs(): number {
    return Math.max(this.#o.endpointIntervalMs, Math.ceil((this.#endpoints.size * 1000) / this.#o.maxEndpointProbesPerSec))
  }

  /** Whether a node is down (a failed probe or a mark, not yet followed by a passing probe). */
  isDown(node: string): boolean {
    return this.#down.has(node)
  }

  downNodes(): string[] {
    return [...this.#down].sort()
  }

  /** Mark a node down before its probe fails (gossip suspects it); its next passing probe brings it back. */
  markDown(node: string): NodeChange {
    if (!this.#nodes.has(node) || this.#down.has(node)) return null
    this.#down.add(node)
    return 'down'
  }

  /** The probes to start at `now` (each then in flight until `done`): due nodes first, then due endpoints. */
  due(now: number): Probe[] {
    const out: Probe[] = []
    const take = (slots: Map<string, Slot>, kind: Probe['kind'], timeoutMs: number) => {
      for (const [key, s] of slots) {
        if (this.#inflight >= this.#o.maxConcurrent) return
        if (s.inflight || s.next > now) continue
        s.inflight = true
        this.#inflight++
        out.push({ kind, key, target: s.target, timeoutMs })
      }
    }
    take(this.#nodes, 'node', this.#o.nodeTimeoutMs)
    take(this.#endpoints, 'endpoint', this.#o.endpointTimeoutMs)
    return out
  }

  /** A probe's answer. For a node: whether its state changed. */
  done(p: Probe, ok: boolean, now: number): NodeChange {
    const slots = p.kind === 'node' ? this.#nodes : this.#endpoints
    const s = slots.get(p.key)
    if (s?.inflight) {
      s.inflight = false
      this.#inflight--
      s.next = now + this.#jittered(p.kind === 'node' ? this.#o.nodeIntervalMs : this.endpointIntervalMs())
    }
    if (p.kind !== 'node' || s === undefined) return null
    if (ok && this.#down.delete(p.key)) return 'up'
    if (!ok && !this.#down.has(p.key)) {
      this.#down.add(p.key)
      return 'down'
    }
    return null
  }

  /** When the next probe is due (Infinity: nothing to probe). In-flight targets are due again only after `done`. */
  nextAt(): number {
    let at = Infinity
    for (const slots of [this.#nodes, this.#endpoints]) for (const s of slots.values()) if (!s.inflight && s.next < at) at = s.next
    return at
  }

  get inflight(): number {
    return this.#inflight
  }

  #sync(slots: Map<string, Slot>, want: Map<string, HealthTarget>, intervalMs: number, now: number, forget?: (key: string) => void): void {
    for (const [key, s] of slots) {
      const w = want.get(key)
      if (w !== undefined && w.ip === s.target.ip && w.port === s.target.port) continue
      if (s.inflight) this.#inflight-- // its answer, when it comes, is for a target no longer listed: ignored
      slots.delete(key)
      forget?.(key)
    }
    for (const [key, target] of want) {
      if (!slots.has(key)) slots.set(key, { target, next: now + Math.floor(this.#o.random() * intervalMs), inflight: false })
    }
  }

  #jittered(intervalMs: number): number {
    return Math.max(1, Math.round(intervalMs * (1 + this.#o.jitter * (2 * this.#o.random() - 1))))
  }
}
