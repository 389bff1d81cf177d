/**
 * The SQL half of SqliteStore on the built-in `node:sqlite` (DatabaseSync): the schema and its migrations, the
 * transaction helper (BEGIN IMMEDIATE / DEFERRED … COMMIT, ROLLBACK on a throw) and Table, one table of JSON records
 * with prepared statements. No policy: SqliteStore decides what is written and when.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite'
import { StoreError } from './store-errors.ts'

export type Db = DatabaseSync
type Row = { json: string }

/** Append-only: MIGRATIONS[i] moves the schema from version i to i + 1. */
const MIGRATIONS: ReadonlyArray<(db: Db) => void> = [
  (db) => db.exec(`
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE nodes (id TEXT PRIMARY KEY, hostname TEXT NOT NULL UNIQUE, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE services (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE tasks (id TEXT PRIMARY KEY, service_id TEXT NOT NULL, node_id TEXT NOT NULL,
      desired_state TEXT NOT NULL, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE INDEX tasks_service_id ON tasks (service_id);
    CREATE INDEX tasks_node_id ON tasks (node_id);
    CREATE TABLE changes (revision INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, op TEXT NOT NULL,
      json TEXT NOT NULL, PRIMARY KEY (revision, seq)) WITHOUT ROWID;
  `),
  (db) => db.exec(`
    CREATE TABLE objects (kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL,
      PRIMARY KEY (kind, id), UNIQUE (kind, name)) WITHOUT ROWID;
  `),
  // The cluster's event history (event-history.ts): appended after commits, never part of a revision.
  (db) => db.exec(`
    CREATE TABLE events (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, json TEXT NOT NULL);
    CREATE INDEX events_time ON events (time);
  `),
]
export const SCHEMA_VERSION = MIGRATIONS.length

/**
 * Runs `body` inside one transaction and returns its result: BEGIN IMMEDIATE (takes the write lock first, so no
 * other commit can come between its reads and writes) or BEGIN DEFERRED (a consistent read snapshot), COMMIT when
 * it returns, ROLLBACK when it throws. Does not nest.
 */
export function inTransaction<T>(db: Db, mode: 'immediate' | 'deferred', body: () => T): T {
  db.exec(mode === 'immediate' ? 'BEGIN IMMEDIATE' : 'BEGIN DEFERRED')
  try {
    const result = body()
    db.exec('COMMIT')
    return result
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw err
  }
}

/** The first column of each row `stmt` returns. */
export function column<T>(stmt: StatementSync, ...params: SQLInputValue[]): T[] {
  return stmt.all(...params).map((r) => Object.values(r)[0] as T)
}

/** Brings `db` to SCHEMA_VERSION in one transaction; returns the version it found. Refuses a newer or foreign file. */
export function migrate(db: Db, name: string): number {
  return inTransaction(db, 'immediate', () => {
    const tables = column<string>(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`))
    let version = 0
    if (tables.includes('meta')) {
      version = Number(column(db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`))[0] ?? 0)
    } else if (tables.length > 0) {
      throw new StoreError(`${name}: not a mesh manager database (tables ${tables.join(', ')}, no meta)`)
    }
    if (!Number.isInteger(version) || version > SCHEMA_VERSION) {
      throw new StoreError(`${name}: schema version ${version} is newer than this mesh knows (${SCHEMA_VERSION}): ` +
        'run a newer mesh')
    }
    for (let v = version; v < SCHEMA_VERSION; v++) (MIGRATIONS[v] as (db: Db) => void)(db)
    if (version < SCHEMA_VERSION) {
      db.prepare(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION))
    }
    return version
  })
}

/** The `objects` table: secrets, configs and networks, one id space and unique names per kind. */
export class ObjectTable {
  readonly #get: StatementSync
  readonly #byName: StatementSync
  readonly #list: StatementSync
  readonly #upsert: StatementSync
  readonly #delete: StatementSync

  constructor(db: Db) {
    this.#get = db.prepare(`SELECT json FROM objects WHERE kind = ? AND id = ?`)
    this.#byName = db.prepare(`SELECT id, json FROM objects WHERE kind = ? AND name = ?`)
    this.#list = db.prepare(`SELECT json FROM objects WHERE kind = ? ORDER BY name, id`)
    this.#upsert = db.prepare(`INSERT INTO objects (kind, id, name, json) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name, json = excluded.json`)
    this.#delete = db.prepare(`DELETE FROM objects WHERE kind = ? AND id = ?`)
  }

  getJson(kind: string, id: string): string | undefined {
    return (this.#get.get(kind, id) as Row | undefined)?.json
  }
  get<R>(kind: string, idOrName: string): R | undefined {
    const json = this.getJson(kind, idOrName) ?? (this.#byName.get(kind, idOrName) as Row | undefined)?.json
    return json === undefined ? undefined : (JSON.parse(json) as R)
  }
  nameOwner(kind: string, name: string): string | undefined {
    return (this.#byName.get(kind, name) as { id: string } | undefined)?.id
  }
  list<R>(kind: string): R[] {
    return (this.#list.all(kind) as Row[]).map((r) => JSON.parse(r.json) as R)
  }
  upsert(kind: string, id: string, name: string, json: string): void {
    this.#upsert.run(kind, id, name, json)
  }
  delete(kind: string, id: string): void {
    this.#delete.run(kind, id)
  }
}

/** A table of JSON records by id, with the indexed columns a record contributes. */
export class Table<R extends { id: string }> {
  readonly #get: StatementSync
  readonly #byKey: StatementSync | undefined
  readonly #keyOwner: StatementSync | undefined
  readonly #list: StatementSync
  readonly #upsert: StatementSync
  readonly #delete: StatementSync

  readonly #values: (r: R) => string[]

  /**
   * `columns`: the indexed columns besides id and json, `values`: a record's values for them, `unique`: the one
   * that is a second key (getX looks it up when the id finds nothing), `order`: how lists sort.
   */
  constructor(db: Db, name: string,
    o: { columns: readonly string[]; values: (r: R) => string[]; unique?: string; order: string }) {
    const cols = o.columns
    this.#values = o.values
    this.#get = db.prepare(`SELECT json FROM ${name} WHERE id = ?`)
    if (o.unique) {
      this.#byKey = db.prepare(`SELECT json FROM ${name} WHERE ${o.unique} = ?`)
      this.#keyOwner = db.prepare(`SELECT id FROM ${name} WHERE ${o.unique} = ?`)
    }
    this.#list = db.prepare(`SELECT json FROM ${name} ORDER BY ${o.order}`)
    this.#upsert = db.prepare(`INSERT INTO ${name} (id, ${cols.join(', ')}, json)
      VALUES (?, ${cols.map(() => '?').join(', ')}, ?)
      ON CONFLICT (id) DO UPDATE SET ${[...cols, 'json'].map((c) => `${c} = excluded.${c}`).join(', ')}`)
    this.#delete = db.prepare(`DELETE FROM ${name} WHERE id = ?`)
  }

  getJson(id: string): string | undefined {
    return (this.#get.get(id) as Row | undefined)?.json
  }
  get(idOrKey: string): R | undefined {
    const json = this.getJson(idOrKey) ?? (this.#byKey?.get(idOrKey) as Row | undefined)?.json
    return json === undefined ? undefined : (JSON.parse(json) as R)
  }
  keyOwner(key: string): string | undefined {
    return (this.#keyOwner?.get(key) as { id: string } | undefined)?.id
  }
  list(): R[] {
    return (this.#list.all() as Row[]).map((r) => JSON.parse(r.json) as R)
  }
  upsert(record: R, json: string): void {
    this.#upsert.run(record.id, ...this.#values(record), json)
  }
  delete(id: string): void {
    this.#delete.run(id)
  }
}

/** The `events` table: the cluster's event history, pruned by age and count on every append. */
export class EventTable {
  readonly #insert: StatementSync
  readonly #pruneAge: StatementSync
  readonly #pruneCount: StatementSync
  readonly #all: StatementSync

  constructor(db: Db) {
    this.#insert = db.prepare(`INSERT OR REPLACE INTO events (id, time, json) VALUES (?, ?, ?)`)
    this.#pruneAge = db.prepare(`DELETE FROM events WHERE time < ?`)
    this.#pruneCount = db.prepare(`DELETE FROM events WHERE id < (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)`)
    this.#all = db.prepare(`SELECT json FROM events ORDER BY id`)
  }

  /** Inside a write transaction: the new events, then the pruning. */
  append(events: readonly { id: number; time: number; json: string }[], maxCount: number, oldest: number): void {
    for (const e of events) this.#insert.run(e.id, e.time, e.json)
    this.#pruneAge.run(oldest)
    this.#pruneCount.run(maxCount - 1)
  }

  all(): string[] {
    return column<string>(this.#all)
  }
}
