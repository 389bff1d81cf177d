/**
 * The agent's push stream, `GET /v1/agent/watch`, against the real API app on 127.0.0.1:0 over mutual TLS with a node
 * certificate: `{tasks}` (this node's assignment), `{catalog}`, `{peers}` and `{ca}` (the trusted roots) lines at once, a new line after a change to either (coalesced
 * over 10 ms of the manager's clock), no line when a change leaves both as they were, `{}` heartbeats every 10 s.
 * The manager runs on a FakeClock, so the coalescing and the heartbeat happen when the test advances time.
 */
import t from 'tap'
import { Manager, openSqliteStore, storeEpoch } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { requestFor, type ClientTls } from '../../../src/api/index.ts'
import type { CatalogSnapshot } from '../../../src/api/catalog.ts'
import type { TaskRecord } from '../../../src/api/types.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { openWatch as openWatchOf } from '../../support/watch.ts'
import { tlsApi } from '../../support/pki.ts'

type Line = { tasks?: TaskRecord[]; catalog?: CatalogSnapshot; peers?: unknown[]; ca?: { roots: string[]; digest: string } }

const clock = new FakeClock()
const store = openSqliteStore(':memory:')
const manager = new Manager({ store, clock })
await manager.init()
const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }
t.teardown(() => store.close())
const api = await tlsApi(t, manager)
const { node, tls: nodeTls } = await api.joinNode('w1', { addr: '10.0.0.2' })

/** The stream, read line by line (test/support/watch.ts). */
const openWatch = (tls: ClientTls) => openWatchOf<Line>(api.target(tls))

t.test('a node certificate gets the roots, its assignment and the catalog, then a line per change', { timeout: 120_000 }, async (t) => {
  const w = await openWatch(nodeTls)
  t.teardown(w.close)
  t.equal(w.status, 200)
  t.same(await w.next(), { tasks: [] }, 'first line: the assignment (nothing yet)')
  const first = await w.next()
  t.same(first.catalog?.services, [], 'second line: the catalog, no services yet')
  t.equal(first.catalog?.epoch, storeEpoch(store), 'the catalog carries the store epoch')
  t.ok(first.catalog?.epoch, 'which init made')
  t.same(first.catalog?.nodes.map((n) => n.hostname), ['w1'])
  t.same(await w.next(), { peers: [] }, 'third line: the registered overlay members (none yet)')
  t.same(await w.next(), { ca: { roots: manager.ca.trust().roots, digest: manager.clusterInfo().digest } }, 'fourth line: the trusted roots')

  const spec = defaultServiceSpec('web', 'nginx')
  spec.mode = { replicated: { replicas: 1 } }
  await manager.createService(spec)
  await clock.advance(10)
  const created = await w.next()
  t.same(created.catalog?.services.map((s) => s.name), ['web'], 'a new service: a catalog line (the assignment did not change)')
  t.ok((created.catalog?.revision ?? 0) > (first.catalog?.revision ?? 0), 'at a later revision')

  await manager.reconcileNow() // the task is created and assigned to w1: no endpoint yet
  await clock.advance(10)
  const assigned = await w.next()
  t.equal(assigned.tasks?.length, 1, 'the assignment line has the new task')
  const task = assigned.tasks?.[0] as TaskRecord
  t.equal(task.nodeId, node.id)
  t.equal(task.status.state, 'assigned')

  await manager.reportTasks(node, [{ taskId: task.id, status: { state: 'running', message: 'started', timestamp: Date.now() }, ip: '10.77.0.5' }])
  await clock.advance(10)
  t.equal((await w.next()).tasks?.[0]?.status.state, 'running', 'the task runs: an assignment line')
  const running = await w.next()
  t.same(running.catalog?.services[0]?.endpoints.map((e) => e.ip), ['10.77.0.5'], 'and a catalog line with its endpoint')

  await manager.updateNode('w1', { labelAdd: { zone: 'a' } }) // a store change neither line shows
  await manager.updateNode('w1', { labelAdd: { disk: 'ssd' } })
  await clock.advance(10)
  await clock.advance(10_000)
  t.same(await w.next(), {}, 'no line for an unchanged catalog and assignment: the next one is the heartbeat')

  await manager.updateService('web', (s) => ({ ...s, stopGracePeriodMs: 5000 }))
  await manager.updateService('web', (s) => ({ ...s, stopGracePeriodMs: 6000 }))
  await clock.advance(10)
  await clock.advance(10_000)
  const lines = [await w.next(), await w.next()]
  t.same(lines[1], {}, 'two changes within 10 ms: one line, then the heartbeat')
  t.equal(lines[0]?.catalog?.services[0]?.stopGracePeriodMs, 6000, 'the one line is the catalog after both')
})

t.test('refused without a node certificate', { timeout: 120_000 }, async (t) => {
  const bad = await openWatch(api.anonymous)
  t.equal(bad.status, 401)
  bad.close()
  const admin = await openWatch(api.admin)
  t.equal(admin.status, 403, 'an admin client certificate is not a node')
  admin.close()
})

// Last: it stops the manager. A store move stops the SQLite manager before the API is handed to the manager on etcd;
// a node reconnecting in between reached the stopped manager, and its stream stayed there for good (heartbeats, no
// assignment: a CI lab saw a task stay `assigned`). Such a stream now ends at once, and the node tries again.
t.test('a stopped manager ends its streams, and one opened after the stop as well', { timeout: 30_000 }, async (t) => {
  const before = await openWatch(nodeTls)
  t.equal(before.status, 200)
  await before.next()
  manager.stop()
  await before.ended
  t.pass('the open stream ended with the stop')
  const late = await openWatch(nodeTls).then((w) => w.ended.then(() => 'ended'), () => 'refused')
  t.ok(['ended', 'refused'].includes(late), `a stream opened after the stop does not stay open (${late})`)
})
