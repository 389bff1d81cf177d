import { join } from 'node:path'
import { ConfigError } from '../base/errors.ts'
import { StateFileError, readJsonState, writeFileAtomic } from '../base/state-file.ts'
import type { GossipKeyring } from '../api/watch.ts'

/**
 * The agent's copy of the cluster's gossip keyring: `<data-dir>/gossip-keys.json` (0600, written atomically), the
 * last keyring the manager gave this node (join reply or watch stream). A member restarting while no manager
 * answers gossips with it: the data plane never waits for the control plane.
 */
export const GOSSIP_KEYS_FILE = 'gossip-keys.json'

const KEY_BYTES = [16, 24, 32]

/** Why `v` is not a keyring `{version ≥ 1, keys: [base64 16/24/32-byte key, …]}`, or null. */
export function gossipKeyringProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'is not an object'
  const r = v as Partial<Record<keyof GossipKeyring, unknown>>
  if (typeof r.version !== 'number' || !Number.isSafeInteger(r.version) || r.version < 1) return 'has no version (a whole number ≥ 1)'
  if (!Array.isArray(r.keys) || r.keys.length === 0) return 'has no keys'
  for (const k of r.keys) {
    if (typeof k !== 'string' || k.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(k) || !KEY_BYTES.includes(Buffer.from(k, 'base64').length)) {
      return 'holds a key that is not 16, 24 or 32 bytes of base64'
    }
  }
  return null
}

/** The keys of a keyring as bytes, primary first. */
export function keyringBytes(r: GossipKeyring): Uint8Array[] {
  return r.keys.map((k) => Uint8Array.from(Buffer.from(k, 'base64')))
}

export function gossipKeysPath(dataDir: string): string {
  return join(dataDir, GOSSIP_KEYS_FILE)
}

/** The saved keyring, or null when there is none; StateFileError (one line naming the file) when it is broken. */
export function readSavedGossipKeys(dataDir: string): GossipKeyring | null {
  const path = gossipKeysPath(dataDir)
  const v = readJsonState(path)
  if (v === undefined) return null
  const problem = gossipKeyringProblem(v)
  if (problem) throw new StateFileError(path, problem)
  const r = v as GossipKeyring
  return { version: r.version, keys: [...r.keys] }
}

export function saveGossipKeys(dataDir: string, r: GossipKeyring): void {
  writeFileAtomic(gossipKeysPath(dataDir), `${JSON.stringify({ version: r.version, keys: r.keys })}\n`, 0o600)
}

/** Where this agent's gossip keys come from, in this order (agent/agent.ts decides before gossip starts). */
export type GossipKeySource =
  | { from: 'cluster'; keys: Uint8Array[]; version: number }
  | { from: 'saved'; keys: Uint8Array[]; version: number }
  | { from: 'flags'; keys: null }
  | { from: 'plaintext'; keys: null }

/**
 * The cluster's keyring (the manager's store, or the join reply) wins; then the one saved in gossip-keys.json; then
 * the keys given by --encrypt*, MESH_GOSSIP_KEY (`flags`: Gossip reads them from its config); then plaintext, only
 * when asked for (--gossip-plaintext). Nothing: ConfigError naming the ways out.
 */
export function chooseGossipKeys(o: { cluster: GossipKeyring | null; saved: GossipKeyring | null; configured: boolean; plaintext: boolean }): GossipKeySource {
  if (o.cluster) return { from: 'cluster', keys: keyringBytes(o.cluster), version: o.cluster.version }
  if (o.saved) return { from: 'saved', keys: keyringBytes(o.saved), version: o.saved.version }
  if (o.configured) return { from: 'flags', keys: null }
  if (o.plaintext) return { from: 'plaintext', keys: null }
  throw new ConfigError('gossip is encrypted and this node has no key: create a cluster (--init), join one (--join MANAGER with MESH_JOIN_TOKEN), ' +
    'give a key (--encrypt-file FILE or MESH_GOSSIP_KEY, as `serf keygen` makes), or pass --gossip-plaintext (unencrypted, for an unkeyed serf)')
}

/** What applying a keyring needs of gossip (src/gossip's Gossip plays it). */
export interface KeyringTarget {
  readonly encrypted: boolean
  applyKeys(keys: readonly Uint8Array[]): { installed: number; primaryChanged: boolean; removed: number }
}

/**
 * Apply a keyring the manager pushed to running gossip (install, then switch primary, then remove: Keyring.apply)
 * and save it. False when it could not be applied (plaintext gossip, a refused key): the manager gets no ack.
 */
export function applyClusterKeys(gossip: KeyringTarget, dataDir: string, r: GossipKeyring,
  log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void): boolean {
  if (!gossip.encrypted) {
    log('warn', 'the cluster pushed a gossip keyring but this node gossips in plaintext (--gossip-plaintext): restart it without that flag to use the keyring')
    return false
  }
  try {
    const changed = gossip.applyKeys(keyringBytes(r))
    saveGossipKeys(dataDir, r)
    if (changed.installed || changed.primaryChanged || changed.removed) log('info', 'gossip keyring applied', { version: r.version, ...changed })
    return true
  } catch (err) {
    log('error', 'gossip keyring from the manager could not be applied', { version: r.version, err: (err as Error).message })
    return false
  }
}
