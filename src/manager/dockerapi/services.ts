import { DEFAULT_NETWORK } from '../../api/network.ts'
import { isJobMode, modeFlag } from '../../api/mode.ts'
import type { ServiceMode, ServiceRecord, ServiceSpec, TaskRecord } from '../../api/types.ts'
import { anyOf, checkValues, labelsMatch, type Filters } from './filters.ts'
import { DockerApiError, dockerTime, findNetwork, labelsOf, withPrefix, type ObjectVersion, type ShapeContext } from './shape.ts'
import { taskSpec, updateConfig } from './task-template.ts'

/** GET /services and /services/{id}: mesh's service records as docker's swarm.Service (API 1.41). */

export interface DockerService {
  ID: string
  Version: ObjectVersion
  CreatedAt: string
  UpdatedAt: string
  Spec: Record<string, unknown>
  PreviousSpec?: Record<string, unknown>
  Endpoint: { Spec: Record<string, unknown>; Ports?: Record<string, unknown>[]; VirtualIPs?: { NetworkID: string; Addr: string }[] }
  UpdateStatus?: { State: string; StartedAt: string; CompletedAt?: string; Message: string }
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number; CompletedTasks: number }
}

function mode(m: ServiceMode): Record<string, unknown> {
  if ('replicated' in m) return { Replicated: { Replicas: m.replicated.replicas } }
  if ('replicatedJob' in m) return { ReplicatedJob: { MaxConcurrent: m.replicatedJob.maxConcurrent, TotalCompletions: m.replicatedJob.totalCompletions } }
  if ('globalJob' in m) return { GlobalJob: {} }
  return { Global: {} }
}

function ports(s: ServiceSpec): Record<string, unknown>[] {
  return s.ports.map((p) => ({ Protocol: p.protocol, TargetPort: p.target, PublishedPort: p.published, PublishMode: p.mode }))
}

function endpointSpec(s: ServiceSpec): Record<string, unknown> {
  return { Mode: s.endpointMode, ...(s.ports.length > 0 ? { Ports: ports(s) } : {}) }
}

/** A ServiceSpec as docker's (Spec and PreviousSpec). */
export function serviceSpec(s: ServiceSpec, c: ShapeContext): Record<string, unknown> {
  return {
    Name: s.name,
    Labels: labelsOf(s.labels),
    TaskTemplate: taskSpec(s, c),
    Mode: mode(s.mode),
    UpdateConfig: updateConfig(s.updateConfig),
    RollbackConfig: updateConfig(s.rollbackConfig),
    EndpointSpec: endpointSpec(s),
  }
}

/** The VIPs: on the default network (from the VIP range) and on each user network, with their prefix length. */
function virtualIps(r: ServiceRecord, c: ShapeContext): { NetworkID: string; Addr: string }[] {
  const out: { NetworkID: string; Addr: string }[] = []
  const dflt = findNetwork(c, DEFAULT_NETWORK)
  if (r.vip && dflt) out.push({ NetworkID: dflt.id, Addr: withPrefix(r.vip, c.vipRange) })
  // A VIP on a network that is gone (removed between reads) is left out: clients parse every Addr as a CIDR.
  for (const v of r.virtualIps ?? []) {
    const n = findNetwork(c, v.network)
    if (n) out.push({ NetworkID: n.id, Addr: withPrefix(v.addr, n.subnet) })
  }
  return out
}

/**
 * The ServiceStatus of `?status=true` (what `docker service ls` shows as REPLICAS): running tasks that should run;
 * desired = the replica count (replicated), the tasks that should run (global), for jobs also the completed ones.
 */
export function serviceStatus(r: ServiceRecord, tasks: readonly TaskRecord[]): NonNullable<DockerService['ServiceStatus']> {
  const mine = tasks.filter((t) => t.serviceId === r.id)
  const live = mine.filter((t) => t.desiredState === 'running')
  const m = r.spec.mode
  const desired = 'replicated' in m ? m.replicated.replicas : 'replicatedJob' in m ? Math.min(m.replicatedJob.maxConcurrent, m.replicatedJob.totalCompletions) : live.length
  return {
    RunningTasks: live.filter((t) => t.status.state === 'running').length,
    DesiredTasks: desired,
    CompletedTasks: isJobMode(m) ? mine.filter((t) => t.specVersion === r.version && t.status.state === 'complete').length : 0,
  }
}

export function dockerService(r: ServiceRecord, c: ShapeContext, tasks?: readonly TaskRecord[]): DockerService {
  const out: DockerService = {
    ID: r.id,
    Version: { Index: c.revision },
    CreatedAt: dockerTime(r.createdAt),
    UpdatedAt: dockerTime(r.updatedAt),
    Spec: serviceSpec(r.spec, c),
    Endpoint: { Spec: endpointSpec(r.spec) },
  }
  if (r.previousSpec) out.PreviousSpec = serviceSpec(r.previousSpec, c)
  if (r.spec.ports.length > 0) out.Endpoint.Ports = ports(r.spec)
  const vips = virtualIps(r, c)
  if (vips.length > 0) out.Endpoint.VirtualIPs = vips
  if (r.updateStatus) {
    const u = r.updateStatus
    out.UpdateStatus = { State: u.state, StartedAt: dockerTime(u.startedAt), ...(u.completedAt ? { CompletedAt: dockerTime(u.completedAt) } : {}), Message: u.message }
  }
  if (tasks) out.ServiceStatus = serviceStatus(r, tasks)
  return out
}

/** GET /services?filters=: id (prefix), name (prefix), label, mode (replicated, global, replicated-job, global-job). */
export function serviceMatches(r: ServiceRecord, f: Filters): boolean {
  checkValues(f, 'mode', ['replicated', 'global', 'replicated-job', 'global-job'])
  return anyOf(f, 'id', (v) => r.id.startsWith(v)) &&
    anyOf(f, 'name', (v) => r.spec.name.startsWith(v)) &&
    anyOf(f, 'mode', (v) => v === modeFlag(r.spec.mode)) &&
    labelsMatch(f, 'label', r.spec.labels)
}

/** A service by id, name or unique id prefix (dockerd: 404 `service X not found`). */
export function findService(services: readonly ServiceRecord[], ref: string): ServiceRecord {
  const exact = services.find((s) => s.id === ref) ?? services.find((s) => s.spec.name === ref)
  if (exact) return exact
  const byPrefix = ref === '' ? [] : services.filter((s) => s.id.startsWith(ref))
  if (byPrefix.length === 1) return byPrefix[0] as ServiceRecord
  if (byPrefix.length > 1) throw new DockerApiError(400, `service ${ref} is ambiguous (${byPrefix.length} matches found)`)
  throw new DockerApiError(404, `service ${ref} not found`)
}
