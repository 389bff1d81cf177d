/**
 * The manager's store: the role every backend plays (SqliteStore, and EtcdStore in etcd-store/). It holds the
 * cluster's nodes, services and tasks (types.ts) plus a little metadata (cluster id, join tokens), and it is the
 * only place they change.
 *
 * Invariants every backend keeps:
 * - All writes happen inside `transact(fn)`, which returns a Promise: it resolves with what `fn` returned once the
 *   transaction committed, or rejects with what `fn` threw (then nothing it wrote is kept, the revision does not
 *   move and no watcher hears of it). `fn` is synchronous (a returned Promise is refused and rolled back) and
 *   `transact` does not nest (called inside `fn` it throws at once).
 * - `fn` may run more than once: a backend with optimistic concurrency (etcd) runs it on its local view and, when
 *   another writer committed first, runs it again on the newer view. So `fn` only reads the tx, writes the tx and
 *   returns a value; it changes nothing outside (no counters, no logs, no I/O). SQLite runs it exactly once.
 * - Reads outside a transaction are synchronous, on the store's committed local view (for etcd: a cache fed by its
 *   ordered watch), so they may lag a commit made elsewhere; a decision that must be current is made inside `fn`.
 * - Inside `fn`, read through the `tx`: it sees the transaction's own writes. The store's own readers refuse to run
 *   while a transaction is open, so a half-done transaction can never leak out through them.
 * - Service names are unique, and so are node hostnames: a write that breaks either throws `StoreConflictError`
 *   (code MESH_ERR_CONFLICT, `service "web" already exists`) and, unless `fn` catches it, rolls everything back.
 * - `revision` starts at 0 and grows by exactly 1 per committed transaction that changed something. A put of a
 *   record identical to the stored one, a delete of a missing one, or a put and delete of a new one change nothing.
 * - Watchers get every committed change, in revision order, once each, after the commit. A record put and then
 *   deleted in one transaction was never visible and is not reported; several puts of one record report the last.
 *   Metadata writes move the revision but raise no event.
 * - Records handed out are copies: mutating one changes nothing in the store. Event records are frozen (every
 *   watcher shares them).
 */
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord } from '../api/types.ts'
import type { ConfigRecord, SecretRecord } from '../api/secrets.ts'
import type { NetworkRecord } from '../api/network.ts'
import { StoreError } from './store-errors.ts'

/**
 * Named cluster objects besides nodes, services and tasks: each kind has its own id space and unique names
 * (`spec.name`), and its changes reach watchers as events of that kind.
 */
export interface ObjectRecords {
  secret: SecretRecord
  config: ConfigRecord
  network: NetworkRecord
}
export type ObjectKind = keyof ObjectRecords
export const OBJECT_KINDS: readonly ObjectKind[] = ['secret', 'config', 'network']

export type StoreKind = 'node' | 'service' | 'task' | ObjectKind
export type StoreOp = 'put' | 'delete'

/** One committed change. For a delete, `record` is the record as last committed (what watchers last saw). */
export type StoreEvent =
  | { revision: number; kind: 'node'; op: StoreOp; record: NodeRecord }
  | { revision: number; kind: 'service'; op: StoreOp; record: ServiceRecord }
  | { revision: number; kind: 'task'; op: StoreOp; record: TaskRecord }
  | { revision: number; kind: 'secret'; op: StoreOp; record: SecretRecord }
  | { revision: number; kind: 'config'; op: StoreOp; record: ConfigRecord }
  | { revision: number; kind: 'network'; op: StoreOp; record: NetworkRecord }

/** Fields of `listTasks`; the ones given must all match. */
export interface TaskFilter {
  serviceId?: string
  /** '' lists the tasks not yet assigned to a node. */
  nodeId?: string
  desiredState?: TaskRecord['desiredState']
}

export interface StoreReader {
  /** By id, else by hostname. */
  getNode(idOrHostname: string): NodeRecord | undefined
  /** Ordered by hostname. */
  listNodes(): NodeRecord[]
  /** By id, else by name. */
  getService(idOrName: string): ServiceRecord | undefined
  /** Ordered by name. */
  listServices(): ServiceRecord[]
  getTask(id: string): TaskRecord | undefined
  /** Ordered by service id, then task id. */
  listTasks(filter?: TaskFilter): TaskRecord[]
  /** Cluster metadata (cluster id, join tokens); undefined when never set. */
  getMeta(key: string): string | undefined
  /** A secret, config or network by id, else by name. */
  getObject<K extends ObjectKind>(kind: K, idOrName: string): ObjectRecords[K] | undefined
  /** Every object of a kind, ordered by name. */
  listObjects<K extends ObjectKind>(kind: K): ObjectRecords[K][]
}

/** What `transact`'s callback gets: the readers (seeing its own writes) and the writers. */
export interface StoreTx extends StoreReader {
  /** Insert or replace by id. Throws StoreConflictError when another node has the hostname. */
  putNode(node: NodeRecord): void
  /** True when a node was deleted. */
  deleteNode(id: string): boolean
  /** Insert or replace by id. Throws StoreConflictError when another service has the name. */
  putService(service: ServiceRecord): void
  deleteService(id: string): boolean
  putTask(task: TaskRecord): void
  deleteTask(id: string): boolean
  /** Insert or replace by id. Throws StoreConflictError when another object of the kind has the name. */
  putObject<K extends ObjectKind>(kind: K, record: ObjectRecords[K]): void
  deleteObject(kind: ObjectKind, id: string): boolean
  setMeta(key: string, value: string): void
  deleteMeta(key: string): boolean
}

export type Unsubscribe = () => void

export interface Store extends StoreReader {
  /** The revision of the last committed transaction (0 for an empty store). */
  readonly revision: number
  /** Every node, service and task, read at one revision. */
  getState(): ClusterState
  /** Every metadata key and value, except the store's own (RESERVED_META_KEYS): what a backup carries. */
  listMeta(): Record<string, string>
  /** Runs `fn` in one atomic transaction and resolves with its result once committed; see the invariants above. */
  transact<T>(fn: (tx: StoreTx) => T): Promise<T>
  /**
   * Calls `cb` with every committed change whose revision is above `fromRevision`: first those already in the
   * store's history, then each new commit as it happens. Typical use: `const rev = store.revision; const state =
   * store.getState(); store.watch(rev, cb)`. Throws StoreCompactedError when history that old was dropped.
   */
  watch(fromRevision: number, cb: (event: StoreEvent) => void): Unsubscribe
  /** Releases the backend; later calls throw StoreError. Idempotent. */
  close(): void
}

/** Metadata keys the store keeps for itself; `setMeta` refuses them. */
export const RESERVED_META_KEYS: readonly string[] = ['schema_version', 'revision', 'compacted_revision']

/** Refuses a kind that is not one of OBJECT_KINDS (a caller's misuse, before any read or write). */
export function checkObjectKind(kind: unknown): void {
  if (!(OBJECT_KINDS as readonly unknown[]).includes(kind)) throw new StoreError(`unknown object kind ${JSON.stringify(kind)}`)
}

/** Refuses an empty metadata key and the store's own keys (RESERVED_META_KEYS). */
export function checkMetaKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new StoreError('meta: key must be a non-empty string')
  if (RESERVED_META_KEYS.includes(key)) throw new StoreError(`meta "${key}" is kept by the store itself`)
}

/** Whether `fn` returned a Promise (or any thenable): transact refuses it, as its `fn` must be synchronous. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
}

/** Throws StoreError unless `record` has what the store indexes on. */
export function checkRecord(kind: StoreKind, record: unknown): void {
  const bad = (field: string): never => {
    throw new StoreError(`${kind} record: ${field} must be a non-empty string`)
  }
  if (record === null || typeof record !== 'object' || !nonEmpty((record as { id?: unknown }).id)) bad('id')
  if (kind === 'node' && !nonEmpty((record as NodeRecord).hostname)) bad('hostname')
  if ((kind === 'service' || (OBJECT_KINDS as readonly string[]).includes(kind)) &&
    !nonEmpty((record as ServiceRecord).spec?.name)) bad('spec.name')
  if (kind === 'task') {
    const task = record as TaskRecord
    if (!nonEmpty(task.serviceId)) bad('serviceId')
    if (typeof task.nodeId !== 'string') throw new StoreError(`task record: nodeId must be a string ('' = unassigned)`)
  }
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v !== ''
}

/**
 * The changes of one transaction, coalesced per record in order of first touch: the last write wins; a delete
 * reports the record as it was before the transaction; a record created and deleted in it leaves no trace.
 */
export class ChangeSet {
  readonly #changes = new Map<string, { kind: StoreKind; before: unknown; after: unknown }>()

  /**
   * One write. `before`: the record as stored before this write (undefined: absent); `after`: the record written
   * (undefined: deleted). Pass copies; events hand them out frozen.
   */
  record(kind: StoreKind, id: string, before: unknown, after: unknown): void {
    const key = `${kind}\u0000${id}`
    const prev = this.#changes.get(key)
    if (prev) prev.after = after
    else this.#changes.set(key, { kind, before, after })
  }

  /** The events to publish at `revision`. */
  events(revision: number): StoreEvent[] {
    const out: StoreEvent[] = []
    for (const c of this.#changes.values()) {
      if (c.after !== undefined) out.push({ revision, kind: c.kind, op: 'put', record: deepFreeze(c.after) } as StoreEvent)
      else if (c.before !== undefined) {
        out.push({ revision, kind: c.kind, op: 'delete', record: deepFreeze(c.before) } as StoreEvent)
      }
    }
    return out
  }
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

interface Watcher {
  cb: (event: StoreEvent) => void
  /** Highest revision this watcher has been given in full (or asked to start after). */
  seen: number
  active: boolean
}

/** A batch of events in revision order; `target` set: for that watcher only (its history). */
interface Batch {
  events: readonly StoreEvent[]
  target?: Watcher
}

/**
 * Delivers committed events to watchers, for any backend. Delivery is synchronous after the commit, in revision
 * order, even when a callback commits another transaction or adds a watcher (those are queued, not nested). A
 * callback that throws does not stop the others or undo the commit: its error goes to `onError`.
 */
export class WatchHub {
  readonly #watchers = new Set<Watcher>()
  readonly #queue: Batch[] = []
  #delivering = false
  readonly #onError: (err: unknown, event: StoreEvent) => void

  constructor(onError: (err: unknown, event: StoreEvent) => void) {
    this.#onError = onError
  }

  get size(): number {
    return this.#watchers.size
  }

  /**
   * Adds a watcher that starts after `fromRevision`; `history` is everything committed after it so far, in order.
   * History goes first, then live events; a revision is never given twice.
   */
  add(fromRevision: number, cb: (event: StoreEvent) => void, history: readonly StoreEvent[]): Unsubscribe {
    const w: Watcher = { cb, seen: fromRevision, active: true }
    this.#watchers.add(w)
    // Ahead of any commit still queued: those are in `history` already and get skipped by revision.
    this.#queue.unshift({ events: history, target: w })
    this.#drain()
    return () => {
      w.active = false
      this.#watchers.delete(w)
    }
  }

  /** Called once per committed transaction, after the commit. */
  publish(events: readonly StoreEvent[]): void {
    if (events.length === 0) return
    this.#queue.push({ events })
    this.#drain()
  }

  clear(): void {
    for (const w of this.#watchers) w.active = false
    this.#watchers.clear()
    this.#queue.length = 0
  }

  #drain(): void {
    if (this.#delivering) return
    this.#delivering = true
    try {
      for (let batch = this.#queue.shift(); batch; batch = this.#queue.shift()) {
        if (batch.target) this.#give(batch.target, batch.events)
        else for (const w of [...this.#watchers]) this.#give(w, batch.events)
      }
    } finally {
      this.#delivering = false
    }
  }

  #give(w: Watcher, events: readonly StoreEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      if (!w.active) return
      const event = events[i] as StoreEvent
      if (event.revision <= w.seen) continue
      try {
        w.cb(event)
      } catch (err) {
        this.#onError(err, event)
      }
      // A revision's events are consecutive; it counts as seen after its last one.
      if (events[i + 1]?.revision !== event.revision) w.seen = event.revision
    }
  }
}

/** The default for a watcher that throws: rethrow outside the store's call stack (an uncaught exception). */
export function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err
  })
}
