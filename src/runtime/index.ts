/**
 * src/runtime — runs the tasks the manager assigns to this node on the local Docker engine (swarmkit's executor:
 * prepare = pull + create, start, wait, shutdown, remove).
 *
 * What it does: `TaskRunner` takes the node's full list of assigned tasks (`setAssignments`, pushed by the manager
 * whenever it changes), compares it with the engine's mesh containers (`planContainers`, pure), and drives a
 * `ContainerRuntime` (`DockerRuntime`, dockerode) to match: pull and create and start what should run, stop and
 * remove what should not. Every status change goes to an injected `report(taskId, status)` callback, in order:
 * preparing ("pulling image N%") → starting → running (container id, IP on the task network, health) → complete |
 * failed ("task: non-zero exit (N)") | rejected (the engine's own error text) | shutdown. Engine events
 * (start, die, health_status) drive the reports; nothing polls.
 *
 * Images: a task's image pinned to a digest (`nginx:latest@sha256:…`, the manager's doing) is used when the engine
 * has that digest, else pulled by digest; a tag is pulled only when missing. `registryResolver` (registry-resolve.ts)
 * is the manager node's way to learn a tag's digest: the Registry API v2 directly, plain HTTP only where the engine's
 * `insecure-registries` allow it.
 *
 * Secrets and configs (task-files.ts): the values the manager sends for this node's tasks stay in memory; before a
 * task's container is created its files are written to a tmpfs of its own under the run dir (never the data dir)
 * and bound read-only at their targets; a task whose value has not arrived waits ("waiting: secret … has not
 * reached this node yet"); the files go when the task no longer needs them, and at start for tasks no longer here.
 *
 * Who calls it: the agent, on every node, with the overlay's Docker network name; the manager feeds it.
 * `LogShipper` is the node's half of `mesh service logs`: asked on the watch stream, it reads task containers' logs
 * from the engine (one `LogDemuxer` for Docker's framed log stream, shared with the runner's last-log-line) and
 * uploads them to the manager.
 *
 * Invariants: only containers labelled `mesh.managed=true` with a `mesh.task.id` are ever touched; nothing is
 * created or removed before the first setAssignments (until then an adoptable container and an orphan look the
 * same); one operation at a time per task, at most `concurrency` tasks at once; a task's reports only move forward;
 * after a restart, containers of still-assigned tasks are adopted (inspected and reported), never recreated.
 *
 * Never: restart a container (restart policy "no"; a replacement is the manager's new task); stop or remove
 * containers in `stop()` (an agent restart must not take its tasks down); touch containers, images, volumes or
 * networks it did not label; retry a rejected or failed task.
 */
export { TaskRunner, type TaskRunnerOptions, type Log } from './task-runner.ts'
export { TaskFiles, type FileBind, type TaskFileStore, type TaskFilesOptions } from './task-files.ts'
export { ExecTmpfs, type Tmpfs } from './tmpfs.ts'
export { DockerRuntime, byDigest, type DockerRuntimeOptions } from './docker-runtime.ts'
export {
  credentialsFor, insecureRegistryCheck, registryLocation, registryResolver, resolveImageDigest,
  type EngineRegistryConfig, type RegistryFetch, type RegistryResolverOptions, type ResolveOptions,
} from './registry-resolve.ts'
export { planContainers, isTerminal, type ContainerAction, type RemoveReason } from './plan.ts'
export { LABEL, containerName, containerLabels, containerCreateOptions } from './container-spec.ts'
export { PullProgress, type PullEvent } from './pull-progress.ts'
export { EngineError, RegistryError, TaskFilesError } from './errors.ts'
export { LogShipper, engineLogPath, splitTimestamp, type LogShipperOptions } from './log-shipper.ts'
export { LogDemuxer, type DemuxedLine, type LogStream } from './log-demux.ts'
export type {
  ContainerRuntime, ContainerInfo, ContainerState, ContainerStatus, HealthState, RuntimeEvent, RegistryAuth, PullOptions,
  EventSubscription, TaskReport, ReportFn,
} from './runtime.ts'
