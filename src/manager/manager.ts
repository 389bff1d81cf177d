import { randomBytes } from 'node:crypto'
import { MeshError } from '../base/errors.ts'
import { validateConstraints } from './constraints.ts'
import { isEmptyPlan, prunable, reconcile } from './orchestrator.ts'
import type { Store, StoreTx } from './store.ts'
import { clusterDigest, newClusterId, newToken, roleForToken, type JoinRole } from './tokens.ts'
import { TERMINAL_STATES, TASK_STATES, type Availability, type NodeRecord, type NodeRole, type Resources, type ServiceRecord, type ServiceSpec, type TaskRecord, type TaskStatus } from '../api/types.ts'
import { rollbackService, updateService } from './update.ts'
import { DEFAULT_VIP_RANGE, VipExhaustedError, parseVipRange, vipFor } from './vip.ts'
import type { Cidr } from '../overlay/ipam.ts'
import { buildCatalog } from './build-catalog.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'

/**
 * The manager's controller: the only writer of desired state. API requests become one store transaction each
 * (validated first, so a bad request changes nothing); every committed change, and every time the orchestrator
 * asked to be woken, runs reconcile() (pure) and commits its plan. Node state comes from gossip.
 */

/** A request the manager refuses, with the HTTP status the API answers with. */
export class RequestError extends MeshError {
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(code, message)
    this.status = status
  }
}

const bad = (msg: string) => new RequestError(400, 'MESH_ERR_INVALID', msg)
const notFound = (msg: string) => new RequestError(404, 'MESH_ERR_NOT_FOUND', msg)
const conflict = (msg: string) => new RequestError(409, 'MESH_ERR_CONFLICT', msg)

export const newId = (): string => randomBytes(13).toString('hex').slice(0, 25)

export interface ManagerOptions {
  store: Store
  now?: () => number
  /** Range service VIPs are taken from. Default 10.78.0.0/16. */
  vipRange?: string
  log?: (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void
}

export interface JoinResult {
  node: NodeRecord
  credential: string
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/

/** Problems with a service spec, one sentence each (empty = fine). */
export function serviceSpecProblems(spec: ServiceSpec): string[] {
  const p: string[] = []
  if (!NAME_RE.test(spec.name ?? '')) p.push(`name "${spec.name}" must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit`)
  if (typeof spec.image !== 'string' || spec.image.trim() === '') p.push('image must not be empty')
  if ('replicated' in spec.mode) {
    const r = spec.mode.replicated.replicas
    if (!Number.isInteger(r) || r < 0) p.push('replicas must be ≥ 0')
  }
  const seen = new Set<string>()
  for (const port of spec.ports) {
    const key = `${port.published}/${port.protocol}`
    if (seen.has(key)) p.push(`published port ${key} is used twice`)
    seen.add(key)
  }
  p.push(...validateConstraints(spec.constraints))
  const { limits, reservations } = spec.resources
  if (limits.memoryBytes > 0 && reservations.memoryBytes > limits.memoryBytes) p.push('memory reservation exceeds the memory limit')
  if (limits.nanoCpus > 0 && reservations.nanoCpus > limits.nanoCpus) p.push('CPU reservation exceeds the CPU limit')
  return p
}

export class Manager {
  readonly store: Store
  readonly #now: () => number
  readonly #log: NonNullable<ManagerOptions['log']>
  #unwatch: (() => void) | null = null
  #timer: NodeJS.Timeout | null = null
  #wake: NodeJS.Timeout | null = null
  #stopped = false
  readonly #vipRange: Cidr
  #catalog: { snapshot: CatalogSnapshot; content: string; line: string } | null = null

  constructor(o: ManagerOptions) {
    this.#vipRange = parseVipRange(o.vipRange ?? DEFAULT_VIP_RANGE)
    this.store = o.store
    this.#now = o.now ?? Date.now
    this.#log = o.log ?? (() => undefined)
  }

  /** First start of a cluster: cluster id and join tokens (kept if they exist). */
  init(): { clusterId: string; created: boolean } {
    const existing = this.store.getMeta('cluster_id')
    if (existing) return { clusterId: existing, created: false }
    const clusterId = newClusterId()
    this.store.transact((tx) => {
      tx.setMeta('cluster_id', clusterId)
      tx.setMeta('token_worker', newToken(clusterId))
      tx.setMeta('token_manager', newToken(clusterId))
    })
    return { clusterId, created: true }
  }

  tokens(): { worker: string; manager: string } {
    return { worker: this.store.getMeta('token_worker') ?? '', manager: this.store.getMeta('token_manager') ?? '' }
  }

  rotateToken(role: JoinRole): string {
    const id = this.store.getMeta('cluster_id') as string
    const token = newToken(id)
    this.store.transact((tx) => tx.setMeta(`token_${role}`, token))
    return token
  }

  /**
   * The catalog (services → endpoints) agents' data planes read, built and serialised once per store revision for
   * every watch stream: `content` (the view without its revision) tells whether it changed since a stream's last
   * line; `line` is the NDJSON line `{catalog}` to send.
   */
  catalog(): { snapshot: CatalogSnapshot; content: string; line: string } {
    const rev = this.store.revision
    if (!this.#catalog || this.#catalog.snapshot.revision !== rev) {
      const snapshot = buildCatalog({ nodes: this.store.listNodes(), services: this.store.listServices(), tasks: this.store.listTasks() }, rev)
      const { revision: _, ...view } = snapshot
      this.#catalog = { snapshot, content: JSON.stringify(view), line: `${JSON.stringify({ catalog: snapshot })}\n` }
    }
    return this.#catalog
  }

  clusterInfo(): { clusterId: string; digest: string } {
    const id = this.store.getMeta('cluster_id') ?? ''
    return { clusterId: id, digest: id ? clusterDigest(id) : '' }
  }

  start(): void {
    this.#unwatch = this.store.watch(this.store.revision, () => this.#schedule(20))
    this.#schedule(0)
  }

  stop(): void {
    this.#stopped = true
    this.#unwatch?.()
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#wake) clearTimeout(this.#wake)
  }

  // ---- nodes ---------------------------------------------------------------------------------------------

  /** A node presents a join token (or is the init node): record it and issue its credential. */
  join(o: { token?: string; role?: NodeRole; hostname: string; addr: string; resources: Resources }): JoinResult {
    let role: NodeRole | null = o.role ?? null
    if (!role) {
      role = roleForToken(o.token ?? '', this.tokens())
      if (!role) throw new RequestError(401, 'MESH_ERR_TOKEN', 'invalid join token (check `mesh token show worker` on a manager)')
    }
    if (!NAME_RE.test(o.hostname)) throw bad(`node name "${o.hostname}" is not valid`)
    const credential = randomBytes(24).toString('base64url')
    const now = this.#now()
    const node = this.store.transact((tx) => {
      const old = tx.getNode(o.hostname)
      const n: NodeRecord = {
        id: old?.id ?? newId(), hostname: o.hostname, role: old?.role ?? role, availability: old?.availability ?? 'active',
        labels: old?.labels ?? {}, addr: o.addr, state: 'ready', stateChangedAt: now, resources: o.resources,
        createdAt: old?.createdAt ?? now, updatedAt: now,
      }
      tx.putNode(n)
      tx.setMeta(`cred_${n.id}`, credential)
      return n
    })
    this.#log('info', 'node joined', { node: node.hostname, role: node.role, id: node.id })
    return { node, credential }
  }

  /** The node a credential belongs to, or null. */
  nodeForCredential(credential: string): NodeRecord | null {
    for (const n of this.store.listNodes()) if (this.store.getMeta(`cred_${n.id}`) === credential) return n
    return null
  }

  /** Gossip says a node is alive (ready) or dead/left (down). */
  setNodeState(hostname: string, state: 'ready' | 'down'): void {
    const n = this.store.getNode(hostname)
    if (!n || n.state === state) return
    this.store.transact((tx) => tx.putNode({ ...n, state, stateChangedAt: this.#now(), updatedAt: this.#now() }))
    this.#log('info', `node ${state}`, { node: hostname })
  }

  updateNode(idOrName: string, o: { availability?: Availability; role?: NodeRole; labelAdd?: Record<string, string>; labelRm?: string[] }): NodeRecord {
    if (o.availability && !['active', 'pause', 'drain'].includes(o.availability)) throw bad(`availability "${o.availability}" must be active, pause or drain`)
    if (o.role && !['manager', 'worker'].includes(o.role)) throw bad(`role "${o.role}" must be manager or worker`)
    return this.store.transact((tx) => {
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

  removeNode(idOrName: string, force: boolean): void {
    this.store.transact((tx) => {
      const n = tx.getNode(idOrName)
      if (!n) throw notFound(`node "${idOrName}" not found`)
      if (n.state === 'ready' && !force) throw conflict(`node "${n.hostname}" is ready; stop its agent first, or use --force`)
      for (const t of tx.listTasks({ nodeId: n.id })) tx.putTask({ ...t, desiredState: 'shutdown', status: terminal(t, 'orphaned', 'node removed', this.#now()) })
      tx.deleteNode(n.id)
      tx.deleteMeta(`cred_${n.id}`)
    })
  }

  // ---- services ------------------------------------------------------------------------------------------

  createService(spec: ServiceSpec): ServiceRecord {
    const problems = serviceSpecProblems(spec)
    if (problems.length) throw bad(`service "${spec.name}": ${problems.join('; ')}`)
    const now = this.#now()
    return this.store.transact((tx) => {
      if (tx.getService(spec.name)) throw conflict(`service "${spec.name}" already exists`)
      this.#checkPortsFree(tx, spec, null)
      const s: ServiceRecord = { id: newId(), spec, version: 1, createdAt: now, updatedAt: now }
      const vip = this.#vip(spec, undefined, tx.listServices())
      if (vip) s.vip = vip
      tx.putService(s)
      return s
    })
  }

  updateService(idOrName: string, change: (spec: ServiceSpec) => ServiceSpec): ServiceRecord {
    return this.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      const spec = change(structuredClone(s.spec))
      if (spec.name !== s.spec.name) throw bad(`service "${s.spec.name}": the name cannot change`)
      const problems = serviceSpecProblems(spec)
      if (problems.length) throw bad(`service "${s.spec.name}": ${problems.join('; ')}`)
      this.#checkPortsFree(tx, spec, s.id)
      const next = updateService(s, spec, this.#now())
      const vip = this.#vip(spec, s.vip, tx.listServices())
      if (vip) next.vip = vip
      else delete next.vip
      tx.putService(next)
      return next
    })
  }

  rollbackService(idOrName: string): ServiceRecord {
    return this.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      let next: ServiceRecord
      try {
        next = rollbackService(s, this.#now())
      } catch (err) {
        throw bad((err as Error).message)
      }
      const vip = this.#vip(next.spec, s.vip, tx.listServices())
      if (vip) next.vip = vip
      else delete next.vip
      tx.putService(next)
      return next
    })
  }

  removeService(idOrName: string): void {
    this.store.transact((tx) => {
      const s = tx.getService(idOrName)
      if (!s) throw notFound(`service "${idOrName}" not found`)
      for (const t of tx.listTasks({ serviceId: s.id })) if (t.desiredState !== 'remove') tx.putTask({ ...t, desiredState: 'remove', updatedAt: this.#now() })
      tx.deleteService(s.id)
    })
  }

  /** The VIP `spec` gets: kept, allocated (endpoint mode vip) or dropped (dnsrr). The range is checked at start. */
  #vip(spec: ServiceSpec, current: string | undefined, services: ServiceRecord[]): string | undefined {
    try {
      return vipFor(spec, current, services, this.#vipRange)
    } catch (err) {
      if (err instanceof VipExhaustedError) throw conflict(`service "${spec.name}": ${err.message}`)
      throw err
    }
  }

  #checkPortsFree(tx: StoreTx, spec: ServiceSpec, self: string | null): void {
    for (const other of tx.listServices()) {
      if (other.id === self) continue
      for (const p of spec.ports) {
        if (other.spec.ports.some((q) => q.published === p.published && q.protocol === p.protocol && q.mode === 'ingress' && p.mode === 'ingress')) {
          throw conflict(`port ${p.published}/${p.protocol} is already published by service "${other.spec.name}"`)
        }
      }
    }
  }

  // ---- tasks ---------------------------------------------------------------------------------------------

  /** An agent reports task states; states only move forward; only the task's own node may report. */
  reportTasks(node: NodeRecord, updates: { taskId: string; status: TaskStatus; ip?: string }[]): number {
    let applied = 0
    this.store.transact((tx) => {
      for (const u of updates) {
        const t = tx.getTask(u.taskId)
        if (!t || t.nodeId !== node.id) continue
        if (!TASK_STATES.includes(u.status.state)) throw bad(`task state "${u.status.state}" is not a task state`)
        if (TASK_STATES.indexOf(u.status.state) < TASK_STATES.indexOf(t.status.state)) continue
        // startedAt: when the task first ran (the update monitor tells "failed at start" from "died later").
        const startedAt = t.status.startedAt ?? (u.status.state === 'running' ? u.status.timestamp || this.#now() : undefined)
        const status = { ...u.status, ...(startedAt !== undefined ? { startedAt } : {}) }
        tx.putTask({ ...t, status, ...(u.ip ? { ip: u.ip } : {}), updatedAt: this.#now() })
        applied++
      }
    })
    return applied
  }

  // ---- reconcile loop ------------------------------------------------------------------------------------

  #schedule(ms: number): void {
    if (this.#stopped || this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      try {
        this.reconcileNow()
      } catch (err) {
        this.#log('error', 'reconcile failed', { err: (err as Error).message })
        this.#schedule(1000)
      }
    }, ms)
  }

  /** One pass: plan, commit, clean up; schedules the next wake-up. Exposed for tests. */
  reconcileNow(): void {
    const now = this.#now()
    const state = this.store.getState()
    const plan = reconcile(state, now, { newId })
    const services = new Set(state.services.map((s) => s.id))
    const dropped = prunable(state)
    // Tasks of removed services go once their container is gone (or they never got one).
    for (const t of state.tasks) {
      if (!services.has(t.serviceId) && (TERMINAL_STATES.includes(t.status.state) || t.nodeId === '')) dropped.push(t.id)
    }
    if (!isEmptyPlan(plan) || dropped.length > 0) {
      this.store.transact((tx) => {
        for (const t of plan.create) tx.putTask(t)
        for (const t of plan.update) tx.putTask(t)
        for (const s of plan.serviceUpdates) tx.putService(s)
        for (const id of new Set(dropped)) tx.deleteTask(id)
      })
      for (const e of plan.events) this.#log(e.type === 'taskUnschedulable' ? 'warn' : 'info', e.message, { event: e.type, service: e.serviceId, task: e.taskId })
    }
    if (this.#wake) clearTimeout(this.#wake)
    this.#wake = null
    if (plan.wakeAt !== undefined && !this.#stopped) {
      this.#wake = setTimeout(() => this.#schedule(0), Math.max(10, plan.wakeAt - now))
    }
  }
}

function terminal(t: TaskRecord, state: TaskStatus['state'], message: string, now: number): TaskStatus {
  return TERMINAL_STATES.includes(t.status.state) ? t.status : { state, message, timestamp: now }
}
