import type http from 'node:http'
import { ConfigError } from '../base/errors.ts'
import type { Clock, TimerHandle } from '../base/clock.ts'
import type { NodeOverlay, Resources, TaskRecord, TaskStatus } from '../api/types.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'
import type { DeliveredValue } from '../api/secrets.ts'
import type { GossipKeyring, LogControl, ManagerAddress, OverlayPeer, WatchMessage } from '../api/watch.ts'
import { gossipKeyringProblem } from './gossip-keys.ts'
import { managerAddress, managerList, managerListProblem, saveManagers } from './managers.ts'
import { hasIdentity, readIdentity, writeIdentity, type Identity } from './identity.ts'
import type { ManagerTransport, StatusUpdate, WatchStream } from './transport.ts'
import { CertificateKeeper } from './certificates.ts'
import { createNodeKeyAndCsr, fetchAndPinCa, parseJoinToken } from '../pki/index.ts'
import { readNodeTls, writeNodeTls, type NodeTls } from './tls-files.ts'

/**
 * The agent's link to the manager: registers once with the join token — fetches the cluster CA, checks it against
 * the digest the token pins BEFORE sending anything, then sends the token and a CSR for a key made here over TLS
 * trusting only that CA (the certificate it gets back is kept in `<data-dir>/tls/`, the node id in node.json; a
 * join the manager refuses because this hostname is already a member keeps the identity issued by that same
 * manager, else fails with the manager's one line) — renews its certificate at two thirds of its life and when a
 * CA rotation changes the roots (certificates.ts), then holds the
 * manager's push stream of this node's task assignments open (reconnecting with capped exponential backoff when the
 * manager restarts) and sends task state reports back in small batches (the latest report per task wins; a batch
 * the manager did not take is retried). It registers this node's overlay key and subnet with the manager
 * (`registerOverlay`, retried until the manager takes it) and hands on the registered list the manager pushes.
 */
export interface WorkerLinkOptions {
  transport: ManagerTransport
  clock: Clock
  dataDir: string
  hostname: string
  addr: string
  resources: Resources
  token?: string
  /** Wall-clock milliseconds (certificate validity). Default Date.now. */
  wallNow?: () => number
  /** This node's TLS material changed (joined, renewed, new roots): the manager node reloads its API server. */
  onTls?(tls: NodeTls): void
  onAssignments(tasks: TaskRecord[]): void
  /** The cluster catalog (services → endpoints), pushed on the same stream. */
  onCatalog?(catalog: CatalogSnapshot): void
  /** `{logs}` / `{logsCancel}` requests from the manager (the runtime's LogShipper answers them through upload()). */
  onLogs?(m: LogControl): void
  /** Every node's registered overlay key and subnet (`{peers}`, a full list): who may be a WireGuard peer. */
  onPeers?(peers: OverlayPeer[]): void
  /**
   * The secret or config values this node's tasks use (`{secrets}` / `{configs}`, a full list each time; checked
   * here: a list of {id, data} with base64 data). Kept in memory only, never logged.
   */
  onValues?(kind: 'secrets' | 'configs', values: DeliveredValue[]): void
  /**
   * The cluster's gossip keyring (join reply, then `{gossipKeys}` on the stream; checked before it is handed on).
   * Return true once applied: the link then acknowledges its version to the manager.
   */
  onGossipKeys?(keys: GossipKeyring): boolean
  /**
   * This node's role changed at runtime (`mesh node promote` / `demote`): the `{managers}` list on the stream now
   * names this node's id, or no longer does. Called once node.json records the new role and a certificate for it
   * was asked for (renewRole; a failed renewal is retried by the keeper and may be asked again).
   */
  onRole?(role: 'manager' | 'worker'): void
  log: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

/** Reports queued within this window go in one POST. */
export const STATUS_BATCH_MS = 50
/** After a POST the manager did not take, the batch is sent again this much later. */
export const STATUS_RETRY_MS = 1000

/** After the manager refused an overlay registration (400/409), it is asked again this much later (`mesh node rm` frees a subnet). */
export const OVERLAY_REFUSED_RETRY_MS = 30_000

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
  readonly #certs: CertificateKeeper
  /** The overlay registration to send (null: none, or the manager has it), its retry timer and attempt count. */
  #overlay: NodeOverlay | null = null
  #overlayTimer: TimerHandle | null = null
  #overlayAttempt = 0
  #overlayRefusal = ''
  /** The managers list last saved (JSON), so an unchanged list is not written again. */
  #managersSaved = ''

  constructor(o: WorkerLinkOptions) {
    this.#o = o
    this.#certs = new CertificateKeeper({
      transport: o.transport, clock: o.clock, now: o.wallNow ?? Date.now, log: o.log,
      save: (t) => {
        writeNodeTls(o.dataDir, t)
        o.transport.setTls(t)
        o.onTls?.(t)
      },
    })
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
    if (hasIdentity(dataDir) && !token) return this.#keep(readIdentity(dataDir))
    if (!token) throw new ConfigError('this node has not joined a cluster: pass --token TOKEN (see `mesh token show worker` on a manager) or --init')
    const pin = parseJoinToken(token) // a malformed token stops here, before any connection
    let caPem: string
    try {
      caPem = await fetchAndPinCa(await transport.fetchCa(), pin.caDigest)
    } catch (err) {
      if (err instanceof ConfigError) throw err
      throw new ConfigError(`refusing to join through ${transport.address}: ${(err as Error).message}`, { cause: err })
    }
    const { keyPem, csrPem } = await createNodeKeyAndCsr()
    const r = await transport.join(token, caPem, { hostname: this.#o.hostname, addr: this.#o.addr, resources: this.#o.resources, csr: csrPem })
    if (r.status === 409) {
      // This hostname is already a member. Restarted with the same --token: keep the identity this node holds for
      // that manager. Otherwise (node.json lost, or another node's name) the manager's line says what to do.
      const kept = hasIdentity(dataDir) ? readIdentity(dataDir) : null
      if (kept && kept.manager === transport.address) {
        this.#o.log('info', 'already a member of this cluster: kept the identity in node.json (--token is not needed)', { node: this.#o.hostname })
        return this.#keep(kept)
      }
      throw new ConfigError(r.message)
    }
    if (r.status !== 200 || !r.body || typeof r.body.certificate !== 'string' || !Array.isArray(r.body.ca)) {
      throw new ConfigError(`joining the manager at ${transport.address} failed: ${r.message}`)
    }
    const tls: NodeTls = { ca: r.body.ca, cert: r.body.certificate, key: keyPem }
    this.#id = { nodeId: r.body.nodeId, role: r.body.role, manager: transport.address }
    writeNodeTls(dataDir, tls)
    writeIdentity(dataDir, this.#id)
    this.#useTls(tls)
    if (r.body.gossipKeys !== undefined) this.#gossipKeys(r.body.gossipKeys, false)
    if (r.body.managers !== undefined) this.#managers(r.body.managers, 'join')
    this.#o.log('info', 'joined the cluster', { node: this.#o.hostname, role: r.body.role, manager: transport.address })
    return this.#id
  }

  #keep(id: Identity): Identity {
    this.#useTls(readNodeTls(this.#o.dataDir))
    this.#id = id
    return id
  }

  #useTls(tls: NodeTls): void {
    this.#o.transport.setTls(tls)
    this.#certs.use(tls)
    this.#o.onTls?.(tls)
  }

  /** This node's role as the link knows it (node.json, then the `{managers}` list). */
  get role(): string | null {
    return this.#id?.role ?? null
  }

  /**
   * Ask for a new certificate now: the manager issues it for the role the store holds for this node (a promoted
   * worker gets a manager's certificate, the one its etcd member grant needs). Resolves when tried (see role()).
   */
  renewCertificate(why: string): Promise<void> {
    return this.#certs.renew(why)
  }

  /** Use an identity and certificate issued in-process (the manager node registering itself). */
  useIdentity(id: Identity, tls: NodeTls): void {
    writeNodeTls(this.#o.dataDir, tls)
    writeIdentity(this.#o.dataDir, id)
    this.#id = id
    this.#useTls(tls)
  }

  start(): void {
    this.#certs.start()
    this.#watch(0)
  }

  stop(): void {
    this.#stopped = true
    this.#certs.stop()
    const s = this.#stream
    this.#stream = null
    this.#attempt = null
    s?.close()
    this.#o.clock.clearTimeout(this.#retryTimer)
    this.#o.clock.clearTimeout(this.#flushTimer)
    this.#o.clock.clearTimeout(this.#overlayTimer)
  }

  /**
   * Register this node's WireGuard key and overlay subnet with the manager (again whenever they change). Retried
   * with the reconnect backoff while the manager cannot be reached, every 30 s while it refuses (logged once per
   * reason); a newer registration replaces one still pending.
   */
  registerOverlay(reg: NodeOverlay): void {
    this.#overlay = { publicKey: reg.publicKey, subnet: reg.subnet }
    this.#overlayAttempt = 0
    this.#o.clock.clearTimeout(this.#overlayTimer)
    this.#overlayTimer = null
    void this.#sendOverlay()
  }

  async #sendOverlay(): Promise<void> {
    this.#overlayTimer = null
    const reg = this.#overlay
    if (!reg || !this.#id || this.#stopped) return
    let retryMs: number
    try {
      const r = await this.#o.transport.putOverlay(reg)
      if (this.#overlay !== reg) return // replaced while in flight: the newer one is on its way
      if (r.status >= 200 && r.status < 300) {
        this.#overlay = null
        this.#overlayRefusal = ''
        this.#o.log('info', 'overlay registered with the manager', { subnet: reg.subnet })
        return
      }
      if (r.status >= 500) throw new Error(r.message)
      if (r.message !== this.#overlayRefusal) this.#o.log('error', `the manager refused this node's overlay registration: ${r.message}`, { subnet: reg.subnet })
      this.#overlayRefusal = r.message
      retryMs = OVERLAY_REFUSED_RETRY_MS
    } catch (err) {
      if (this.#overlay !== reg) return
      this.#o.log('debug', 'overlay registration failed; will retry', { err: (err as Error).message })
      retryMs = watchBackoffMs(++this.#overlayAttempt)
    }
    if (!this.#stopped && !this.#overlayTimer) this.#overlayTimer = this.#o.clock.setTimeout(() => void this.#sendOverlay(), retryMs)
  }

  /** Queue a task report; the latest status per task wins within a batch. */
  report(taskId: string, status: TaskStatus & { ip?: string; addresses?: { network: string; ip: string }[] }): void {
    const { ip, addresses, ...st } = status
    this.#pending.set(taskId, { taskId, status: st, ...(ip ? { ip } : {}), ...(addresses ? { addresses } : {}) })
    if (!this.#flushTimer) this.#flushTimer = this.#o.clock.setTimeout(() => void this.#flush(), STATUS_BATCH_MS)
  }

  /** A streaming request to the manager with this node's certificate (log uploads); the caller writes and ends it. */
  upload(path: string): http.ClientRequest {
    return this.#o.transport.upload(path)
  }

  async #flush(): Promise<void> {
    this.#flushTimer = null
    if (!this.#id || this.#pending.size === 0) return
    const updates = [...this.#pending.values()]
    this.#pending.clear()
    try {
      const r = await this.#o.transport.postStatus(updates)
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
    const stream = this.#o.transport.watch({
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
      for (const kind of ['secrets', 'configs'] as const) {
        const values = msg[kind]
        if (values === undefined) continue
        if (!isValueList(values)) throw new Error(`${kind} is not a list of {id, data}`)
        this.#o.onValues?.(kind, values)
      }
      if (msg.tasks) this.#o.onAssignments(msg.tasks)
      if (msg.catalog) this.#o.onCatalog?.(msg.catalog)
      if (msg.logs || msg.logsCancel) this.#o.onLogs?.(msg)
      if (msg.ca) this.#certs.roots(msg.ca)
      if (msg.peers !== undefined) {
        if (!Array.isArray(msg.peers)) throw new Error('peers is not a list')
        this.#o.onPeers?.(msg.peers)
      }
      if (msg.gossipKeys !== undefined) this.#gossipKeys(msg.gossipKeys, true)
      if (msg.managers !== undefined) this.#managers(msg.managers, 'stream')
    } catch {
      this.#o.log('warn', 'bad line on the assignment stream')
    }
  }

  /**
   * The cluster's managers (the join reply's `managers`, then `{managers}` on the stream): checked here, kept in
   * `<data-dir>/managers.json` and handed to the transport. A bad list is one logged line and changes nothing: the
   * list this node has stays (after a join: only the manager it joined through). The join reply's role is the
   * node's role, so only the stream's list may change it.
   */
  #managers(raw: unknown, from: 'join' | 'stream'): void {
    const problem = managerListProblem(raw)
    if (problem) {
      return this.#o.log('warn', from === 'join'
        ? `bad join reply: the managers list ${problem}; kept only the manager this node joined through`
        : `bad line on the assignment stream: the managers list ${problem}; kept the list this node has`)
    }
    const list = managerList(raw as ManagerAddress[])
    if (from === 'stream') this.#role(list)
    const text = JSON.stringify(list)
    if (text === this.#managersSaved) return
    try {
      saveManagers(this.#o.dataDir, list)
      this.#managersSaved = text
    } catch (err) {
      this.#o.log('warn', 'cannot save the managers list (kept in memory)', { err: (err as Error).message })
    }
    this.#o.transport.useManagers?.(list)
    this.#o.log('info', 'the cluster\'s managers', { managers: list.map((m) => `${m.addr}:${m.port}`) })
  }

  /**
   * Promote and demote reach a running agent here: the managers list is the store's set of manager nodes, pushed
   * by every manager when it changes. This node's id in it (or gone from it) is a role change: node.json records it
   * (a demoted node names another manager to start from), the certificate is renewed for the new role, then onRole.
   */
  #role(list: readonly ManagerAddress[]): void {
    const id = this.#id
    if (!id || this.#stopped) return
    const role = list.some((m) => m.id === id.nodeId) ? 'manager' : 'worker'
    if (role === (id.role === 'manager' ? 'manager' : 'worker')) return
    const other = list.find((m) => m.id !== id.nodeId)
    this.#id = { ...id, role, manager: role === 'worker' && other ? managerAddress(other) : id.manager }
    try {
      writeIdentity(this.#o.dataDir, this.#id)
    } catch (err) {
      this.#o.log('warn', 'cannot save this node\'s new role in node.json (kept in memory)', { err: (err as Error).message })
    }
    this.#o.log('info', role === 'manager' ? 'this node was promoted to a manager' : 'this node was demoted to a worker', { node: this.#o.hostname })
    void this.#certs.renew(role === 'manager' ? 'promoted to a manager' : 'demoted to a worker').then(() => {
      if (!this.#stopped) this.#o.onRole?.(role)
    })
  }

  /** Check a keyring from the manager, hand it on, and acknowledge its version once applied. */
  #gossipKeys(raw: unknown, ack: boolean): void {
    const problem = gossipKeyringProblem(raw)
    if (problem) return this.#o.log('warn', `gossip keyring from the manager refused: it ${problem}`)
    const keys = raw as GossipKeyring
    if (!this.#o.onGossipKeys?.(keys) || !ack || !this.#id) return
    this.#o.transport.postGossipKeysAck(keys.version)
      .then((r) => { if (r.status !== 200) throw new Error(r.message) })
      .catch((err: Error) => this.#o.log('warn', 'gossip keyring acknowledgement failed (sent again when the stream reopens)', { version: keys.version, err: err.message }))
  }
}

/** `{secrets}` / `{configs}` as the manager sends them: ids and base64 values. */
function isValueList(v: unknown): v is DeliveredValue[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && typeof (x as DeliveredValue).id === 'string' &&
    (x as DeliveredValue).id !== '' && typeof (x as DeliveredValue).data === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test((x as DeliveredValue).data))
}
