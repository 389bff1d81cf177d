import { join } from 'node:path'
import { StateFileError, readJsonState, writeFileAtomic } from '../base/state-file.ts'
import type { SubnetPool } from './ipam.ts'
import { poolSubnet } from './tags.ts'

/**
 * The node's overlay lease, `<data-dir>/overlay.json` (`{range, subnet}`, mode 0600): the subnet it held, asked for
 * again after a restart. A lease of another range (the range changed) is no lease; a file that is not JSON or not a
 * lease throws StateFileError naming it, so the node never silently moves to another subnet.
 */
export const LEASE_FILE = 'overlay.json'

export function readLease(dataDir: string, range: string, pool: SubnetPool): string | null {
  const path = join(dataDir, LEASE_FILE)
  const lease = readJsonState(path)
  if (lease === undefined) return null
  if (typeof lease !== 'object' || lease === null || Array.isArray(lease)) throw new StateFileError(path, 'is not an overlay lease (want range and subnet)')
  const { range: r, subnet } = lease as { range?: unknown; subnet?: unknown }
  if (r !== range || typeof subnet !== 'string') return null
  return poolSubnet(subnet, pool)
}

export function writeLease(dataDir: string, range: string, subnet: string): void {
  writeFileAtomic(join(dataDir, LEASE_FILE), `${JSON.stringify({ range, subnet })}\n`, 0o600)
}
