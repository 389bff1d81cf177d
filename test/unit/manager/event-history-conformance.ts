/**
 * What every EventHistory backend (src/manager/event-history.ts) does, run on SqliteStore (event-history.test.ts)
 * and EtcdStore (test/integration/etcd-store/events.test.ts): append and read back in order, the count and age
 * bounds, kept across a reopen, outside the store's revision and watchers, and a Manager restarted on the same data
 * keeping `mesh events --since` with nothing secret in what is stored.
 */
import type { Test } from 'tap'
import type { ClusterEvent } from '../../../src/manager/events.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { EventHistory } from '../../../src/manager/event-history.ts'
import type { Store } from '../../../src/manager/store.ts'

export type HistoryStore = Store & EventHistory

export interface HistoryBackend {
  name: string
  /** A fresh, empty store (closed in teardown). */
  open(t: Test): Promise<HistoryStore>
  /** A store and a way to close it and open the same data again. */
  durable(t: Test): Promise<Durable>
}

export interface Durable {
  store: HistoryStore
  /** Close the store and open the same data again. */
  reopen(): Promise<HistoryStore>
  /** What the backend holds, read around the store: every stored event's text, and a secret record's sealed value. */
  rawEvents(): Promise<string>
  rawSealed(secretId: string): Promise<string>
}

export function ev(id: number, time = 1_000 * id, o: Partial<ClusterEvent> = {}): ClusterEvent {
  return { id, time, revision: id, type: 'service', action: 'create', subject: `svc${id}`, subjectId: `s${id}`, attributes: { id: `s${id}` }, ...o }
}

const big = { maxCount: 10_000, maxAgeMs: 1e12, now: 0 }

export function eventHistoryConformance(t: Test, b: HistoryBackend): void {
  t.test(`${b.name}: appended events read back oldest first, as written`, async (t) => {
    const s = await b.open(t)
    t.same(await s.listEvents(), [], 'empty at first')
    await s.appendEvents([ev(1), ev(2, 2_000, { type: 'task', action: 'running', attributes: { id: 't', from: 'starting' } })], big)
    await s.appendEvents([ev(3)], big)
    await s.appendEvents([], big)
    const got = await s.listEvents()
    t.same(got, [ev(1), ev(2, 2_000, { type: 'task', action: 'running', attributes: { id: 't', from: 'starting' } }), ev(3)])
    // ids past 9 and 99 stay in id order (etcd keys are padded)
    await s.appendEvents([ev(10), ev(100)], big)
    t.same((await s.listEvents()).map((e) => e.id), [1, 2, 3, 10, 100])
  })

  t.test(`${b.name}: bounded by count (the newest kept) and by age (older ones pruned by the writer)`, async (t) => {
    const s = await b.open(t)
    await s.appendEvents([1, 2, 3, 4, 5].map((i) => ev(i)), { maxCount: 3, maxAgeMs: 1e12, now: 5_000 })
    t.same((await s.listEvents()).map((e) => e.id), [3, 4, 5], 'count')
    await s.appendEvents([ev(6)], { maxCount: 10, maxAgeMs: 2_000, now: 6_500 })
    t.same((await s.listEvents()).map((e) => e.id), [5, 6], 'age: time 4,500 and after')
    await s.appendEvents([], { maxCount: 10, maxAgeMs: 1, now: 1e9 })
    t.same(await s.listEvents(), [], 'an append with nothing new still prunes')
  })

  t.test(`${b.name}: the history survives a reopen`, async (t) => {
    const d = await b.durable(t)
    await d.store.appendEvents([ev(1), ev(2)], big)
    const again = await d.reopen()
    t.same(await again.listEvents(), [ev(1), ev(2)])
  })

  t.test(`${b.name}: appends move no revision and reach no watcher`, async (t) => {
    const s = await b.open(t)
    await s.transact((tx) => tx.setMeta('x', '1'))
    const rev = s.revision
    const heard: unknown[] = []
    const stop = s.watch(rev, (e) => heard.push(e))
    t.teardown(stop)
    await s.appendEvents([ev(1), ev(2)], big)
    await s.transact((tx) => tx.setMeta('x', '2'))
    t.equal(s.revision, rev + 1, 'only the metadata write moved the revision')
    t.same(heard, [])
    t.equal(s.getMeta('x'), '2')
  })

  t.test(`${b.name}: a Manager restarted on the same data keeps the history; nothing secret is stored`, async (t) => {
    const VALUE = `hunter2-${b.name}-secret`
    const d = await b.durable(t)
    let m = new Manager({ store: d.store })
    await m.init()
    m.start()
    const secret = await m.secrets.createSecret({ name: 'db', data: Buffer.from(VALUE).toString('base64') })
    const spec = defaultServiceSpec('web', 'nginx:1')
    spec.mode = { replicated: { replicas: 0 } } // no tasks: the orchestrator adds no events of its own
    await d.store.transact((tx) => tx.putService({ id: 'web1', spec, version: 1, createdAt: 1, updatedAt: 1 }))
    await m.events.flush()
    const line = (e: ClusterEvent) => `${e.id} ${e.type} ${e.action} ${e.subject}`
    const before = m.events.since(0).map(line)
    const lastBefore = m.events.lastId
    t.same(m.events.since(0).map((e) => `${e.type} ${e.action} ${e.subject}`), ['secret create db', 'service create web'], before.join('; '))
    if (sequential(b.name)) t.same(before, ['1 secret create db', '2 service create web'], 'SQLite numbers 1, 2, 3 …')
    m.stop()

    const store = await d.reopen()
    m = new Manager({ store })
    await m.init()
    m.start()
    t.teardown(() => m.stop())
    await m.events.ready
    t.same(m.events.since(0).map(line), before, 'the same events after the restart')
    await store.transact((tx) => tx.deleteService('web1'))
    await m.events.flush()
    const last = m.events.since(0).at(-1)
    t.equal(last?.action, 'remove')
    t.ok((last?.id ?? 0) > lastBefore, 'new ids go on after the stored ones')
    if (sequential(b.name)) t.equal(last?.id, before.length + 1, 'SQLite: the next number')

    const raw = await d.rawEvents()
    t.ok(raw.includes(secret.id), 'the secret event names its id')
    t.notOk(raw.includes(VALUE) || raw.includes(Buffer.from(VALUE).toString('base64')), 'no value in the stored events')
    t.notOk(raw.includes(await d.rawSealed(secret.id)), 'no sealed value in the stored events')
  })
}

/** Backends that number events 1, 2, 3 … (SQLite); etcd numbers them by store revision (event-history.ts). */
function sequential(name: string): boolean {
  return !name.startsWith('etcd')
}
