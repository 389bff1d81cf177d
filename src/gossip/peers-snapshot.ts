import { join } from 'node:path'
import { realClock, type Clock, type TimerHandle } from '../base/clock.ts'
import { StateFileError, readJsonState, writeFileAtomic } from '../base/state-file.ts'
import type { SerfEvent } from './serf.ts'

/**
 * A node's memory of its cluster (serf's snapshot + rejoin): the addresses of the other live members are kept in
 * `<data-dir>/peers.json`, rewritten (debounced) as members come and go, so an agent restarted without `--join`
 * — after a crash, a reboot or a config change — joins them again instead of starting a cluster of one.
 */
export const PEERS_FILE = 'peers.json'

/** What the snapshot reads: `Gossip` fits. */
export interface PeersSource {
  members(): readonly { name: string; address: string; state: string }[]
  on(fn: (e: SerfEvent) => void): () => void
}

/**
 * Addresses saved by an earlier run (empty when there is no snapshot). A snapshot that is not JSON or not a list
 * throws StateFileError naming the file: the agent stops with one line rather than start a cluster of one.
 */
export function loadPeers(dataDir: string): string[] {
  const path = join(dataDir, PEERS_FILE)
  const v = readJsonState(path)
  if (v === undefined) return []
  if (!Array.isArray(v)) throw new StateFileError(path, 'is not a list of addresses')
  return v.filter((x): x is string => typeof x === 'string')
}

/** `loadPeers`, best effort: a missing, unreadable or corrupt snapshot reads as no peers. */
export function savedPeers(dataDir: string): string[] {
  try {
    return loadPeers(dataDir)
  } catch {
    return []
  }
}

/** Keep the snapshot current; returns a stop function that cancels a pending write. */
export function keepPeersSnapshot(gossip: PeersSource, dataDir: string, self: string, o: { debounceMs?: number; clock?: Clock } = {}): () => void {
  const clock = o.clock ?? realClock()
  let timer: TimerHandle | null = null
  let last = ''
  const write = () => {
    timer = null
    const addrs = gossip.members().filter((m) => m.name !== self && (m.state === 'alive' || m.state === 'suspect')).map((m) => m.address).sort()
    const text = JSON.stringify(addrs)
    if (text === last || addrs.length === 0) return // never forget the cluster because everyone else is gone for now
    last = text
    writeFileAtomic(join(dataDir, PEERS_FILE), `${text}\n`, 0o600)
  }
  const off = gossip.on((e) => {
    if ((e.type === 'join' || e.type === 'leave' || e.type === 'reap') && !timer) timer = clock.setTimeout(write, o.debounceMs ?? 1000)
  })
  return () => {
    off()
    clock.clearTimeout(timer)
  }
}
