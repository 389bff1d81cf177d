import type { TaskRecord } from './types.ts'
import type { CatalogSnapshot } from './catalog.ts'

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
}

export interface CaRoots {
  roots: string[]
  digest: string
}
