import { STACK_LABEL, type ClusterState, type ServiceRecord, type TaskRecord } from '../api/types.ts'
import { isGlobalMode } from '../api/index.ts'
import type { CatalogNode, CatalogService, CatalogSnapshot, Endpoint, EndpointHealth } from '../api/catalog.ts'
import type { CatalogNetwork, NetworkRecord } from '../api/network.ts'
import { userNetworks } from '../api/network-spec.ts'

/**
 * The catalog snapshot for one manager store revision (pure). Endpoints are the tasks that have an address and are
 * running: `stopping` when their desired state is no longer running (being shut down, still serving), else
 * `running`. Services, endpoints and nodes come out in a stable order (name; slot then node; hostname), so two
 * builds of the same state are deep-equal and readers can compare snapshots cheaply.
 *
 * User networks (`networks`, absent from older callers) come out by name with their slices by node id; a service on
 * them lists each with its VIP there and its aliases, and each endpoint its address per network. A service or task
 * on the default network only carries none of these (as before networks existed).
 *
 * `epoch` is the store's epoch (epoch.ts): agents order snapshots by revision within one epoch only.
 */
export function buildCatalog(state: ClusterState, revision: number, networks: readonly NetworkRecord[] = [], epoch?: string): CatalogSnapshot {
  const hostnames = new Map<string, string>()
  for (const n of state.nodes) hostnames.set(n.id, n.hostname)
  const tasksByService = new Map<string, TaskRecord[]>()
  for (const t of state.tasks) {
    if (!t.ip || t.status.state !== 'running' || !t.nodeId) continue
    const list = tasksByService.get(t.serviceId)
    if (list) list.push(t)
    else tasksByService.set(t.serviceId, [t])
  }
  const byRef = new Map<string, NetworkRecord>()
  for (const n of networks) {
    byRef.set(n.spec.name, n)
    byRef.set(n.id, n)
  }
  const services = state.services
    .map((s) => catalogService(s, tasksByService.get(s.id) ?? [], hostnames, byRef))
    .sort((a, b) => cmp(a.name, b.name))
  const nodes: CatalogNode[] = state.nodes
    .map((n) => ({ id: n.id, hostname: n.hostname, addr: n.addr, state: n.state }))
    .sort((a, b) => cmp(a.hostname, b.hostname))
  const snap: CatalogSnapshot = { revision, ...(epoch !== undefined ? { epoch } : {}), services, nodes }
  if (networks.length > 0) snap.networks = networks.map(catalogNetwork).sort((a, b) => cmp(a.name, b.name))
  return snap
}

function catalogNetwork(n: NetworkRecord): CatalogNetwork {
  return {
    id: n.id, name: n.spec.name, subnet: n.subnet, encrypted: n.spec.encrypted, internal: n.spec.internal, attachable: n.spec.attachable, vni: n.vni,
    slices: Object.entries(n.slices).map(([nodeId, subnet]) => ({ nodeId, subnet })).sort((a, b) => cmp(a.nodeId, b.nodeId)),
  }
}

function catalogService(s: ServiceRecord, tasks: TaskRecord[], hostnames: Map<string, string>, networks: Map<string, NetworkRecord>): CatalogService {
  const name = s.spec.name
  const stack = s.spec.labels?.[STACK_LABEL]
  const shortName = stack && name.startsWith(`${stack}_`) ? name.slice(stack.length + 1) : name
  const global = isGlobalMode(s.spec.mode)
  const endpoints: Endpoint[] = tasks.map((t) => ({
    taskId: t.id,
    slot: global ? 0 : t.slot,
    taskName: global ? `${name}.${t.nodeId}` : `${name}.${t.slot}`,
    nodeId: t.nodeId,
    node: hostnames.get(t.nodeId) ?? t.nodeId,
    ip: t.ip as string,
    state: t.desiredState === 'running' ? 'running' : 'stopping',
    health: endpointHealth(t),
    ...(t.networks ? { addresses: t.networks.flatMap((a) => (a.ip ? [{ network: a.network, ip: a.ip }] : [])) } : {}),
  }))
  endpoints.sort((a, b) => a.slot - b.slot || cmp(a.nodeId, b.nodeId) || cmp(a.taskId, b.taskId))
  const out: CatalogService = {
    id: s.id,
    name,
    shortName,
    endpointMode: s.spec.endpointMode,
    ports: s.spec.ports.map((p) => ({ ...p })),
    stopGracePeriodMs: s.spec.stopGracePeriodMs,
    endpoints,
  }
  if (stack) out.stack = stack
  if (s.vip) out.vip = s.vip
  const on = userNetworks(s.spec)
  if (on.length > 0) {
    out.networks = on.flatMap((a) => {
      const n = networks.get(a.target)
      if (!n) return []
      const vip = s.virtualIps?.find((v) => v.network === n.id)?.addr
      return [{ network: n.id, ...(vip ? { vip } : {}), aliases: [...a.aliases] }]
    })
  }
  return out
}

function endpointHealth(t: TaskRecord): EndpointHealth {
  const h = t.status.health
  return h === 'healthy' || h === 'unhealthy' || h === 'starting' ? h : 'none'
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
