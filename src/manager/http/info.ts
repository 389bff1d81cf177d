import { certificateInfo } from '../../pki/index.ts'
import { API_VERSION, MESH_VERSION } from '../../api/version.ts'
import type { ClusterInfo } from '../../api/info.ts'
import type { Manager } from '../manager.ts'

/**
 * GET /v1/info's answer (`mesh info`, docker info's Swarm part): the cluster, its managers, nodes by state,
 * services, tasks by state, the overlay and VIP ranges, the published ports, the CA's expiry, whether gossip is
 * encrypted, the versions. Read from the committed store; no secret in it.
 */
export function clusterInfoView(m: Manager): ClusterInfo {
  const nodes = m.listNodes()
  const services = m.listServices()
  const tasks = m.listTasks()
  const count = <T>(items: readonly T[], key: (i: T) => string): Record<string, number> => {
    const out: Record<string, number> = {}
    for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1
    return out
  }
  const net = m.networkInfo()
  const self = net.selfId ? nodes.find((n) => n.id === net.selfId) : undefined
  return {
    ...m.clusterInfo(),
    nodes: nodes.length,
    services: services.length,
    managers: nodes.filter((n) => n.role === 'manager').map((n) => ({ id: n.id, hostname: n.hostname, addr: n.addr, state: n.state })),
    nodesByState: count(nodes, (n) => n.state),
    tasks: tasks.length,
    tasksByState: count(tasks.filter((t) => t.desiredState !== 'remove'), (t) => t.status.state),
    overlayRange: net.overlayRange,
    vipRange: net.vipRange,
    publishedPorts: services.flatMap((s) => s.spec.ports.map((p) => ({ service: s.spec.name, published: p.published, target: p.target, protocol: p.protocol, mode: p.mode })))
      .sort((a, b) => a.published - b.published),
    caExpiresAt: new Date(certificateInfo(m.ca.trust().current).notAfter).toISOString(),
    caRotating: m.ca.status().rotating,
    gossipEncrypted: m.gossipKeys.view().encrypted,
    self: self ? { id: self.id, hostname: self.hostname } : null,
    version: MESH_VERSION,
    apiVersion: API_VERSION,
  }
}
