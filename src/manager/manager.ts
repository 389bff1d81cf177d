import { randomBytes } from 'node:crypto'
import { realClock, type Clock, type TimerHandle } from '../base/clock.ts'
import { validateServiceSpec } from '../api/index.ts'
import { RequestRefusedError } from './request-refused.ts'
import { EventLog } from './events.ts'
import { LogBroker } from './logs.ts'
import { isEmptyPlan, prunable, reconcile } from './orchestrator.ts'
import type { Store, StoreEvent, StoreTx, TaskFilter, Unsubscribe } from './store.ts'
import { sameSecret } from '../base/secret.ts'
import { clusterDigest, newClusterId, newToken, roleForToken, type JoinRole } from './tokens.ts'
import { TERMINAL_STATES, TASK_STATES, type Availability, type ClusterState, type NodeRecord, type NodeRole, type ServiceRecord, type ServiceSpec, type TaskRecord, type TaskStatus } from '../api/types.ts'
import { rollbackService, updateService } from './update.ts'
import { parseVipRange } from './vip.ts'
import { checkPortsFree, serviceVip } from './service-rules.ts'
import { parseCidr, type Cidr } from '../base/cidr.ts'
import { DEFAULT_OVERLAY_RANGE, DEFAULT_VIP_RANGE } from '../config/index.ts'
import { taskAddressProblem } from './task-address.ts'
import { checkTaskReport, type TaskReport } from './task-report.ts'
import { buildCatalog } from './build-catalog.ts'
import { checkNodeName, joinedNode, selfNode, type JoiningNode } from './node-identity.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'
import { GossipKeys } from './gossip-keys.ts'

/**
 * The manager's controller: the only writer of desired state. API requests become one store transaction each
 * (validated first, so a bad request changes nothing); every committed change, and every time the orchestrator
 * asked to be woken, runs reconcile() (pure) and commits its plan. Node state comes from gossip.
 * Writes are asynchronous (`Store.transact` resolves once committed); reads are synchronous on the store's view.
 * A transaction callback may run more than once (optimistic stores): it only reads the tx and returns a value.
 */

const bad = (msg: string) => new RequestRefusedError('MESH_ERR_INVALID', msg)
const notFound = (msg: string) => new RequestRefusedError('MESH_ERR_NOT_FOUND', msg)
const conflict = (msg: string) => new RequestRefusedError('MESH_ERR_CONFLICT', msg)

export const newId = (): string => randomBytes(13).toString('hex').slice(0, 25)

export interface ManagerOptions {
  store: Store
  /** Timers of the reconcile loop (wake-ups, retries). Default: the real clock. */
  clock?: Clock
  /** Wall-clock milliseconds for record timestamps and the orchestrator's `now`. Default Date.now. */
  now?: () => number
  /** The `service logs` broker both listeners share. Default: a new one on `clock`. */
  logBroker?: LogBroker
  /** Cluster events (GET /v1/events, dashboard, metrics); started by start(). Default: a new one on the store. */
  events?: EventLog
  /** Range service VIPs are taken from. Default 10.78.0.0/16. */
  vipRange?: string
  /** The cluster overlay range task addresses must lie in. Default: the overlay config's (10.77.0.0/16). */
  overlayRange?: string
  /** The overlay subnet a node holds (from gossip), or null when unknown; a task address must lie inside it. */
  nodeSubnet?: (node: NodeRecord) => string | null
  log?: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
  /** How long one gossip key rotation step waits for every ready node's ack, ms. Default 30 s. */
  gossipAckWaitMs?: number
}

export interface JoinResult {
  node: NodeRecord
  credential: string
}

export class Manager {
  readonly #store: Store
  readonly #clock: Clock
  readonly #now: () => number
  readonly #log: NonNullable<ManagerOptions['log']>
  /** The `service logs` broker between the CLI and the agents' watch streams. */
  readonly logs: LogBroker
  /** Cluster events as `mesh events` shows them. */
  readonly events: EventLog
  /** The cluster's gossip keyring and its rotation (gossip-keys.ts). */
  readonly gossipKeys: GossipKeys
  #unwatch: (() => void) | null = null
  #timer: TimerHandle | null = null
  #wake: TimerHandle | null = null
  #stopped = false
  readonly #vipRange: Cidr
  readonly #overlayRange: Cidr
  readonly #nodeSubnet: (node: NodeRecord) => string | null
  #catalog: { snapshot: CatalogSnapshot; content: string; line: string } | null = null

  constructor(o: ManagerOptions) {
    this.#vipRange = parseVipRange(o.vipRange ?? DEFAULT_VIP_RANGE)
    this.#overlayRange = parseCidr(o.overlayRange ?? DEFAULT_OVERLAY_RANGE, 'overlay range')
    this.#nodeSubnet = o.nodeSubnet ?? (() => null)
    this.#store = o.store
    this.#clock = o.clock ?? realClock()
    this.#now = o.now ?? Date.now
    this.#log = o.log ?? (() => undefined)
    this.logs = o.logBroker ?? new LogBroker({ clock: this.#clock })
    this.events = o.events ?? new EventLog(o.store, { now: this.#now })
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

  /** First start of a cluster: cluster id and join tokens (kept if they exist). */
  async init(): Promise<{ clusterId: string; created: boolean }> {
    const clusterId = newClusterId()
    const worker = newToken(clusterId)
    const manager = newToken(clusterId)
    return this.#store.transact((tx) => {
      const existing = tx.getMeta('cluster_id')
      if (existing) return { clusterId: existing, created: false }
      tx.setMeta('cluster_id', clusterId)
      tx.setMeta('token_worker', worker)
      tx.setMeta('token_manager', manager)
      return { clusterId, created: true }
    })
  }

  tokens(): { worker: string; manager: string } {
    return { worker: this.#store.getMeta('token_worker') ?? '', manager: this.#store.getMeta('token_manager') ?? '' }
  }

  async rotateToken(role: JoinRole): Promise<string> {
    const token = newToken(this.#store.getMeta('cluster_id') as string)
    await this.#store.transact((tx) => tx.setMeta(`token_${role}`, token))
    return token
  }

  /**
   * The catalog (services → endpoints) agents' data planes read, built and serialised once per store revision for
   * every watch stream: `content` (the view without its revision) tells whether it changed since a stream's last
   * line; `line` is the NDJSON line `{catalog}` to send.
   */
  catalog(): { snapshot: CatalogSnapshot; content: string; line: string } {
    const rev = this.#store.revision
    if (!this.#catalog || this.#catalog.snapshot.revision !== rev) {
      const snapshot = buildCatalog({ nodes: this.#store.listNodes(), services: this.#store.listServices(), tasks: this.#store.listTasks() }, rev)
      const { revision: _, ...view } = snapshot
      this.#catalog = { snapshot, content: JSON.stringify(view), line: `${JSON.stringify({ catalog: snapshot })}\n` }
    }
    return this.#catalog
  }

  clusterInfo(): { clusterId: string; digest: string } {
    const id = this.#store.getMeta('cluster_id') ?? ''
    return { clusterId: id, digest: id ? clusterDigest(id) : '' }
  }

  start(): void {
    this.events.start()
    this.gossipKeys.start()
    this.#unwatch = this.#store.watch(this.#store.revision, () => this.#schedule(20))
    this.#schedule(0)
  }

  stop(): void {
    this.#stopped = true
    this.#unwatch?.()
    this.events.stop()
    this.gossipKeys.stop()
    this.#clock.clearTimeout(this.#timer)
    this.#clock.clearTimeout(this.#wake)
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
  /** Hear every change committed from now on, in revision order. */
  watch(cb: (event: StoreEvent) => void): Unsubscribe {
    return this.#store.watch(this.#store.revision, cb)
  }

  // ---- nodes ---------------------------------------------------------------------------------------------

  /** Which role a join token grants, or null; the API checks it before it reads a join request's body. */
  joinRole(token: string): JoinRole | null {
    return roleForToken(token, this.tokens())
  }

  /**
   * A node presents a join token over the API: a NEW node (fresh id and credential) with the token's role (worker
   * token → worker, manager token → manager). A hostname that belongs to a node that is not removed is refused (409)
   * until `mesh node rm` (node-identity.ts): a join token never takes over a member's id, credential or tasks.
   */
  async join(o: JoiningNode & { token: string }): Promise<JoinResult> {
    const role = this.joinRole(o.token)
    if (!role) throw new RequestRefusedError('MESH_ERR_TOKEN', 'invalid join token (check `mesh token show worker` on a manager)')
    checkNodeName(o.hostname)
    const r = await this.#register((nodes, id, now) => joinedNode(nodes, o, role, id, now))
    this.#log('info', 'node joined', { node: r.node.hostname, role: r.node.role, id: r.node.id })
    return r
  }

  /**
   * The manager's own node, registered in-process at every manager start (no HTTP route reaches it): keeps its id,
   * labels and availability when the store holds this hostname as a manager, is created as a manager otherwise, and
   * gets a fresh credential for this process's link. Refused (MESH_ERR_CONFLICT) when the hostname is a worker's.
   */
  async registerSelf(o: JoiningNode): Promise<JoinResult> {
    checkNodeName(o.hostname)
    const r = await this.#register((nodes, id, now) => selfNode(nodes, o, id, now))
    this.#log('info', 'manager node registered', { node: r.node.hostname, id: r.node.id })
    return r
  }

  /** Store the record `decide` makes from the node list (it may throw a refusal) with a new credential. */
  async #register(decide: (nodes: NodeRecord[], id: string, now: number) => NodeRecord): Promise<JoinResult> {
    const credential = randomBytes(24).toString('base64url')
    const id = newId()
    const now = this.#now()
    const node = await this.#store.transact((tx) => {
      const n = decide(tx.listNodes(), id, now)
      tx.putNode(n)
      tx.setMeta(`cred_${n.id}`, credential)
      return n
    })
    return { node, credential }
  }

  /** The node a credential belongs to, or null. */
  nodeForCredential(credential: string): NodeRecord | null {
    let found: NodeRecord | null = null // every node is compared, in constant time: no early exit to time
    for (const n of this.#store.listNodes()) if (sameSecret(credential, this.#store.getMeta(`cred_${n.id}`) ?? '') && !found) found = n
    return found
  }

  /** Gossip says a node is alive (ready) or dead/left (down). */
  async setNodeState(hostname: string, state: 'ready' | 'down'): Promise<void> {
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

  async updateNode(idOrName: string, o: { availability?: Availability; role?: NodeRole; labelAdd?: Record<string, string>; labelRm?: string[] }): Promise<NodeRecord> {
    if (o.availability && !['active', 'pause', 'drain'].includes(o.availability)) throw bad(`availability "${o.availability}" must be active, pause or drain`)
    if (o.role && !['manager', 'worker'].includes(o.role)) throw bad(`role "${o.role}" must be manager or worker`)
    return this.#store.transact((tx) => {
      const n = tx.getNode(idOrName)
      if (!n) throw notFound(`node "${idOrName}" not found`)
      const labels = { ...n.labels, ...(o.labelAdd ?? {}) }
      for (const k of o.labelRm ?? []) {
        if (!(k in labels)) throw bad(`node "${n.hostname}" has no label "${k}"`)
        delete labels[k]
      }
      const next = { ...n, labels, availability: o.availability ?? n.availability, role: o.role ?? n.role, updatedAt: this.#now() }
      tx.putNode(next)
      return next
    })
  }

  async removeNode(idOrName: string, force: boolean): Promise<void> {
    await this.#store.transact((tx) => {
      const n = tx.getNode(idOrName)
      if (!n) throw notFound(`node "${idOrName}" not found`)
      if (n.state === 'ready' && !force) throw conflict(`node "${n.hostname}" is ready; stop its agent first, or use --force`)
      for (const t of tx.listTasks({ nodeId: n.id })) tx.putTask({ ...t, desiredState: 'shutdown', status: terminal(t, 'orphaned', 'node removed', this.#now()) })
      tx.deleteNode(n.id)
      tx.deleteMeta(`cred_${n.id}`)
    })
  }

  // ---- services ------------------------------------------------------------------------------------------

  async createService(spec: ServiceSpec): Promise<ServiceRecord> {
    const problems = validateServiceSpec(spec)
    if (problems.length) throw bad(`service "${spec.name}": ${problems.join('; ')}`)
    const now = this.#now()
    return this.#store.transact((tx) => {
      if (tx.getService(spec.name)) throw conflict(`service "${spec.name}" already exists`)
      checkPortsFree(tx.listServices(), spec, null)
      const s: ServiceRecord = { id: newId(), spec, version: 1, createdAt: now, updatedAt: now }
      return this.#putWithVip(tx, s, undefined)
    })
  }

  async updateService(idOrName: string, change: (spec: ServiceSpec) => ServiceSpec): Promise<ServiceRecord> {
    return this.#store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      const spec = change(structuredClone(s.spec))
      if (spec.name !== s.spec.name) throw bad(`service "${s.spec.name}": the name cannot change`)
      const problems = validateServiceSpec(spec)
      if (problems.length) throw bad(`service "${s.spec.name}": ${problems.join('; ')}`)
      checkPortsFree(tx.listServices(), spec, s.id)
      const next = updateService(s, spec, this.#now())
      return this.#putWithVip(tx, next, s.vip)
    })
  }

  async rollbackService(idOrName: string): Promise<ServiceRecord> {
    return this.#store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      let next: ServiceRecord
      try {
        next = rollbackService(s, this.#now())
      } catch (err) {
        throw bad((err as Error).message)
      }
      return this.#putWithVip(tx, next, s.vip)
    })
  }

  /** Store a service with its VIP: kept from `previous` when it still needs one, the lowest free one if new, none for dnsrr. */
  #putWithVip(tx: StoreTx, s: ServiceRecord, previous: string | undefined): ServiceRecord {
    const vip = serviceVip(s.spec, previous, tx.listServices(), this.#vipRange)
    if (vip) s.vip = vip
    else delete s.vip
    tx.putService(s)
    return s
  }

  async removeService(idOrName: string): Promise<void> {
    await this.#store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      for (const t of tx.listTasks({ serviceId: s.id })) if (t.desiredState !== 'remove') tx.putTask({ ...t, desiredState: 'remove', updatedAt: this.#now() })
      tx.deleteService(s.id)
    })
  }

  // ---- tasks ---------------------------------------------------------------------------------------------

  /**
   * An agent reports task states; states only move forward; only the task's own node may report. Each report is
   * checked on its own before anything is stored (task-report.ts: shape, state, fields; task-address.ts: the address
   * must be an IPv4 of the node's overlay subnet): a bad one is skipped and logged, the others apply.
   */
  async reportTasks(node: NodeRecord, updates: readonly unknown[]): Promise<number> {
    const checked = updates.map(checkTaskReport)
    const subnet = checked.some((c) => 'report' in c && c.report.ip) ? this.#nodeSubnet(node) : null
    const good: TaskReport[] = []
    const refused: { problem: string; taskId?: string }[] = []
    for (const c of checked) {
      if (!('report' in c)) refused.push(c)
      else {
        const problem = c.report.ip ? taskAddressProblem(c.report.ip, subnet, this.#overlayRange) : null
        if (problem) refused.push({ problem, taskId: c.report.taskId })
        else good.push(c.report)
      }
    }
    const applied = good.length === 0 ? 0 : await this.#store.transact((tx) => {
      let n = 0
      for (const u of good) {
        const t = tx.getTask(u.taskId)
        if (!t || t.nodeId !== node.id) continue
        if (TASK_STATES.indexOf(u.status.state) < TASK_STATES.indexOf(t.status.state)) continue
        // startedAt: when the task first ran (the update monitor tells "failed at start" from "died later").
        const startedAt = t.status.startedAt ?? (u.status.state === 'running' ? u.status.timestamp || this.#now() : undefined)
        const status = { ...u.status, ...(startedAt !== undefined ? { startedAt } : {}) }
        tx.putTask({ ...t, status, ...(u.ip ? { ip: u.ip } : {}), updatedAt: this.#now() })
        n++
      }
      return n
    })
    for (const r of refused) this.#log('warn', `task status refused: ${r.problem}`, { task: r.taskId, node: node.hostname })
    return applied
  }

  // ---- reconcile loop ------------------------------------------------------------------------------------

  #schedule(ms: number): void {
    if (this.#stopped || this.#timer) return
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null
      this.reconcileNow().catch((err: unknown) => {
        this.#log('error', 'reconcile failed', { err: (err as Error).message })
        this.#schedule(1000)
      })
    }, ms)
  }

  /**
   * One pass: plan, commit, clean up; schedules the next wake-up. The plan is made inside the transaction from
   * what it reads, so a store that runs the callback again (another writer committed first) plans again.
   * Exposed for tests.
   */
  async reconcileNow(): Promise<void> {
    const now = this.#now()
    const plan = await this.#store.transact((tx) => {
      const state: ClusterState = { nodes: tx.listNodes(), services: tx.listServices(), tasks: tx.listTasks() }
      const p = reconcile(state, now, { newId })
      const services = new Set(state.services.map((s) => s.id))
      const dropped = prunable(state)
      // Tasks of removed services go once their container is gone (or they never got one).
      for (const t of state.tasks) {
        if (!services.has(t.serviceId) && (TERMINAL_STATES.includes(t.status.state) || t.nodeId === '')) dropped.push(t.id)
      }
      if (isEmptyPlan(p) && dropped.length === 0) return p
      for (const t of p.create) tx.putTask(t)
      for (const t of p.update) tx.putTask(t)
      for (const s of p.serviceUpdates) tx.putService(s)
      for (const id of new Set(dropped)) tx.deleteTask(id)
      return p
    })
    for (const e of plan.events) this.#log(e.type === 'taskUnschedulable' ? 'warn' : 'info', e.message, { event: e.type, service: e.serviceId, task: e.taskId })
    this.#clock.clearTimeout(this.#wake)
    this.#wake = null
    if (plan.wakeAt !== undefined && !this.#stopped) {
      this.#wake = this.#clock.setTimeout(() => this.#schedule(0), Math.max(10, plan.wakeAt - now))
    }
  }
}

function terminal(t: TaskRecord, state: TaskStatus['state'], message: string, now: number): TaskStatus {
  return TERMINAL_STATES.includes(t.status.state) ? t.status : { state, message, timestamp: now }
}
