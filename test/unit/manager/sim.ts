/**
 * A tiny cluster simulation for the manager's decision core: reconcile → applyPlan → fake runtime (assigned tasks
 * start, or fail to start when `failStart` says so; tasks desired shutdown stop), with virtual time.
 */
import { applyPlan, isEmptyPlan, reconcile, type Plan } from '../../../src/manager/orchestrator.ts'
import { isLive, isTerminal } from '../../../src/manager/placement.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ClusterState, NodeRecord, ServiceRecord, ServiceSpec, TaskRecord } from '../../../src/api/types.ts'

export const GiB = 1024 ** 3
export const MiB = 1024 ** 2

export function node(id: string, o: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id, hostname: id, role: 'worker', availability: 'active', labels: {}, addr: '10.0.0.1', state: 'ready',
    stateChangedAt: 0, resources: { nanoCpus: 4e9, memoryBytes: 8 * GiB }, createdAt: 0, updatedAt: 0, ...o,
  }
}

export function spec(name: string, o: Partial<ServiceSpec> & { replicas?: number; global?: boolean } = {}): ServiceSpec {
  const { replicas, global, ...rest } = o
  return {
    ...defaultServiceSpec(name, 'img:1'),
    restartPolicy: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    mode: global ? { global: {} } : { replicated: { replicas: replicas ?? 1 } },
    ...rest,
  }
}

export function service(id: string, o: Partial<ServiceSpec> & { replicas?: number; global?: boolean } = {}): ServiceRecord {
  return { id, spec: spec(id, o), version: 1, createdAt: 0, updatedAt: 0 }
}

export interface SimOptions {
  nodeDownGraceMs?: number
  /** A task about to start fails instead (exit 1, never running). */
  failStart?: (t: TaskRecord) => boolean
  /** Tasks spend one round in `starting` before `running`. */
  slowStart?: boolean
}

export class Sim {
  state: ClusterState
  now = 1000
  readonly plans: Plan[] = []
  failStart: (t: TaskRecord) => boolean
  readonly slowStart: boolean
  readonly #grace: number | undefined
  #n = 0

  constructor(state: Partial<ClusterState>, o: SimOptions = {}) {
    this.state = { nodes: state.nodes ?? [], services: state.services ?? [], tasks: state.tasks ?? [] }
    this.failStart = o.failStart ?? (() => false)
    this.slowStart = o.slowStart ?? false
    this.#grace = o.nodeDownGraceMs
  }

  newId = (): string => `t${String(++this.#n).padStart(3, '0')}`

  reconcile(): Plan {
    const p = reconcile(this.state, this.now, {
      newId: this.newId, ...(this.#grace === undefined ? {} : { nodeDownGraceMs: this.#grace }),
    })
    this.state = applyPlan(this.state, p)
    this.plans.push(p)
    return p
  }

  /** The agents: assigned (→ starting) → running (or failed), desired shutdown → shutdown. Only on ready nodes. */
  runtime(): number {
    let changes = 0
    const ready = new Set(this.state.nodes.filter((n) => n.state === 'ready').map((n) => n.id))
    this.state = {
      ...this.state,
      tasks: this.state.tasks.map((t) => {
        if (!ready.has(t.nodeId) || isTerminal(t)) return t
        if (t.desiredState !== 'running') {
          if (t.status.state === 'pending') return t
          changes++
          return { ...t, status: { ...t.status, state: 'shutdown', message: 'stopped', timestamp: this.now } }
        }
        if (t.status.state === 'assigned' && this.slowStart) {
          changes++
          return { ...t, status: { ...t.status, state: 'starting', message: 'starting', timestamp: this.now } }
        }
        if (t.status.state !== (this.slowStart ? 'starting' : 'assigned')) return t
        changes++
        if (this.failStart(t)) {
          return { ...t, status: { ...t.status, state: 'failed', message: 'exited', err: 'boom', exitCode: 1, timestamp: this.now } }
        }
        return { ...t, status: { ...t.status, state: 'running', message: 'started', timestamp: this.now, startedAt: this.now } }
      }),
    }
    return changes
  }

  /** One round: reconcile, then the agents act. */
  step(advanceMs = 0): Plan {
    this.now += advanceMs
    const p = this.reconcile()
    this.runtime()
    return p
  }

  /**
   * Rounds until nothing changes; with `follow`, then jump to the plan's wakeAt and go on (up to `maxRounds`).
   * `before` sees the state before every reconcile, `each` the state after every round.
   */
  settle(o: { follow?: boolean; maxRounds?: number; before?: (s: Sim) => void; each?: (s: Sim) => void } = {}): number {
    for (let round = 1; round <= (o.maxRounds ?? 200); round++) {
      o.before?.(this)
      const p = this.reconcile()
      const changes = this.runtime()
      o.each?.(this)
      if (isEmptyPlan(p) && changes === 0) {
        if (!o.follow || p.wakeAt === undefined) return round
        this.now = p.wakeAt
      }
    }
    throw new Error('simulation did not settle')
  }

  /** `n` rounds whatever happens (for crash loops that never settle). */
  rounds(n: number, advanceMs = 0): void {
    for (let i = 0; i < n; i++) this.step(advanceMs)
  }

  crash(id: string, exitCode = 1, advanceMs = 0): void {
    this.now += advanceMs
    this.#task(id, (t) => ({ ...t, status: { ...t.status, state: exitCode === 0 ? 'complete' : 'failed', exitCode, message: 'exited', timestamp: this.now } }))
  }

  setNode(id: string, patch: Partial<NodeRecord>): void {
    this.state = { ...this.state, nodes: this.state.nodes.map((n) => (n.id === id ? { ...n, ...patch } : n)) }
  }

  addNode(n: NodeRecord): void {
    this.state = { ...this.state, nodes: [...this.state.nodes, n] }
  }

  setService(s: ServiceRecord): void {
    this.state = { ...this.state, services: this.state.services.map((x) => (x.id === s.id ? s : x)) }
  }

  service(id: string): ServiceRecord {
    return this.state.services.find((s) => s.id === id) as ServiceRecord
  }

  task(id: string): TaskRecord {
    return this.state.tasks.find((t) => t.id === id) as TaskRecord
  }

  #task(id: string, f: (t: TaskRecord) => TaskRecord): void {
    this.state = { ...this.state, tasks: this.state.tasks.map((t) => (t.id === id ? f(t) : t)) }
  }

  /** Live tasks of a service (desired running, not ended). */
  live(serviceId: string): TaskRecord[] {
    return this.state.tasks.filter((t) => t.serviceId === serviceId && isLive(t))
  }

  /** Running tasks of a service (whatever their desired state). */
  running(serviceId: string): TaskRecord[] {
    return this.state.tasks.filter((t) => t.serviceId === serviceId && t.status.state === 'running')
  }

  /** node id → number of live tasks of the service there (pending ones under ''). */
  spread(serviceId: string): Record<string, number> {
    const out: Record<string, number> = {}
    for (const t of this.live(serviceId)) out[t.nodeId] = (out[t.nodeId] ?? 0) + 1
    return out
  }
}

/** Deep-freezes a state so a test fails if reconcile mutates its input. */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v)
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k])
  }
  return v
}
