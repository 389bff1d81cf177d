import type { Endpoint } from '../catalog/index.ts'
import { ingressDefaults } from '../config/index.ts'

/**
 * The balancer of one published port (pure: time comes from `now`, no sockets, no timers).
 *
 * Backends are the service's endpoints at the target port. A backend is *eligible* when the catalog has it running
 * and healthy (Docker health `healthy` or `none`) and it is not ejected. `pick()` walks eligible backends
 * round-robin (a cursor over the catalog order, so 3 backends answer 1,2,3,1,2,3) or, with `least-connections`,
 * takes the one with the fewest open connections (ties in round-robin order).
 *
 * Passive health: `failed()` (a refused or timed-out connect) ejects the backend for
 * `min(ejectBaseMs · 2^(failures-1), ejectMaxMs)`; `succeeded()` forgets its failures. When every running, healthy
 * backend is ejected, `pick()` still tries the one whose ejection ends first (a panic mode, as Envoy has): better
 * a connect that might work than a certain refusal. `exclude` lets a caller retry a connection on another backend.
 *
 * Warm-up: a task is `running` as soon as its process starts, often a few milliseconds before it listens. A backend
 * that has never accepted a connection and was listed less than `warmupMs` ago is ejected for only
 * `warmupEjectMs · 2^(failures-1)` (capped at 4×), so a new task gets its first connections within a second of
 * starting instead of sitting out a full backoff for a refused connect at its very first instant.
 *
 * Prefer local (`localNodeId`, the agent's `--ingress-prefer-local on`): while an eligible backend runs on the
 * receiving node, `pick()` chooses among those only (same policy); with none, it falls back to every node's. Like
 * Kubernetes' traffic policy, but a fallback instead of a drop: a node with no healthy local task still serves.
 */

export type BalancePolicy = 'round-robin' | 'least-connections'

export interface BalancerOptions {
  /** Default round-robin. */
  policy?: BalancePolicy
  /** First ejection after a failed connect, ms. Default 1000. */
  ejectBaseMs?: number
  /** Longest ejection, ms. Default 30000. */
  ejectMaxMs?: number
  /** How long after being listed a backend that never accepted counts as starting up, ms. Default 5000. */
  warmupMs?: number
  /** Ejection after a failed connect during warm-up, ms. Default 100. */
  warmupEjectMs?: number
  /**
   * This node's id (endpoints' `nodeId`) once known, or null: eligible backends on it are picked first, the others
   * only when it has none. Default none (every eligible backend alike).
   */
  localNodeId?: () => string | null
}

export interface Backend {
  /** `ip:port`: the identity a backend keeps across catalog changes. */
  readonly key: string
  readonly ip: string
  readonly port: number
  endpoint: Endpoint
  /** Open connections (the data plane counts them with acquire/release). */
  active: number
  /** Consecutive failed connects. */
  failures: number
  /** Ejected until this time (ms, the balancer's clock); 0 = not ejected. */
  ejectedUntil: number
  /** Times this backend was ejected. */
  ejections: number
  /** When the catalog first listed it (ms, the balancer's clock). */
  listedAt: number
  /** It has accepted a connection (or passed an active check) at least once. */
  proven: boolean
  /** False once the catalog no longer lists it (it stays known while connections are open). */
  listed: boolean
}

export function isServing(e: Endpoint): boolean {
  return e.state === 'running' && (e.health === 'healthy' || e.health === 'none')
}

export class Balancer {
  readonly policy: BalancePolicy
  readonly #ejectBaseMs: number
  readonly #ejectMaxMs: number
  readonly #warmupMs: number
  readonly #warmupEjectMs: number
  readonly #now: () => number
  readonly #localNodeId: (() => string | null) | undefined
  /** Listed backends in catalog order. */
  #list: Backend[] = []
  readonly #byKey = new Map<string, Backend>()
  #cursor = 0

  constructor(now: () => number, o: BalancerOptions = {}) {
    this.#now = now
    const d = ingressDefaults()
    this.policy = o.policy ?? 'round-robin'
    this.#ejectBaseMs = o.ejectBaseMs ?? d.ejectBaseMs
    this.#ejectMaxMs = o.ejectMaxMs ?? d.ejectMaxMs
    this.#warmupMs = o.warmupMs ?? d.warmupMs
    this.#warmupEjectMs = o.warmupEjectMs ?? d.warmupEjectMs
    this.#localNodeId = o.localNodeId
  }

  /**
   * Replace the endpoint set. Known backends keep their counters and ejection; returns those that stopped being
   * eligible for new connections because the catalog says so (now stopping, unhealthy, or gone), so the caller can
   * start their grace period.
   */
  setEndpoints(endpoints: readonly Endpoint[], port: number): Backend[] {
    const next: Backend[] = []
    const seen = new Set<string>()
    for (const e of endpoints) {
      const key = `${e.ip}:${port}`
      if (seen.has(key)) continue
      seen.add(key)
      let b = this.#byKey.get(key)
      if (!b) {
        b = { key, ip: e.ip, port, endpoint: e, active: 0, failures: 0, ejectedUntil: 0, ejections: 0, listed: true, listedAt: this.#now(), proven: false }
        this.#byKey.set(key, b)
      }
      b.endpoint = e
      b.listed = true
      next.push(b)
    }
    const retired: Backend[] = []
    for (const b of this.#list) {
      if (!seen.has(b.key)) {
        b.listed = false
        retired.push(b)
        if (b.active === 0) this.#byKey.delete(b.key)
      } else if (!isServing(b.endpoint)) retired.push(b)
    }
    this.#list = next
    if (this.#cursor >= next.length) this.#cursor = 0
    return retired
  }

  /** Listed backends in catalog order. */
  backends(): readonly Backend[] {
    return this.#list
  }

  get(key: string): Backend | undefined {
    return this.#byKey.get(key)
  }

  /** Eligible now: listed, running, healthy, not ejected. */
  eligible(b: Backend, now = this.#now()): boolean {
    return b.listed && isServing(b.endpoint) && b.ejectedUntil <= now
  }

  /** The backend for a new connection, or null when there is none to try. */
  pick(exclude?: ReadonlySet<string>): Backend | null {
    const list = this.#list
    const n = list.length
    if (n === 0) return null
    const now = this.#now()
    const local = this.#localNodeId?.() ?? null
    let at = local ? this.#scan(now, exclude, local) : -1
    if (at < 0) at = this.#scan(now, exclude, null)
    if (at < 0) {
      // Panic mode: every serving backend is ejected; try the one whose ejection ends first.
      let chosen: Backend | null = null
      for (let i = 0; i < n; i++) {
        const j = (this.#cursor + i) % n
        const b = list[j] as Backend
        if (!isServing(b.endpoint) || exclude?.has(b.key)) continue
        if (!chosen || b.ejectedUntil < chosen.ejectedUntil) {
          chosen = b
          at = j
        }
      }
      if (!chosen) return null
    }
    this.#cursor = (at + 1) % n
    return list[at] as Backend
  }

  /** Index of the eligible backend the policy picks (only those on node `only` when given), or -1. */
  #scan(now: number, exclude: ReadonlySet<string> | undefined, only: string | null): number {
    const list = this.#list
    const n = list.length
    let chosen: Backend | null = null
    let chosenAt = -1
    for (let i = 0; i < n; i++) {
      const at = (this.#cursor + i) % n
      const b = list[at] as Backend
      if (!this.eligible(b, now) || exclude?.has(b.key) || (only !== null && b.endpoint.nodeId !== only)) continue
      if (this.policy === 'round-robin') return at
      if (!chosen || b.active < chosen.active) {
        chosen = b
        chosenAt = at
      }
    }
    return chosenAt
  }

  acquire(b: Backend): void {
    b.active++
  }

  release(b: Backend): void {
    b.active--
    if (b.active <= 0 && !b.listed && this.#byKey.get(b.key) === b) this.#byKey.delete(b.key)
  }

  /** A connect to the backend failed or timed out: eject it with exponential backoff. Returns the ejection in ms. */
  failed(b: Backend): number {
    b.failures++
    const now = this.#now()
    const warming = !b.proven && now - b.listedAt < this.#warmupMs
    const ms = warming
      ? Math.min(this.#warmupEjectMs * 2 ** Math.min(b.failures - 1, 2), this.#warmupEjectMs * 4)
      : Math.min(this.#ejectBaseMs * 2 ** Math.min(b.failures - 1, 30), this.#ejectMaxMs)
    b.ejectedUntil = now + ms
    b.ejections++
    return ms
  }

  /** A connect succeeded (or an active check passed): back in rotation, failures forgotten. */
  succeeded(b: Backend): void {
    b.failures = 0
    b.ejectedUntil = 0
    b.proven = true
  }
}
