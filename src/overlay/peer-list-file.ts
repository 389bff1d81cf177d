import { join } from 'node:path'
import type { OverlayPeer } from '../api/index.ts'
import { StateFileError, readJsonState, writeFileAtomic } from '../base/state-file.ts'
import { checkPeerList } from './authorised.ts'
import type { SubnetPool } from './ipam.ts'

/**
 * `<data-dir>/overlay-peers.json` (`{peers: [...]}`, mode 0600, written atomically): the manager's last list of
 * registered overlay members on a cluster node, read at start so a restart without a reachable manager keeps its
 * peers (the data plane never waits for the control plane). Entries are checked again on reading (authorised.ts).
 */

/** The last list the manager pushed, kept so a restart without a reachable manager keeps its peers (0600). */
export const PEERS_FILE = 'overlay-peers.json'

/** The kept list (checked like a pushed one), or null when there is none; StateFileError naming the file when it is not one. */
export function readPeerList(dataDir: string, pool: SubnetPool): OverlayPeer[] | null {
  const path = join(dataDir, PEERS_FILE)
  const kept = readJsonState(path)
  if (kept === undefined) return null
  const peers = (kept as { peers?: unknown } | null)?.peers
  if (typeof kept !== 'object' || kept === null || !Array.isArray(peers)) throw new StateFileError(path, 'is not an overlay peer list (want {"peers": [...]})')
  return checkPeerList(peers, pool)
}

export function writePeerList(dataDir: string, peers: readonly OverlayPeer[]): void {
  writeFileAtomic(join(dataDir, PEERS_FILE), `${JSON.stringify({ peers })}\n`, 0o600)
}
