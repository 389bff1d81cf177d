import { imageWithoutDigest, modeName, type NodeRecord, type NodeView, type ServiceSpec, type TaskRecord } from '../src/api/index.ts'
import { desiredStateMatches, idPrefix, labelMatches } from './format/filter.ts'
import type { ListView } from './format/list.ts'
import { replicasColumn, type ServiceView } from './service-mode.ts'
import { formatAgo } from './table.ts'

/**
 * The lists the CLI prints, as docker's formatters name their fields (`{{.ID}}`, `{{.Name}}`, `{{.DesiredState}}`)
 * and docker's `--filter` keys, pure: `service ls` / `stack services`, `service ps` / `node ps` / `stack ps`,
 * `node ls`. The commands fetch, these describe, mesh/format/list.ts prints.
 */

export type { ServiceView } from './service-mode.ts'

export const shortId = (id: string): string => id.slice(0, 12)

export const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/** docker's MODE column: replicated, global, replicated job, global job. */
export const modeOf = (spec: ServiceSpec): string => modeName(spec.mode)

/** The number of tasks the service asks for (replicated: its replicas; otherwise what the manager counts). */
export function targetOf(s: ServiceView): number {
  return 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired
}

export function portsOf(spec: ServiceSpec, onlyHost = false): string {
  return spec.ports.filter((p) => !onlyHost || p.mode === 'host')
    .map((p) => `*:${p.published}->${p.target}/${p.protocol}${p.mode === 'host' && !onlyHost ? ' (host)' : ''}`).join(', ')
}

export const SERVICE_FILTERS = ['id', 'label', 'mode', 'name'] as const

/** `service ls` and `stack services`: ID NAME MODE REPLICAS IMAGE PORTS. */
export function serviceList(items: readonly ServiceView[]): ListView<ServiceView> {
  return {
    items,
    columns: ['ID', 'Name', 'Mode', 'Replicas', 'Image', 'Ports'],
    fields: (s) => ({
      ID: shortId(s.id), Name: s.spec.name, Mode: modeOf(s.spec), Replicas: replicasColumn(s, targetOf(s)), Image: imageWithoutDigest(s.spec.image), Ports: portsOf(s.spec),
    }),
    filterValues: { mode: ['replicated', 'global', 'replicated-job', 'global-job'] },
    matchers: {
      id: (s, v) => idPrefix(s.id, v),
      label: (s, v) => labelMatches(s.spec.labels, v),
      // docker: mode=replicated|global (and the job modes, as `replicated-job` / `global-job`)
      mode: (s, v) => modeOf(s.spec).replace(' ', '-') === v.toLowerCase(),
      name: (s, v) => s.spec.name.startsWith(v),
    },
  }
}

export const TASK_FILTERS = ['id', 'name', 'node', 'desired-state'] as const

export interface TaskListOptions {
  /** Node id → hostname. */
  hosts: ReadonlyMap<string, string>
  /** Wall clock for "Running 3s ago". */
  now: number
}

/** A task's name as docker shows it: `web.2` (replicated) or `web.node2` (global). */
export function taskName(t: TaskRecord, hosts: ReadonlyMap<string, string>): string {
  return `${t.serviceName}.${t.slot || hosts.get(t.nodeId) || shortId(t.nodeId)}`
}

/** `service ps`, `node ps`, `stack ps`: ID NAME IMAGE NODE DESIRED STATE CURRENT STATE ERROR [PORTS]. */
export function taskList(tasks: readonly TaskRecord[], o: TaskListOptions): ListView<TaskRecord> {
  const slotOf = (t: TaskRecord) => String(t.slot || t.nodeId)
  // by service, then slot (global: node), newest first: older tasks of a slot show under it as ` \_ web.2` (docker)
  const sorted = [...tasks].sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : 0) ||
    a.slot - b.slot || slotOf(a).localeCompare(slotOf(b)) || b.createdAt - a.createdAt)
  const fields = (t: TaskRecord): Record<string, string> => ({
    ID: shortId(t.id),
    Name: taskName(t, o.hosts),
    Image: imageWithoutDigest(t.spec.image),
    Node: o.hosts.get(t.nodeId) ?? '',
    DesiredState: cap(t.desiredState),
    CurrentState: `${cap(t.status.state)} ${formatAgo(Math.max(0, o.now - t.status.timestamp))}${t.status.state === 'preparing' && t.status.message ? ` (${t.status.message})` : ''}`,
    Error: t.status.err ?? (['rejected', 'failed', 'pending'].includes(t.status.state) ? t.status.message : ''),
    Ports: portsOf(t.spec, true),
  })
  const columns = ['ID', 'Name', 'Image', 'Node', 'DesiredState', 'CurrentState', 'Error'] as const
  return {
    items: sorted,
    columns,
    fields,
    tableRows: (items) => {
      let prev = ''
      return items.map((t) => {
        const f = fields(t)
        const older = f.Name === prev
        prev = f.Name as string
        return columns.map((c) => (c === 'Name' && older ? ` \\_ ${f.Name}` : f[c] ?? ''))
      })
    },
    filterValues: { 'desired-state': ['running', 'shutdown', 'accepted'] },
    matchers: {
      id: (t, v) => idPrefix(t.id, v),
      name: (t, v) => taskName(t, o.hosts).startsWith(v),
      node: (t, v) => t.nodeId === v || o.hosts.get(t.nodeId) === v || (v.length > 0 && idPrefix(t.nodeId, v) && t.nodeId !== ''),
      'desired-state': (t, v) => desiredStateMatches(t.desiredState, v),
    },
  }
}

export const NODE_FILTERS = ['id', 'label', 'membership', 'name', 'node.label', 'role'] as const

const nodeStatus = (n: NodeRecord): string => (n.state === 'ready' ? 'Ready' : n.state === 'down' ? 'Down' : 'Unknown')

/** docker's MANAGER STATUS: `Leader`, `Reachable` or `Unreachable` for a manager, empty for a worker. */
export function managerStatusText(n: NodeView): string {
  const s = n.managerStatus
  if (!s) return ''
  return s.leader ? 'Leader' : s.reachability === 'reachable' ? 'Reachable' : 'Unreachable'
}

/**
 * `node ls`: ID HOSTNAME STATUS AVAILABILITY MANAGER STATUS ROLE ADDRESS LABELS, as docker with full node IDs and the
 * manager's own node (`selfId`, docker's self) marked `ID *` in the table and `.Self` = true.
 */
export function nodeList(items: readonly NodeView[], selfId?: string): ListView<NodeView> {
  const columns = ['ID', 'Hostname', 'Status', 'Availability', 'ManagerStatus', 'Role', 'Address', 'Labels'] as const
  const fields = (n: NodeView): Record<string, string> => ({
    ID: n.id, Hostname: n.hostname, Status: nodeStatus(n), Availability: cap(n.availability), ManagerStatus: managerStatusText(n),
    Role: cap(n.role), Address: n.addr, Labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(','),
    Self: String(n.id === selfId),
  })
  return {
    items,
    columns,
    fields,
    tableRows: (list) => list.map((n) => {
      const f = fields(n)
      return columns.map((c) => (c === 'ID' && n.id === selfId ? `${n.id} *` : f[c] ?? ''))
    }),
    filterValues: { membership: ['accepted', 'pending'], role: ['manager', 'worker'] },
    matchers: {
      id: (n, v) => idPrefix(n.id, v),
      // docker: `label` is the engine's labels, `node.label` the node's; mesh nodes have one set of labels
      label: (n, v) => labelMatches(n.labels, v),
      // every node the manager lists has been accepted (mesh has no pending membership)
      membership: (_n, v) => v.toLowerCase() === 'accepted',
      name: (n, v) => n.hostname.startsWith(v),
      'node.label': (n, v) => labelMatches(n.labels, v),
      role: (n, v) => n.role === v.toLowerCase(),
    },
  }
}
