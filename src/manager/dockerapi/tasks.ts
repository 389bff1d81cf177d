import { DEFAULT_NETWORK } from '../../api/network.ts'
import type { ServiceRecord, TaskRecord } from '../../api/types.ts'
import type { NodeRecord } from '../../api/types.ts'
import { anyOf, checkValues, labelsMatch, type Filters } from './filters.ts'
import { swarmNetwork } from './networks.ts'
import { findNode } from './nodes.ts'
import { findService } from './services.ts'
import { dockerTime, findNetwork, withPrefix, type ObjectVersion, type ShapeContext } from './shape.ts'
import { taskSpec } from './task-template.ts'

/**
 * GET /tasks: mesh's task records as docker's swarm.Task (API 1.41). NetworksAttachments carry each address with its
 * network's prefix length (`10.80.0.5/16`): Prometheus's dockerswarm discovery builds its targets from them.
 */

export interface DockerTask {
  ID: string
  Version: ObjectVersion
  CreatedAt: string
  UpdatedAt: string
  Labels: Record<string, string>
  Spec: Record<string, unknown>
  ServiceID: string
  Slot?: number
  NodeID?: string
  Status: {
    Timestamp: string
    State: string
    Message: string
    Err?: string
    ContainerStatus?: { ContainerID: string; ExitCode?: number }
    PortStatus: { Ports?: Record<string, unknown>[] }
  }
  DesiredState: string
  NetworksAttachments?: { Network: Record<string, unknown>; Addresses: string[] }[]
}

function attachments(t: TaskRecord, c: ShapeContext): NonNullable<DockerTask['NetworksAttachments']> {
  const on = t.networks
    ? t.networks.map((a) => ({ net: findNetwork(c, a.network), ip: a.ip }))
    : [{ net: findNetwork(c, DEFAULT_NETWORK), ip: t.ip }]
  const out: NonNullable<DockerTask['NetworksAttachments']> = []
  for (const { net, ip } of on) {
    if (!net) continue
    out.push({ Network: swarmNetwork(net, c.revision), Addresses: ip ? [withPrefix(ip, net.subnet)] : [] })
  }
  return out
}

export function dockerTask(t: TaskRecord, c: ShapeContext): DockerTask {
  const s = t.status
  const hostPorts = t.spec.ports.filter((p) => p.mode === 'host')
  const out: DockerTask = {
    ID: t.id,
    Version: { Index: c.revision },
    CreatedAt: dockerTime(t.createdAt),
    UpdatedAt: dockerTime(t.updatedAt),
    Labels: {},
    Spec: taskSpec(t.spec, c),
    ServiceID: t.serviceId,
    Status: {
      Timestamp: dockerTime(s.timestamp),
      State: s.state,
      Message: s.message,
      ...(s.err ? { Err: s.err } : {}),
      ...(s.containerId ? { ContainerStatus: { ContainerID: s.containerId, ...(s.exitCode !== undefined ? { ExitCode: s.exitCode } : {}) } } : {}),
      PortStatus: s.state === 'running' && hostPorts.length > 0
        ? { Ports: hostPorts.map((p) => ({ Protocol: p.protocol, TargetPort: p.target, PublishedPort: p.published, PublishMode: 'host' })) }
        : {},
    },
    DesiredState: t.desiredState,
  }
  if (t.slot > 0) out.Slot = t.slot
  if (t.nodeId !== '') out.NodeID = t.nodeId
  const nets = attachments(t, c)
  if (nets.length > 0) out.NetworksAttachments = nets
  return out
}

/** A task's name as docker composes it: `web.1` (replicated), `web.<node id>` (global). */
export function taskName(t: TaskRecord): string {
  return `${t.serviceName}.${t.slot > 0 ? t.slot : t.nodeId}`
}

/**
 * The task filter for a list: id (prefix), name (prefix of `web.1`), service and node (name, id or unique prefix;
 * an unknown one is a 404 as dockerd's), desired-state (running, shutdown, accepted), label (the service's labels, as
 * swarmkit matches a task's ServiceAnnotations: `docker stack ps` filters on the stack namespace label).
 */
export function taskFilter(f: Filters, services: readonly ServiceRecord[], nodes: readonly NodeRecord[]): (t: TaskRecord) => boolean {
  checkValues(f, 'desired-state', ['running', 'shutdown', 'accepted', 'remove'])
  const serviceIds = f.has('service') ? new Set((f.get('service') ?? []).map((ref) => findService(services, ref).id)) : null
  const nodeIds = f.has('node') ? new Set((f.get('node') ?? []).map((ref) => findNode(nodes, ref).id)) : null
  return (t) => anyOf(f, 'id', (v) => t.id.startsWith(v)) &&
    anyOf(f, 'name', (v) => taskName(t).startsWith(v)) &&
    (serviceIds === null || serviceIds.has(t.serviceId)) &&
    (nodeIds === null || nodeIds.has(t.nodeId)) &&
    anyOf(f, 'desired-state', (v) => v === t.desiredState) &&
    labelsMatch(f, 'label', t.spec.labels)
}
