import type http from 'node:http'
import type { NodeOverlay, Resources, TaskStatus } from '../api/types.ts'
import type { ManagerAddress, WatchMessage } from '../api/watch.ts'
import type { NodeTls } from './tls-files.ts'

/**
 * What the worker link needs from the network, as a role interface: fetch the cluster CA, join with a token and a
 * CSR over a connection pinned to that CA, renew the certificate, post a batch of task reports, hold the watch
 * stream open, register the overlay key and subnet, open a log upload — all but the first two with this node's
 * certificate (`setTls`). `HttpManagerTransport` is the real adapter; tests use
 * an in-memory fake. Policy (retry, backoff, batching, what a status means) stays in the link.
 */
export interface JoinRequest {
  hostname: string
  addr: string
  resources: Resources
  /** PEM PKCS#10 request for the key this node just made. */
  csr: string
}

export interface JoinReply {
  nodeId: string
  role: string
  /** Our certificate chain, PEM. */
  certificate: string
  /** The roots to trust, PEM each. */
  ca: string[]
  /** The cluster's gossip keyring (absent when the cluster gossips in plaintext). */
  gossipKeys?: unknown
  /**
   * Every manager and its API address, as the watch stream's `{managers}` line names them (absent from managers
   * before this field existed, and when the store names no manager). Unchecked here: the link checks it.
   */
  managers?: ManagerAddress[]
}

export interface RenewReply {
  certificate: string
  ca: string[]
}

export interface StatusUpdate {
  taskId: string
  status: TaskStatus
  ip?: string
  /** A task on networks: its address on each (network id), as the runtime reports it. */
  addresses?: { network: string; ip: string }[]
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
  /** `GET /v1/ca` without authenticating the server (the caller pins the answer by digest). ConfigError when unreachable. */
  fetchCa(): Promise<string>
  /** `POST /v1/agent/join` over TLS trusting only `caPem`. Throws a ConfigError when the manager cannot be reached. */
  join(token: string, caPem: string, req: JoinRequest): Promise<ManagerReply<JoinReply>>
  /** From now on, authenticate with this certificate and trust these roots. */
  setTls(tls: NodeTls): void
  /** `POST /v1/agent/renew`. Rejects when the manager cannot be reached. */
  renew(csr: string): Promise<ManagerReply<RenewReply>>
  /** `POST /v1/agent/status`. Rejects when the manager cannot be reached. */
  postStatus(updates: StatusUpdate[]): Promise<ManagerReply<unknown>>
  /** `PUT /v1/agent/overlay`: this node's WireGuard key and subnet. Rejects when the manager cannot be reached. */
  putOverlay(reg: NodeOverlay): Promise<ManagerReply<unknown>>
  /** `POST /v1/agent/gossip-keys`: this node applied gossip keyring `version`. Rejects when the manager cannot be reached. */
  postGossipKeysAck(version: number): Promise<ManagerReply<unknown>>
  /** The cluster's managers, pushed on the watch stream and checked by the link: a transport that fails over uses them. */
  useManagers?(list: readonly ManagerAddress[]): void
  /** `GET /v1/agent/watch`, NDJSON lines of `WatchMessage`. */
  watch(h: WatchHandlers): WatchStream
  /** A streaming `POST <path>` with this node's certificate (log uploads); the caller writes and ends it. */
  upload(path: string): http.ClientRequest
}

export type { WatchMessage }
