/**
 * The plan vocabulary of the manager's decision core: what one reconcile pass wants done (`Plan`, `PlanEvent`),
 * the slots a service fills, and `Work`, the working copy a pass edits and turns into a Plan. The orchestrator,
 * the scheduler and the rolling update (update.ts) all speak it; keeping it here, apart from all three, is what
 * stops them importing each other in a loop. Pure: no clock, no I/O.
 */
import { isUnassigned } from './placement.ts'
import { isGlobalMode } from '../api/index.ts'
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../api/types.ts'

export type PlanEventType =
  | 'taskCreated' | 'taskAssigned' | 'taskUnschedulable' | 'taskShutdown' | 'taskOrphaned' | 'restartWithheld'
  | 'updateStarted' | 'updatePaused' | 'updateCompleted' | 'rollbackStarted' | 'rollbackPaused' | 'rollbackCompleted'

/** What the plan does and why; the wiring logs and counts them. */
export interface PlanEvent {
  type: PlanEventType
  serviceId: string
  taskId?: string
  slot?: number
  nodeId?: string
  message: string
}

export interface Plan {
  /** New tasks (already assigned when a node fits). */
  create: TaskRecord[]
  /** Changed copies of existing tasks. */
  update: TaskRecord[]
  /** Changed copies of services (update status, automatic rollback). */
  serviceUpdates: ServiceRecord[]
  events: PlanEvent[]
  /** When reconcile should run again even if nothing changes (restart delay, node grace, update delay/monitor). */
  wakeAt?: number
}

/** A slot a service wants filled: replicated `slot` 1..replicas, or global slot 0 on `nodeId`. */
export interface DesiredSlot {
  key: string
  slot: number
  nodeId: string
}

/** The tasks of one slot, oldest first (by createdAt, then store order). */
export interface Slot {
  key: string
  tasks: TaskRecord[]
}

export function slotKey(service: ServiceRecord, t: TaskRecord): string {
  if (isGlobalMode(service.spec.mode)) return t.slot === 0 && t.nodeId !== '' ? `node:${t.nodeId}` : `slot:${t.slot}`
  return String(t.slot)
}

/** The working copy a reconcile pass edits; becomes the Plan. */
export class Work {
  readonly now: number
  readonly nodes: Map<string, NodeRecord>
  readonly services = new Map<string, ServiceRecord>()
  readonly events: PlanEvent[] = []
  wakeAt: number | undefined
  readonly #tasks = new Map<string, TaskRecord>()
  readonly #seq = new Map<string, number>()
  readonly #byService = new Map<string, string[]>()
  readonly #changed = new Set<string>()
  readonly #created = new Set<string>()
  readonly #servicesChanged = new Set<string>()
  readonly #newId: () => string

  constructor(state: ClusterState, now: number, newId: () => string) {
    this.now = now
    this.#newId = newId
    this.nodes = new Map(state.nodes.map((n) => [n.id, n]))
    for (const s of state.services) this.services.set(s.id, s)
    for (const t of state.tasks) this.#add(t)
  }

  #add(t: TaskRecord): void {
    this.#tasks.set(t.id, t)
    this.#seq.set(t.id, this.#seq.size)
    const list = this.#byService.get(t.serviceId)
    if (list) list.push(t.id)
    else this.#byService.set(t.serviceId, [t.id])
  }

  tasks(): IterableIterator<TaskRecord> {
    return this.#tasks.values()
  }

  /** The service's tasks, oldest first. */
  tasksOf(serviceId: string): TaskRecord[] {
    const ids = this.#byService.get(serviceId) ?? []
    return ids.map((id) => this.#tasks.get(id) as TaskRecord)
      .sort((a, b) => a.createdAt - b.createdAt || (this.#seq.get(a.id) as number) - (this.#seq.get(b.id) as number))
  }

  slots(service: ServiceRecord): Map<string, Slot> {
    const out = new Map<string, Slot>()
    for (const t of this.tasksOf(service.id)) {
      const key = slotKey(service, t)
      const s = out.get(key)
      if (s) s.tasks.push(t)
      else out.set(key, { key, tasks: [t] })
    }
    return out
  }

  replace(t: TaskRecord): TaskRecord {
    this.#tasks.set(t.id, t)
    if (!this.#created.has(t.id)) this.#changed.add(t.id)
    return t
  }

  patch(t: TaskRecord, fields: Partial<TaskRecord>, status?: Partial<TaskStatus>): TaskRecord {
    const cur = this.#tasks.get(t.id) ?? t
    return this.replace({ ...cur, ...fields, ...(status ? { status: { ...cur.status, ...status } } : {}), updatedAt: this.now })
  }

  create(service: ServiceRecord, d: DesiredSlot, why: string): TaskRecord {
    const now = this.now
    const t: TaskRecord = {
      id: this.#newId(), serviceId: service.id, serviceName: service.spec.name, slot: d.slot, nodeId: d.nodeId,
      specVersion: service.version, spec: service.spec, desiredState: 'running',
      status: { state: 'pending', message: 'pending task scheduling', timestamp: now }, createdAt: now, updatedAt: now,
    }
    this.#add(t)
    this.#created.add(t.id)
    this.event({ type: 'taskCreated', serviceId: service.id, taskId: t.id, slot: d.slot, ...(d.nodeId ? { nodeId: d.nodeId } : {}), message: why })
    return t
  }

  /** Desired shutdown; a task no agent has yet (new/pending) is shut down on the spot. */
  shutdown(task: TaskRecord, why: string): TaskRecord {
    const t = this.#tasks.get(task.id) ?? task
    const next = isUnassigned(t)
      ? this.patch(t, { desiredState: 'shutdown' }, { state: 'shutdown', message: why, timestamp: this.now })
      : this.patch(t, { desiredState: 'shutdown' })
    this.event({ type: 'taskShutdown', serviceId: t.serviceId, taskId: t.id, slot: t.slot, ...(t.nodeId ? { nodeId: t.nodeId } : {}), message: why })
    return next
  }

  setService(s: ServiceRecord): ServiceRecord {
    this.services.set(s.id, s)
    this.#servicesChanged.add(s.id)
    return s
  }

  event(e: PlanEvent): void {
    this.events.push(e)
  }

  wake(at: number): void {
    if (at > this.now && (this.wakeAt === undefined || at < this.wakeAt)) this.wakeAt = at
  }

  plan(): Plan {
    const p: Plan = {
      create: [...this.#created].map((id) => this.#tasks.get(id) as TaskRecord),
      update: [...this.#changed].map((id) => this.#tasks.get(id) as TaskRecord),
      serviceUpdates: [...this.#servicesChanged].map((id) => this.services.get(id) as ServiceRecord),
      events: this.events,
    }
    if (this.wakeAt !== undefined) p.wakeAt = this.wakeAt
    return p
  }
}
