import type { PortSpec } from './types.ts'
import type { CatalogNetwork, CatalogServiceNetwork, EndpointAddress } from './network.ts'

/**
 * The catalog: each agent's view of services → endpoints, the single view the data plane (ingress, DNS, VIP rules)
 * reads. The manager builds a snapshot from its store (buildCatalog) and pushes it to every agent on the watch stream;
 * gossip takes a dead node's endpoints out of rotation at once (Catalog.nodeDown) without waiting for the manager.
 */

/** running: in rotation if healthy. stopping: desired shutdown but still running: no new connections, open ones kept. */
export type EndpointState = 'running' | 'stopping'
/** Docker healthcheck status; `none` when the task has no healthcheck (counts as healthy). */
export type EndpointHealth = 'healthy' | 'unhealthy' | 'starting' | 'none'

export interface Endpoint {
  taskId: string
  /** Replicated: 1..N. Global: 0. */
  slot: number
  /** Task name as Swarm names containers without the id: `<service>.<slot>` (global: `<service>.<nodeId>`). */
  taskName: string
  nodeId: string
  /** The node's hostname (gossip name). */
  node: string
  /** Overlay address of the task's container. */
  ip: string
  state: EndpointState
  health: EndpointHealth
  /** The task's address on each of its networks (absent: only `ip`, on the default network). */
  addresses?: EndpointAddress[]
}

export interface CatalogService {
  id: string
  /** Full name, e.g. `getstartedlab_web`. */
  name: string
  /** Stack namespace (label com.docker.stack.namespace), when the service belongs to a stack. */
  stack?: string
  /** Name inside its stack (`web` for `getstartedlab_web`); equals `name` outside a stack. */
  shortName: string
  /** Virtual IP from the VIP range (endpoint mode vip). */
  vip?: string
  endpointMode: 'vip' | 'dnsrr'
  ports: PortSpec[]
  /** How long a stopping task keeps its open connections. */
  stopGracePeriodMs: number
  endpoints: Endpoint[]
  /** The networks the service is on, with its VIP and aliases on each (absent: the default network only). */
  networks?: CatalogServiceNetwork[]
}

export interface CatalogNode {
  id: string
  hostname: string
  /** Underlay address. */
  addr: string
  state: 'ready' | 'down' | 'unknown'
}

export interface CatalogSnapshot {
  /**
   * The manager store revision this was built from; a snapshot with a lower revision never wins over one of the
   * same `epoch`.
   */
  revision: number
  /**
   * The store epoch: a random id the manager's store got when its state was created or restored (src/manager/epoch.ts).
   * Revisions count within one epoch only: a restore, a move to etcd or `--force-new-cluster` starts them again under
   * a new epoch, and an agent takes a snapshot of another epoch whatever its revision. Absent from older managers
   * (then revisions alone order snapshots). 1-64 of `A-Za-z0-9_-` (isCatalogEpoch).
   */
  epoch?: string
  services: CatalogService[]
  nodes: CatalogNode[]
  /** Every network but the default one (absent from older managers). */
  networks?: CatalogNetwork[]
}

const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/

/** True when `v` can be a catalog's `epoch` (what a manager writes and an agent accepts). */
export function isCatalogEpoch(v: unknown): v is string {
  return typeof v === 'string' && EPOCH_RE.test(v)
}

/** What readers of the catalog (ingress, DNS, VIP rules, status) hold: the current snapshot and change events. */
export interface CatalogView {
  /** The current view: dead nodes' endpoints already removed; stable object until the next change. */
  current(): CatalogSnapshot
  /** Called after every change with the new snapshot; returns an unsubscribe function. */
  onChange(fn: (snap: CatalogSnapshot) => void): () => void
}
