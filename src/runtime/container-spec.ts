import type Docker from 'dockerode'
import type { MountSpec, TaskRecord } from '../api/types.ts'
import type { FileBind } from './task-files.ts'

/**
 * A task → the Docker container that runs it (pure). Names follow Swarm: `<service>.<slot>.<taskid>`, or
 * `<service>.<nodeid>.<taskid>` for global services (slot 0). Without `hostname` in the spec the hostname is left to
 * Docker, which uses the first 12 characters of the container id, as Swarm tasks have; with it, its placeholders
 * (`{{.Node.Hostname}}-{{.Task.Slot}}`) are expanded for the task here.
 */

/** Container labels mesh writes and reads. `mesh.managed=true` marks every container the runner may touch. */
export const LABEL = {
  managed: 'mesh.managed',
  serviceId: 'mesh.service.id',
  serviceName: 'mesh.service.name',
  taskId: 'mesh.task.id',
  slot: 'mesh.task.slot',
  nodeId: 'mesh.node.id',
  version: 'mesh.service.version',
} as const

export function containerName(task: TaskRecord): string {
  const middle = 'global' in task.spec.mode || task.slot === 0 ? task.nodeId : String(task.slot)
  return `${task.serviceName}.${middle}.${task.id}`
}

/** What a task can know about itself (Swarm offers the same through `{{.Task.Name}}` templates). */
export function taskEnv(task: TaskRecord): string[] {
  return [`MESH_SERVICE_NAME=${task.serviceName}`, `MESH_TASK_NAME=${containerName(task)}`, `MESH_TASK_SLOT=${task.slot}`, `MESH_NODE_ID=${task.nodeId}`]
}

export function containerLabels(task: TaskRecord): Record<string, string> {
  return {
    [LABEL.managed]: 'true',
    [LABEL.serviceId]: task.serviceId,
    [LABEL.serviceName]: task.serviceName,
    [LABEL.taskId]: task.id,
    [LABEL.slot]: String(task.slot),
    [LABEL.nodeId]: task.nodeId,
    [LABEL.version]: String(task.specVersion),
  }
}

const NS_PER_MS = 1_000_000
const HEALTH_KINDS = new Set(['CMD', 'CMD-SHELL', 'NONE'])

/** Docker wants `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`; a bare argv gets `CMD` in front. */
export function healthTest(test: readonly string[]): string[] {
  return test.length > 0 && !HEALTH_KINDS.has(test[0] as string) ? ['CMD', ...test] : [...test]
}

/**
 * A spec hostname with Swarm's placeholders filled in for one task (src/api's HOSTNAME_PLACEHOLDERS; validation
 * refused any other). `nodeHostname`: the name of the node creating the container (its node id when unknown).
 */
export function taskHostname(template: string, task: TaskRecord, nodeHostname = ''): string {
  const values: Record<string, string> = {
    '.Service.Name': task.serviceName, '.Service.ID': task.serviceId, '.Task.Slot': String(task.slot), '.Task.ID': task.id,
    '.Node.Hostname': nodeHostname || task.nodeId, '.Node.ID': task.nodeId,
  }
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (whole, inner: string) => values[inner.replace(/\s/g, '')] ?? whole)
}

/**
 * A mount → the Engine API's HostConfig.Mounts entry. tmpfs: no source; TmpfsOptions when a size or mode is set
 * (the engine reads 0 as its default for either: no size limit, mode 1777).
 */
export function engineMount(m: MountSpec): Docker.MountSettings {
  if (m.type !== 'tmpfs') return { Type: m.type, Source: m.source, Target: m.target, ReadOnly: m.readOnly }
  const t = m.tmpfs
  const options = t && (t.sizeBytes !== undefined || t.mode !== undefined) ? { TmpfsOptions: { SizeBytes: t.sizeBytes ?? 0, Mode: t.mode ?? 0 } } : {}
  return { Type: 'tmpfs', Source: '', Target: m.target, ReadOnly: m.readOnly, ...options }
}

/**
 * The Docker networks a task's container joins, in order: its networks (TaskRecord.networks, set by the manager; each
 * is the node's Docker network of the same name), or `defaultNetwork` alone when it has none. The first one is the
 * container's NetworkMode (its default route).
 */
export function taskNetworks(task: TaskRecord, defaultNetwork: string): string[] {
  const names = (task.networks ?? []).map((n) => n.name)
  return names.length > 0 ? [...new Set(names)] : [defaultNetwork]
}

/** `docker stop -t` and StopTimeout are whole seconds: round the grace period up so it is never shortened. */
export function graceSeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000))
}

/**
 * The create request: on the task's first network (`network` is the default one; the others are connected next). Restart policy is always "no": a task that ends is replaced by the manager with a new task,
 * never restarted in place. Only host-mode ports are published here; ingress ports are the ingress subsystem's.
 * `dns`: the resolvers the container uses (Docker's embedded DNS forwards names it does not know to them).
 * `nodeHostname`: this node's name, for `{{.Node.Hostname}}` in a hostname template. `files`: the task's secret and
 * config files (task-files.ts), bound read-only at their targets — the engine sees their host paths, never a value.
 */
export function containerCreateOptions(task: TaskRecord, network: string, dns: readonly string[] = [], nodeHostname = '',
  files: readonly FileBind[] = []): Docker.ContainerCreateOptions {
  const s = task.spec
  const networks = taskNetworks(task, network)
  const hostPorts = s.ports.filter((p) => p.mode === 'host')
  const opts: Docker.ContainerCreateOptions = {
    name: containerName(task),
    Image: s.image,
    Env: [...taskEnv(task), ...s.env],
    Labels: containerLabels(task),
    StopTimeout: graceSeconds(s.stopGracePeriodMs),
    HostConfig: {
      RestartPolicy: { Name: 'no' },
      NetworkMode: networks[0] as string,
      ...(dns.length > 0 ? { Dns: [...dns] } : {}),
      Mounts: [...s.mounts.map(engineMount), ...files.map((f): Docker.MountSettings => ({ Type: 'bind', Source: f.source, Target: f.target, ReadOnly: true }))],
      ...(s.resources.limits.nanoCpus > 0 ? { NanoCpus: s.resources.limits.nanoCpus } : {}),
      ...(s.resources.limits.memoryBytes > 0 ? { Memory: s.resources.limits.memoryBytes } : {}),
      ...(hostPorts.length > 0 ? {
        PortBindings: Object.fromEntries(hostPorts.map((p) => [`${p.target}/${p.protocol}`, [{ HostPort: String(p.published) }]])),
      } : {}),
    },
    // The first network at create; the others are connected before start (docker-runtime.ts): an engine answering an
    // API version before 1.44 refuses several endpoints at create ("Container cannot be connected to network endpoints").
    NetworkingConfig: { EndpointsConfig: { [networks[0] as string]: {} } },
  }
  if (s.command) opts.Cmd = [...s.command]
  if (s.entrypoint && s.entrypoint.length > 0) opts.Entrypoint = [...s.entrypoint]
  if (s.hostname) opts.Hostname = taskHostname(s.hostname, task, nodeHostname)
  if (s.user) opts.User = s.user
  if (s.workdir) opts.WorkingDir = s.workdir
  if (hostPorts.length > 0) opts.ExposedPorts = Object.fromEntries(hostPorts.map((p) => [`${p.target}/${p.protocol}`, {}]))
  if (s.healthcheck) {
    const h = s.healthcheck
    opts.Healthcheck = {
      Test: healthTest(h.test),
      Interval: h.intervalMs * NS_PER_MS,
      Timeout: h.timeoutMs * NS_PER_MS,
      Retries: h.retries,
      StartPeriod: h.startPeriodMs * NS_PER_MS,
    }
  }
  return opts
}
