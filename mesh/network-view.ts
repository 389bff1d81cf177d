import { dockerNetwork, type NetworkRecord, type NetworkTaskAddress } from '../src/api/index.ts'
import { idPrefix, labelMatches } from './format/filter.ts'
import type { ListView } from './format/list.ts'

/**
 * `mesh network ls` and `inspect` as docker prints them (pure): NETWORK ID, NAME, DRIVER, SCOPE, docker's `--filter`
 * keys, and the inspect object docker's NetworkResource has, plus mesh's per-node slices and task addresses.
 */

export const NETWORK_FILTERS = ['driver', 'id', 'label', 'name', 'scope', 'type'] as const

const shortId = (id: string): string => id.slice(0, 12)

/** The default network `mesh` is built in (docker's `type=builtin`); every other one is `custom`. */
const isBuiltin = (n: NetworkRecord): boolean => n.vni === 0

export function networkList(items: readonly NetworkRecord[]): ListView<NetworkRecord> {
  return {
    items,
    columns: ['ID', 'Name', 'Driver', 'Scope'],
    headers: { ID: 'NETWORK ID' },
    fields: (n) => ({
      ID: shortId(n.id), Name: n.spec.name, Driver: n.spec.driver, Scope: 'swarm', IPv6: 'false', Internal: String(n.spec.internal),
      Labels: Object.entries(n.spec.labels).map(([k, v]) => `${k}=${v}`).join(','), CreatedAt: n.createdAt ? new Date(n.createdAt).toISOString() : '',
    }),
    filterValues: { driver: ['overlay'], scope: ['swarm', 'global', 'local'], type: ['custom', 'builtin'] },
    matchers: {
      driver: (n, v) => n.spec.driver === v,
      id: (n, v) => idPrefix(n.id, v),
      label: (n, v) => labelMatches(n.spec.labels, v),
      // docker: name matches a part of the name
      name: (n, v) => n.spec.name.includes(v),
      scope: (_n, v) => v === 'swarm',
      type: (n, v) => (v === 'builtin') === isBuiltin(n),
    },
  }
}

/** docker's `network inspect` object (src/api's NetworkResource), with `Slices` (each node's range) and `Tasks` (addresses on it) added. */
export function networkInspect(n: NetworkRecord & { tasks?: NetworkTaskAddress[] }, hosts: ReadonlyMap<string, string>): Record<string, unknown> {
  const host = (id: string) => hosts.get(id) ?? id
  const { tasks, ...record } = n
  return {
    ...dockerNetwork(record),
    Slices: Object.entries(n.slices).map(([nodeId, subnet]) => ({ Node: host(nodeId), NodeID: nodeId, Subnet: subnet }))
      .sort((a, b) => (a.Node < b.Node ? -1 : a.Node > b.Node ? 1 : 0)),
    Tasks: (tasks ?? []).map((t) => ({
      Name: `${t.serviceName}.${t.slot || host(t.nodeId)}`, TaskID: t.taskId, Node: host(t.nodeId), Address: t.ip,
    })),
  }
}
