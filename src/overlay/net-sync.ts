import type Docker from 'dockerode'
import type { CatalogSnapshot } from '../api/catalog.ts'
import { ensureNetwork, listClusterNetworks, removeNetworkIfUnused } from './docker-net.ts'
import { deleteRoute } from './links.ts'
import { planNetworks, sliceGateway, type NetworkPlan } from './net-plan.ts'
import { netRules, type DefaultNetworkFacts, type NetRules } from './net-rules.ts'
import type { NetOps } from './networks.ts'
import type { DesiredPeer } from './peers.ts'
import * as vx from './vxlan.ts'

/**
 * Glue between the overlay's peers and the catalog's networks (pure but for `systemNetOps`, the real NetOps):
 * which node id this node is, each peer's node id and underlay address, the plan, the peers with their slices
 * added to their allowed-ips, and the isolation rules for the firewall.
 */

export interface NetSync {
  plan: NetworkPlan
  /** The desired WireGuard peers with their networks' slices. */
  peers: DesiredPeer[]
  rules: NetRules
}

/**
 * `snap` null (no catalog yet) or without `networks` (an older manager): no networks, and the default network's
 * own isolation only. Peers are matched to catalog nodes by name.
 */
export function syncNetworks(o: {
  snap: CatalogSnapshot | null; self: string; peers: readonly DesiredPeer[]; tunnelMtu: number; underlayMtu: number
  default: DefaultNetworkFacts; reject?: (network: string, reason: string) => void
}): NetSync {
  const nodes = o.snap?.nodes ?? []
  const selfId = nodes.find((n) => n.hostname === o.self)?.id ?? ''
  const idOf = new Map(nodes.map((n) => [n.hostname, n.id]))
  const planPeers = o.peers.flatMap((p) => {
    const nodeId = idOf.get(p.node)
    const underlay = p.endpoint.replace(/:\d+$/, '')
    return nodeId ? [{ nodeId, node: p.node, underlay, gateway: sliceGateway(p.subnet) }] : []
  })
  const endpoints = (o.snap?.services ?? []).flatMap((s) => s.endpoints)
  const vips = (o.snap?.services ?? []).flatMap((s) => s.networks ?? [])
  const plan = planNetworks({
    selfId, networks: selfId ? o.snap?.networks ?? [] : [], peers: planPeers, tunnelMtu: o.tunnelMtu, underlayMtu: o.underlayMtu, endpoints, vips,
    selfGateway: o.default.gateway,
    ...(o.reject ? { reject: o.reject } : {}),
  })
  const peers = o.peers.map((p) => {
    const slices = plan.allowedIps.get(p.node)
    return slices && slices.length > 0 ? { ...p, slices: [...slices].sort() } : p
  })
  // Other nodes' hosts send from their default-network gateway (ingress, health checks) or a slice's.
  const gateways = [...plan.gateways, ...o.peers.map((p) => sliceGateway(p.subnet))]
  const rules = netRules({
    default: o.default, local: plan.local, ranges: plan.ranges, gateways, multiHomed: plan.multiHomed,
    vxlanPeers: plan.vxlanPeers, vxlanDevices: plan.vxlans.map((v) => v.name),
  })
  return { plan, peers, rules }
}

/** NetOps on this host: dockerd for the bridges, iproute2 for the rest. */
export function systemNetOps(docker: Docker): NetOps {
  return {
    listDockerNetworks: () => listClusterNetworks(docker),
    ensureDockerNetwork: (spec) => ensureNetwork(docker, spec),
    removeDockerNetwork: (name) => removeNetworkIfUnused(docker, name),
    enableProxyArp: vx.enableProxyArp,
    listVxlans: vx.listVxlans,
    ensureVxlan: vx.ensureVxlan,
    deleteVxlan: vx.deleteVxlan,
    fdb: vx.fdbEntries,
    replaceFdb: vx.replaceFdb,
    deleteFdb: vx.deleteFdb,
    neighbours: vx.neighbours,
    replaceNeighbour: vx.replaceNeighbour,
    deleteNeighbour: vx.deleteNeighbour,
    routes: vx.routesThrough,
    replaceRoute: vx.replaceOnlinkRoute,
    deleteRoute: (dst, dev) => deleteRoute(dst, dev),
    tableRoutes: vx.tableRoutes,
    replaceTableRoute: vx.replaceTableRoute,
    deleteTableRoute: vx.deleteTableRoute,
    rules: vx.vxlanRules,
    addRule: vx.addRule,
    deleteRule: vx.deleteRule,
  }
}
