import { isIP } from 'node:net'
import type { NodeRecord } from '../../api/types.ts'
import type { Manager } from '../manager.ts'

/**
 * The names a renewed certificate carries. This manager's own node: the API names it registered. Another manager
 * node (its certificate is its API's too, renewed through whichever manager its link reaches): its registered
 * address, loopback and localhost, as its own API certificate names them. A worker: none.
 */
export function renewNames(m: Manager, node: NodeRecord): { ipSans?: string[]; dnsSans?: string[] } {
  const own = m.selfNames(node)
  if (own.ipSans || own.dnsSans || node.role !== 'manager') return own
  const addr = isIP(node.addr) !== 0 ? [node.addr] : []
  return { ipSans: [...new Set([...addr, '127.0.0.1'])], dnsSans: ['localhost', ...(addr.length === 0 && node.addr ? [node.addr] : [])] }
}
