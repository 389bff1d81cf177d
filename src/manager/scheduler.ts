/**
 * Scheduler (pure): decides where `pending` tasks run. For each pending task (desired running), the filter pipeline
 * of placement.ts keeps the nodes that are ready and active, meet the constraints, have the host-mode ports free
 * and the reservations left, and hold fewer than `maxReplicasPerNode` tasks of the service; among them the spread
 * rule picks: the placement preferences' groups with the fewest tasks of the service (spread.ts), then fewest live
 * tasks of this service, then fewest live tasks overall, then a worker before a manager, then the smallest node id. Assigning sets `nodeId`, state `assigned` and a message. Tasks are
 * taken in a stable order and each assignment counts for the next, so a batch of one service spreads.
 *
 * A task nobody can take stays `pending` with swarmkit's explanation in its message ("no suitable node (1 node
 * not available for new tasks; 2 nodes not satisfying constraint node.role==manager)"); the message is rewritten
 * only when it changes, so a converged state gives an empty plan. Global tasks come with their node preset: they
 * are only checked against it.
 */
import { NoSuitableNodeError } from './errors.ts'
import type { Plan, PlanEvent } from './plan.ts'
import {
  addToLoad, checkNode, checkNodeLoad, checkNodeStatic, emptyLoad, explainFailures, nodeLoads, placementNeeds,
  type NodeLoad, type PlacementFailure, type PlacementNeeds,
} from './placement.ts'
import { compareSpread, spreadCounts, spreadLabels } from './spread.ts'
import type { ClusterState, NodeRecord, ServiceSpec, TaskRecord } from '../api/types.ts'

export interface ScheduleResult {
  /** Changed copies of the pending tasks that were assigned or got a new explanation. */
  changed: TaskRecord[]
  events: PlanEvent[]
}

/**
 * Is `a` a better place than `b` by spread: fewest of this service, then fewest overall, then a worker before a
 * manager (managers keep headroom for the control plane; in the seed lab 3 replicas land one per worker), then node id?
 */
function better(a: NodeRecord, la: NodeLoad, b: NodeRecord, lb: NodeLoad, serviceId: string, groups: Map<string, number[]>): boolean {
  const g = compareSpread(groups.get(a.id) ?? [], groups.get(b.id) ?? [])
  if (g !== 0) return g < 0
  const sa = la.byService.get(serviceId) ?? 0
  const sb = lb.byService.get(serviceId) ?? 0
  if (sa !== sb) return sa < sb
  if (la.live !== lb.live) return la.live < lb.live
  if (a.role !== b.role) return a.role === 'worker'
  return a.id < b.id
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
  const staticPass = new Map<PlacementNeeds, { fits: NodeRecord[]; failures: Map<string, PlacementFailure> }>()
  for (const t of pending) {
    const needs = placementNeeds(t.spec)
    let pass = staticPass.get(needs)
    if (!pass) {
      // Availability and constraints do not change during a pass: filter the nodes once per spec.
      pass = { fits: [], failures: new Map() }
      for (const node of sortedNodes) {
        const f = checkNodeStatic(node, needs)
        if (f) pass.failures.set(node.id, f)
        else pass.fits.push(node)
      }
      staticPass.set(needs, pass)
    }
    const failures: PlacementFailure[] = []
    // Placement preferences: the spread tree's counts, from the loads as they are now (earlier tasks of the batch count).
    const labels = t.nodeId === '' ? spreadLabels(t.spec.placementPreferences) : []
    const groups = spreadCounts(labels, pass.fits, loads, t.serviceId)
    let best: NodeRecord | undefined
    let bestLoad: NodeLoad | undefined
    const consider = (node: NodeRecord): void => {
      const load = loads.get(node.id) as NodeLoad
      const f = checkNodeLoad(node, needs, load, t.serviceId)
      if (f) failures.push(f)
      else if (!best || better(node, load, best, bestLoad as NodeLoad, t.serviceId, groups)) {
        best = node
        bestLoad = load
      }
    }
    if (t.nodeId === '') {
      failures.push(...pass.failures.values())
      for (const node of pass.fits) consider(node)
    } else {
      const node = byId.get(t.nodeId)
      const f = node ? pass.failures.get(node.id) : undefined
      if (f) failures.push(f)
      else if (node) consider(node)
    }
    if (best && bestLoad) {
      const message = `assigned to node ${best.hostname}`
      const next: TaskRecord = {
        ...t, nodeId: best.id, updatedAt: now, status: { ...t.status, state: 'assigned', message, timestamp: now },
      }
      addToLoad(bestLoad, next)
      changed.push(next)
      events.push({ type: 'taskAssigned', serviceId: t.serviceId, taskId: t.id, slot: t.slot, nodeId: best.id, message })
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
