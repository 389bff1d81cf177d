/**
 * Orchestrator (pure): decides which tasks should exist, then hands pending ones to the scheduler. One call,
 * `reconcile(state, now, options)`, returns a Plan (tasks to create, changed copies of tasks and services, events);
 * the caller applies it in one transaction (`applyPlan` does it for a plain ClusterState) and calls again whenever
 * the store changes or `plan.wakeAt` / `nextWakeAt` comes. Once converged, reconcile returns an empty plan.
 *
 * Per service, in order:
 *  1. node facts: tasks on a node that is gone or `down` for ≥ nodeDownGraceMs become `orphaned` (desired shutdown);
 *     live tasks on a drained node, or on one that no longer meets the constraints, get desired `shutdown` and (for
 *     replicated services) are replaced at once;
 *  2. slots: replicated 1..replicas, global one per node that is ready, active and meets the constraints. A slot
 *     without a live task gets one, or, when its newest task ended on its own, what the restart policy allows
 *     (restart.ts); tasks of slots beyond `replicas` get desired `shutdown`;
 *  3. rolling update (update.ts) when tasks run an older spec.
 * Job services (replicated-job, global-job) take steps 2-3 from jobs.ts instead: slots run to completion, once per
 * spec version.
 * Then the scheduler places pending tasks (scheduler.ts). No timers, no I/O, no clock: time is `now`, ids come
 * from `newId`, ties break by node id.
 */
import { compiledConstraints, unmetConstraint } from './constraints.ts'
import { orchestrateJob } from './jobs.ts'
import { acceptsNewTasks, endedOnItsOwn, isLive, isTerminal, isUnassigned } from './placement.ts'
import { Work, slotKey, type DesiredSlot, type Plan, type Slot } from './plan.ts'
import { restartDecision } from './restart.ts'
import { scheduleTasks } from './scheduler.ts'
import { isGlobalMode, isJobMode, replicasOf } from '../api/index.ts'
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../api/types.ts'
import { checkUpdateFailures, rollTasks, taskSpecDiffers } from './update.ts'

export { Work, slotKey, type DesiredSlot, type Plan, type PlanEvent, type PlanEventType, type Slot } from './plan.ts'

export interface ReconcileOptions {
  /** How long a `down` node's tasks are left alone before they are orphaned and replaced. Default 5000. */
  nodeDownGraceMs?: number
  /** Id for a new task. */
  newId: () => string
}

export const DEFAULT_NODE_DOWN_GRACE_MS = 5000

/** Nodes that take a per-node task of the service: ready, active, meeting its constraints; by id. */
function eligibleNodes(service: ServiceRecord, nodes: Iterable<NodeRecord>): NodeRecord[] {
  const { constraints, error } = compiledConstraints(service.spec.constraints)
  if (error !== undefined) return []
  return [...nodes]
    .filter((n) => acceptsNewTasks(n) && !unmetConstraint(constraints, n))
    .sort((a, b) => (a.id < b.id ? -1 : 1))
}

/**
 * The slots a service wants: replicated 1..replicas (a replicated job: 1..totalCompletions); global (and global
 * job) one per node ready, active and meeting constraints.
 */
export function desiredSlots(service: ServiceRecord, nodes: Iterable<NodeRecord>): DesiredSlot[] {
  const count = replicasOf(service.spec.mode)
  if (count !== undefined) {
    const n = Math.max(0, Math.floor(count))
    return Array.from({ length: n }, (_, i) => ({ key: String(i + 1), slot: i + 1, nodeId: '' }))
  }
  return eligibleNodes(service, nodes).map((n) => ({ key: `node:${n.id}`, slot: 0, nodeId: n.id }))
}

/** Step 1 for every task: gone or long-down nodes orphan their tasks; tasks of removed services stop. */
function nodeAndServiceFacts(w: Work, graceMs: number): void {
  for (const t of [...w.tasks()]) {
    if (isTerminal(t)) continue
    if (!w.services.has(t.serviceId)) {
      if (t.desiredState === 'running') w.shutdown(t, `service ${t.serviceName} was removed`)
      continue
    }
    if (t.nodeId === '') continue
    const node = w.nodes.get(t.nodeId)
    const downFor = node && node.state === 'down' ? w.now - node.stateChangedAt : -1
    if (node && downFor < graceMs) {
      if (downFor >= 0) w.wake(node.stateChangedAt + graceMs)
      continue
    }
    const message = node ? `node ${node.hostname} down for ${Math.round(downFor / 1000)}s` : `node ${t.nodeId} left the cluster`
    w.patch(t, { desiredState: 'shutdown' }, { state: 'orphaned', message, timestamp: w.now })
    w.event({ type: 'taskOrphaned', serviceId: t.serviceId, taskId: t.id, slot: t.slot, nodeId: t.nodeId, message })
  }
}

/** Step 1 per service: live tasks on drained nodes or nodes that no longer meet the constraints stop. */
function evictFromNodes(w: Work, service: ServiceRecord): Set<string> {
  const global = isGlobalMode(service.spec.mode)
  const evicted = new Set<string>()
  for (const t of w.tasksOf(service.id)) {
    if (!isLive(t) || t.nodeId === '') continue
    const node = w.nodes.get(t.nodeId)
    if (!node) continue
    let why: string | undefined
    if (node.availability === 'drain') why = `node ${node.hostname} is drained`
    else {
      const { constraints } = compiledConstraints((global ? service.spec : t.spec).constraints)
      const c = unmetConstraint(constraints, node)
      if (c) why = `node ${node.hostname} no longer satisfies constraint ${c.key}`
    }
    if (why === undefined) continue
    w.shutdown(t, why)
    evicted.add(slotKey(service, t))
  }
  return evicted
}

function restartSlot(w: Work, service: ServiceRecord, d: DesiredSlot, ended: TaskRecord, tasks: TaskRecord[]): void {
  const same = tasks.filter((t) => !taskSpecDiffers(t.spec, service.spec))
  const r = restartDecision(ended, same, service.spec.restartPolicy, w.now)
  if (r.kind === 'wait') return w.wake(r.until)
  if (r.kind === 'replace') {
    if (ended.desiredState === 'running') w.patch(ended, { desiredState: 'shutdown' })
    w.create(service, d, r.reason)
    return
  }
  if (r.retryAt !== undefined) w.wake(r.retryAt)
  // Record the decision once (desired shutdown) so the event is not repeated; a task that reported `shutdown` on
  // its own keeps desired running, or the next pass would take it for a stopped task and refill the slot.
  if (ended.desiredState === 'running' && ended.status.state !== 'shutdown' && ended.status.state !== 'orphaned') {
    w.patch(ended, { desiredState: 'shutdown' })
    w.event({ type: 'restartWithheld', serviceId: service.id, taskId: ended.id, slot: d.slot, message: `slot left empty: ${r.reason}` })
  }
}

/** Step 2 for one wanted slot. */
function fillSlot(w: Work, service: ServiceRecord, d: DesiredSlot, tasks: TaskRecord[], evicted: boolean): void {
  const newest = tasks.at(-1)
  if (!newest) {
    w.create(service, d, 'replicated' in service.spec.mode ? `slot ${d.slot} has no task` : `node ${d.nodeId} has no task`)
    return
  }
  const differs = (t: TaskRecord): boolean => taskSpecDiffers(t.spec, service.spec)
  const live = tasks.filter(isLive)
  if (live.length > 0) {
    // start-first: the new task ended while the old one still holds the slot; retry it under the restart policy.
    if (endedOnItsOwn(newest) && !differs(newest) && live.every(differs)) restartSlot(w, service, d, newest, tasks)
    return
  }
  if (!isTerminal(newest)) {
    // Stopping: evicted from its node → replace now; otherwise (stop-first update, scale down then up) wait for it.
    if (evicted) w.create(service, d, `replacing ${newest.id}: ${evictionReason(w, newest)}`)
    return
  }
  if (!endedOnItsOwn(newest)) {
    w.create(service, d, `replacing ${newest.id} (${newest.status.state}: ${newest.status.message})`)
    return
  }
  if (differs(newest)) {
    if (newest.desiredState === 'running') w.patch(newest, { desiredState: 'shutdown' })
    w.create(service, d, `replacing ended task ${newest.id} of the previous spec`)
    return
  }
  restartSlot(w, service, d, newest, tasks)
}

function evictionReason(w: Work, t: TaskRecord): string {
  const node = w.nodes.get(t.nodeId)
  if (!node) return 'node gone'
  return node.availability === 'drain' ? `node ${node.hostname} is drained` : `node ${node.hostname} no longer satisfies the constraints`
}

function orchestrateService(w: Work, serviceId: string): void {
  const before = w.services.get(serviceId) as ServiceRecord
  if (isJobMode(before.spec.mode)) {
    const evicted = evictFromNodes(w, before)
    return orchestrateJob(w, before, eligibleNodes(before, w.nodes.values()), evicted)
  }
  checkUpdateFailures(w, serviceId, desiredSlots(before, w.nodes.values()).length)
  const service = w.services.get(serviceId) as ServiceRecord
  const evicted = evictFromNodes(w, service)
  const desired = desiredSlots(service, w.nodes.values())
  const wanted = new Set(desired.map((d) => d.key))
  const slots = w.slots(service)
  // Slots nobody wants any more (scale down, or a mode change): highest first. Global tasks on nodes that merely
  // cannot take new tasks (paused, down within grace) keep running; drained/unmatched ones were evicted above.
  const extra = [...slots.values()].filter((s) => !wanted.has(s.key) && !(s.key.startsWith('node:') && w.nodes.has(s.key.slice(5))))
  extra.sort((a, b) => (b.tasks[0]?.slot ?? 0) - (a.tasks[0]?.slot ?? 0))
  const replicas = 'replicated' in service.spec.mode ? service.spec.mode.replicated.replicas : 0
  for (const s of extra) {
    for (const t of s.tasks) if (isLive(t)) w.shutdown(t, `slot ${t.slot} is beyond the ${replicas} wanted replicas`)
  }
  for (const d of desired) fillSlot(w, service, d, slots.get(d.key)?.tasks ?? [], evicted.has(d.key))
  rollTasks(w, serviceId, desired)
}

/** One pass: the changes that move `state` towards what the services ask for. */
export function reconcile(state: ClusterState, now: number, options: ReconcileOptions): Plan {
  const graceMs = options.nodeDownGraceMs ?? DEFAULT_NODE_DOWN_GRACE_MS
  const w = new Work(state, now, options.newId)
  nodeAndServiceFacts(w, graceMs)
  const ids = [...w.services.keys()].sort()
  for (const id of ids) orchestrateService(w, id)
  const r = scheduleTasks(state.nodes, w.tasks(), now)
  for (const t of r.changed) w.replace(t)
  for (const e of r.events) w.event(e)
  return w.plan()
}

/** The state after a plan: tasks and services replaced by id, new tasks appended. Pure. */
export function applyPlan(state: ClusterState, plan: Plan): ClusterState {
  const updates = new Map(plan.update.map((t) => [t.id, t]))
  const services = new Map(plan.serviceUpdates.map((s) => [s.id, s]))
  return {
    nodes: state.nodes,
    services: state.services.map((s) => services.get(s.id) ?? s),
    tasks: [...state.tasks.map((t) => updates.get(t.id) ?? t), ...plan.create],
  }
}

export function isEmptyPlan(plan: Plan): boolean {
  return plan.create.length === 0 && plan.update.length === 0 && plan.serviceUpdates.length === 0 && plan.events.length === 0
}

/**
 * When reconcile should run again if the store does not change before: the earliest restart delay, node grace,
 * restart window, update delay or update monitor expiry after `now`; undefined when nothing is waiting on time.
 */
export function nextWakeAt(state: ClusterState, now: number, options: Omit<ReconcileOptions, 'newId'> = {}): number | undefined {
  let n = 0
  return reconcile(state, now, { ...options, newId: () => `wake-probe-${n++}` }).wakeAt
}

/**
 * Ids of ended tasks the store may delete: beyond the newest `keep` ended tasks of each slot (at least
 * restart maxAttempts + 1, so the attempt count stays right), and every ended task of a removed service or of a
 * global slot whose node left. Never a task that has not ended. In store order.
 */
export function prunable(state: ClusterState, keep = 5): string[] {
  const services = new Map(state.services.map((s) => [s.id, s]))
  const nodes = new Set(state.nodes.map((n) => n.id))
  const bySlot = new Map<string, TaskRecord[]>()
  const out: string[] = []
  const order = new Map(state.tasks.map((t, i) => [t.id, i]))
  state.tasks.forEach((t) => {
    if (!isTerminal(t)) return
    const s = services.get(t.serviceId)
    const key = s ? slotKey(s, t) : ''
    if (!s || (key.startsWith('node:') && !nodes.has(t.nodeId))) return void out.push(t.id)
    const k = `${t.serviceId}\u0000${key}`
    const list = bySlot.get(k)
    if (list) list.push(t)
    else bySlot.set(k, [t])
  })
  for (const list of bySlot.values()) {
    const s = services.get((list[0] as TaskRecord).serviceId) as ServiceRecord
    const n = Math.max(keep, s.spec.restartPolicy.maxAttempts + 1)
    list.sort((a, b) => b.createdAt - a.createdAt || (order.get(b.id) as number) - (order.get(a.id) as number))
    for (const t of list.slice(n)) out.push(t.id)
  }
  return out.sort((a, b) => (order.get(a) as number) - (order.get(b) as number))
}
