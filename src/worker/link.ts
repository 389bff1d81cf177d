import type http from 'node:http'
import { ConfigError } from '../base/errors.ts'
import type { Clock, TimerHandle } from '../base/clock.ts'
import type { Resources, TaskRecord, TaskStatus } from '../api/types.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'
import type { GossipKeyring, LogControl, WatchMessage } from '../api/watch.ts'
import { gossipKeyringProblem } from './gossip-keys.ts'
import { hasIdentity, readIdentity, writeIdentity, type Identity } from './identity.ts'
import type { ManagerTransport, StatusUpdate, WatchStream } from './transport.ts'

/**
 * The agent's link to the manager: registers once with the join token (the credential it gets back is kept in
 * `<data-dir>/node.json`, 0600; a join the manager refuses because this hostname is already a member keeps the
 * node.json identity issued by that same manager, else fails with the manager's one line), then holds the
 * manager's push stream of this node's task assignments open (reconnecting with capped exponential backoff when the
 * manager restarts) and sends task state reports back in small batches (the latest report per task wins; a batch
 * the manager did not take is retried).
 */
export interface WorkerLinkOptions {
  transport: ManagerTransport
  clock: Clock
  dataDir: string
  hostname: string
  addr: string
  resources: Resources
  token?: string
  onAssignments(tasks: TaskRecord[]): void
  /** The cluster catalog (services → endpoints), pushed on the same stream. */
  onCatalog?(catalog: CatalogSnapshot): void
  /** `{logs}` / `{logsCancel}` requests from the manager (the runtime's LogShipper answers them through upload()). */
  onLogs?(m: LogControl): void
  /**
   * The cluster's gossip keyring (join reply, then `{gossipKeys}` on the stream; checked before it is handed on).
   * Return true once applied: the link then acknowledges its version to the manager.
   */
  onGossipKeys?(keys: GossipKeyring): boolean
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

/** Reports queued within this window go in one POST. */
export const STATUS_BATCH_MS = 50
/** After a POST the manager did not take, the batch is sent again this much later. */
export const STATUS_RETRY_MS = 1000

/** Delay before reconnect attempt `attempt` (1, 2, …): 250 ms doubling, at most 5 s. */
export function watchBackoffMs(attempt: number): number {
  return Math.min(5000, 250 * 2 ** Math.min(Math.max(0, attempt - 1), 5))
}

export class WorkerLink {
  readonly #o: WorkerLinkOptions
  #id: Identity | null = null
  #stream: WatchStream | null = null
  /** Identifies the current watch attempt, so a late `closed` of an older stream schedules nothing. */
  #attempt: object | null = null
  #stopped = false
  #pending = new Map<string, StatusUpdate>()
  #flushTimer: TimerHandle | null = null
  #retryTimer: TimerHandle | null = null
  #connected = false

  constructor(o: WorkerLinkOptions) {
    this.#o = o
  }

  get nodeId(): string | null {
    return this.#id?.nodeId ?? null
  }

  get connected(): boolean {
    return this.#connected
  }

  /** Load our identity, or join with the token. Throws a one-line error when neither works. */
  async register(): Promise<Identity> {
    const { dataDir, transport, token } = this.#o
    if (hasIdentity(dataDir) && !token) {
      this.#id = readIdentity(dataDir)
      return this.#id
    }
    if (!token) throw new ConfigError('this node has not joined a cluster: pass --token TOKEN (see `mesh token show worker` on a manager) or --init')
    const r = await transport.join(token, { hostname: this.#o.hostname, addr: this.#o.addr, resources: this.#o.resources })
    if (r.status === 409) {
      // This hostname is already a member. Restarted with the same --token: keep the identity this node holds for
      // that manager. Otherwise (node.json lost, or another node's name) the manager's line says what to do.
      const kept = hasIdentity(dataDir) ? readIdentity(dataDir) : null
      if (kept && kept.manager === transport.address) {
        this.#id = kept
        this.#o.log('info', 'already a member of this cluster: kept the identity in node.json (--token is not needed)', { node: this.#o.hostname })
        return kept
      }
      throw new ConfigError(r.message)
    }
    if (r.status !== 200 || !r.body) throw new ConfigError(`joining the manager at ${transport.address} failed: ${r.message}`)
    this.#id = { nodeId: r.body.nodeId, credential: r.body.credential, role: r.body.role, manager: transport.address }
    writeIdentity(dataDir, this.#id)
    if (r.body.gossipKeys !== undefined) this.#gossipKeys(r.body.gossipKeys, false)
    this.#o.log('info', 'joined the cluster', { node: this.#o.hostname, role: r.body.role, manager: transport.address })
    return this.#id
  }

  /** Use an identity issued in-process (the manager node registering itself). */
  useIdentity(id: Identity): void {
    this.#id = id
  }

  start(): void {
    this.#watch(0)
  }

  stop(): void {
    this.#stopped = true
    const s = this.#stream
    this.#stream = null
    this.#attempt = null
    s?.close()
    this.#o.clock.clearTimeout(this.#retryTimer)
    this.#o.clock.clearTimeout(this.#flushTimer)
  }

  /** Queue a task report; the latest status per task wins within a batch. */
  report(taskId: string, status: TaskStatus & { ip?: string }): void {
    const { ip, ...st } = status
    this.#pending.set(taskId, { taskId, status: st, ...(ip ? { ip } : {}) })
    if (!this.#flushTimer) this.#flushTimer = this.#o.clock.setTimeout(() => void this.#flush(), STATUS_BATCH_MS)
  }

  /** A streaming request to the manager with this node's credential (log uploads); the caller writes and ends it. */
  upload(path: string): http.ClientRequest {
    return this.#o.transport.upload(this.#id?.credential ?? '', path)
  }

  async #flush(): Promise<void> {
    this.#flushTimer = null
    if (!this.#id || this.#pending.size === 0) return
    const updates = [...this.#pending.values()]
    this.#pending.clear()
    try {
      const r = await this.#o.transport.postStatus(this.#id.credential, updates)
      if (r.status >= 500) throw new Error(r.message)
    } catch (err) {
      // Keep what failed (newer reports for the same task win) and retry.
      for (const u of updates) if (!this.#pending.has(u.taskId)) this.#pending.set(u.taskId, u)
      if (!this.#stopped && !this.#flushTimer) this.#flushTimer = this.#o.clock.setTimeout(() => void this.#flush(), STATUS_RETRY_MS)
      this.#o.log('debug', 'task report failed; will retry', { err: (err as Error).message })
    }
  }

  #watch(attempt: number): void {
    if (this.#stopped || !this.#id) return
    let current = attempt
    const token = {}
    this.#attempt = token
    const stream = this.#o.transport.watch(this.#id.credential, {
      opened: () => {
        this.#connected = true
        if (current > 0) this.#o.log('info', 'reconnected to the manager')
        current = 0
      },
      refused: (status) => this.#o.log('error', 'manager refused the assignment stream', { status }),
      badLine: () => this.#o.log('warn', 'bad line on the assignment stream'),
      message: (m) => this.#deliver(m),
      closed: () => {
        if (this.#stopped || this.#attempt !== token) return
        this.#attempt = null
        this.#stream = null
        this.#connected = false
        this.#retryTimer = this.#o.clock.setTimeout(() => this.#watch(current + 1), watchBackoffMs(current + 1))
      },
    })
    if (this.#attempt === token) this.#stream = stream
  }

  #deliver(raw: unknown): void {
    try {
      if (typeof raw !== 'object' || raw === null) throw new Error('not an object')
      const msg = raw as WatchMessage
      if (msg.tasks) this.#o.onAssignments(msg.tasks)
      if (msg.catalog) this.#o.onCatalog?.(msg.catalog)
      if (msg.logs || msg.logsCancel) this.#o.onLogs?.(msg)
      if (msg.gossipKeys !== undefined) this.#gossipKeys(msg.gossipKeys, true)
    } catch {
      this.#o.log('warn', 'bad line on the assignment stream')
    }
  }

  /** Check a keyring from the manager, hand it on, and acknowledge its version once applied. */
  #gossipKeys(raw: unknown, ack: boolean): void {
    const problem = gossipKeyringProblem(raw)
    if (problem) return this.#o.log('warn', `gossip keyring from the manager refused: it ${problem}`)
    const keys = raw as GossipKeyring
    if (!this.#o.onGossipKeys?.(keys) || !ack || !this.#id) return
    this.#o.transport.postGossipKeysAck(this.#id.credential, keys.version)
      .then((r) => { if (r.status !== 200) throw new Error(r.message) })
      .catch((err: Error) => this.#o.log('warn', 'gossip keyring acknowledgement failed (sent again when the stream reopens)', { version: keys.version, err: err.message }))
  }
}
