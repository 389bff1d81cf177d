import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import t, { type Test } from 'tap'
import { ConfigError } from '../../../src/base/errors.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { SCHEMA_VERSION, SqliteStore, managerDbPath, openSqliteStore, type SqliteStoreOptions } from '../../../src/manager/sqlite-store.ts'
import { StoreError } from '../../../src/manager/store-errors.ts'
import type { StoreEvent } from '../../../src/manager/store.ts'
import { storeConformance } from './store-conformance.ts'
import { brief, node, service } from './store-fixtures.ts'

function memoryStore(t: Test, o: SqliteStoreOptions = {}): SqliteStore {
  const s = openSqliteStore(':memory:', { onWatcherError: (err) => t.fail(`watcher threw: ${String(err)}`), ...o })
  t.teardown(() => s.close())
  return s
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

storeConformance(t, {
  name: 'sqlite',
  open: async (t, o = {}) => memoryStore(t, o),
  durable: async (t) => {
    const path = managerDbPath(join(tempDir(t), 'data'))
    let s = openSqliteStore(path)
    t.teardown(() => s.close())
    return { store: s, reopen: async () => { s.close(); s = openSqliteStore(path); return s } }
  },
})

t.test('sqlite: commits are synchronous (one writer): read back before the promise settles', async (t) => {
  const s = memoryStore(t)
  const got: number[] = []
  s.watch(0, (e) => got.push(e.revision))
  void s.transact((tx) => tx.putNode(node('n1')))
  t.ok(s.getNode('n1'), 'visible at once')
  t.same(got, [1], 'watchers heard of it at once')
})

t.test('sqlite: the schema version is readable metadata', async (t) => {
  const s = memoryStore(t)
  t.equal(s.getMeta('schema_version'), String(SCHEMA_VERSION))
})

t.test('sqlite: reopen from disk keeps history: watch(0) replays the old process\'s commits', async (t) => {
  const path = managerDbPath(join(tempDir(t), 'data'))
  const a = openSqliteStore(path)
  await a.transact((tx) => { tx.putNode(node('n1', 'alpha')); tx.putService(service('s1', 'web')) })
  await a.transact((tx) => tx.setMeta('cluster_id', 'c1'))
  a.close()
  const b = openSqliteStore(path)
  t.teardown(() => b.close())
  const got: StoreEvent[] = []
  b.watch(0, (e) => got.push(e))
  t.same(brief(got), ['1 put node n1', '1 put service s1'])
})

t.test('open refuses files it cannot use; close is idempotent', async (t) => {
  const dir = tempDir(t)
  const garbage = join(dir, 'garbage.db')
  writeFileSync(garbage, 'this is not a database, just bytes'.repeat(200))
  const newer = join(dir, 'newer.db')
  openSqliteStore(newer).close()
  const raw = new DatabaseSync(newer)
  raw.prepare(`UPDATE meta SET value = '99' WHERE key = 'schema_version'`).run()
  raw.close()
  const foreign = join(dir, 'foreign.db')
  const f = new DatabaseSync(foreign)
  f.exec('CREATE TABLE songs (title TEXT)')
  f.close()
  const cases = [
    { name: 'not a database', path: garbage, re: /cannot open the manager database/ },
    { name: 'a newer schema', path: newer, re: /schema version 99 is newer than this mesh knows \(3\): run a newer mesh/ },
    { name: 'someone else\'s database', path: foreign, re: /not a mesh manager database/ },
  ]
  for (const c of cases) {
    const s = new SqliteStore(c.path)
    const err = t.throws(() => s.open(), c.name) as StoreError
    t.ok(err instanceof StoreError, `${c.name}: StoreError`)
    t.match(err.message, c.re, `${c.name}: message`)
    s.close()
    s.close()
    t.throws(() => s.listNodes(), /not open/, `${c.name}: closed store refuses reads`)
  }
})

t.test('options are validated at construction', async (t) => {
  const cases = [
    { name: 'negative busy timeout', o: { busyTimeoutMs: -1 }, re: /busyTimeoutMs must be an integer/ },
    { name: 'fractional history', o: { historyRevisions: 1.5 }, re: /historyRevisions must be an integer/ },
    { name: 'unknown synchronous', o: { synchronous: 'off' as any }, re: /synchronous must be 'normal' or 'full'/ },
  ]
  for (const c of cases) {
    const err = t.throws(() => new SqliteStore(':memory:', c.o), c.name)
    t.ok(err instanceof ConfigError, `${c.name}: ConfigError`)
    t.match((err as Error).message, c.re)
  }
})

t.test('a schema-1 database (before objects) is migrated and keeps its records', async (t) => {
  const path = join(tempDir(t), 'old.db')
  const raw = new DatabaseSync(path)
  raw.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE nodes (id TEXT PRIMARY KEY, hostname TEXT NOT NULL UNIQUE, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE services (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE tasks (id TEXT PRIMARY KEY, service_id TEXT NOT NULL, node_id TEXT NOT NULL,
      desired_state TEXT NOT NULL, json TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE changes (revision INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, op TEXT NOT NULL,
      json TEXT NOT NULL, PRIMARY KEY (revision, seq)) WITHOUT ROWID;
    INSERT INTO meta VALUES ('schema_version', '1'), ('revision', '1');`)
  raw.prepare(`INSERT INTO services VALUES ('s1', 'web', ?)`).run(JSON.stringify(service('s1', 'web')))
  raw.close()
  const s = openSqliteStore(path)
  t.teardown(() => s.close())
  t.equal(s.getService('web')?.id, 's1')
  await s.transact((tx) => tx.putObject('network', {
    id: 'n1', spec: { name: 'webnet', driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {} },
    subnet: '10.80.0.0/20', vni: 4097, slices: {}, createdAt: 1, updatedAt: 1,
  }))
  t.equal(s.getObject('network', 'webnet')?.id, 'n1')
  t.equal(s.revision, 2)
  // schema 3: the event history table
  t.same(s.listEvents(), [])
  const e = { id: 1, time: 5, revision: 2, type: 'network' as const, action: 'create', subject: 'webnet', subjectId: 'n1', attributes: { id: 'n1' } }
  await s.appendEvents([e], { maxCount: 10, maxAgeMs: 100, now: 10 })
  t.same(s.listEvents(), [e])
  t.equal(s.revision, 2, 'an event append moves no revision')
})
