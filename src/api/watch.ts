import type { TaskRecord } from './types.ts'
import type { CatalogSnapshot } from './catalog.ts'
import type { DeliveredValue } from './secrets.ts'

/**
 * The manager's push stream to one node (`GET /v1/agent/watch`, NDJSON): each line is one `WatchMessage`, and
 * may carry any of its fields. Append-only: a field added here must be ignored by older agents.
 */

/** What the manager asks a node for (one line on its watch stream: `{logs: LogRequest}`). Append-only. */
export interface LogRequest {
  /** Request id (one per node and ask); the node uploads to `POST /v1/agent/logs/<id>`. */
  id: string
  taskIds: string[]
  /** Lines from the end of each task's log; -1 = all. */
  tail: number
  follow: boolean
  /** Only lines after this UNIX time, seconds (0 = from the start). */
  since: number
  timestamps: boolean
}

/** One log line a node uploads (NDJSON, one per line). */
export interface LogLine {
  task: string
  stream: 'stdout' | 'stderr'
  line: string
  /** RFC 3339 timestamp from the engine, when asked for. */
  ts?: string
}

/** A watch-stream line that concerns logs. */
export interface LogControl {
  logs?: LogRequest
  logsCancel?: string
}

/** One registered overlay member, as the manager pushes it (`{peers: OverlayPeer[]}`). Append-only. */
export interface OverlayPeer {
  nodeId: string
  hostname: string
  /** WireGuard public key, base64. */
  publicKey: string
  /** The overlay subnet registered for the node, e.g. 10.77.3.0/24. */
  subnet: string
}

/** One line of the watch stream. */
export interface WatchMessage extends LogControl {
  /** Every task assigned to this node (a full snapshot, not a delta). */
  tasks?: TaskRecord[]
  /** The cluster catalog (services → endpoints). */
  catalog?: CatalogSnapshot
  /** Every node's registered overlay key and subnet (a full list, sorted by hostname): who may be a WireGuard peer. */
  peers?: OverlayPeer[]
  /** The cluster roots to trust (two during a CA rotation) and the digest of the current one, which issues. */
  ca?: CaRoots
  /** The cluster's gossip keyring, sent when the stream opens and after each change. */
  gossipKeys?: GossipKeyring
  /** The secret values this node's assigned tasks use (full list each time it changes; absent: unchanged). */
  secrets?: DeliveredValue[]
  /** The config values this node's assigned tasks use (full list each time it changes; absent: unchanged). */
  configs?: DeliveredValue[]
  /**
   * Every manager of the cluster with its API address (nodes with role manager), sent when the stream opens and
   * whenever the list changes: where the node's link goes when its manager cannot be reached (src/worker).
   */
  managers?: ManagerAddress[]
}

/** One manager as the watch stream names it (`{managers: ManagerAddress[]}`). Append-only. */
export interface ManagerAddress {
  /** The manager's node id. */
  id: string
  /** Its API address: an IP address or a DNS name. */
  addr: string
  /** Its API port (7947 unless the cluster was started with another --api-port). */
  port: number
}

export interface CaRoots {
  roots: string[]
  digest: string
}

/** The cluster's gossip keyring (`{gossipKeys}` on the watch stream, `gossipKeys` in the join reply). Append-only. */
export interface GossipKeyring {
  /** Grows with every change; the agent acknowledges the version it applied (POST /v1/agent/gossip-keys). */
  version: number
  /** Base64 AES keys, primary first (encrypt with the first, decrypt with any). */
  keys: string[]
}

/** `GET /v1/gossip/keys` (`mesh key ls`): fingerprints, never keys. */
export interface GossipKeysView {
  encrypted: boolean
  version: number
  keys: { fingerprint: string; primary: boolean }[]
  /** When the last rotation finished, ms since the epoch. */
  rotatedAt: number
  /** Automatic rotation interval, ms (0 = off). */
  rotationIntervalMs: number
  /** The rotation under way: its step, the keyring version it waits for, the nodes (hostnames) that have not acknowledged it. */
  rotation: { phase: 'install' | 'use' | 'remove'; version: number; newKey: string; waitingFor: string[]; stalled: boolean } | null
}
