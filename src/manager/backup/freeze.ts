import type { ClusterEvent } from '../../api/index.ts'
import type { EventBounds, EventHistory } from '../event-history.ts'
import { isEventHistory } from '../event-history.ts'
import { StoreError } from '../store-errors.ts'
import type { ObjectKind, ObjectRecords, Store, StoreEvent, StoreTx, TaskFilter, Unsubscribe } from '../store.ts'

/**
 * A store whose writes can be stopped: what a manager on SQLite runs on, so that moving its state into etcd
 * (`mesh node promote`, move.ts) reads a snapshot no write can follow. Reads and watches pass through; while
 * frozen, `transact` refuses at once with a StoreError (the API answers 503 with the reason, agents retry), and
 * `drained()` resolves once the transactions begun before the freeze have settled. `thaw()` undoes a freeze (the
 * move failed: the manager carries on on SQLite). Event appends pass through: they follow commits, and a frozen
 * store makes none.
 */
export class FreezableStore implements Store, EventHistory {
  #inner: Store
  #frozen: string | null = null
  readonly #inFlight = new Set<Promise<unknown>>()

  constructor(inner: Store) {
    this.#inner = inner
  }

  /** Refuse every write from now on, with `reason` as the error's one line. */
  freeze(reason: string): void {
    this.#frozen = reason
  }

  /**
   * After a move: close the store underneath and answer reads from `copy` (the state at the freeze), frozen for
   * good: requests still in flight on the manager that moved away read what it held, not a closed store.
   */
  retire(copy: Store): void {
    this.#inner.close()
    this.#inner = copy
  }

  thaw(): void {
    this.#frozen = null
  }

  get frozen(): boolean {
    return this.#frozen !== null
  }

  /** Resolves once every transaction begun before now has committed or failed. */
  async drained(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  get revision(): number {
    return this.#inner.revision
  }

  transact<T>(fn: (tx: StoreTx) => T): Promise<T> {
    if (this.#frozen !== null) return Promise.reject(new StoreError(this.#frozen, undefined, 'MESH_ERR_UNAVAILABLE'))
    const p = this.#inner.transact(fn)
    this.#inFlight.add(p)
    const done = (): void => {
      this.#inFlight.delete(p)
    }
    p.then(done, done)
    return p
  }

  getState() { return this.#inner.getState() }
  listMeta() { return this.#inner.listMeta() }
  watch(fromRevision: number, cb: (event: StoreEvent) => void): Unsubscribe { return this.#inner.watch(fromRevision, cb) }
  close(): void { this.#inner.close() }
  getNode(idOrHostname: string) { return this.#inner.getNode(idOrHostname) }
  listNodes() { return this.#inner.listNodes() }
  getService(idOrName: string) { return this.#inner.getService(idOrName) }
  listServices() { return this.#inner.listServices() }
  getTask(id: string) { return this.#inner.getTask(id) }
  listTasks(filter?: TaskFilter) { return this.#inner.listTasks(filter) }
  getMeta(key: string) { return this.#inner.getMeta(key) }
  getObject<K extends ObjectKind>(kind: K, idOrName: string): ObjectRecords[K] | undefined { return this.#inner.getObject(kind, idOrName) }
  listObjects<K extends ObjectKind>(kind: K): ObjectRecords[K][] { return this.#inner.listObjects(kind) }

  appendEvents(events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
    return isEventHistory(this.#inner) ? this.#inner.appendEvents(events, bounds) : Promise.resolve()
  }

  listEvents(): ClusterEvent[] | Promise<ClusterEvent[]> {
    return isEventHistory(this.#inner) ? this.#inner.listEvents() : []
  }
}
