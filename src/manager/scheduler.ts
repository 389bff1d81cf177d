/**
 * Scheduler (pure): decides where `pending` tasks run. For each pending task (desired running), the filter pipeline
 * of placement.ts keeps the nodes that are ready and active, meet the constraints, have the host-mode ports free
 * and the reservations left; among them the spread rule picks: fewest live tasks of this service, then fewest live
 * tasks overall, then the smallest node id. Assigning sets `nodeId`, state `assigned` and a message. Tasks are
 * taken in a stable order and each assignment counts for the next, so a batch of one service spreads.
 *
 * A task nobody can take stays `pending` with swarmkit's explanation in its message ("no suitable node (1 node
 * not available for new tasks; 2 nodes not satisfying constraint node.role==manager)"); the message is rewritten
 * only when it changes, so a converged state gives an empty plan. Global tasks come with their node preset: they
 * are only checked against it.
 */
import { NoSuitableNodeError } from './errors.ts'
import type { Plan, PlanEvent } from './orchestrator.ts'
import { addToLoad, checkNode, emptyLoad, explainFailures, nodeLoads, type NodeLoad, type PlacementFailure } from './placement.ts'
import type { ClusterState, NodeRecord, ServiceSpec, TaskRecord } from './types.ts'

export interface ScheduleResult {
  /** Changed copies of the pending tasks that were assigned or got a new explanation. */
  changed: TaskRecord[]
  events: PlanEvent[]
}

interface Candidate {
  node: NodeRecord
  load: NodeLoad
}

/** Best node by spread: fewest of this service, then fewest overall, then node id. */
function better(a: Candidate, b: Candidate, serviceId: string): boolean {
  const sa = a.load.byService.get(serviceId) ?? 0
  const sb = b.load.byService.get(serviceId) ?? 0
  if (sa !== sb) return sa < sb
  if (a.load.live !== b.load.live) return a.load.live < b.load.live
  return a.node.id < b.node.id
}

/**
 * Places every pending task of `tasks` (which must hold every task, for the loads) on `nodes`.
 * Pure: returns changed copies, never mutates its input.
 */
export function scheduleTasks(nodes: readonly NodeRecord[], tasks: Iterable<TaskRecord>, now: number): ScheduleResult {
  const all = [...tasks]
  const sortedNodes = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const byId = new Map(sortedNodes.map((n) => [n.id, n]))
  const loads = nodeLoads(sortedNodes, all)
  const order = new Map(all.map((t, i) => [t.id, i]))
  const pending = all
    .filter((t) => t.status.state === 'pending' && t.desiredState === 'running')
    .sort((a, b) => (a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : 0)
      || a.slot - b.slot || a.createdAt - b.createdAt || (order.get(a.id) as number) - (order.get(b.id) as number))
  const changed: TaskRecord[] = []
  const events: PlanEvent[] = []
  for (const t of pending) {
    const failures: PlacementFailure[] = []
    let best: Candidate | undefined
    const consider = (node: NodeRecord): void => {
      const load = loads.get(node.id) ?? emptyLoad()
      const f = checkNode(node, t.spec, load)
      if (f) failures.push(f)
      else if (!best || better({ node, load }, best, t.serviceId)) best = { node, load }
    }
    if (t.nodeId !== '') {
      const node = byId.get(t.nodeId)
      if (node) consider(node)
    } else {
      for (const n of sortedNodes) consider(n)
    }
    if (best) {
      const message = `assigned to node ${best.node.hostname}`
      const next: TaskRecord = {
        ...t, nodeId: best.node.id, updatedAt: now, status: { ...t.status, state: 'assigned', message, timestamp: now },
      }
      addToLoad(best.load, next)
      changed.push(next)
      events.push({ type: 'taskAssigned', serviceId: t.serviceId, taskId: t.id, slot: t.slot, nodeId: best.node.id, message })
      continue
    }
    const message = t.nodeId !== '' && !byId.has(t.nodeId) ? `node ${t.nodeId} is not in the cluster` : explainFailures(failures)
    if (t.status.message === message) continue
    changed.push({ ...t, updatedAt: now, status: { ...t.status, message, timestamp: now } })
    events.push({ type: 'taskUnschedulable', serviceId: t.serviceId, taskId: t.id, slot: t.slot, message })
  }
  return { changed, events }
}

/** Scheduling alone, as a plan (the orchestrator's `reconcile` already includes it). */
export function schedule(state: ClusterState, now: number): Plan {
  const r = scheduleTasks(state.nodes, state.tasks, now)
  return { create: [], update: r.changed, serviceUpdates: [], events: r.events }
}

/**
 * Why a new task of `spec` could not be placed right now, or null when some node can take it. For the API to warn
 * (or refuse, with `assertPlaceable`) on `service create`.
 */
export function explainPlacement(state: ClusterState, spec: ServiceSpec): string | null {
  const loads = nodeLoads(state.nodes, state.tasks)
  const failures: PlacementFailure[] = []
  for (const n of state.nodes) {
    const f = checkNode(n, spec, loads.get(n.id) ?? emptyLoad())
    if (!f) return null
    failures.push(f)
  }
  return explainFailures(failures)
}

/** Throws NoSuitableNodeError (`service "web": no suitable node (…)`) when no node can take a task of `spec`. */
export function assertPlaceable(state: ClusterState, spec: ServiceSpec): void {
  const why = explainPlacement(state, spec)
  if (why !== null) throw new NoSuitableNodeError(`service "${spec.name}": ${why}`)
}
