/**
 * Event ids across leaders on a real etcd (issue 15 follow-up): two Managers, each on its own EtcdStore over one
 * prefix, with a leadership the test moves by hand. Manager a leads and writes events; leadership moves to b, which
 * writes more; then both think they lead (a hand-over) while both write. The stored history holds every event once,
 * ids increasing, no key ever written twice (etcd's version 1: nothing overwritten), and b's `GET /v1/events?since`
 * replays them in the same order with the same ids. The managers' clocks differ by a second, so an event two
 * managers stored under one id would differ in content. Every wait is bounded; nothing asserts a duration.
 */
import t from 'tap'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { EtcdStore } from '../../../src/manager/etcd-store/index.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ClusterEvent } from '../../../src/manager/events.ts'
import { startEtcd } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { FakeLeadership } from '../../support/fake-leadership.ts'

const etcd = await startEtcd(t)
const prefix = '/leaders/'
const raw = new Etcd3({ hosts: etcd.clientUrls })
t.teardown(() => raw.close())

async function manager(lead: FakeLeadership, skewMs: number): Promise<{ m: Manager; store: EtcdStore }> {
  const store = await new EtcdStore(new Etcd3({ hosts: etcd.clientUrls }), { prefix, describe: etcd.endpoints.join(',') }).open()
  const m = new Manager({ store, leadership: lead, now: () => Date.now() + skewMs })
  await m.init()
  m.start()
  t.teardown(() => { m.stop(); store.close() })
  await m.events.ready
  return { m, store }
}

const leadA = new FakeLeadership({ leading: true, leader: 'a' })
const leadB = new FakeLeadership({ leading: false, leader: 'a' })
const a = await manager(leadA, 0)
const b = await manager(leadB, 1_000)

/** A service with no replicas (the orchestrator adds no events of its own): one `service create` event. */
async function create(m: Manager, name: string): Promise<void> {
  const spec = defaultServiceSpec(name, 'nginx:1')
  spec.mode = { replicated: { replicas: 0 } }
  await m.createService(spec)
}

async function settle(want: number): Promise<void> {
  await waitFor(() => a.store.revision === b.store.revision && a.m.events.since(0).length >= want && b.m.events.since(0).length >= want,
    15_000, { what: 'both managers saw every change' })
  await a.m.events.flush()
  await b.m.events.flush()
}

const names = (events: readonly ClusterEvent[]) => events.filter((e) => e.type === 'service').map((e) => `${e.action} ${e.subject}`)

t.test('a leads, then b, then both at once: every event stored once, ids increasing, none overwritten', async (t) => {
  for (const n of ['a1', 'a2', 'a3']) await create(a.m, n)
  await settle(3)
  const first = new Map((await a.store.listEvents()).map((e) => [e.id, JSON.stringify(e)]))
  t.same(names(await a.store.listEvents()), ['create a1', 'create a2', 'create a3'], 'a stored its events')

  leadA.set(false, 'b')
  leadB.set(true, 'b')
  for (const n of ['b1', 'b2']) await create(b.m, n)
  await settle(5)

  leadA.set(true, 'a') // a hand-over: both append
  await Promise.all([create(a.m, 'ab1'), create(b.m, 'ab2'), create(a.m, 'ab3'), create(b.m, 'ab4')])
  await settle(9)
  await a.m.events.flush()

  const stored = await b.store.listEvents()
  const ids = stored.map((e) => e.id)
  t.ok(ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)), `ids increasing: ${ids.join(' ')}`)
  const svc = names(stored)
  t.same(svc.slice(0, 5), ['create a1', 'create a2', 'create a3', 'create b1', 'create b2'], 'a\'s, then b\'s')
  t.same([...svc.slice(5)].sort(), ['create ab1', 'create ab2', 'create ab3', 'create ab4'], 'the hand-over\'s')
  t.equal(new Set(stored.map((e) => `${e.revision} ${e.type} ${e.action} ${e.subjectId}`)).size, stored.length, 'no event stored twice')
  for (const [id, json] of first) t.equal(JSON.stringify(stored.find((e) => e.id === id)), json, `event ${id} as a first stored it`)
  const kvs = await raw.getAll().prefix(`${prefix}events/`).exec()
  t.ok(kvs.kvs.length > 0 && kvs.kvs.every((kv) => kv.version === '1'), 'every event key written once (version 1)')
  t.same(a.m.events.since(0).map((e) => e.id), ids, 'a numbered every event as stored')
  t.same(b.m.events.since(0).map((e) => e.id), ids, 'b too')

  // The HTTP path: b's `mesh events --since` replays the history in order.
  const dir = mkdtempSync(join(tmpdir(), 'mesh-ev-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = await listen(createApp({ manager: b.m, local: true }, defaultServiceSpec), { socketPath: join(dir, 'api.sock') })
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const lines = await new Promise<ClusterEvent[]>((resolve, reject) => {
    const got: ClusterEvent[] = []
    let buf = ''
    const req = http.get({ socketPath: join(dir, 'api.sock'), path: '/v1/events?since=1h' }, (res) => {
      res.on('data', (chunk: Buffer) => {
        buf += chunk.toString()
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          if (line !== '{}') got.push(JSON.parse(line) as ClusterEvent)
        }
        if (got.length >= stored.length) { req.destroy(); resolve(got) }
      })
    })
    req.on('error', (err) => { if (got.length < stored.length) reject(err) })
    setTimeout(() => { req.destroy(); resolve(got) }, 10_000).unref()
  })
  t.same(lines.map((e) => [e.id, e.type, e.action, e.subject]), stored.map((e) => [e.id, e.type, e.action, e.subject]), '--since replays them in order')
})
