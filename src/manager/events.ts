/**
 * Cluster events, as `docker events` shows them: what changed in the manager's store, told as node, task and
 * service events. The EventLog subscribes to the store's ordered watch (it never writes), compares each committed
 * record with the one it saw before, and records one event per meaningful change:
 *
 *   node     join · ready · down · update (availability, role, labels, address) · remove
 *   task     <state it reached> (from=…, node, service, slot, message) · desired (desired state changed) · delete
 *   service  create · scale (replica count only) · update (spec or rollout state) · remove
 *   secret   create · update (labels) · remove      (never a value)
 *   config   create · update (labels) · remove
 *   network  create · remove
 *
 * Events carry a local time and an id that grows with each event: by one, or with a history that asks for revision
 * ids (etcd, shared by several managers: event-history.ts) `revision × 65,536 + place in the revision`, the same id
 * on every manager for the same event. The last `capacity` events (default 10,000) stay in a ring buffer for
 * `--since`; subscribers hear each new event once, in order. With a `history` (the
 * store, event-history.ts) the log is kept across restarts: `start()` loads the stored events into the ring (ids
 * go on from the newest), and each new event is appended to the store shortly after it happened, in batches, in
 * order; the writer prunes the store to the newest `capacity` events and to `maxAgeMs` (default 24 h). Events
 * derived while an asynchronous load (etcd) is under way are held and told once it is done, after the stored ones
 * (with revision ids, one the history already holds — another manager stored it — is not told twice).
 * Without a history, it starts when the log starts (the manager process).
 *
 * Who calls it: the Manager owns one (started with it); src/manager/http/observe-api.ts (GET /v1/events, the
 * dashboard) and src/manager/metrics.ts read it.
 */
import { EventQueryError, TERMINAL_STATES, matchesFilter, modeFlag, replicasOf, type ClusterEvent, type ClusterEventType, type EventFilter, type NodeRecord, type ServiceRecord, type TaskRecord } from '../api/index.ts'
import type { Store, StoreEvent, Unsubscribe } from './store.ts'
import { DEFAULT_EVENT_AGE_MS, DEFAULT_EVENT_COUNT, checkBounds, type EventHistory } from './event-history.ts'
import { EventRing } from './event-ring.ts'
import { ConfigError } from '../base/errors.ts'

export { EVENT_TYPES, EventQueryError, FILTER_KEYS, matchesFilter, parseEventFilters } from '../api/index.ts'
export type { ClusterEvent, ClusterEventType, EventFilter } from '../api/index.ts'

/** Counts kept for /metrics (monotonic since the log started). */
export interface EventCounts {
  /** `${type} ${action}` → count. */
  byAction: Map<string, number>
  /** New tasks that replace one that failed, was rejected, orphaned, or sat on a node that went down. */
  reschedules: number
}

export interface EventLogOptions {
  /** Events kept for `since` queries, in memory and in the history. Default 10,000. */
  capacity?: number
  /** With a history: stored events older than this are pruned (and not loaded), ms. Default 86,400,000 (24 h). */
  maxAgeMs?: number
  /** Where events are kept across restarts (the store); none: in memory only. */
  history?: EventHistory
  /**
   * Whether this log appends to the history now (default: always). With several managers on one store only one
   * should write (the leader: the Leadership role); the others load the history and derive the same events.
   */
  writer?: () => boolean
  /** Hears a failed load or append (the log goes on in memory; a failed batch is tried again with the next). */
  onError?: (err: unknown, what: 'load' | 'append') => void
  now?: () => number
}

type Draft = Omit<ClusterEvent, 'id'>

const RESCHEDULE_CAUSES = new Set(['failed', 'rejected', 'orphaned'])

export class EventLog {
  readonly #store: Store
  readonly #now: () => number
  readonly #capacity: number
  /** The newest `capacity` events and the numbering (event-ring.ts). */
  readonly #ring: EventRing
  readonly #nodes = new Map<string, NodeRecord>()
  readonly #services = new Map<string, ServiceRecord>()
  readonly #tasks = new Map<string, TaskRecord>()
  /** Network ids seen (a put of a known one is a slice change: no event). */
  readonly #networks = new Set<string>()
  /** Task ids by `serviceId slot`, to find a new task's predecessors without a scan. */
  readonly #slots = new Map<string, Set<string>>()
  readonly #subscribers = new Set<(e: ClusterEvent) => void>()
  #unwatch: Unsubscribe | null = null
  readonly #history: EventHistory | undefined
  readonly #maxAgeMs: number
  readonly #onError: (err: unknown, what: 'load' | 'append') => void
  readonly #writer: () => boolean
  /** Events derived before the history was loaded (async backends): told once it is. */
  #held: Draft[] | null = null
  /** Events told but not yet appended to the history, oldest first. */
  #unsaved: ClusterEvent[] = []
  #saving: Promise<void> | null = null
  #loaded: Promise<void> = Promise.resolve()
  readonly counts: EventCounts = { byAction: new Map(), reschedules: 0 }

  constructor(store: Store, o: EventLogOptions = {}) {
    this.#store = store
    this.#now = o.now ?? Date.now
    this.#capacity = Math.max(1, o.capacity ?? DEFAULT_EVENT_COUNT)
    this.#maxAgeMs = o.maxAgeMs ?? DEFAULT_EVENT_AGE_MS
    const bad = checkBounds(this.#capacity, this.#maxAgeMs)
    if (bad) throw new ConfigError(bad)
    this.#ring = new EventRing(this.#capacity, o.history?.eventIds ?? 'sequence')
    this.#history = o.history
    this.#onError = o.onError ?? (() => {})
    this.#writer = o.writer ?? (() => true)
  }

  /** Resolves once the stored history is in the ring (at once without a history or on SQLite). */
  get ready(): Promise<void> {
    return this.#loaded
  }

  /** Resolves once every event told so far was appended to the history (or its append failed). */
  async flush(): Promise<void> {
    await this.#loaded
    while (this.#saving) await this.#saving
  }

  /** Read the current state as the baseline (no events for it), then follow the store. */
  start(): void {
    if (this.#unwatch) return
    const rev = this.#store.revision
    const state = this.#store.getState()
    for (const n of state.nodes) this.#nodes.set(n.id, n)
    for (const s of state.services) this.#services.set(s.id, s)
    for (const t of state.tasks) this.#putTask(t)
    for (const n of this.#store.listObjects('network')) this.#networks.add(n.id)
    this.#load()
    this.#unwatch = this.#store.watch(rev, (e) => this.#onStoreEvent(e))
  }

  #load(): void {
    if (!this.#history) return
    let stored: ClusterEvent[] | Promise<ClusterEvent[]>
    try {
      stored = this.#history.listEvents()
    } catch (err) {
      this.#onError(err, 'load')
      return
    }
    if (Array.isArray(stored)) {
      this.#restore(stored)
      return
    }
    this.#held = []
    this.#loaded = stored.then((events) => this.#restore(events), (err) => this.#onError(err, 'load')).finally(() => {
      const held = this.#held ?? []
      this.#held = null
      for (const d of held) this.#tell(d)
    })
  }

  /** Puts stored events (oldest first) in the ring, within the bounds; new ids go on from the newest. */
  #restore(events: readonly ClusterEvent[]): void {
    const oldest = this.#now() - this.#maxAgeMs
    for (const e of events.filter((e) => e.time >= oldest).slice(-this.#capacity)) this.#ring.push(e)
  }

  stop(): void {
    this.#unwatch?.()
    this.#unwatch = null
    this.#subscribers.clear()
  }

  /** Id of the newest event (0: none yet). */
  get lastId(): number {
    return this.#ring.lastId
  }

  /** Buffered events at or after `sinceMs` (and after id `afterId`), oldest first, that match `filter`. */
  since(sinceMs = 0, filter: EventFilter = {}, afterId = 0): ClusterEvent[] {
    return this.#ring.select((e) => e.id > afterId && e.time >= sinceMs && matchesFilter(e, filter))
  }

  /** Hear every new event, in order; returns the unsubscribe function. A throwing subscriber is dropped. */
  subscribe(cb: (e: ClusterEvent) => void): Unsubscribe {
    this.#subscribers.add(cb)
    return () => this.#subscribers.delete(cb)
  }

  #emit(revision: number, type: ClusterEventType, action: string, subject: string, subjectId: string, attributes: Record<string, string>): void {
    const d: Draft = { time: this.#now(), revision, type, action, subject, subjectId, attributes: Object.freeze(attributes) }
    if (this.#held) this.#held.push(d)
    else this.#tell(d)
  }

  #tell(d: Draft): void {
    // Null with revision ids: an event the loaded history already holds (another manager stored it), or past the
    // numbers one revision has.
    const id = this.#ring.nextId(d.revision, (err) => this.#onError(err, 'append'))
    if (id === null) return
    const e: ClusterEvent = Object.freeze({ id, ...d })
    this.#ring.push(e)
    if (this.#history && this.#writer()) this.#save(e)
    const key = `${e.type} ${e.action}`
    this.counts.byAction.set(key, (this.counts.byAction.get(key) ?? 0) + 1)
    for (const cb of [...this.#subscribers]) {
      try {
        cb(e)
      } catch {
        this.#subscribers.delete(cb)
      }
    }
  }

  /** Queues `e` for the history; one append at a time, each taking everything queued (a failed batch is kept). */
  #save(e: ClusterEvent): void {
    this.#unsaved.push(e)
    if (!this.#saving) this.#saving = this.#drainSaves(this.#history as EventHistory)
  }

  async #drainSaves(history: EventHistory): Promise<void> {
    try {
      // Let the rest of this commit's events join the batch.
      await Promise.resolve()
      while (this.#unsaved.length > 0) {
        const batch = this.#unsaved
        this.#unsaved = []
        try {
          await history.appendEvents(batch, { maxCount: this.#capacity, maxAgeMs: this.#maxAgeMs, now: this.#now() })
        } catch (err) {
          this.#onError(err, 'append')
          this.#unsaved = [...batch, ...this.#unsaved].slice(-this.#capacity)
          return
        }
      }
    } finally {
      // In the same step as the loop's last check: an event told after it starts a new drain.
      this.#saving = null
    }
  }

  #onStoreEvent(ev: StoreEvent): void {
    if (ev.kind === 'node') this.#onNode(ev.revision, ev.op, ev.record)
    else if (ev.kind === 'service') this.#onService(ev.revision, ev.op, ev.record)
    else if (ev.kind === 'task') this.#onTask(ev.revision, ev.op, ev.record)
    else if (ev.kind === 'secret' || ev.kind === 'config') {
      // name and id only: a secret's record carries its sealed value, which no event shows
      const r = ev.record
      const action = ev.op === 'delete' ? 'remove' : r.version > 1 ? 'update' : 'create'
      this.#emit(ev.revision, ev.kind, action, r.spec.name, r.id, { id: r.id, name: r.spec.name })
    } else if (ev.kind === 'network') {
      const n = ev.record
      const attrs = { id: n.id, driver: n.spec.driver, subnet: n.subnet }
      if (ev.op === 'delete') {
        this.#networks.delete(n.id)
        this.#emit(ev.revision, 'network', 'remove', n.spec.name, n.id, attrs)
      } else if (!this.#networks.has(n.id)) {
        this.#networks.add(n.id)
        this.#emit(ev.revision, 'network', 'create', n.spec.name, n.id, attrs)
      }
    }
  }

  #onNode(rev: number, op: 'put' | 'delete', n: NodeRecord): void {
    const old = this.#nodes.get(n.id)
    const base = { id: n.id, role: n.role, addr: n.addr }
    if (op === 'delete') {
      this.#nodes.delete(n.id)
      this.#emit(rev, 'node', 'remove', n.hostname, n.id, base)
      return
    }
    this.#nodes.set(n.id, n)
    if (!old) {
      this.#emit(rev, 'node', 'join', n.hostname, n.id, { ...base, availability: n.availability, state: n.state })
      return
    }
    if (old.state !== n.state && (n.state === 'ready' || n.state === 'down')) {
      this.#emit(rev, 'node', n.state, n.hostname, n.id, { ...base, from: old.state })
    }
    const changed: Record<string, string> = {}
    if (old.availability !== n.availability) changed.availability = n.availability
    if (old.role !== n.role) changed.role = n.role
    if (old.addr !== n.addr) changed.addr = n.addr
    if (JSON.stringify(old.labels) !== JSON.stringify(n.labels)) changed.labels = Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',')
    if (old.hostname !== n.hostname) changed.hostname = n.hostname
    if (Object.keys(changed).length > 0) this.#emit(rev, 'node', 'update', n.hostname, n.id, { ...base, ...changed })
  }

  #onService(rev: number, op: 'put' | 'delete', s: ServiceRecord): void {
    const old = this.#services.get(s.id)
    const name = s.spec.name
    if (op === 'delete') {
      this.#services.delete(s.id)
      this.#emit(rev, 'service', 'remove', name, s.id, { id: s.id })
      return
    }
    this.#services.set(s.id, s)
    const mode = modeFlag(s.spec.mode)
    if (!old) {
      this.#emit(rev, 'service', 'create', name, s.id, {
        id: s.id, image: s.spec.image, mode, ...replicasAttr(s),
        ...(s.spec.ports.length ? { ports: s.spec.ports.map((p) => `${p.published}:${p.target}/${p.protocol}`).join(',') } : {}),
      })
      return
    }
    if (JSON.stringify(old.spec) !== JSON.stringify(s.spec)) {
      const oldReplicas = replicasAttr(old).replicas
      const newReplicas = replicasAttr(s).replicas
      const sameButReplicas = JSON.stringify({ ...old.spec, mode: null }) === JSON.stringify({ ...s.spec, mode: null })
      if (sameButReplicas && oldReplicas !== undefined && newReplicas !== undefined) {
        this.#emit(rev, 'service', 'scale', name, s.id, { id: s.id, from: oldReplicas, replicas: newReplicas })
      } else {
        this.#emit(rev, 'service', 'update', name, s.id, { id: s.id, image: s.spec.image, version: String(s.version), ...replicasAttr(s) })
      }
    } else if (old.updateStatus?.state !== s.updateStatus?.state && s.updateStatus) {
      this.#emit(rev, 'service', 'update', name, s.id, {
        id: s.id, 'updatestate.new': s.updateStatus.state, ...(old.updateStatus ? { 'updatestate.old': old.updateStatus.state } : {}),
        ...(s.updateStatus.message ? { message: s.updateStatus.message } : {}),
      })
    }
  }

  #onTask(rev: number, op: 'put' | 'delete', t: TaskRecord): void {
    const old = this.#tasks.get(t.id)
    const attrs = (): Record<string, string> => {
      const node = this.#nodes.get(t.nodeId)
      return {
        id: t.id, service: t.serviceName, serviceId: t.serviceId, slot: String(t.slot), image: t.spec.image,
        ...(t.nodeId ? { nodeId: t.nodeId, node: node?.hostname ?? t.nodeId } : {}),
      }
    }
    const subject = t.slot > 0 || !t.nodeId ? `${t.serviceName}.${t.slot}` : `${t.serviceName}.${this.#nodes.get(t.nodeId)?.hostname ?? t.nodeId}`
    if (op === 'delete') {
      this.#tasks.delete(t.id)
      this.#slots.get(slotKey(t))?.delete(t.id)
      if (this.#slots.get(slotKey(t))?.size === 0) this.#slots.delete(slotKey(t))
      this.#emit(rev, 'task', 'delete', subject, t.id, attrs())
      return
    }
    if (!old && this.#isReschedule(t)) this.counts.reschedules++
    this.#putTask(t)
    if (!old || old.status.state !== t.status.state) {
      this.#emit(rev, 'task', t.status.state, subject, t.id, {
        ...attrs(), from: old?.status.state ?? '', desired: t.desiredState,
        ...(t.status.message ? { message: t.status.message } : {}), ...(t.status.err ? { err: t.status.err } : {}),
        ...(t.status.exitCode !== undefined ? { exitCode: String(t.status.exitCode) } : {}),
      })
    } else if (old.nodeId !== t.nodeId && t.nodeId) {
      this.#emit(rev, 'task', 'assigned', subject, t.id, { ...attrs(), from: old.status.state })
    }
    if (old && old.desiredState !== t.desiredState) {
      this.#emit(rev, 'task', 'desired', subject, t.id, { ...attrs(), from: old.desiredState, desired: t.desiredState })
    }
  }

  #putTask(t: TaskRecord): void {
    this.#tasks.set(t.id, t)
    const key = slotKey(t)
    let ids = this.#slots.get(key)
    if (!ids) this.#slots.set(key, (ids = new Set()))
    ids.add(t.id)
  }

  /** A new task whose slot (same service; global: same node) held a task that failed or lost its node. */
  #isReschedule(t: TaskRecord): boolean {
    for (const id of this.#slots.get(slotKey(t)) ?? []) {
      const o = this.#tasks.get(id)
      if (!o || o.id === t.id) continue
      if (t.slot === 0 && o.nodeId !== t.nodeId) continue
      if (RESCHEDULE_CAUSES.has(o.status.state)) return true
      const node = this.#nodes.get(o.nodeId)
      if (node?.state === 'down' && !TERMINAL_STATES.includes(o.status.state)) return true
    }
    return false
  }
}

function slotKey(t: TaskRecord): string {
  return `${t.serviceId} ${t.slot}`
}

function replicasAttr(s: ServiceRecord): { replicas?: string } {
  const n = replicasOf(s.spec.mode)
  return n === undefined ? {} : { replicas: String(n) }
}

/**
 * `--since` / `?since=`: a duration back from now (`10m`, `1h30m`, `45s`, `500ms`), an RFC 3339 time, or Unix
 * seconds. Returns milliseconds since the epoch; throws naming the input.
 */
export function parseSince(text: string, now: number): number {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000)
  const dur = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(s)
  if (dur && s !== '') {
    const [, h, m, sec, ms] = dur
    return now - ((Number(h ?? 0) * 60 + Number(m ?? 0)) * 60_000 + Number(sec ?? 0) * 1000 + Number(ms ?? 0))
  }
  const t = Date.parse(s)
  if (/^\d{4}-\d\d-\d\d/.test(s) && !Number.isNaN(t)) return t
  throw new EventQueryError(`since "${text}": want a duration (10m, 1h30m, 45s), an RFC 3339 time or Unix seconds`)
}
