import type http from 'node:http'
import type { Resources, TaskStatus } from '../api/types.ts'
import type { WatchMessage } from '../api/watch.ts'

/**
 * What the worker link needs from the network, as a role interface: join with a token, post a batch of task
 * reports, hold the watch stream open, open a log upload. `HttpManagerTransport` is the real adapter; tests use
 * an in-memory fake. Policy (retry, backoff, batching, what a status means) stays in the link.
 */
export interface JoinRequest {
  hostname: string
  addr: string
  resources: Resources
}

export interface JoinReply {
  nodeId: string
  credential: string
  role: string
  /** The cluster's gossip keyring (absent when the cluster gossips in plaintext). */
  gossipKeys?: unknown
}

export interface StatusUpdate {
  taskId: string
  status: TaskStatus
  ip?: string
}

/** An answer from the manager: the HTTP status, the body (null when not JSON), the error message or `HTTP <status>`. */
export interface ManagerReply<T> {
  status: number
  body: T | null
  message: string
}

export interface WatchHandlers {
  /** The manager accepted the stream (HTTP 200). */
  opened(): void
  /** One parsed line. */
  message(m: unknown): void
  /** A line that is not JSON. */
  badLine(): void
  /** The manager answered with another status; `closed` follows. */
  refused(status: number): void
  /** The stream is over: dropped, refused, or never connected. Called once. */
  closed(): void
}

export interface WatchStream {
  close(): void
}

export interface ManagerTransport {
  /** The manager's address as `HOST:PORT`, for messages and node.json. */
  readonly address: string
  /** `POST /v1/agent/join`. Throws a ConfigError when the manager cannot be reached. */
  join(token: string, req: JoinRequest): Promise<ManagerReply<JoinReply>>
  /** `POST /v1/agent/status`. Rejects when the manager cannot be reached. */
  postStatus(credential: string, updates: StatusUpdate[]): Promise<ManagerReply<unknown>>
  /** `POST /v1/agent/gossip-keys`: this node applied gossip keyring `version`. Rejects when the manager cannot be reached. */
  postGossipKeysAck(credential: string, version: number): Promise<ManagerReply<unknown>>
  /** `GET /v1/agent/watch`, NDJSON lines of `WatchMessage`. */
  watch(credential: string, h: WatchHandlers): WatchStream
  /** A streaming `POST <path>` with this node's credential (log uploads); the caller writes and ends it. */
  upload(credential: string, path: string): http.ClientRequest
}

export type { WatchMessage }
