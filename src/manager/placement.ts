/**
 * Placement facts (pure), shared by the orchestrator and the scheduler: what state a task is in (live, ended,
 * ended on its own), what a node already carries (reservations, tasks, host-mode ports), and the filter pipeline
 * that says whether a node can take one more task of a spec and, when no node can, why — swarmkit's
 * `Pipeline.Explain`: failures counted per filter, worst first: "no suitable node (2 nodes not satisfying
 * constraint node.role==manager; 1 node not available for new tasks)". What a spec may ask of placement at all
 * is checked before it is stored, by src/api/validate.ts.
 */
import { compiledConstraints, unmetConstraint, type Constraint } from './constraints.ts'
import type { NodeRecord, Resources, ServiceSpec, TaskRecord, TaskState } from '../api/types.ts'
import { TERMINAL_STATES } from '../api/types.ts'

const TERMINAL = new Set<TaskState>(TERMINAL_STATES)
/** End states a task reaches by itself (the container exited or could not start), as opposed to being stopped. */
const ENDED_ON_ITS_OWN = new Set<TaskState>(['complete', 'failed', 'rejected'])
/** States before a node has the task: nothing runs, no agent will ever report on it. */
const UNASSIGNED = new Set<TaskState>(['new', 'pending'])

export function isTerminal(t: TaskRecord): boolean {
  return TERMINAL.has(t.status.state)
}

/** Desired running and not ended: the task that holds (or will hold) its slot. */
export function isLive(t: TaskRecord): boolean {
  return t.desiredState === 'running' && !TERMINAL.has(t.status.state)
}

/** Ended without being asked to: complete/failed/rejected, or any end while still desired running. */
export function endedOnItsOwn(t: TaskRecord): boolean {
  return TERMINAL.has(t.status.state) && (ENDED_ON_ITS_OWN.has(t.status.state) || t.desiredState === 'running')
}

/** Not yet on a node's agent (new/pending): stopping it needs no agent. */
export function isUnassigned(t: TaskRecord): boolean {
  return UNASSIGNED.has(t.status.state)
}

/** On a node and not ended: it uses the node's resources (running, starting, or stopping). */
export function occupiesNode(t: TaskRecord): boolean {
  return t.nodeId !== '' && !UNASSIGNED.has(t.status.state) && !TERMINAL.has(t.status.state)
}

/** When the task reached running: `status.startedAt`, else the status time while it is running. */
export function runningSince(t: TaskRecord): number | undefined {
  return t.status.startedAt ?? (t.status.state === 'running' ? t.status.timestamp : undefined)
}

/** Ready and active: the only nodes that take new tasks (pause keeps what it has, drain keeps nothing). */
export function acceptsNewTasks(n: NodeRecord): boolean {
  return n.state === 'ready' && n.availability === 'active'
}

/** Per-node load the scheduler adds to as it assigns. */
export interface NodeLoad {
  reserved: Resources
  /** Live tasks (desired running) on the node, all services. */
  live: number
  /** Live tasks per service id. */
  byService: Map<string, number>
  /** `8080/tcp` for every host-mode port a task on the node publishes. */
  hostPorts: Set<string>
}

export function emptyLoad(): NodeLoad {
  return { reserved: { nanoCpus: 0, memoryBytes: 0 }, live: 0, byService: new Map(), hostPorts: new Set() }
}

export function addToLoad(load: NodeLoad, t: TaskRecord): void {
  load.reserved.nanoCpus += t.spec.resources.reservations.nanoCpus
  load.reserved.memoryBytes += t.spec.resources.reservations.memoryBytes
  for (const p of placementNeeds(t.spec).hostPorts) load.hostPorts.add(p)
  if (t.desiredState === 'running') {
    load.live++
    load.byService.set(t.serviceId, (load.byService.get(t.serviceId) ?? 0) + 1)
  }
}

/** Load of every node from the tasks that occupy it. */
export function nodeLoads(nodes: Iterable<NodeRecord>, tasks: Iterable<TaskRecord>): Map<string, NodeLoad> {
  const loads = new Map<string, NodeLoad>()
  for (const n of nodes) loads.set(n.id, emptyLoad())
  for (const t of tasks) {
    if (!occupiesNode(t)) continue
    const load = loads.get(t.nodeId)
    if (load) addToLoad(load, t)
  }
  return loads
}

export function hostPortsOf(spec: ServiceSpec): string[] {
  return spec.ports.filter((p) => p.mode === 'host').map((p) => `${p.published}/${p.protocol}`)
}

/** Why one node cannot take a task: `key` groups equal reasons, `rank` orders ties (pipeline order). */
export interface PlacementFailure {
  key: string
  rank: number
  explain(count: number): string
}

const nodes = (n: number): string => (n === 1 ? '1 node' : `${n} nodes`)
const has = (n: number): string => (n === 1 ? '1 node has' : `${n} nodes have`)

const NOT_AVAILABLE: PlacementFailure = {
  key: 'available', rank: 0, explain: (n) => `${nodes(n)} not available for new tasks`,
}
/** swarmkit's MaxReplicasFilter words, without a count, as swarmkit prints them. */
const MAX_REPLICAS: PlacementFailure = { key: 'max-replicas', rank: 250, explain: () => 'max replicas per node limit exceed' }
const MEMORY: PlacementFailure = { key: 'memory', rank: 300, explain: (n) => `${has(n)} insufficient memory` }
const CPU: PlacementFailure = { key: 'cpu', rank: 301, explain: (n) => `${has(n)} insufficient CPU` }

/** A spec's placement needs, computed once per task rather than once per node. */
export interface PlacementNeeds {
  spec: ServiceSpec
  constraints: Constraint[]
  constraintError?: string
  hostPorts: string[]
}

const needsCache = new WeakMap<ServiceSpec, PlacementNeeds>()
export function placementNeeds(spec: ServiceSpec): PlacementNeeds {
  let n = needsCache.get(spec)
  if (!n) {
    const { constraints, error } = compiledConstraints(spec.constraints)
    n = { spec, constraints, ...(error === undefined ? {} : { constraintError: error }), hostPorts: hostPortsOf(spec) }
    needsCache.set(spec, n)
  }
  return n
}

/**
 * The pipeline, in order: available for new tasks (ready + active), constraints, host-mode ports, max replicas per
 * node, memory, CPU.
 * Returns the first filter the node fails, or null when it can take the task.
 */
export function checkNode(node: NodeRecord, spec: ServiceSpec | PlacementNeeds, load: NodeLoad): PlacementFailure | null {
  const needs = 'hostPorts' in spec ? spec : placementNeeds(spec)
  return checkNodeStatic(node, needs) ?? checkNodeLoad(node, needs, load)
}

/** The filters that do not depend on what the node carries: availability and constraints. */
export function checkNodeStatic(node: NodeRecord, needs: PlacementNeeds): PlacementFailure | null {
  if (!acceptsNewTasks(node)) return NOT_AVAILABLE
  const error = needs.constraintError
  if (error !== undefined) return { key: 'invalid', rank: 100, explain: () => error }
  const c = unmetConstraint(needs.constraints, node)
  if (c) {
    const i = needs.constraints.indexOf(c)
    return { key: `constraint ${c.key}`, rank: 100 + i, explain: (n) => `${nodes(n)} not satisfying constraint ${c.key}` }
  }
  return null
}

/**
 * The filters that depend on the node's load: host-mode ports, max replicas per node (needs the task's
 * `serviceId`; without one, as for a service not yet created, it has no tasks to count), memory, CPU.
 */
export function checkNodeLoad(node: NodeRecord, needs: PlacementNeeds, load: NodeLoad, serviceId?: string): PlacementFailure | null {
  for (const p of needs.hostPorts) {
    if (load.hostPorts.has(p)) {
      return { key: `port ${p}`, rank: 200, explain: (n) => `host-mode port ${p} already in use on ${nodes(n)}` }
    }
  }
  const max = needs.spec.maxReplicasPerNode ?? 0
  if (max > 0 && serviceId !== undefined && (load.byService.get(serviceId) ?? 0) >= max) return MAX_REPLICAS
  const want = needs.spec.resources.reservations
  if (want.memoryBytes > 0 && load.reserved.memoryBytes + want.memoryBytes > node.resources.memoryBytes) return MEMORY
  if (want.nanoCpus > 0 && load.reserved.nanoCpus + want.nanoCpus > node.resources.nanoCpus) return CPU
  return null
}

/** swarmkit's explanation: `no suitable node (<count> <reason>; …)`, the most frequent reason first. */
export function explainFailures(failures: readonly PlacementFailure[]): string {
  if (failures.length === 0) return 'no suitable node (no nodes in the cluster)'
  const counted = new Map<string, { f: PlacementFailure; count: number }>()
  for (const f of failures) {
    const e = counted.get(f.key)
    if (e) e.count++
    else counted.set(f.key, { f, count: 1 })
  }
  const sorted = [...counted.values()].sort((a, b) => b.count - a.count || a.f.rank - b.f.rank || (a.f.key < b.f.key ? -1 : 1))
  return `no suitable node (${sorted.map((e) => e.f.explain(e.count)).join('; ')})`
}
