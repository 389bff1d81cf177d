import type { NodeRecord, NodeRole, Resources } from '../api/types.ts'
import { RequestRefusedError } from './request-refused.ts'

/**
 * Who a node is (security review #2), decided on the store's node list, pure. A join token admits a NEW node whose
 * role is the token's; it never takes over a member's record (id, credential, role, tasks): a hostname that
 * belongs to a node that is not removed is refused until `mesh node rm`. The manager's own node is registered
 * in-process and keeps its record across manager restarts, but never takes a worker's.
 */

export interface JoiningNode {
  hostname: string
  addr: string
  resources: Resources
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/

/** A node name the manager accepts, or the refusal. */
export function checkNodeName(hostname: string): void {
  if (!NAME_RE.test(hostname)) throw new RequestRefusedError('MESH_ERR_INVALID', `node name "${hostname}" is not valid`)
}

/** The node record holding this hostname (by hostname only: a node id never matches a name). */
export function memberNamed(nodes: NodeRecord[], hostname: string): NodeRecord | undefined {
  return nodes.find((n) => n.hostname === hostname)
}

/** The record a join creates: always a new id, the token's role; refused when the hostname is a member. */
export function joinedNode(nodes: NodeRecord[], o: JoiningNode, role: NodeRole, id: string, now: number): NodeRecord {
  if (memberNamed(nodes, o.hostname)) {
    throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${o.hostname}" is already a member; remove it first with mesh node rm ${o.hostname}`)
  }
  return newNode(o, role, id, now)
}

/**
 * The manager node's record at a manager start: its own record (id, labels, availability kept) with this start's
 * address and resources when the hostname is a manager; a new manager node when the hostname is free; refused when
 * it belongs to a worker.
 */
export function selfNode(nodes: NodeRecord[], o: JoiningNode, id: string, now: number): NodeRecord {
  const old = memberNamed(nodes, o.hostname)
  if (!old) return newNode(o, 'manager', id, now)
  if (old.role !== 'manager') {
    throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${o.hostname}" is a worker of this cluster, so this manager cannot ` +
      `register under its name; remove it first with mesh node rm ${o.hostname}`)
  }
  return { ...old, addr: o.addr, state: 'ready', stateChangedAt: now, resources: o.resources, updatedAt: now }
}

function newNode(o: JoiningNode, role: NodeRole, id: string, now: number): NodeRecord {
  return {
    id, hostname: o.hostname, role, availability: 'active', labels: {}, addr: o.addr, state: 'ready',
    stateChangedAt: now, resources: o.resources, createdAt: now, updatedAt: now,
  }
}
