import type { CatalogNetwork } from '../api/network.ts'
import type { Endpoint } from '../api/catalog.ts'
import { cidrContains, intToIpv4, ipv4ToInt, parseCidr } from '../base/cidr.ts'
import { isIpv4, isIpv4Cidr } from '../base/values.ts'

/**
 * What this node's side of the cluster's networks should be (pure): from the catalog's networks (each with its
 * per-node slices) and the peers this node trusts, the Docker bridge networks to have here, the VXLAN devices with
 * their forwarding entries, the extra WireGuard allowed-ips and routes, and the facts the isolation rules need.
 *
 * Data path per network X and peer P holding a slice of X:
 *  - X encrypted: P's slice rides WireGuard (route into the tunnel, P's allowed-ips hold it).
 *  - X unencrypted: kernel VXLAN (device `mvx-<vni>`, UDP 4789): route P's slice via P's gateway on the device
 *    (onlink), a permanent neighbour entry for that gateway and an FDB entry sending its MAC to P's underlay address.
 *    MACs are derived from the gateway address (0a:58:<4 bytes>), so nothing is exchanged. The routes' source is this
 *    node's gateway on X, or — on a node with no slice of X, where only the host sends (ingress, health checks) — its
 *    default-network gateway (`selfGateway`, 10.77.N.1): a *host-only* device.
 *  - Replies to a host-only node: a node with a slice of X routes every peer's default-network gateway over X's
 *    device too, but only for packets from its slice of X (policy routing: `from <slice> lookup <table of X>`, a
 *    table per network, `VXLAN_TABLE_BASE + vni`), so X's tasks answer a host over VXLAN while every other network
 *    (encrypted ones above all) still reaches those gateways through WireGuard. Both ways ride VXLAN: symmetric.
 * Every peer's allowed-ips hold all its slices (encrypted or not), so a reply that comes back through the tunnel is
 * accepted; which path a packet takes is decided by the routes alone.
 * Values from the catalog are checked here (a bad network is skipped and reported, never allowed to stop the batch).
 */

/** Largest VXLAN network identifier (24 bits). */
export const MAX_VNI = 16_777_215
/** VXLAN over IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50
/** Linux bridge of network X on a node: `mbr-<vni>` (≤ 12 characters; the kernel allows 15). */
export const BRIDGE_PREFIX = 'mbr-'
/** VXLAN device of network X on a node: `mvx-<vni>`. */
export const VXLAN_PREFIX = 'mvx-'
/** Routing table of an unencrypted network's host routes: this + its VNI (above the kernel's 253-255, below 2^32). */
export const VXLAN_TABLE_BASE = 1_000_000_000
/** Priority of the `from <slice> lookup <table>` rules (before the main table's 32766). */
export const VXLAN_RULE_PREF = 1000

export interface PlanPeer {
  nodeId: string
  /** Gossip name (the WireGuard peer's node). */
  node: string
  /** Underlay address (VXLAN destination). */
  underlay: string
  /** Its default-network gateway (10.77.N.1): the source of its host's traffic to networks it has no slice of. */
  gateway?: string
}

/** A network with a slice on this node: a Docker bridge network of the same name. */
export interface LocalNetwork {
  id: string
  name: string
  vni: number
  /** The whole network range (the containers' on-link prefix). */
  subnet: string
  /** This node's slice: the Docker network's ip-range. */
  slice: string
  /** The slice's first address, on the bridge. */
  gateway: string
  bridge: string
  internal: boolean
  encrypted: boolean
  mtu: number
}

/** One peer's slice of an unencrypted network, reached over the VXLAN device. */
export interface VxlanNeighbour {
  slice: string
  gateway: string
  mac: string
  underlay: string
}

export interface VxlanDevice {
  name: string
  vni: number
  mac: string
  mtu: number
  /** This node's gateway on the network, or its default-network gateway when host-only: the source of the routes. */
  gateway: string
  /** No slice of the network here: only the host sends through the device (no table, no rule). */
  hostOnly: boolean
  neighbours: VxlanNeighbour[]
  /**
   * With a slice here: every peer's default-network gateway (as a /32 in `slice`'s table), so that replies from this
   * node's tasks of the network to a peer's host go back over VXLAN. Empty when host-only.
   */
  hosts: VxlanNeighbour[]
  /** Routing table of `hosts` (VXLAN_TABLE_BASE + vni). */
  table: number
  /** This node's slice (the `from` of the rule), or null when host-only. */
  slice: string | null
}

export interface NetworkPlan {
  local: LocalNetwork[]
  vxlans: VxlanDevice[]
  /** node (gossip name) → its slices to add to its WireGuard allowed-ips. */
  allowedIps: Map<string, string[]>
  /** Destinations to route into the tunnel besides the peers' default-network subnets. */
  tunnelRoutes: string[]
  /**
   * The VIPs (as /32) of networks with a slice here: containers see the whole range on-link and ask for a VIP by ARP;
   * proxy ARP answers only for an address routed through another device, so each VIP is routed into the tunnel (the
   * VIP rules translate it before that route is used; a VIP with no task to translate to ends there).
   */
  vipRoutes: string[]
  /** Every network range of the cluster but the default one (what a task of another network must not reach). */
  ranges: string[]
  /** Every slice's gateway (host addresses: nodes may reach every network). */
  gateways: string[]
  /** Local tasks on several networks: (address, a range of another of its networks) pairs. */
  multiHomed: { ip: string; range: string }[]
  /** Underlay addresses VXLAN (UDP 4789) is accepted from. */
  vxlanPeers: string[]
}

export interface PlanInput {
  selfId: string
  networks: readonly CatalogNetwork[]
  peers: readonly PlanPeer[]
  /** MTU inside WireGuard (the default network's). */
  tunnelMtu: number
  underlayMtu: number
  /** This node's default-network gateway: the source of host traffic to unencrypted networks without a slice here. */
  selfGateway?: string
  /** Endpoints of tasks on this node (for multi-homed tasks). */
  endpoints?: readonly Pick<Endpoint, 'nodeId' | 'addresses'>[]
  /** Services' VIPs per network (CatalogService.networks). */
  vips?: readonly { network: string; vip?: string }[]
  reject?: (network: string, reason: string) => void
}

/** The MAC a node's VXLAN device has on a network: 0a:58 and the bytes of its gateway address there. */
export function gatewayMac(gateway: string): string {
  return ['0a', '58', ...gateway.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':')
}

/** First address of a slice (its gateway). */
export function sliceGateway(slice: string): string {
  return intToIpv4(parseCidr(slice, 'slice').network + 1)
}

/** Why a catalog network cannot be used, or null. */
export function checkNetwork(n: CatalogNetwork): string | null {
  if (typeof n.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(n.name)) return `name ${JSON.stringify(n.name)} is not a network name`
  if (!isIpv4Cidr(n.subnet)) return `subnet ${JSON.stringify(n.subnet)} is not an IPv4 network`
  if (!Number.isInteger(n.vni) || n.vni < 1 || n.vni > MAX_VNI) return `VNI ${JSON.stringify(n.vni)} is not 1-${MAX_VNI}`
  const range = parseCidr(n.subnet)
  for (const s of n.slices ?? []) {
    if (!isIpv4Cidr(s.subnet)) return `slice ${JSON.stringify(s.subnet)} is not an IPv4 network`
    const c = parseCidr(s.subnet)
    if (c.prefix < range.prefix || c.prefix > 30 || !cidrContains(range, c.network)) return `slice ${s.subnet} is not inside ${n.subnet}`
  }
  return null
}

export function planNetworks(i: PlanInput): NetworkPlan {
  const plan: NetworkPlan = { local: [], vxlans: [], allowedIps: new Map(), tunnelRoutes: [], vipRoutes: [], ranges: [], gateways: [], multiHomed: [], vxlanPeers: [] }
  const byId = new Map(i.peers.map((p) => [p.nodeId, p]))
  const vxlanPeers = new Set<string>()
  const rangeOf = new Map<string, string>()
  for (const n of [...i.networks].sort((a, b) => a.name.localeCompare(b.name))) {
    const why = checkNetwork(n)
    if (why) {
      i.reject?.(String(n.name), why)
      continue
    }
    rangeOf.set(n.id, n.subnet)
    plan.ranges.push(n.subnet)
    const mine = n.slices.find((s) => s.nodeId === i.selfId)
    const selfGateway = i.selfGateway !== undefined && isIpv4(i.selfGateway) ? i.selfGateway : undefined
    const viaVxlan = !n.encrypted && (mine !== undefined || selfGateway !== undefined)
    const mtu = n.encrypted ? i.tunnelMtu : i.underlayMtu - VXLAN_OVERHEAD
    const neighbours: VxlanNeighbour[] = []
    for (const s of n.slices) {
      plan.gateways.push(sliceGateway(s.subnet))
      if (s.nodeId === i.selfId) continue
      const peer = byId.get(s.nodeId)
      if (!peer) continue
      const list = plan.allowedIps.get(peer.node) ?? []
      list.push(s.subnet)
      plan.allowedIps.set(peer.node, list)
      if (viaVxlan && isIpv4(peer.underlay)) {
        const gw = sliceGateway(s.subnet)
        neighbours.push({ slice: s.subnet, gateway: gw, mac: gatewayMac(gw), underlay: peer.underlay })
        vxlanPeers.add(peer.underlay)
      } else {
        plan.tunnelRoutes.push(s.subnet)
      }
    }
    const table = VXLAN_TABLE_BASE + n.vni
    if (!mine) {
      if (viaVxlan && neighbours.length > 0 && selfGateway) {
        plan.vxlans.push({ name: `${VXLAN_PREFIX}${n.vni}`, vni: n.vni, mac: gatewayMac(selfGateway), mtu, gateway: selfGateway, hostOnly: true, neighbours, hosts: [], table, slice: null })
      }
      continue
    }
    const gateway = sliceGateway(mine.subnet)
    const local: LocalNetwork = {
      id: n.id, name: n.name, vni: n.vni, subnet: n.subnet, slice: mine.subnet, gateway, bridge: `${BRIDGE_PREFIX}${n.vni}`,
      internal: n.internal, encrypted: n.encrypted, mtu,
    }
    plan.local.push(local)
    if (viaVxlan) {
      const hosts: VxlanNeighbour[] = []
      for (const p of i.peers) {
        if (!p.gateway || !isIpv4(p.gateway) || !isIpv4(p.underlay) || p.nodeId === i.selfId) continue
        hosts.push({ slice: `${p.gateway}/32`, gateway: p.gateway, mac: gatewayMac(p.gateway), underlay: p.underlay })
        vxlanPeers.add(p.underlay)
      }
      hosts.sort((a, b) => (ipv4ToInt(a.gateway) ?? 0) - (ipv4ToInt(b.gateway) ?? 0))
      plan.vxlans.push({ name: `${VXLAN_PREFIX}${n.vni}`, vni: n.vni, mac: gatewayMac(gateway), mtu, gateway, hostOnly: false, neighbours, hosts, table, slice: mine.subnet })
    }
  }
  for (const e of i.endpoints ?? []) {
    if (e.nodeId !== i.selfId || !e.addresses || e.addresses.length < 2) continue
    for (const a of e.addresses) {
      for (const other of e.addresses) {
        const range = rangeOf.get(other.network)
        if (other.network !== a.network && range && isIpv4(a.ip)) plan.multiHomed.push({ ip: a.ip, range })
      }
    }
  }
  const localIds = new Set(plan.local.map((n) => n.id))
  const vips = new Set<string>()
  for (const v of i.vips ?? []) {
    const range = rangeOf.get(v.network)
    if (v.vip && isIpv4(v.vip) && localIds.has(v.network) && range && cidrContains(parseCidr(range), ipv4ToInt(v.vip) as number)) vips.add(`${v.vip}/32`)
  }
  plan.vipRoutes = [...vips].sort()
  plan.vxlanPeers = [...vxlanPeers].sort((a, b) => (ipv4ToInt(a) ?? 0) - (ipv4ToInt(b) ?? 0))
  plan.tunnelRoutes.sort()
  return plan
}
