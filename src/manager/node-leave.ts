import { TERMINAL_STATES, type NodeRecord } from '../api/types.ts'
import type { StoreTx } from './store.ts'
import { RequestRefusedError } from './request-refused.ts'

/**
 * A node leaves the cluster on its own (`mesh leave` → POST /v1/agent/leave), as `docker swarm leave` (pure, inside
 * one store transaction):
 * - the record stays, `down` from now (`mesh node ls` shows it until `mesh node rm`, as docker does);
 * - its overlay registration is revoked: the `{peers}` list every watch stream carries drops it, so each peer removes
 *   its WireGuard peer and route at once, and its subnet and key are free for another node;
 * - its tasks are orphaned now (desired shutdown), so the orchestrator's next pass replaces them instead of waiting
 *   out the down-node grace period. Tasks already ended keep their status.
 * A manager's own node does not leave this way: its agent removes the cluster's state itself (`mesh leave --force`).
 */
export function recordLeave(tx: StoreTx, nodeId: string, now: number): NodeRecord {
  const node = tx.getNode(nodeId)
  if (!node || node.id !== nodeId) throw new RequestRefusedError('MESH_ERR_NOT_FOUND', `node ${nodeId} is not a member (removed?)`)
  if (node.role === 'manager') {
    throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${node.hostname}" is a manager: it leaves with mesh leave --force on itself, which removes the cluster's state`)
  }
  const { overlay: _, ...rest } = node
  const left: NodeRecord = { ...rest, state: 'down', stateChangedAt: node.state === 'down' ? node.stateChangedAt : now, updatedAt: now }
  tx.putNode(left)
  for (const t of tx.listTasks({ nodeId })) {
    if (t.desiredState !== 'running' && TERMINAL_STATES.includes(t.status.state)) continue
    const status = TERMINAL_STATES.includes(t.status.state) ? t.status : { state: 'orphaned' as const, message: 'node left the cluster', timestamp: now }
    tx.putTask({ ...t, desiredState: t.desiredState === 'remove' ? 'remove' : 'shutdown', status, updatedAt: now })
  }
  return left
}
