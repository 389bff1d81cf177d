import { isPoolSubnet, formatCidr, type Cidr } from '../base/cidr.ts'
import { isWireGuardKey } from '../base/values.ts'
import type { NodeOverlay, NodeRecord } from '../api/types.ts'
import type { OverlayPeer } from '../api/watch.ts'
import type { StoreTx } from './store.ts'
import { RequestRefusedError, invalid } from './request-refused.ts'

/**
 * Overlay membership (pure): which WireGuard key and subnet each node registered, checked here before the store
 * keeps them. Agents make a WireGuard peer and a route only of what this list holds (pushed as `{peers}` on the
 * watch stream), so a member that can merely gossip cannot claim a subnet or become a peer. A node registers for
 * itself only (the API passes the caller's identity, never one from the body); a subnet or key registered for
 * another node that is not removed is refused (409) until `mesh node rm` frees it.
 */

/** Where registered subnets must lie: the cluster's overlay range and the per-node subnet size. */
export interface OverlayPool {
  range: Cidr
  subnetPrefix: number
}


/** The registration a request body asks for, checked (key: canonical 32-byte base64; subnet: one of the pool's). */
export function checkOverlayRegistration(body: unknown, pool: OverlayPool): NodeOverlay {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('overlay registration must be {publicKey, subnet}')
  const { publicKey, subnet } = body as { publicKey?: unknown; subnet?: unknown }
  if (!isWireGuardKey(publicKey)) throw invalid(`overlay registration: publicKey ${short(publicKey)} is not a WireGuard key (32 bytes of base64)`)
  if (!isPoolSubnet(subnet, pool.range, pool.subnetPrefix)) {
    throw invalid(`overlay registration: subnet ${short(subnet)} is not a /${pool.subnetPrefix} of the overlay range ${formatCidr(pool.range)}`)
  }
  return { publicKey, subnet }
}

/**
 * Record `reg` for node `nodeId` inside a transaction: refused when the node is gone (404) or another node holds the
 * subnet or the key (409, one line naming it). Returns the node as stored; unchanged when it registered the same.
 */
export function recordOverlay(tx: StoreTx, nodeId: string, reg: NodeOverlay, now: number): NodeRecord {
  const node = tx.getNode(nodeId)
  if (!node || node.id !== nodeId) throw new RequestRefusedError('MESH_ERR_NOT_FOUND', `node ${nodeId} is not a member (removed?)`)
  for (const other of tx.listNodes()) {
    if (other.id === nodeId || !other.overlay) continue
    if (other.overlay.subnet === reg.subnet) {
      throw new RequestRefusedError('MESH_ERR_CONFLICT', `overlay subnet ${reg.subnet} is registered to node "${other.hostname}"; it is freed by mesh node rm ${other.hostname}`)
    }
    if (other.overlay.publicKey === reg.publicKey) {
      throw new RequestRefusedError('MESH_ERR_CONFLICT', `this WireGuard key is registered to node "${other.hostname}"; each node needs its own (remove wireguard.key from the copied data dir)`)
    }
  }
  if (node.overlay?.publicKey === reg.publicKey && node.overlay.subnet === reg.subnet) return node
  const next: NodeRecord = { ...node, overlay: { publicKey: reg.publicKey, subnet: reg.subnet }, updatedAt: now }
  tx.putNode(next)
  return next
}

/** Every registered node as the watch stream carries it, sorted by hostname (the nodes come sorted from the store). */
export function overlayPeers(nodes: readonly NodeRecord[]): OverlayPeer[] {
  const out: OverlayPeer[] = []
  for (const n of nodes) {
    if (n.overlay) out.push({ nodeId: n.id, hostname: n.hostname, publicKey: n.overlay.publicKey, subnet: n.overlay.subnet })
  }
  return out.sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0))
}

/** A value from a request, quoted and cut short for a one-line message. */
function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v)
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}
