/**
 * The event history in the store (issue 15 item 6): the SQLite backend's conformance, the EventLog writing to and
 * loading from a history (sync and async backends, a failed append retried); the conformance also restarts a
 * Manager on the same file and checks nothing secret is stored.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { EventLog, type ClusterEvent } from '../../../src/manager/events.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { EventBounds, EventHistory } from '../../../src/manager/event-history.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { ev, eventHistoryConformance } from './event-history-conformance.ts'

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-event-history-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

eventHistoryConformance(t, {
  name: 'sqlite',
  open: async (t) => {
    const s = openSqliteStore(':memory:')
    t.teardown(() => s.close())
    return s
  },
  durable: async (t) => {
    const path = join(tempDir(t), 'manager.db')
    let s = openSqliteStore(path)
    t.teardown(() => s.close())
    const raw = <T>(read: (db: DatabaseSync) => T): T => {
      const db = new DatabaseSync(path, { readOnly: true })
      try {
        return read(db)
      } finally {
        db.close()
      }
    }
    return {
      store: s,
      reopen: async () => { s.close(); s = openSqliteStore(path); return s },
      rawEvents: async () => raw((db) => db.prepare('SELECT json FROM events').all().map((row) => String(row.json)).join('\n')),
      rawSealed: async (id) => raw((db) => {
        const row = db.prepare(`SELECT json FROM objects WHERE kind = 'secret' AND id = ?`).get(id) as { json: string }
        return String(JSON.parse(row.json).sealed)
      }),
    }
  },
})

const svc = (id: string, replicas: number) => {
  const spec = defaultServiceSpec(id, 'nginx:1')
  spec.mode = { replicated: { replicas } }
  return { id, spec, version: 1, createdAt: 1, updatedAt: 1 }
}

t.test('EventLog on a SQLite history: events are appended; a new log on the same file goes on from them', async (t) => {
  const path = join(tempDir(t), 'manager.db')
  let now = 10_000
  const store = openSqliteStore(path)
  const log = new EventLog(store, { history: store, now: () => now })
  log.start()
  await store.transact((tx) => tx.putService(svc('web', 1)))
  await store.transact((tx) => tx.putService(svc('web', 3)))
  await log.flush()
  t.same(store.listEvents().map((e) => `${e.id} ${e.type} ${e.action} ${e.subject}`), ['1 service create web', '2 service scale web'])
  log.stop()
  store.close()

  now = 20_000
  const store2 = openSqliteStore(path)
  t.teardown(() => store2.close())
  const log2 = new EventLog(store2, { history: store2, now: () => now })
  log2.start()
  t.teardown(() => log2.stop())
  t.same(log2.since(0).map((e) => `${e.id} ${e.action} ${e.time}`), ['1 create 10000', '2 scale 10000'], 'loaded at start, with their times')
  t.equal(log2.lastId, 2)
  await store2.transact((tx) => tx.deleteService('web'))
  await log2.flush()
  t.same(log2.since(0).map((e) => `${e.id} ${e.action}`), ['1 create', '2 scale', '3 remove'], 'ids go on from the stored ones')
  t.same(log2.since(15_000).map((e) => e.id), [3], '--since reads the loaded history too')
  t.same(log2.since(0, {}, 2).map((e) => e.id), [3], 'after an id (SSE resume)')
  t.same(store2.listEvents().map((e) => e.id), [1, 2, 3])
})

t.test('EventLog bounds: what it loads and what it keeps in the store', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  await store.appendEvents([ev(1, 1_000), ev(2, 50_000), ev(3, 60_000)], { maxCount: 10, maxAgeMs: 1e12, now: 0 })
  let now = 70_000
  const log = new EventLog(store, { history: store, now: () => now, capacity: 2, maxAgeMs: 30_000 })
  log.start()
  t.teardown(() => log.stop())
  t.same(log.since(0).map((e) => e.id), [2, 3], 'too old (1) not loaded')
  now = 85_000
  await store.transact((tx) => tx.putService(svc('api', 1)))
  await log.flush()
  t.same(store.listEvents().map((e) => e.id), [3, 4], 'the writer pruned by count (2) and age (before 55,000)')
  t.same(log.since(0).map((e) => e.id), [3, 4])
})

/** A history that answers asynchronously (as etcd does), can be made to fail, and records what it was given. */
class SlowHistory implements EventHistory {
  stored: ClusterEvent[] = []
  release: () => void = () => {}
  readonly gate = new Promise<void>((r) => { this.release = r })
  failNext = false
  calls: EventBounds[] = []

  async appendEvents(events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
    this.calls.push(bounds)
    if (this.failNext) {
      this.failNext = false
      throw new Error('etcd unavailable')
    }
    this.stored.push(...events)
  }

  async listEvents(): Promise<ClusterEvent[]> {
    await this.gate
    return [...this.stored]
  }
}

t.test('an async history: events seen during the load are told after the stored ones, in order', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const h = new SlowHistory()
  h.stored = [ev(7), ev(8)]
  const log = new EventLog(store, { history: h, now: () => 9_000 })
  const heard: number[] = []
  log.subscribe((e) => heard.push(e.id))
  log.start()
  t.teardown(() => log.stop())
  await store.transact((tx) => tx.putService(svc('web', 1)))
  t.same(log.since(0), [], 'nothing told before the history is loaded')
  h.release()
  await log.ready
  t.same(log.since(0).map((e) => `${e.id} ${e.subject}`), ['7 svc7', '8 svc8', '9 web'])
  t.same(heard, [9], 'subscribers hear the new event once, numbered after the stored ones')
  await log.flush()
  t.same(h.stored.map((e) => e.id), [7, 8, 9], 'and it is appended')
})

t.test('a failed append is reported and its events go with the next one', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const h = new SlowHistory()
  h.release()
  const errors: string[] = []
  const log = new EventLog(store, { history: h, onError: (err, what) => errors.push(`${what}: ${(err as Error).message}`) })
  log.start()
  t.teardown(() => log.stop())
  await log.ready
  h.failNext = true
  await store.transact((tx) => tx.putService(svc('a', 1)))
  await log.flush()
  t.same(errors, ['append: etcd unavailable'])
  t.same(h.stored, [])
  await store.transact((tx) => tx.putService(svc('b', 1)))
  await log.flush()
  t.same(h.stored.map((e) => e.subject), ['a', 'b'], 'kept in order and retried')
  t.same(h.calls[0], { maxCount: 10_000, maxAgeMs: 86_400_000, now: h.calls[0]?.now }, 'default bounds: 10,000 events, 24 h')
})

t.test('only a writer appends (several managers on one store: the leader)', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  let leading = false
  const log = new EventLog(store, { history: store, writer: () => leading })
  log.start()
  t.teardown(() => log.stop())
  await store.transact((tx) => tx.putService(svc('a', 1)))
  await log.flush()
  t.same(store.listEvents(), [], 'not leading: nothing appended')
  t.same(log.since(0).map((e) => e.subject), ['a'], 'but the event is told')
  leading = true
  await store.transact((tx) => tx.putService(svc('b', 1)))
  await log.flush()
  t.same(store.listEvents().map((e) => e.subject), ['b'])
})

t.test('a stored history with gaps in its ids (another manager numbered some events): --since skips them', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const h = new SlowHistory()
  h.stored = [ev(3), ev(4), ev(9), ev(12)]
  h.release()
  const log = new EventLog(store, { history: h, now: () => 20_000 })
  log.start()
  t.teardown(() => log.stop())
  await log.ready
  t.same(log.since(0).map((e) => e.id), [3, 4, 9, 12], 'every stored event, none undefined')
  t.same(log.since(5_000).map((e) => e.id), [9, 12])
})
