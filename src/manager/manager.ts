import { randomBytes } from 'node:crypto'
import { realClock, type Clock } from '../base/clock.ts'
import { RequestRefusedError, conflict, invalid, notFound } from './request-refused.ts'
import { EventLog } from './events.ts'
import { isEventHistory } from './event-history.ts'
import { LogBroker } from './logs.ts'
import { ReconcileLoop } from './reconcile-loop.ts'
import type { Store, StoreEvent, TaskFilter, Unsubscribe } from './store.ts'
import { ClusterAuthority } from './cluster-ca.ts'
import type { CertRole, NodeRole as PkiNodeRole } from '../pki/index.ts'
import { TERMINAL_STATES, type Availability, type ClusterState, type NodeRecord, type NodeRole, type ServiceRecord, type ServiceSpec, type TaskRecord, type TaskStatus } from '../api/types.ts'
import type { ResolveImage } from './image-resolve.ts'
import { parseVipRange } from './vip.ts'
import { formatCidr, parseCidr, type Cidr } from '../base/cidr.ts'
import { DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH, DEFAULT_OVERLAY_RANGE, DEFAULT_SUBNET_PREFIX, DEFAULT_VIP_RANGE } from '../config/index.ts'
import { checkOverlayRegistration, overlayPeers, recordOverlay, type OverlayPool } from './overlay-registry.ts'
import { recordLeave } from './node-leave.ts'
import { buildCatalog } from './build-catalog.ts'
import { ensureEpoch, randomEpoch, storeEpoch } from './epoch.ts'
import { openSecret, readValues, type SecretValueReader } from './delivery.ts'
import type { DeliveredValue } from '../api/secrets.ts'
import { checkNodeName, joinedNode, memberNamed, selfNode, type JoiningNode } from './node-identity.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'
import { DashboardSessions } from './sessions.ts'
import { GossipKeys } from './gossip-keys.ts'
import { Networks, createAddressPool, releaseNodeSlices } from './networks/index.ts'
import { SecretVault } from './vault/vault.ts'
import { MemoryKeyFile, type KekContent } from './vault/key-file.ts'
import { snapshotStore, type BackupHeader } from './backup/index.ts'
import { MESH_VERSION } from '../api/version.ts'
import { SecretObjects } from './secret-objects.ts'
import { ServiceWrites } from './service-writes.ts'
import { applyTaskReports } from './report-tasks.ts'
import { openRegistryAuth, sealStoredRegistryAuth, tasksForNode } from './registry-auth.ts'
import type { RegistryAuth, SealedRegistryAuth } from '../api/types.ts'
import { TrafficAggregator } from './traffic.ts'
import { AlwaysLeader, type Leadership, type ManagerProbe } from './leadership.ts'
import { managerStatusOf, mayBeStale, noQuorumLine, quorumCounts } from './manager-status.ts'
import type { ManagerStatus } from '../api/types.ts'
import { trafficLimits } from '../config/traffic.ts'
import { grantMember, leaveManagers, moveFailed, MOVING_LINE, singleManagerRefusal, type EtcdMemberGrant, type ManagerMembers, type StoreMove } from './manager-members.ts'
import type { ClusterCa } from '../pki/index.ts'

/**
 * The manager's controller: the only writer of desired state. API requests become one store transaction each
 * (validated first, so a bad request changes nothing); every committed change, and every time the orchestrator
 * asked to be woken, runs reconcile() (pure) and commits its plan. Node state comes from gossip.
 * Writes are asynchronous (`Store.transact` resolves once committed); reads are synchronous on the store's view.
 * A transaction callback may run more than once (optimistic stores): it only reads the tx and returns a value.
 *
 * Several managers may share one store (etcd): every one serves the API, but only the leader (ManagerOptions
 * .leadership) runs the reconcile loop (orchestrator, scheduler, restart and reschedule timers), writes node state
 * from gossip, steps gossip key rotations and appends the event history. Losing the lead stops them at once (the
 * election deposes a leader before its lease can expire, so before another can start); gaining it starts them
 * from the store's current state, with nothing carried over from an earlier term.
 */


export const newId = (): string => randomBytes(13).toString('hex').slice(0, 25)

export interface ManagerOptions {
  store: Store
  /** Timers of the reconcile loop (wake-ups, retries). Default: the real clock. */
  clock?: Clock
  /** Wall-clock milliseconds for record timestamps and the orchestrator's `now`. Default Date.now. */
  now?: () => number
  /** The `service logs` broker both listeners share. Default: a new one on `clock`. */
  logBroker?: LogBroker
  /** Dashboard sessions and login codes both listeners share. Default: new ones on `clock` (src/config dashboardLimits). */
  sessions?: DashboardSessions
  /**
   * Cluster events (GET /v1/events, dashboard, metrics); started by start(). Default: a new one on the store, kept
   * in it across restarts when the store keeps an event history (SqliteStore, EtcdStore).
   */
  events?: EventLog
  /** Range service VIPs are taken from. Default 10.78.0.0/16. */
  vipRange?: string
  /** The cluster overlay range task addresses must lie in. Default: the overlay config's (10.77.0.0/16). */
  overlayRange?: string
  /** Lifetime of node certificates issued from now on, stored with a new cluster at init. Default 90 days. */
  certLifetimeMs?: number
  /** The per-node subnet size of the overlay range (registered subnets must be one of them). Default /24. */
  overlaySubnetPrefix?: number
  log?: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
  /** How long one gossip key rotation step waits for every ready node's ack, ms. Default 30 s. */
  gossipAckWaitMs?: number
  /** Asks a registry which digest an image tag points at (image-resolve.ts). Default: none, images stored as given. */
  resolveImage?: ResolveImage
  /** The address pool user networks are cut from (`--default-addr-pool`). Default 10.80.0.0/12. */
  addrPool?: string
  /** Prefix length of each network's range cut from the pool. Default 20. */
  addrPoolMaskLength?: number
  /**
   * The secret vault (vault/vault.ts), loaded by init(). Default: one whose KEK lives in memory (tests): a store it
   * did not make keeps its secrets closed (logged at init), nothing else is affected.
   */
  vault?: SecretVault
  /** A secret's plain value by id, for the nodes that need it (delivery.ts). Default: the secret opened by the vault. */
  secretValue?: SecretValueReader
  /**
   * Whether this manager leads (leadership.ts): only the leader runs the reconcile loop and the other duties that
   * must happen once. Default: AlwaysLeader of its own node (a single manager on SQLite).
   */
  leadership?: Leadership
  /** The managers' health on a consensus store (etcd/manager-health.ts), for MANAGER STATUS and the quorum line. Default: none (SQLite). */
  managerProbe?: ManagerProbe
  /**
   * The managers' own etcd members (manager-members.ts), given by the agent when it runs a managed etcd
   * (`--store etcd`). Default none: the cluster has one manager, and a manager-token join or a promote is refused.
   */
  members?: ManagerMembers
  /**
   * A single manager on SQLite: how it moves its state into a managed etcd on its own node (manager-members.ts
   * StoreMove, agent/store-move.ts) when a second manager is asked for (promote, manager-token join); the request
   * then goes on on the manager that runs on etcd. Default none: such a request is refused (singleManagerRefusal).
   */
  storeMove?: StoreMove
}

export interface JoinResult {
  node: NodeRecord
  /** The node's certificate chain (PEM): leaf, then the cross-signed root while a CA rotation runs. */
  certificate: string
}

/** What a certificate request names beyond the node: the addresses and names a manager serves its API on. */
export interface CertificateNames {
  csr: string
  ipSans?: string[]
  dnsSans?: string[]
}

export const newClusterId = (): string => randomBytes(16).toString('hex')

export class Manager {
  readonly #store: Store
  readonly #clock: Clock
  readonly #now: () => number
  readonly #log: NonNullable<ManagerOptions['log']>
  /** The `service logs` broker between the CLI and the agents' watch streams. */
  readonly logs: LogBroker
  /** Cluster events as `mesh events` shows them. */
  readonly events: EventLog
  /** The cluster CA, join tokens and admin client certificates (cluster-ca.ts). */
  readonly ca: ClusterAuthority
  readonly #certLifetimeMs: number | undefined
  /** The manager node's id and the names its API certificate carries (renewals keep them). */
  #self: { id: string; names: { ipSans?: string[]; dnsSans?: string[] } } | null = null
  /** Dashboard sessions and the login codes that open them (in memory: a restart ends them). */
  readonly sessions: DashboardSessions
  /** The cluster's gossip keyring and its rotation (gossip-keys.ts). */
  readonly gossipKeys: GossipKeys
  /** Live ingress and tunnel rates from the agents' traffic reports, in memory only (traffic.ts). */
  readonly traffic: TrafficAggregator
  /** Pins images to digests at create and update (image-resolve.ts); undefined: stored as given. */
  readonly resolveImage: ResolveImage | undefined
  /** Seals secret values and registry credentials; locked after a restart with autolock (vault/vault.ts). */
  readonly vault: SecretVault
  /** Secrets and configs (secret-objects.ts). */
  readonly secrets: SecretObjects
  /** Whether the vault was given (its load failures stop init) rather than the in-memory default. */
  readonly #ownVault: boolean
  readonly #members: ManagerMembers | undefined
  readonly #storeMove: StoreMove | undefined
  /** A store move under way (a second promote meanwhile gets MOVING_LINE). */
  #moving = false
  readonly #onStop = new Set<() => void>()

  /** The whole store as a backup file, read at one revision (backup/); `kek`: the KEK to put in it too. */
  backup(o: { kek?: KekContent } = {}): { header: BackupHeader; bytes: Buffer } {
    return snapshotStore(this.#store, { meshVersion: MESH_VERSION, now: () => new Date(this.#now()), ...(o.kek ? { kek: o.kek } : {}) })
  }
  readonly #leadership: Leadership
  readonly #probe: ManagerProbe | undefined
  #offLeadership: (() => void) | null = null
  /** Whether the leader's duties run now (started on gaining the lead, stopped on losing it). */
  #leading = false
  /** Node states as this manager's gossip last reported them: the leader writes them, also those heard before it led. */
  readonly #observed = new Map<string, 'ready' | 'down'>()
  readonly #loop: ReconcileLoop
  #stopped = false
  readonly #vipRange: Cidr
  readonly #overlay: OverlayPool
  /** User networks: objects, address pool, per-node slices (networks/). */
  readonly networks: Networks
  readonly #secretValue: SecretValueReader
  readonly #services: ServiceWrites
  #catalog: { snapshot: CatalogSnapshot; content: string; line: string } | null = null
  #peers: { revision: number; line: string } | null = null

  constructor(o: ManagerOptions) {
    this.#vipRange = parseVipRange(o.vipRange ?? DEFAULT_VIP_RANGE)
    this.#overlay = { range: parseCidr(o.overlayRange ?? DEFAULT_OVERLAY_RANGE, 'overlay range'), subnetPrefix: o.overlaySubnetPrefix ?? DEFAULT_SUBNET_PREFIX }
    this.#store = o.store
    this.#clock = o.clock ?? realClock()
    this.#now = o.now ?? Date.now
    this.#log = o.log ?? (() => undefined)
    this.#leadership = o.leadership ?? new AlwaysLeader(() => this.#self?.id)
    this.#probe = o.managerProbe
    this.#loop = new ReconcileLoop({ store: o.store, clock: this.#clock, now: this.#now, log: this.#log, isLeader: () => this.#leadership.isLeader(), newId })
    const pool = createAddressPool(o.addrPool ?? DEFAULT_ADDR_POOL, o.addrPoolMaskLength ?? DEFAULT_ADDR_POOL_MASK_LENGTH, [
      { name: 'overlay range', range: formatCidr(this.#overlay.range) }, { name: 'VIP range', range: formatCidr(this.#vipRange) },
    ], o.addrPool !== undefined)
    this.networks = new Networks({ store: o.store, pool, overlayRange: this.#overlay.range, now: this.#now, newId, log: this.#log })
    this.logs = o.logBroker ?? new LogBroker({ clock: this.#clock })
    this.events = o.events ?? new EventLog(o.store, {
      now: this.#now, ...(isEventHistory(o.store) ? { history: o.store } : {}), writer: () => this.#leadership.isLeader(),
      onError: (err, what) => this.#log('warn', `event history: ${what} failed`, { error: (err as Error).message }),
    })
    this.ca = new ClusterAuthority({ store: o.store, now: this.#now })
    this.#certLifetimeMs = o.certLifetimeMs
    this.resolveImage = o.resolveImage
    this.vault = o.vault ?? new SecretVault({ store: o.store, keys: new MemoryKeyFile() })
    this.#ownVault = o.vault !== undefined
    this.#members = o.members
    this.#storeMove = o.storeMove
    this.secrets = new SecretObjects({ store: o.store, vault: this.vault, now: this.#now, newId })
    this.#secretValue = o.secretValue ?? ((id) => openSecret(o.store, this.vault, id))
    this.#services = new ServiceWrites({ store: o.store, vault: this.vault, vipRange: this.#vipRange, now: this.#now, newId })
    this.sessions = o.sessions ?? new DashboardSessions({ clock: this.#clock })
    this.traffic = new TrafficAggregator({ limits: trafficLimits(), now: this.#now })
    this.gossipKeys = new GossipKeys({
      store: o.store, clock: this.#clock, now: this.#now, log: this.#log,
      ...(o.gossipAckWaitMs !== undefined ? { ackWaitMs: o.gossipAckWaitMs } : {}),
    })
  }

  /** The clock this manager's timers run on (the HTTP layer's coalescing and heartbeats use it too). */
  get clock(): Clock {
    return this.#clock
  }

  /** Wall-clock milliseconds, as the manager stamps records. */
  now(): number {
    return this.#now()
  }

  /**
   * First start of a cluster: cluster id, store epoch (made if missing), root CA and join secrets (kept if they exist; a store made before the
   * PKI gets its CA here, and its old MESHTKN-1 tokens stop working: `tokensChanged`), and the secret vault.
   */
  async init(o: { autolock?: boolean; bootstrap?: { clusterId: string; ca: ClusterCa } } = {}): Promise<{ clusterId: string; created: boolean; tokensChanged: boolean; unlockKey?: string }> {
    // `bootstrap`: a new cluster's id and root made before its store existed (the managed etcd's first member
    // needs a certificate of the root before the store can open); used only when the store holds no cluster yet.
    const fresh = o.bootstrap?.clusterId ?? newClusterId()
    const epoch = randomEpoch()
    const r = await this.#store.transact((tx) => {
      // The store epoch (epoch.ts): made with the store, or now for a store from before epochs.
      ensureEpoch(tx, epoch)
      const existing = tx.getMeta('cluster_id')
      if (existing) return { clusterId: existing, created: false }
      tx.setMeta('cluster_id', fresh)
      return { clusterId: fresh, created: true }
    })
    const tokensChanged = await this.ca.ensure(r.clusterId, this.#certLifetimeMs, r.created ? o.bootstrap?.ca : undefined)
    // The vault: made with a new store (`autolock`: its unlock key is returned, to be shown once), else loaded or locked.
    let unlockKey: string | undefined
    try {
      unlockKey = (await this.vault.load({ autolock: o.autolock === true && r.created })).unlockKey
    } catch (err) {
      if (this.#ownVault) throw err
      this.#log('error', 'the in-memory vault cannot open this store\'s secrets', { err: (err as Error).message })
    }
    await this.sealStoredCredentials()
    return { ...r, tokensChanged: tokensChanged && !r.created, ...(unlockKey ? { unlockKey } : {}) }
  }

  /**
   * Seal the registry credentials a store made before sealing keeps in plain (registry-auth.ts), once the vault is
   * open: at init, or at `mesh unlock` for a locked manager.
   */
  async sealStoredCredentials(): Promise<void> {
    const n = await sealStoredRegistryAuth(this.#store, this.vault)
    if (n > 0) this.#log('info', 'registry credentials stored in plain are now sealed', { records: n })
  }

  tokens(): { worker: string; manager: string } {
    return this.ca.tokens()
  }

  async rotateToken(role: PkiNodeRole): Promise<string> {
    return this.ca.rotateToken(role)
  }

  /**
   * The catalog (services → endpoints) agents' data planes read, with the store's epoch, built and serialised once
   * per store revision and epoch for every watch stream: `content` (the view without its revision, epoch included)
   * tells whether it changed since a stream's last line; `line` is the NDJSON line `{catalog}` to send.
   */
  catalog(): { snapshot: CatalogSnapshot; content: string; line: string } {
    const rev = this.#store.revision
    const epoch = storeEpoch(this.#store)
    // Keyed by epoch too: a restored store can come back at the very revision the cached build had.
    if (!this.#catalog || this.#catalog.snapshot.revision !== rev || this.#catalog.snapshot.epoch !== epoch) {
      const state = { nodes: this.#store.listNodes(), services: this.#store.listServices(), tasks: this.#store.listTasks() }
      const snapshot = buildCatalog(state, rev, this.#store.listObjects('network'), epoch)
      const { revision: _, ...view } = snapshot
      this.#catalog = { snapshot, content: JSON.stringify(view), line: `${JSON.stringify({ catalog: snapshot })}\n` }
    }
    return this.#catalog
  }

  /**
   * The `{peers}` line of the watch stream: every node's registered overlay key and subnet (overlay-registry.ts),
   * serialised once per store revision; a stream sends it when `line` differs from the last it sent.
   */
  overlayPeersLine(): string {
    const rev = this.#store.revision
    if (this.#peers?.revision !== rev) this.#peers = { revision: rev, line: `${JSON.stringify({ peers: overlayPeers(this.#store.listNodes()) })}\n` }
    return this.#peers.line
  }

  /**
   * A node registers its own WireGuard key and overlay subnet (`node` is the caller's identity, never one from the
   * body): checked, then recorded in one transaction; another node's subnet or key is refused (409).
   */
  async registerOverlay(node: NodeRecord, body: unknown): Promise<NodeRecord> {
    const reg = checkOverlayRegistration(body, this.#overlay)
    const now = this.#now()
    const n = await this.#store.transact((tx) => recordOverlay(tx, node.id, reg, now))
    this.#log('info', 'overlay registered', { node: n.hostname, subnet: reg.subnet })
    return n
  }

  /** The cluster id and the sha256 of its current root CA (what join tokens pin). */
  clusterInfo(): { clusterId: string; digest: string } {
    return { clusterId: this.#store.getMeta('cluster_id') ?? '', digest: this.ca.status().digest }
  }

  /** The ranges VIPs and the overlay are taken from, and the manager's own node id (null until registerSelf). */
  networkInfo(): { vipRange: string; overlayRange: string; selfId: string | null } {
    return { vipRange: formatCidr(this.#vipRange), overlayRange: formatCidr(this.#overlay.range), selfId: this.#self?.id ?? null }
  }

  start(): void {
    this.#stopped = false
    this.#loop.open()
    this.events.start()
    this.#offLeadership = this.#leadership.onChange((leading) => (leading ? this.#lead() : this.#follow()))
    if (this.#leadership.isLeader()) this.#lead()
  }

  stop(): void {
    this.#stopped = true
    for (const cb of [...this.#onStop]) cb()
    this.#onStop.clear()
    this.#loop.close()
    this.#offLeadership?.()
    this.#offLeadership = null
    this.#follow()
    this.events.stop()
  }

  /**
   * Hear this manager stop (a store move hands its API to another: the agents' watch streams end, and reconnect).
   * On a manager that has stopped already, `cb` runs at once: a stream opened in the window between the old
   * manager's stop and the API's hand-over would otherwise stay on the stopped manager for good.
   */
  onStop(cb: () => void): () => void {
    if (this.#stopped) {
      cb()
      return () => undefined
    }
    this.#onStop.add(cb)
    return () => this.#onStop.delete(cb)
  }

  /** Whether this manager runs the leader's duties now. */
  get leading(): boolean {
    return this.#leading
  }

  /** Gained the lead: the reconcile loop from the store's current state, gossip's node states, key rotations. */
  #lead(): void {
    if (this.#leading || this.#stopped) return
    this.#leading = true
    this.#log('info', 'leading: the orchestrator and scheduler run on this manager')
    this.gossipKeys.start()
    this.#loop.start()
    for (const [hostname, state] of this.#observed) {
      this.#writeNodeState(hostname, state).catch((err: Error) => this.#log('error', 'node state update failed', { node: hostname, err: err.message }))
    }
  }

  /**
   * Lost the lead (or stopping): every duty stops before this returns, and a reconcile pass the store runs again
   * after this plans nothing. (A commit already sent before the lead was lost may still land: it was planned on the
   * store as it was and is guarded by the store's revision, so a new leader's pass re-plans on top of it.)
   */
  #follow(): void {
    if (!this.#leading) return
    this.#leading = false
    this.#loop.stop()
    this.gossipKeys.stop()
    if (!this.#stopped) this.#log('info', 'following: another manager leads', { leader: this.#leadership.leader() })
  }

  // ---- managers ------------------------------------------------------------------------------------------

  /** The leading manager's node id as last observed, or undefined when none is known. */
  leaderId(): string | undefined {
    return this.#leadership.leader()
  }

  /** A node's ManagerStatus as docker shows it (undefined for a worker); `apiPort`: where managers serve the API. */
  managerStatus(n: NodeRecord, apiPort: number): ManagerStatus | undefined {
    const health = this.#probe?.health()
    // Without a quorum nobody can lead (a leader deposes itself before its lease can expire): none is shown.
    return managerStatusOf(n, { leader: health?.quorum === false ? undefined : this.#leadership.leader(), health, apiPort })
  }

  /**
   * The line a write refused for lack of quorum answers: `no quorum: 1 of 3 managers reachable` (the managers'
   * health probe's counts); the store's own detail (which endpoints, whether the write may still apply) goes to this
   * manager's log. Without a probe there are no counts to give: the store's message.
   */
  noQuorumMessage(err: Error): string {
    if (!this.#probe) return err.message
    this.#log('warn', 'write refused: no quorum', { err: err.message })
    return noQuorumLine(quorumCounts(this.#store.listNodes(), this.#probe.health()))
  }

  /** Whether reads may lag the store (no quorum on the last probe, or no leader known); never on SQLite. */
  staleView(): boolean {
    return mayBeStale(this.#probe?.health(), this.#leadership.leader(), this.#probe !== undefined)
  }

  // ---- reads (synchronous, on the store's committed view) ------------------------------------------------

  /** The revision of the last committed change. */
  get revision(): number {
    return this.#store.revision
  }
  /** Every node, service and task at one revision. */
  getState(): ClusterState {
    return this.#store.getState()
  }
  /** By id, else by hostname. */
  getNode(idOrHostname: string): NodeRecord | undefined {
    return this.#store.getNode(idOrHostname)
  }
  listNodes(): NodeRecord[] {
    return this.#store.listNodes()
  }
  /** By id, else by name. */
  getService(idOrName: string): ServiceRecord | undefined {
    return this.#store.getService(idOrName)
  }
  listServices(): ServiceRecord[] {
    return this.#store.listServices()
  }
  listTasks(filter?: TaskFilter): TaskRecord[] {
    return this.#store.listTasks(filter)
  }
  /** The plain registry credentials of a service's stored (sealed) ones, for a registry lookup or a node's pull. */
  registryAuthOf(serviceId: string, auth: RegistryAuth | SealedRegistryAuth | undefined): RegistryAuth | undefined {
    return openRegistryAuth(this.vault, serviceId, auth)
  }
  /** The tasks a node must run or stop, as its watch stream sends them: registry credentials opened for it. */
  assignments(nodeId: string): TaskRecord[] {
    const tasks = this.#store.listTasks({ nodeId }).filter((t) => t.status.state !== 'new' && t.status.state !== 'pending')
    return tasksForNode(this.vault, tasks, (t, err) => this.#log('error', 'registry credentials do not open', { task: t.id, err: err.message }))
  }
  /** Hear every change committed from now on, in revision order. */
  watch(cb: (event: StoreEvent) => void): Unsubscribe {
    return this.#store.watch(this.#store.revision, cb)
  }

  // ---- nodes ---------------------------------------------------------------------------------------------

  /** Which role a join token grants, or null; the API checks it before it reads a join request's body. */
  joinRole(token: string): PkiNodeRole | null {
    return this.ca.roleFor(token)
  }

  /**
   * A node presents a join token and a certificate request over the API: a NEW node (fresh id) with the token's
   * role (worker token → worker, manager token → manager) and a certificate naming that id and role. A hostname that
   * belongs to a node that is not removed is refused (409) until `mesh node rm` (node-identity.ts): a join token
   * never takes over a member's id, certificate or tasks. Nothing is stored unless the certificate was issued.
   */
  async join(o: JoiningNode & { token: string; csr: string }): Promise<JoinResult> {
    const role = this.joinRole(o.token)
    if (!role) throw new RequestRefusedError('MESH_ERR_TOKEN', 'invalid join token (check `mesh token show worker` on a manager)')
    checkNodeName(o.hostname)
    if (role === 'manager' && !this.#members) {
      // What the join would refuse (a member's hostname, a CSR the CA cannot sign) is refused before anything moves.
      joinedNode(this.#store.listNodes(), o, role, 'check', this.#now())
      if (this.#storeMove) await this.ca.issue(o.csr, { nodeId: 'check', role, clusterId: this.clusterInfo().clusterId }) // discarded
      return (await this.#moveToEtcd(o.hostname)).join(o)
    }
    const r = await this.#register({ csr: o.csr }, role, (nodes, id, now) => joinedNode(nodes, o, role, id, now))
    this.#log('info', 'node joined', { node: r.node.hostname, role: r.node.role, id: r.node.id })
    return r
  }

  /**
   * The manager's own node, registered in-process at every manager start (no HTTP route reaches it): keeps its id,
   * labels and availability when the store holds this hostname as a manager, is created as a manager otherwise, and
   * gets a certificate for its API (`names`: the addresses and names it serves on). Refused (MESH_ERR_CONFLICT)
   * when the hostname is a worker's.
   */
  async registerSelf(o: JoiningNode, names: CertificateNames, newNodeId?: string): Promise<JoinResult> {
    checkNodeName(o.hostname)
    // `newNodeId`: the id a NEW manager node gets (a managed etcd's first member is named by it before the store exists).
    const r = await this.#register(names, 'manager', (nodes, id, now) => selfNode(nodes, o, id, now), newNodeId)
    this.#self = { id: r.node.id, names: sans(names) }
    this.#log('info', 'manager node registered', { node: r.node.hostname, id: r.node.id })
    return r
  }

  /** The names a renewed certificate of `node` carries: the manager node's API addresses, none for another node. */
  selfNames(node: NodeRecord): { ipSans?: string[]; dnsSans?: string[] } {
    return this.#self?.id === node.id ? this.#self.names : {}
  }

  /** Starts a CA root rotation: every node is pending until it renews under the new root (cluster-ca.ts). */
  async rotateCa(): Promise<void> {
    await this.ca.rotate(this.#store.listNodes().map((n) => n.id))
    this.#log('info', 'cluster CA rotation started', { nodes: this.#store.listNodes().length })
  }

  /** A node's new certificate for a new key (renewal at two thirds of its life, or after a CA rotation). */
  async renew(node: NodeRecord, role: CertRole, names: CertificateNames): Promise<string> {
    const clusterId = this.clusterInfo().clusterId
    const certificate = await this.ca.issue(names.csr, { nodeId: node.id, role, clusterId, ...sans(names) })
    if (!this.#store.getNode(node.id)) throw new RequestRefusedError('MESH_ERR_UNAUTHORIZED', `node "${node.hostname}" was removed`)
    await this.ca.settled(node.id)
    return certificate
  }

  /**
   * Store the record `decide` makes from the node list (it may throw a refusal), with a certificate issued first for
   * its id: a request the CA refuses (a bad CSR) stores nothing.
   */
  async #register(names: CertificateNames, role: CertRole, decide: (nodes: NodeRecord[], id: string, now: number) => NodeRecord, newNodeId?: string): Promise<JoinResult> {
    const now = this.#now()
    const planned = decide(this.#store.listNodes(), newNodeId ?? newId(), now) // refusals (a member's hostname) before any signing
    const certificate = await this.ca.issue(names.csr, { nodeId: planned.id, role, clusterId: this.clusterInfo().clusterId, ...sans(names) })
    const node = await this.#store.transact((tx) => {
      const n = decide(tx.listNodes(), planned.id, now)
      if (n.id !== planned.id) throw new RequestRefusedError('MESH_ERR_CONFLICT', `node "${n.hostname}" changed while it registered; try again`)
      tx.putNode(n)
      return n
    })
    await this.ca.settled(node.id)
    return { node, certificate }
  }

  /** Whether a hostname belongs to a node that is not removed. */
  isMember(hostname: string): boolean {
    return memberNamed(this.#store.listNodes(), hostname) !== undefined
  }

  /**
   * Gossip says a node is alive (ready) or dead/left (down). Every manager remembers it; only the leader writes it
   * (one writer of node state), and a manager that gains the lead writes what it heard before.
   */
  async setNodeState(hostname: string, state: 'ready' | 'down'): Promise<void> {
    this.#observed.set(hostname, state)
    if (!this.#leadership.isLeader()) return
    await this.#writeNodeState(hostname, state)
  }

  async #writeNodeState(hostname: string, state: 'ready' | 'down'): Promise<void> {
    const current = this.#store.getNode(hostname)
    if (!current || current.state === state) return
    const now = this.#now()
    const changed = await this.#store.transact((tx) => {
      const n = tx.getNode(hostname)
      if (!n || n.state === state) return false
      tx.putNode({ ...n, state, stateChangedAt: now, updatedAt: now })
      return true
    })
    if (changed) this.#log('info', `node ${state}`, { node: hostname })
  }

  /** The node leaves on its own (`mesh leave`): down now, overlay registration revoked, tasks replaced (node-leave.ts). */
  async nodeLeft(node: NodeRecord): Promise<NodeRecord> {
    const now = this.#now()
    const left = await this.#store.transact((tx) => recordLeave(tx, node.id, now))
    this.#log('info', 'node left the cluster', { node: left.hostname })
    return left
  }

  async updateNode(idOrName: string, o: { availability?: Availability; role?: NodeRole; labelAdd?: Record<string, string>; labelRm?: string[] }): Promise<NodeRecord> {
    if (o.availability && !['active', 'pause', 'drain'].includes(o.availability)) throw invalid(`availability "${o.availability}" must be active, pause or drain`)
    if (o.role && !['manager', 'worker'].includes(o.role)) throw invalid(`role "${o.role}" must be manager or worker`)
    const before = this.#store.getNode(idOrName)
    if (before && o.role === 'manager' && before.role !== 'manager' && !this.#members) return (await this.#moveToEtcd(before.hostname)).updateNode(idOrName, o)
    if (before && o.role === 'worker' && before.role === 'manager') await this.#leaveManagers(before, 'demote')
    return this.#store.transact((tx) => {
      const n = tx.getNode(idOrName)
      if (!n) throw notFound(`node "${idOrName}" not found`)
      const labels = { ...n.labels, ...(o.labelAdd ?? {}) }
      for (const k of o.labelRm ?? []) {
        if (!(k in labels)) throw invalid(`node "${n.hostname}" has no label "${k}"`)
        delete labels[k]
      }
      const next = { ...n, labels, availability: o.availability ?? n.availability, role: o.role ?? n.role, updatedAt: this.#now() }
      tx.putNode(next)
      return next
    })
  }

  async removeNode(idOrName: string, force: boolean): Promise<void> {
    const before = this.#store.getNode(idOrName)
    if (before?.role === 'manager' && !(before.state === 'ready' && !force)) await this.#leaveManagers(before, 'remove')
    const id = await this.#store.transact((tx) => {
      const n = tx.getNode(idOrName)
      if (!n) throw notFound(`node "${idOrName}" not found`)
      if (n.state === 'ready' && !force) throw conflict(`node "${n.hostname}" is ready; stop its agent first, or use --force`)
      for (const t of tx.listTasks({ nodeId: n.id })) tx.putTask({ ...t, desiredState: 'shutdown', status: terminal(t, 'orphaned', 'node removed', this.#now()) })
      tx.deleteNode(n.id)
      releaseNodeSlices(tx, n.id, this.#now())
      return n.id
    })
    await this.ca.settled(id) // a removed node no longer holds up a CA rotation
  }

  /** Demote, rm: the last manager and a removal that costs the quorum are refused; else the member goes first. */
  async #leaveManagers(node: NodeRecord, what: 'demote' | 'remove'): Promise<void> {
    await leaveManagers({ nodes: this.#store.listNodes(), members: this.#members, log: this.#log }, node, what)
  }

  /**
   * A second manager asked for on SQLite: the state moves into a managed etcd first (StoreMove), once; the manager
   * that runs on etcd takes the request. Without a StoreMove (an external etcd), refused with the way to move.
   */
  async #moveToEtcd(hostname: string): Promise<Manager> {
    if (!this.#storeMove) throw singleManagerRefusal(hostname)
    if (this.#moving) throw new RequestRefusedError('MESH_ERR_UNAVAILABLE', MOVING_LINE)
    this.#moving = true
    try {
      return await this.#storeMove.toEtcd()
    } catch (err) {
      this.#moving = false
      if (err instanceof RequestRefusedError) throw err
      throw moveFailed(hostname, err as Error)
    }
  }

  /** Whether this cluster's managers run their own etcd members (`--store etcd`): it can have several managers. */
  get managedEtcd(): boolean {
    return this.#members !== undefined
  }

  /** A manager node's etcd member: certificate, `member add`, the KEK (manager-members.ts grantMember). */
  async grantEtcdMember(node: NodeRecord, o: { csr: string; peerPort: number }): Promise<EtcdMemberGrant> {
    return grantMember({ ca: this.ca, clusterId: this.clusterInfo().clusterId, vault: this.vault, members: this.#members, log: this.#log }, node, o)
  }

  // ---- services ------------------------------------------------------------------------------------------

  /** Secret or config values by id for a node's watch stream (delivery.ts), base64; one not readable now is left out. */
  fileValues(kind: 'secrets' | 'configs', ids: readonly string[]): DeliveredValue[] {
    return readValues(ids, kind === 'secrets' ? this.#secretValue : (id) => this.#store.getObject('config', id)?.spec.data)
  }

  /** Create, update, roll back and remove services: one store transaction each (service-writes.ts). */
  createService(spec: ServiceSpec): Promise<ServiceRecord> {
    return this.#services.create(spec)
  }

  updateService(idOrName: string, change: (spec: ServiceSpec) => ServiceSpec): Promise<ServiceRecord> {
    return this.#services.update(idOrName, change)
  }

  rollbackService(idOrName: string): Promise<ServiceRecord> {
    return this.#services.rollback(idOrName)
  }

  removeService(idOrName: string): Promise<void> {
    return this.#services.remove(idOrName)
  }

  // ---- tasks ---------------------------------------------------------------------------------------------

  /** An agent reports task states (task-reports.ts); resolves to how many were applied. */
  reportTasks(node: NodeRecord, updates: readonly unknown[]): Promise<number> {
    return applyTaskReports({ store: this.#store, overlayRange: this.#overlay.range, now: this.#now, log: this.#log }, node, updates)
  }

  // ---- reconcile loop ------------------------------------------------------------------------------------

  /** One pass of the reconcile loop (reconcile-loop.ts): plan, commit, schedule the next wake-up. Exposed for tests. */
  reconcileNow(): Promise<void> {
    return this.#loop.reconcileNow()
  }
}

function terminal(t: TaskRecord, state: TaskStatus['state'], message: string, now: number): TaskStatus {
  return TERMINAL_STATES.includes(t.status.state) ? t.status : { state, message, timestamp: now }
}

function sans(names: CertificateNames): { ipSans?: string[]; dnsSans?: string[] } {
  return { ...(names.ipSans ? { ipSans: names.ipSans } : {}), ...(names.dnsSans ? { dnsSans: names.dnsSans } : {}) }
}
