/**
 * The managers as one manager sees them, pure: which leads, which are reachable (docker's ManagerStatus), the
 * quorum line a refused write answers, and whether a read may be stale. The inputs are the store's view of the
 * nodes, the Leadership's last observed leader and the last ManagerHealth probe (undefined on SQLite, or before
 * the first probe): nothing here waits on the network.
 */
import type { ManagerStatus, NodeRecord } from '../api/types.ts'
import type { ManagerHealth } from './leadership.ts'

/** `ADDR:PORT`, an IPv6 address in brackets. */
export function hostPort(addr: string, port: number): string {
  return `${addr.includes(':') ? `[${addr}]` : addr}:${port}`
}

/**
 * A manager node's status; undefined for a worker. Reachable: its node is ready in the store's view and, when its
 * consensus member is listed (a managed etcd member is named by the node id), that member answered the last probe.
 * A manager whose node is not a member (an external etcd) is judged by its node alone.
 */
export function managerStatusOf(n: NodeRecord, o: { leader: string | undefined; health: ManagerHealth | undefined; apiPort: number }): ManagerStatus | undefined {
  if (n.role !== 'manager') return undefined
  const member = o.health?.members.includes(n.id) === true
  const up = n.state === 'ready' && (!member || o.health?.reachable.includes(n.id) === true)
  const leader = n.id === o.leader
  return { leader, reachability: up || leader ? 'reachable' : 'unreachable', addr: hostPort(n.addr, o.apiPort) }
}

/**
 * How many managers are reachable out of how many: the consensus membership as last probed, else (no probe yet)
 * the manager nodes of the store's view and how many of them are ready.
 */
export function quorumCounts(nodes: readonly NodeRecord[], health: ManagerHealth | undefined): { reachable: number; total: number } {
  if (health && health.members.length > 0) return { reachable: health.reachable.filter((m) => health.members.includes(m)).length, total: health.members.length }
  const managers = nodes.filter((n) => n.role === 'manager')
  return { reachable: managers.filter((n) => n.state === 'ready').length, total: managers.length }
}

/** The one line a write refused for lack of quorum answers: `no quorum: 1 of 3 managers reachable`. */
export function noQuorumLine(c: { reachable: number; total: number }): string {
  return `no quorum: ${c.reachable} of ${c.total} manager${c.total === 1 ? '' : 's'} reachable`
}

/**
 * Whether this manager's view may lag the store: the last probe found no quorum, or no leader is known. Without a
 * probe (a single manager on SQLite) the view is the store itself and never stale.
 */
export function mayBeStale(health: ManagerHealth | undefined, leader: string | undefined, probed: boolean): boolean {
  if (!probed) return false
  return (health !== undefined && !health.quorum) || leader === undefined
}
