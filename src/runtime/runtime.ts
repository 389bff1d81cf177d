import type { TaskRecord, TaskStatus } from '../api/types.ts'
import type { FileBind } from './task-files.ts'

/**
 * The role interface between the task runner and a container engine (swarmkit's executor, reduced to what mesh
 * uses). `DockerRuntime` implements it with dockerode; tests use an in-memory fake. Every method is idempotent where
 * the engine allows it: stopping a stopped container and removing a missing one succeed.
 */

/** Docker's container states (`State.Status`). */
export type ContainerState = 'created' | 'restarting' | 'running' | 'removing' | 'paused' | 'exited' | 'dead'

/** Docker's healthcheck states, for containers that have a healthcheck. */
export type HealthState = 'starting' | 'healthy' | 'unhealthy'

/** One mesh-managed container as `list()` sees it. */
export interface ContainerInfo {
  id: string
  /** Without Docker's leading slash. */
  name: string
  /** The `mesh.task.id` label; '' when absent (such containers are never touched). */
  taskId: string
  state: ContainerState
  labels: Record<string, string>
}

/** One container as `inspect()` sees it. */
export interface ContainerStatus {
  id: string
  name: string
  state: ContainerState
  /** Exit code of the last run (0 while running). */
  exitCode: number
  /** The engine's error when the process could not be started ('' otherwise). */
  error: string
  oomKilled: boolean
  /** Present only when the container has a healthcheck. */
  health?: HealthState
  /** IPv4 address per attached network name. */
  ips: Record<string, string>
}

/** A container event that changes what the runner reports. */
export interface RuntimeEvent {
  action: 'start' | 'die' | 'health_status'
  containerId: string
  /** The container's `mesh.task.id` label ('' when absent). */
  taskId: string
  exitCode?: number
  health?: HealthState
}

/** Registry credentials, sent as X-Registry-Auth on pulls (what `docker service create --with-registry-auth` forwards). */
export interface RegistryAuth {
  username: string
  password: string
  /** Registry host as in the image reference, e.g. `registry:5000`; Docker Hub is `https://index.docker.io/v1/`. */
  serveraddress: string
  email?: string
}

export interface PullOptions {
  auth?: RegistryAuth
  /** Aborts a pull in progress (runner stopping, task no longer wanted). */
  signal?: AbortSignal
}

export interface EventSubscription {
  close(): void
}

export interface ContainerRuntime {
  /** Every container labelled `mesh.managed=true`, running or not. */
  list(): Promise<ContainerInfo[]>
  /** Make `ref` present: inspect, else pull it, calling `onProgress(0..100)` while pulling. Rejects with the engine's text. */
  ensureImage(ref: string, onProgress: (pct: number) => void, o?: PullOptions): Promise<'present' | 'pulled'>
  /**
   * Create (not start) the task's container attached to `network`, with `files` (its secrets and configs,
   * task-files.ts) bind-mounted read-only; returns the container id.
   */
  create(task: TaskRecord, network: string, files?: readonly FileBind[]): Promise<string>
  start(id: string): Promise<void>
  /** SIGTERM, then SIGKILL after `graceMs` (default: the container's own StopTimeout). A stopped or missing container is fine. */
  stop(id: string, graceMs?: number): Promise<void>
  /** Remove with anonymous volumes (named volumes stay). A missing container is fine. */
  remove(id: string, force: boolean): Promise<void>
  /** null when the container does not exist. */
  inspect(id: string): Promise<ContainerStatus | null>
  /** The container's last non-empty log line (stdout or stderr), if any. */
  lastLogLine(id: string): Promise<string | undefined>
  /**
   * Subscribe to start/die/health_status events of mesh-managed containers. Resolves once the stream is open (so a
   * `list()` made afterwards misses nothing); `onEnd` is called once if the stream ends or fails.
   */
  events(onEvent: (e: RuntimeEvent) => void, onEnd: (err?: Error) => void): Promise<EventSubscription>
}

/** What the runner reports for a task: a TaskStatus plus the container's overlay IP and health when known. */
export interface TaskReport extends TaskStatus {
  /** IPv4 on the task's first network, once running. */
  ip?: string
  /** A task on networks (TaskRecord.networks): its address on each, by network id, once running. */
  addresses?: { network: string; ip: string }[]
  /** Docker healthcheck state, for running tasks whose service has a healthcheck. */
  health?: HealthState
}

export type ReportFn = (taskId: string, status: TaskReport) => void
