import type { OverlayPeer } from '../api/index.ts'
import { hasControlChars } from '../base/values.ts'
import type { SubnetPool } from './ipam.ts'
import type { DesiredPeer, PeerRejection } from './peers.ts'
import type { PeerClaim } from './subnet-claim.ts'
import { poolSubnet } from './tags.ts'
import { isKey } from './wg-keys.ts'

/**
 * Overlay membership decided by the manager (pure; the list is kept by peer-list-file.ts). On an agent that belongs to a
 * cluster, the manager pushes every node's registered WireGuard key and subnet (`{peers}`); a gossip member becomes a
 * peer (and gets a route) only when its name, key and subnet are exactly a registered entry. Gossip still supplies
 * the endpoint (underlay address and port, checked in peers.ts) and liveness. A bare agent (no cluster) has no list
 * and keeps gossip-only peers: there the gossip key is the only trust.
 */

/** The manager's list as this node keeps it, checked: entries that are not a name, a key and a pool subnet are dropped. */
export function checkPeerList(raw: unknown, pool: SubnetPool, report?: (problem: string) => void): OverlayPeer[] {
  if (!Array.isArray(raw)) {
    report?.('the peer list is not a list')
    return []
  }
  const out: OverlayPeer[] = []
  for (const e of raw as unknown[]) {
    const p = (e ?? {}) as Partial<Record<keyof OverlayPeer, unknown>>
    const name = typeof p.hostname === 'string' && p.hostname !== '' && !hasControlChars(p.hostname) ? p.hostname : null
    if (!name) report?.(`entry ${JSON.stringify(e)?.slice(0, 80)}: no node name`)
    else if (!isKey(p.publicKey)) report?.(`node ${JSON.stringify(name)}: key is not 32 bytes of base64`)
    else if (typeof p.subnet !== 'string' || poolSubnet(p.subnet, pool) === null) report?.(`node ${JSON.stringify(name)}: subnet is not a /${pool.subnetPrefix} of the overlay range`)
    else out.push({ nodeId: typeof p.nodeId === 'string' ? p.nodeId : '', hostname: name, publicKey: p.publicKey, subnet: p.subnet })
  }
  return out
}

/**
 * The gossip-planned peers the manager's list authorises: same name, same key, same subnet. The others are reported
 * through `reject` (and skipped), so an unregistered member, or a registered one gossiping another key or subnet,
 * never becomes a peer or a route.
 */
export function authorisedPeers(desired: readonly DesiredPeer[], registered: readonly OverlayPeer[], reject?: (r: PeerRejection) => void): DesiredPeer[] {
  const byName = new Map(registered.map((r) => [r.hostname, r]))
  const out: DesiredPeer[] = []
  for (const d of desired) {
    const r = byName.get(d.node)
    if (!r) reject?.({ node: d.node, reason: 'not registered with the manager' })
    else if (r.publicKey !== d.publicKey) reject?.({ node: d.node, reason: 'gossip key differs from the key registered with the manager' })
    else if (r.subnet !== d.subnet) reject?.({ node: d.node, reason: `gossip subnet ${d.subnet} differs from the registered ${r.subnet}` })
    else out.push(d)
  }
  return out
}

/**
 * Registered subnets of other nodes, as registered held claims: a node choosing a subnet never picks one the manager
 * gave away, and a node holding one (claimed before the list reached it) gives it up and moves.
 */
export function registeredClaims(registered: readonly OverlayPeer[], self: string): PeerClaim[] {
  return registered.filter((r) => r.hostname !== self).map((r) => ({ node: r.hostname, subnet: r.subnet, held: true, registered: true }))
}
