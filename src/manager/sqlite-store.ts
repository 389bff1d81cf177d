/**
 * SqliteStore: the manager's Store on one SQLite file (`<dataDir>/manager.db`, mode 0600) through Node's built-in
 * `node:sqlite` (DatabaseSync: no native module to build).
 * WAL journal, so readers on other connections never block the writer nor see half a transaction; a commit is in
 * the WAL before `transact` returns, so a killed process (kill -9) loses nothing committed. With the default
 * `synchronous: 'normal'` a power cut may drop the last commits (never corrupt the file); 'full' fsyncs each one.
 *
 * Layout: tables nodes(id, hostname UNIQUE), services(id, name UNIQUE), tasks(id, service_id, node_id,
 * desired_state) and objects(kind, id, name; UNIQUE (kind, name)) for secrets, configs and networks, holding each
 * record as JSON, meta(key, value), and changes(revision, seq, …): the committed events
 * kept for `watch(fromRevision)`, trimmed to the last `historyRevisions`; events(id, time, json): the cluster's
 * event history (event-history.ts), written outside `transact` and bounded by its writer. meta holds schema_version, revision and
 * compacted_revision. MIGRATIONS (sqlite-tables.ts) is append-only: entry i takes the schema from version i to i + 1.
 *
 * One writer per file: watchers hear of commits made through this instance only.
 */
import { chmodSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { ConfigError } from '../base/errors.ts'
import {
  ChangeSet, OBJECT_KINDS, RESERVED_META_KEYS, WatchHub, checkMetaKey, checkObjectKind, checkRecord, deepFreeze, isThenable, rethrowLater,
  type ObjectKind, type ObjectRecords, type Store, type StoreEvent, type StoreKind, type StoreReader, type StoreTx,
  type TaskFilter, type Unsubscribe,
} from './store.ts'
import { StoreCompactedError, StoreConflictError, StoreError } from './store-errors.ts'
import { readService, readTask } from './legacy-records.ts'
import { EventTable, ObjectTable, SCHEMA_VERSION, Table, column, inTransaction, migrate, type Db } from './sqlite-tables.ts'
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord } from '../api/types.ts'
import type { ClusterEvent } from '../api/index.ts'
import { decodeEvent, encodeEvent, type EventBounds, type EventHistory } from './event-history.ts'

export const MANAGER_DB_FILE = 'manager.db'

export function managerDbPath(dataDir: string): string {
  return join(dataDir, MANAGER_DB_FILE)
}

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's lock before failing with SQLITE_BUSY, in ms. Default 5000. */
  busyTimeoutMs?: number
  /**
   * 'normal' (default): a process crash loses nothing committed; a power cut or kernel panic may lose the last
   * commits, never corrupting the file. 'full': an fsync per commit, which also survives a power cut but costs a
   * disk flush per transaction.
   */
  synchronous?: 'normal' | 'full'
  /** Revisions of change history kept for `watch(fromRevision)` (0 = keep all). Default 10000. */
  historyRevisions?: number
  /** Receives what a watcher callback throws. Default: rethrown on a microtask (an uncaught exception). */
  onWatcherError?: (err: unknown, event: StoreEvent) => void
}

const defaults = Object.freeze({ busyTimeoutMs: 5000, synchronous: 'normal', historyRevisions: 10_000 } as const)

export { SCHEMA_VERSION }

type Row = { json: string }

interface Tables {
  node: Table<NodeRecord>
  service: Table<ServiceRecord>
  task: Table<TaskRecord>
  objects: ObjectTable
  getMeta: StatementSync
  setMeta: StatementSync
  deleteMeta: StatementSync
  addChange: StatementSync
  trimChanges: StatementSync
  changesAfter: StatementSync
  events: EventTable
}

export class SqliteStore implements Store, EventHistory {
  readonly path: string
  readonly #opts: Required<Omit<SqliteStoreOptions, 'onWatcherError'>>
  readonly #hub: WatchHub
  #db: Db | undefined
  #t: Tables | undefined
  readonly #taskQueries = new Map<string, StatementSync>()
  /** Runs `body` in BEGIN IMMEDIATE … COMMIT, rolling back if it throws. */
  #runTx: ((body: () => void) => void) | undefined
  #inTx = false

  /** No side effects: `open()` creates or opens the file. `path` ':memory:' gives a private in-memory store. */
  constructor(path: string, options: SqliteStoreOptions = {}) {
    const o = { ...defaults, ...options }
    const int = (field: string, v: number): void => {
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
        throw new ConfigError(`store: ${field} must be an integer from 0 to 2147483647 (got ${v})`)
      }
    }
    int('busyTimeoutMs', o.busyTimeoutMs)
    int('historyRevisions', o.historyRevisions)
    if (o.synchronous !== 'normal' && o.synchronous !== 'full') {
      throw new ConfigError(`store: synchronous must be 'normal' or 'full' (got ${String(o.synchronous)})`)
    }
    this.path = path
    this.#opts = { busyTimeoutMs: o.busyTimeoutMs, synchronous: o.synchronous, historyRevisions: o.historyRevisions }
    this.#hub = new WatchHub(options.onWatcherError ?? rethrowLater)
  }

  /** Creates the file (0600, directory 0700) and schema if missing, migrates an older one. */
  open(): this {
    if (this.#db) return this
    const memory = this.path === ':memory:'
    if (!memory) createPrivateFile(this.path)
    let db: Db | undefined
    try {
      db = new DatabaseSync(this.path, { timeout: this.#opts.busyTimeoutMs })
      if (!memory && column(db.prepare('PRAGMA journal_mode = WAL'))[0] !== 'wal') {
        throw new StoreError(`${this.path}: could not switch to WAL journal mode`)
      }
      db.exec(`PRAGMA synchronous = ${this.#opts.synchronous.toUpperCase()}`)
      migrate(db, this.path)
      this.#t = {
        node: new Table<NodeRecord>(db, 'nodes',
          { columns: ['hostname'], values: (n) => [n.hostname], unique: 'hostname', order: 'hostname, id' }),
        service: new Table<ServiceRecord>(db, 'services',
          { columns: ['name'], values: (s) => [s.spec.name], unique: 'name', order: 'name, id' }),
        task: new Table<TaskRecord>(db, 'tasks', {
          columns: ['service_id', 'node_id', 'desired_state'],
          values: (t) => [t.serviceId, t.nodeId, String(t.desiredState)], order: 'service_id, id',
        }),
        objects: new ObjectTable(db),
        getMeta: db.prepare(`SELECT value FROM meta WHERE key = ?`),
        setMeta: db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value`),
        deleteMeta: db.prepare(`DELETE FROM meta WHERE key = ?`),
        addChange: db.prepare(`INSERT INTO changes (revision, seq, kind, op, json) VALUES (?, ?, ?, ?, ?)`),
        trimChanges: db.prepare(`DELETE FROM changes WHERE revision <= ?`),
        changesAfter: db.prepare(`SELECT revision, kind, op, json FROM changes WHERE revision > ?
          ORDER BY revision, seq`),
        events: new EventTable(db),
      }
      this.#runTx = (body) => inTransaction(db!, 'immediate', body)
      this.#db = db
      return this
    } catch (err) {
      db?.close()
      this.#t = undefined
      if (err instanceof StoreError) throw err
      throw new StoreError(`${this.path}: cannot open the manager database: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Closes the file (checkpointing the WAL) and drops every watcher. Idempotent; fine after a failed open. */
  close(): void {
    if (this.#inTx) throw new StoreError('close() inside transact(): return from the transaction first')
    this.#hub.clear()
    this.#taskQueries.clear()
    this.#t = undefined
    this.#runTx = undefined
    this.#db?.close()
    this.#db = undefined
  }

  get revision(): number {
    this.#open()
    return Number(this.#getMeta('revision') ?? 0)
  }

  getState(): ClusterState {
    const t = this.#reading()
    return inTransaction(this.#db!, 'deferred',
      () => ({ nodes: t.node.list(), services: t.service.list(), tasks: t.task.list() }))
  }

  listMeta(): Record<string, string> {
    this.#reading()
    const rows = this.#db!.prepare('SELECT key, value FROM meta ORDER BY key').all() as { key: string; value: string }[]
    return Object.fromEntries(rows.filter((r) => !RESERVED_META_KEYS.includes(r.key)).map((r) => [r.key, r.value]))
  }

  getNode(idOrHostname: string): NodeRecord | undefined {
    return this.#reader().getNode(idOrHostname)
  }
  listNodes(): NodeRecord[] {
    return this.#reader().listNodes()
  }
  getService(idOrName: string): ServiceRecord | undefined {
    return this.#reader().getService(idOrName)
  }
  listServices(): ServiceRecord[] {
    return this.#reader().listServices()
  }
  getTask(id: string): TaskRecord | undefined {
    return this.#reader().getTask(id)
  }
  listTasks(filter?: TaskFilter): TaskRecord[] {
    return this.#reader().listTasks(filter)
  }
  getMeta(key: string): string | undefined {
    return this.#reader().getMeta(key)
  }
  getObject<K extends ObjectKind>(kind: K, idOrName: string): ObjectRecords[K] | undefined {
    return this.#reader().getObject(kind, idOrName)
  }
  listObjects<K extends ObjectKind>(kind: K): ObjectRecords[K][] {
    return this.#reader().listObjects(kind)
  }

  /**
   * Runs `fn` once, inside BEGIN IMMEDIATE … COMMIT (SQLite has one writer: no other commit can come first), and
   * resolves with its result; watchers have heard of the commit by then. Called inside `fn` it throws at once.
   */
  transact<T>(fn: (tx: StoreTx) => T): Promise<T> {
    if (this.#inTx) throw new StoreError('transact() does not nest: use the tx you were given')
    try {
      return Promise.resolve(this.#transactNow(fn))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  #transactNow<T>(fn: (tx: StoreTx) => T): T {
    this.#open()
    const t = this.#t!
    const changes = new ChangeSet()
    let metaChanged = false
    let live = true
    const parse = (json: string | undefined): unknown => (json === undefined ? undefined : JSON.parse(json))
    const put = <R extends { id: string }>(kind: StoreKind, table: Table<R>, record: R, key?: string): void => {
      checkRecord(kind, record)
      const json = JSON.stringify(record)
      const old = table.getJson(record.id)
      if (old === json) return
      const owner = key === undefined ? undefined : table.keyOwner(key)
      if (owner !== undefined && owner !== record.id) throw new StoreConflictError(`${kind} "${key}" already exists`)
      table.upsert(record, json)
      changes.record(kind, record.id, parse(old), JSON.parse(json))
    }
    const del = <R extends { id: string }>(kind: StoreKind, table: Table<R>, id: string): boolean => {
      const old = table.getJson(id)
      if (old === undefined) return false
      table.delete(id)
      changes.record(kind, id, JSON.parse(old), undefined)
      return true
    }
    const putObject = (kind: ObjectKind, record: { id: string; spec: { name: string } }): void => {
      checkObjectKind(kind)
      checkRecord(kind, record)
      const json = JSON.stringify(record)
      const old = t.objects.getJson(kind, record.id)
      if (old === json) return
      const owner = t.objects.nameOwner(kind, record.spec.name)
      if (owner !== undefined && owner !== record.id) throw new StoreConflictError(`${kind} "${record.spec.name}" already exists`)
      t.objects.upsert(kind, record.id, record.spec.name, json)
      changes.record(kind, record.id, parse(old), JSON.parse(json))
    }
    const deleteObject = (kind: ObjectKind, id: string): boolean => {
      checkObjectKind(kind)
      const old = t.objects.getJson(kind, id)
      if (old === undefined) return false
      t.objects.delete(kind, id)
      changes.record(kind, id, JSON.parse(old), undefined)
      return true
    }
    const guard = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
      if (!live) throw new StoreError('this transaction has ended: use the tx only inside its transact() callback')
      return f(...a)
    }
    const reader = this.#makeReader(t)
    const tx: StoreTx = {
      getNode: guard(reader.getNode), listNodes: guard(reader.listNodes),
      getService: guard(reader.getService), listServices: guard(reader.listServices),
      getTask: guard(reader.getTask), listTasks: guard(reader.listTasks), getMeta: guard(reader.getMeta),
      getObject: guard(reader.getObject), listObjects: guard(reader.listObjects),
      putObject: guard(putObject), deleteObject: guard(deleteObject),
      putNode: guard((n: NodeRecord) => put('node', t.node, n, n?.hostname)),
      deleteNode: guard((id: string) => del('node', t.node, id)),
      putService: guard((s: ServiceRecord) => put('service', t.service, s, s?.spec?.name)),
      deleteService: guard((id: string) => del('service', t.service, id)),
      putTask: guard((task: TaskRecord) => put('task', t.task, task)),
      deleteTask: guard((id: string) => del('task', t.task, id)),
      setMeta: guard((key: string, value: string) => {
        checkMetaKey(key)
        if (typeof value !== 'string') throw new StoreError(`meta "${key}": value must be a string`)
        if (this.#getMeta(key) === value) return
        t.setMeta.run(key, value)
        metaChanged = true
      }),
      deleteMeta: guard((key: string) => {
        checkMetaKey(key)
        if (Number(t.deleteMeta.run(key).changes) === 0) return false
        metaChanged = true
        return true
      }),
    }
    let result!: T
    let events: StoreEvent[] = []
    this.#inTx = true
    try {
      this.#runTx!(() => {
        result = fn(tx)
        if (isThenable(result)) {
          result.then(undefined, () => {})
          throw new StoreError('transact(): the callback returned a Promise; it must be synchronous ' +
            '(do the async work before or after the transaction)')
        }
        const revision = Number(this.#getMeta('revision') ?? 0) + 1
        events = changes.events(revision)
        if (events.length === 0 && !metaChanged) return
        t.setMeta.run('revision', String(revision))
        events.forEach((e, seq) => t.addChange.run(revision, seq, e.kind, e.op, JSON.stringify(e.record)))
        const cut = revision - this.#opts.historyRevisions
        if (this.#opts.historyRevisions > 0 && cut > 0) {
          t.trimChanges.run(cut)
          t.setMeta.run('compacted_revision', String(cut))
        }
      })
    } finally {
      this.#inTx = false
      live = false
    }
    this.#hub.publish(events)
    return result
  }

  watch(fromRevision: number, cb: (event: StoreEvent) => void): Unsubscribe {
    this.#open()
    if (!Number.isInteger(fromRevision) || fromRevision < 0) {
      throw new StoreError(`watch: fromRevision must be an integer ≥ 0 (got ${fromRevision})`)
    }
    const compacted = Number(this.#getMeta('compacted_revision') ?? 0)
    if (fromRevision < compacted) {
      throw new StoreCompactedError(`watch from revision ${fromRevision}: history up to revision ${compacted} ` +
        'was compacted; read getState() and watch from its revision')
    }
    type ChangeRow = { revision: number; kind: StoreKind; op: 'put' | 'delete'; json: string }
    const history = (this.#t!.changesAfter.all(fromRevision) as ChangeRow[])
      .map((r) => deepFreeze({ revision: r.revision, kind: r.kind, op: r.op, record: JSON.parse(r.json) }) as StoreEvent)
    return this.#hub.add(fromRevision, cb, history)
  }

  /** Event history (event-history.ts): one small write transaction of its own; the revision does not move. */
  async appendEvents(events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
    const t = this.#reading()
    const rows = events.map((e) => ({ id: e.id, time: e.time, json: encodeEvent(e) }))
    this.#runTx!(() => t.events.append(rows, bounds.maxCount, bounds.now - bounds.maxAgeMs))
  }

  /** The stored events, oldest first; a row that does not decode is skipped. */
  listEvents(): ClusterEvent[] {
    return this.#reading().events.all().map(decodeEvent).filter((e): e is ClusterEvent => typeof e !== 'string')
  }

  #open(): Db {
    if (!this.#db) throw new StoreError(`${this.path}: the store is not open`)
    return this.#db
  }

  #reading(): Tables {
    this.#open()
    if (this.#inTx) throw new StoreError('read through the tx inside transact(): the store shows committed data only')
    return this.#t!
  }

  #reader(): StoreReader {
    return this.#makeReader(this.#reading())
  }

  #makeReader(t: Tables): StoreReader {
    return {
      getNode: (idOrHostname) => t.node.get(idOrHostname),
      listNodes: () => t.node.list(),
      getService: (idOrName) => maybe(t.service.get(idOrName), readService),
      listServices: () => t.service.list().map(readService),
      getTask: (id) => maybe(t.task.get(id), readTask),
      listTasks: (filter = {}) => this.#listTasks(filter).map(readTask),
      getMeta: (key) => this.#getMeta(key),
      getObject: <K extends ObjectKind>(kind: K, idOrName: string) => {
        checkObjectKind(kind)
        return t.objects.get<ObjectRecords[K]>(kind, idOrName)
      },
      listObjects: <K extends ObjectKind>(kind: K) => {
        checkObjectKind(kind)
        return t.objects.list<ObjectRecords[K]>(kind)
      },
    }
  }

  #listTasks(filter: TaskFilter): TaskRecord[] {
    const cols = ([['serviceId', 'service_id'], ['nodeId', 'node_id'], ['desiredState', 'desired_state']] as const)
      .filter(([f]) => filter[f] !== undefined)
    const key = cols.map(([, c]) => c).join(',')
    let stmt = this.#taskQueries.get(key)
    if (!stmt) {
      const where = cols.length ? `WHERE ${cols.map(([, c]) => `${c} = ?`).join(' AND ')}` : ''
      stmt = this.#db!.prepare(`SELECT json FROM tasks ${where} ORDER BY service_id, id`)
      this.#taskQueries.set(key, stmt)
    }
    return (stmt.all(...cols.map(([f]) => String(filter[f]))) as Row[]).map((r) => JSON.parse(r.json) as TaskRecord)
  }

  #getMeta(key: string): string | undefined {
    return (this.#t!.getMeta.get(key) as { value: string } | undefined)?.value
  }
}

/** `new SqliteStore(path, options).open()`. */
export function openSqliteStore(path: string, options?: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(path, options).open()
}

function maybe<T>(v: T | undefined, f: (v: T) => T): T | undefined {
  return v === undefined ? undefined : f(v)
}




/** Makes sure `path` exists with mode 0600 (its directory 0700 when created), before SQLite opens it. */
function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    closeSync(openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600))
    if ((statSync(path).mode & 0o777) !== 0o600) chmodSync(path, 0o600)
  } catch (err) {
    throw new StoreError(`${path}: cannot create the manager database: ${(err as Error).message}`, { cause: err })
  }
}
