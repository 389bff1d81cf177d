import type { NodeRecord } from '../../api/types.ts'
import type { ManagerAddress } from '../../api/watch.ts'

/**
 * The `{managers}` line of every node's watch stream: each node with role manager and its API address (the node's
 * address and the API port; every manager of a cluster serves the API on the same port), sorted by hostname so the
 * line only changes when the managers do. Agents fail over along it (src/worker) and keep it in their data dir.
 * Empty when the store names no manager: the caller then sends nothing (an agent refuses an empty list anyway).
 */
export function managerAddresses(nodes: readonly NodeRecord[], apiPort: number): ManagerAddress[] {
  return nodes
    .filter((n) => n.role === 'manager' && n.addr !== '')
    .sort((a, b) => a.hostname.localeCompare(b.hostname, 'en', { numeric: true }) || a.id.localeCompare(b.id))
    .map((n) => ({ id: n.id, addr: n.addr, port: apiPort }))
}

/** The line itself, or '' when there is no manager to name. */
export function managersLine(nodes: readonly NodeRecord[], apiPort: number): string {
  const managers = managerAddresses(nodes, apiPort)
  return managers.length === 0 ? '' : JSON.stringify({ managers })
}
