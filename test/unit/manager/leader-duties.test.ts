/**
 * Only the leader runs the Manager's leader duties (ManagerOptions.leadership): the reconcile loop, node state from
 * gossip, the event history's appends. A follower serves reads and writes; gaining the lead starts the loop from
 * the store's current state; losing it stops the loop at once. A fake Leadership and a FakeClock: no sleeps.
 */
import t, { type Test } from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeLeadership } from '../../support/fake-leadership.ts'
import { testCsr } from '../../support/pki.ts'

const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

async function follower(t: Test) {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const leadership = new FakeLeadership({ leading: false, leader: 'other' })
  const m = new Manager({ store, clock, leadership })
  await m.init()
  // joined while the fake says "follower": registering is an API write, any manager makes it
  const w1 = (await m.join({ csr: await testCsr(), token: m.tokens().worker, hostname: 'w1', addr: '10.0.0.2', resources })).node
  m.start()
  t.teardown(() => m.stop())
  await clock.advance(0)
  return { clock, store, leadership, m, w1 }
}

const replicas = (n: number) => ({ ...defaultServiceSpec('web', 'nginx'), mode: { replicated: { replicas: n } } })

t.test('a follower serves writes but schedules nothing; elected, it converges from the store as it is', async (t) => {
  const { clock, leadership, m } = await follower(t)
  t.equal(m.leading, false)
  await m.createService(replicas(2))
  t.ok(m.getService('web'), 'the write is served')
  await clock.advance(5000)
  t.equal(m.listTasks().length, 0, 'no task: only the leader schedules')
  await m.reconcileNow()
  t.equal(m.listTasks().length, 0, 'a pass run by hand on a follower plans nothing')
  leadership.set(true, 'self')
  t.equal(m.leading, true)
  await clock.advance(0)
  await clock.advance(20)
  t.equal(m.listTasks().length, 2, 'elected: the service created while following gets its tasks')
  t.ok(m.listTasks().every((x) => x.status.state === 'assigned'))
})

t.test('deposed, the loop stops at once: a later change is not reconciled until elected again', async (t) => {
  const { clock, leadership, m } = await follower(t)
  leadership.set(true, 'self')
  await m.createService(replicas(1))
  await clock.advance(100)
  t.equal(m.listTasks().length, 1)
  leadership.set(false, 'other')
  t.equal(m.leading, false)
  await m.updateService('web', (s) => ({ ...s, mode: { replicated: { replicas: 3 } } }))
  await clock.advance(5000)
  t.equal(m.listTasks().length, 1, 'not scaled by a deposed manager')
  leadership.set(true, 'self')
  await clock.advance(100)
  t.equal(m.listTasks({ desiredState: 'running' }).length, 3, 'elected again: scaled')
})

t.test('gossip node state: remembered by every manager, written by the leader only', async (t) => {
  const { clock, leadership, m, w1 } = await follower(t)
  t.equal(m.getNode(w1.id)?.state, 'ready')
  await m.setNodeState('w1', 'down')
  t.equal(m.getNode(w1.id)?.state, 'ready', 'a follower writes no node state')
  leadership.set(true, 'self')
  await clock.advance(0)
  t.equal(m.getNode(w1.id)?.state, 'down', 'elected: what its gossip said is written')
  await m.setNodeState('w1', 'ready')
  t.equal(m.getNode(w1.id)?.state, 'ready', 'the leader writes at once')
})

t.test('the event history is appended by the leader only', async (t) => {
  const { clock, store, leadership, m } = await follower(t)
  await m.createService(replicas(0))
  await m.events.flush()
  t.notOk((await store.listEvents()).some((e) => e.type === 'service' && e.action === 'create'), 'a follower derives events but stores none')
  leadership.set(true, 'self')
  await clock.advance(0)
  await m.createService({ ...defaultServiceSpec('api', 'nginx'), mode: { replicated: { replicas: 0 } } })
  await m.events.flush()
  const stored = await store.listEvents()
  t.ok(stored.some((e) => e.type === 'service' && e.action === 'create' && e.subject === 'api'), 'the leader stores them')
})

t.test('without a leadership option a manager always leads (a single manager on SQLite)', async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock })
  await m.init()
  const self = await m.registerSelf({ hostname: 'm1', addr: '10.0.0.1', resources }, { csr: await testCsr() })
  m.start()
  t.teardown(() => m.stop())
  t.equal(m.leading, true)
  t.equal(m.leaderId(), self.node.id, 'it names its own node as the leader')
  t.equal(m.staleView(), false, 'its view is the store: never stale')
})
