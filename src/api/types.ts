/**
 * The manager's data model (swarmkit's shapes, trimmed): nodes, services, tasks. Plain JSON-able records; the
 * store persists them, the orchestrator and scheduler (pure) compute changes to them, the API serves them.
 * Times are milliseconds since the epoch; sizes are bytes; CPU is in nano-CPUs (1e9 = one core), as Docker does.
 */

import type { FileReference } from './secrets.ts'
import type { NetworkAttachmentSpec, TaskNetworkAttachment } from './network.ts'

export type NodeRole = 'manager' | 'worker'
export type Availability = 'active' | 'pause' | 'drain'
/** ready: gossip shows it alive; down: gossip declared it dead or it left; unknown: not heard of yet. */
export type NodeState = 'ready' | 'down' | 'unknown'

export interface Resources {
  nanoCpus: number
  memoryBytes: number
}

export interface NodeRecord {
  id: string
  /** The node's name (gossip name = hostname in the lab). */
  hostname: string
  role: NodeRole
  availability: Availability
  labels: Record<string, string>
  /** Underlay address. */
  addr: string
  state: NodeState
  /** When `state` last changed. */
  stateChangedAt: number
  /** What the node reports it has (CPUs, memory). */
  resources: Resources
  createdAt: number
  updatedAt: number
  /**
   * The WireGuard key and overlay subnet this node registered (PUT /v1/agent/overlay): the only ones the cluster
   * makes a peer and a route of. Absent until the node registers (and in stores written before it existed).
   */
  overlay?: NodeOverlay
}

/**
 * A manager node's place among the managers, as docker's ManagerStatus (`mesh node inspect`, `node ls`'s MANAGER
 * STATUS): worked out by the manager that answers, never stored. `addr`: its manager API, `ADDR:PORT`.
 */
export interface ManagerStatus {
  leader: boolean
  reachability: 'reachable' | 'unreachable'
  addr: string
}

/** A node as GET /v1/nodes answers it: the record, and for a manager its ManagerStatus. */
export type NodeView = NodeRecord & { managerStatus?: ManagerStatus }

/** A node's overlay registration: its WireGuard public key (base64) and the subnet of the overlay pool it holds. */
export interface NodeOverlay {
  publicKey: string
  subnet: string
}

export interface PortSpec {
  published: number
  target: number
  protocol: 'tcp' | 'udp'
  /** ingress: every node answers (routing mesh); host: only nodes running a task, straight to it. */
  mode: 'ingress' | 'host'
  /** Send a PROXY protocol header to the backend (client source IP). */
  proxyProtocol?: 'v1' | 'v2'
}

export interface MountSpec {
  /** tmpfs: an in-memory filesystem at `target` (source is empty). */
  type: 'bind' | 'volume' | 'tmpfs'
  source: string
  target: string
  readOnly: boolean
  /** tmpfs only: size limit in bytes (0 or absent: the engine's default) and mode bits (e.g. 0o1777). */
  tmpfs?: { sizeBytes?: number; mode?: number }
}

/** `--placement-pref spread=node.labels.zone`: spread a service's tasks evenly over the values of a node label. */
export interface PlacementPreference {
  spread: string
}

export interface RestartPolicy {
  condition: 'none' | 'on-failure' | 'any'
  /** Wait between a task's end and its replacement's start. Default 5000. */
  delayMs: number
  /** Restarts allowed within `windowMs` (0 = unlimited). */
  maxAttempts: number
  /** Window for counting restarts (0 = unbounded: count all). */
  windowMs: number
}

export interface UpdateConfig {
  /** Tasks updated at once (0 = all). Default 1. */
  parallelism: number
  /** Pause between batches. Default 0. */
  delayMs: number
  failureAction: 'pause' | 'continue' | 'rollback'
  /** stop-first: old task stops before the new one starts; start-first: new one running before the old stops. */
  order: 'stop-first' | 'start-first'
  /** After a task starts, how long to watch it for failure. Default 5000. */
  monitorMs: number
  /** Failure ratio tolerated during an update before failureAction applies. Default 0. */
  maxFailureRatio: number
}

export interface HealthcheckSpec {
  test: string[]
  intervalMs: number
  timeoutMs: number
  retries: number
  startPeriodMs: number
}

/** Credentials for pulling the service's image (`--with-registry-auth`); never shown by the API. */
export interface RegistryAuth {
  username: string
  password: string
  /** The registry as in the image reference (`registry:5000`); Docker Hub is `https://index.docker.io/v1/`. */
  serveraddress: string
  email?: string
}

/**
 * `registryAuth` as the manager stores it (in the service spec and every task's copy): the credentials sealed by its
 * vault for the service, so manager.db and its change history never hold them in plain. Only the manager makes and
 * opens it; a node gets the plain RegistryAuth on its watch stream for the tasks it runs.
 */
export interface SealedRegistryAuth {
  serveraddress: string
  /** username, password and email, sealed (opaque text). */
  sealed: string
}

/** Whether stored credentials are the sealed form (else plain: a request's, a watch stream's, or a store made before sealing). */
export function isSealedRegistryAuth(a: RegistryAuth | SealedRegistryAuth | undefined): a is SealedRegistryAuth {
  return a !== undefined && typeof (a as Partial<SealedRegistryAuth>).sealed === 'string'
}

/**
 * replicated: N long-running tasks; global: one per eligible node. Jobs (Swarm's replicated-job / global-job) run
 * to completion: a replicated job runs `totalCompletions` successful tasks, at most `maxConcurrent` at once; a global
 * job runs once on each eligible node. A completed job task is not restarted.
 */
export type ServiceMode =
  | { replicated: { replicas: number } }
  | { global: Record<string, never> }
  | { replicatedJob: { maxConcurrent: number; totalCompletions: number } }
  | { globalJob: Record<string, never> }

export interface ServiceSpec {
  name: string
  image: string
  /** Overrides the image's entrypoint when set. */
  entrypoint?: string[]
  /** Overrides the image's CMD when set. */
  command?: string[]
  env: string[]
  labels: Record<string, string>
  mode: ServiceMode
  ports: PortSpec[]
  mounts: MountSpec[]
  /** Placement constraints: `node.role == manager`, `node.hostname != n2`, `node.id == …`, `node.labels.zone == a`. */
  constraints: string[]
  resources: { limits: Resources; reservations: Resources }
  restartPolicy: RestartPolicy
  updateConfig: UpdateConfig
  rollbackConfig: UpdateConfig
  endpointMode: 'vip' | 'dnsrr'
  /**
   * The user networks the service is on (`--network NAME[,alias=A]`), in order; empty, or `[{target: 'mesh'}]`: the
   * default network only. Specs stored before networks existed held names here, read as the default network.
   */
  networks: NetworkAttachmentSpec[]
  healthcheck?: HealthcheckSpec
  /** Time a task gets to stop (SIGTERM → SIGKILL). Default 10000. */
  stopGracePeriodMs: number
  /**
   * Pull credentials (`--with-registry-auth`): plain in a request, sealed in the store (SealedRegistryAuth), plain
   * again on the watch stream to a node that runs the task; redacted by the API.
   */
  registryAuth?: RegistryAuth | SealedRegistryAuth
  /** Container hostname (`--hostname`); the engine's default (the container id) when absent. */
  hostname?: string
  /** User the command runs as (`--user uid[:gid]` or a name), as docker's. */
  user?: string
  /** Working directory of the command (`--workdir`). */
  workdir?: string
  /** Spread preferences, applied in order (`--placement-pref spread=node.labels.zone`). */
  placementPreferences?: PlacementPreference[]
  /** At most this many live tasks of the service on one node (`--replicas-max-per-node`); absent or 0: no limit. */
  maxReplicasPerNode?: number
  /** Bumped by `service update --force`: a changed value alone makes every task be replaced (swarmkit's ForceUpdate). */
  forceUpdate?: number
  /** Secrets mounted into each task (`--secret`), as files under /run/secrets (or their absolute target). */
  secrets?: FileReference[]
  /** Configs mounted into each task (`--config`), at their target path. */
  configs?: FileReference[]
}

export interface UpdateStatus {
  state: 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed'
  startedAt: number
  completedAt?: number
  message: string
}

export interface ServiceRecord {
  id: string
  spec: ServiceSpec
  /** The spec before the last update, for rollback. */
  previousSpec?: ServiceSpec
  /** Bumped on every spec change; tasks carry the version they were made from. */
  version: number
  createdAt: number
  updatedAt: number
  updateStatus?: UpdateStatus
  /** Virtual IP from the VIP range (10.78.0.0/16 by default) when the endpoint mode is vip, on the default network. */
  vip?: string
  /** A service on user networks: its VIP on each (from the network's reserved first slice), endpoint mode vip only. */
  virtualIps?: { network: string; addr: string }[]
}

/** Task lifecycle, in order (swarmkit). A task only moves forward. */
export const TASK_STATES = [
  'new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting', 'running',
  'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
] as const
export type TaskState = (typeof TASK_STATES)[number]

/** States at or past which a task has ended. */
export const TERMINAL_STATES: readonly TaskState[] = ['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']

export interface TaskStatus {
  state: TaskState
  /** Human text: "starting container", "pulling image 40%", the engine's error. */
  message: string
  err?: string
  timestamp: number
  /**
   * When the task first reached `running` (set by whoever records the agent's report; kept through later states).
   * The update monitor uses it: a task that ends less than `monitorMs` after this, or that never started, failed.
   */
  startedAt?: number
  containerId?: string
  exitCode?: number
  /** Docker healthcheck status while running, when the task has a healthcheck. */
  health?: 'healthy' | 'unhealthy' | 'starting'
}

export interface TaskRecord {
  id: string
  serviceId: string
  serviceName: string
  /** Replicated: 1..replicas. Global: 0 (one per node). */
  slot: number
  /** Empty until the scheduler assigns it. */
  nodeId: string
  /** The service version (spec) this task runs. */
  specVersion: number
  spec: ServiceSpec
  desiredState: 'running' | 'shutdown' | 'remove'
  status: TaskStatus
  /** Overlay address once the container runs (on its first network). */
  ip?: string
  /** The task's networks (absent: the default network only). */
  networks?: TaskNetworkAttachment[]
  createdAt: number
  updatedAt: number
}

export interface ClusterState {
  nodes: NodeRecord[]
  services: ServiceRecord[]
  tasks: TaskRecord[]
}

/** The label Docker (and mesh) put on every object of a stack: its namespace. */
export const STACK_LABEL = 'com.docker.stack.namespace'
