/**
 * Services that use secrets and configs, the manager's side (src/manager/file-refs.ts, delivery.ts, the watch route):
 * names resolved to ids at create and update (an unknown one refused, nothing changed); on the watch stream a node
 * gets `{secrets}` / `{configs}` with only the values its live tasks use, before the `{tasks}` line that needs them;
 * a node with no such task never gets them; a list without the value once its last task there ended.
 */
import t from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { neededValues } from '../../../src/manager/delivery.ts'
import { defaultServiceSpec, type DeliveredValue, type FileReference, type TaskRecord } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { openWatch } from '../../support/watch.ts'
import { tlsApi } from '../../support/pki.ts'
import { task } from '../runtime/fixtures.ts'

type Line = { tasks?: TaskRecord[]; secrets?: DeliveredValue[]; configs?: DeliveredValue[] }

const ref = (name: string, id = ''): FileReference => ({ id, name, target: name, uid: '0', gid: '0', mode: 0o444 })
const VALUE = 'hunter2-very-secret'

t.test('neededValues: ids of live tasks only, sorted and unique', async (t) => {
  const uses = (id: string, secrets: string[], configs: string[], state: TaskRecord['status']['state'] = 'running') =>
    task({ id, state, spec: { secrets: secrets.map((s) => ref(s, s)), configs: configs.map((c) => ref(c, c)) } })
  const cases = [
    { name: 'no task', tasks: [], want: { secrets: [], configs: [] } },
    { name: 'two tasks share one', tasks: [uses('a', ['s2', 's1'], ['c1']), uses('b', ['s1'], [])], want: { secrets: ['s1', 's2'], configs: ['c1'] } },
    { name: 'an ended task needs nothing', tasks: [uses('a', ['s1'], ['c1'], 'failed'), uses('b', ['s2'], [], 'shutdown')], want: { secrets: [], configs: [] } },
    { name: 'a task not started yet needs its values', tasks: [uses('a', ['s1'], [], 'assigned')], want: { secrets: ['s1'], configs: [] } },
  ]
  for (const c of cases) t.same(neededValues(c.tasks), c.want, c.name)
})

t.test('create and update resolve names; unknown ones are refused with nothing changed', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock: new FakeClock() })
  await m.init()
  await store.transact((tx) => {
    tx.putObject('secret', { id: 's1', spec: { name: 'db', labels: {} }, sealed: 'x', version: 1, createdAt: 1, updatedAt: 1 })
    tx.putObject('config', { id: 'c1', spec: { name: 'app', labels: {}, data: 'eA==' }, version: 1, createdAt: 1, updatedAt: 1 })
  })
  await t.rejects(m.createService({ ...defaultServiceSpec('web', 'nginx'), secrets: [ref('db'), ref('nosuch')] }),
    { code: 'MESH_ERR_NOT_FOUND', message: 'secret "nosuch" not found' })
  t.same(m.listServices(), [], 'nothing created')
  const s = await m.createService({ ...defaultServiceSpec('web', 'nginx'), secrets: [ref('db')], configs: [ref('app', 'stale')] })
  t.same(s.spec.secrets, [ref('db', 's1')], 'the id is filled in')
  t.same(s.spec.configs, [ref('app', 'c1')], 'by name, whatever id the request carried')

  const before = m.getService('web')
  await t.rejects(m.updateService('web', (x) => ({ ...x, configs: [ref('gone')] })), { code: 'MESH_ERR_NOT_FOUND', message: 'config "gone" not found' })
  t.same(m.getService('web'), before, 'a refused update changes nothing')
  const u = await m.updateService('web', (x) => ({ ...x, secrets: [] }))
  t.notOk('secrets' in u.spec, 'the last secret removed: no list left')
  t.equal(u.version, 2)
})

t.test('the watch stream: values only to the node that runs a task using them, before its assignment', { timeout: 120_000 }, async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const reads: string[] = []
  const m = new Manager({ store, clock, secretValue: (id) => { reads.push(id); return id === 's1' ? Buffer.from(VALUE) : undefined } })
  await m.init()
  const api = await tlsApi(t, m)
  const w1 = await api.joinNode('w1')
  const w2 = await api.joinNode('w2')
  await store.transact((tx) => {
    tx.putObject('secret', { id: 's1', spec: { name: 'db', labels: {} }, sealed: 'x', version: 1, createdAt: 1, updatedAt: 1 })
    tx.putObject('config', { id: 'c1', spec: { name: 'app', labels: {}, data: Buffer.from('listen 80').toString('base64') }, version: 1, createdAt: 1, updatedAt: 1 })
  })
  const raw: Record<string, string[]> = { w1: [], w2: [] }
  const watch = async (name: 'w1' | 'w2', tls: typeof w1.tls) => {
    const w = await openWatch<Line>(api.target(tls), (l) => { raw[name]?.push(JSON.stringify(l)); return l.tasks || l.secrets || l.configs ? l : undefined })
    t.teardown(w.close)
    return w
  }
  const s1 = await watch('w1', w1.tls)
  const s2 = await watch('w2', w2.tls)
  t.same(await s1.next(), { tasks: [] }, 'no task: no values line at the start')
  t.same(await s2.next(), { tasks: [] })

  await m.createService({ ...defaultServiceSpec('a', 'nginx'), constraints: ['node.hostname==w1'], secrets: [ref('db')], configs: [ref('app')] })
  await m.createService({ ...defaultServiceSpec('b', 'nginx'), constraints: ['node.hostname==w2'] })
  await m.reconcileNow()
  await clock.advance(10)
  t.same(await s1.next(), { secrets: [{ id: 's1', data: Buffer.from(VALUE).toString('base64') }] }, 'w1: the secret first')
  t.same(await s1.next(), { configs: [{ id: 'c1', data: Buffer.from('listen 80').toString('base64') }] }, 'then the config')
  const assigned = await s1.next()
  t.equal(assigned.tasks?.[0]?.serviceName, 'a', 'then the assignment that needs them')
  t.equal((await s2.next()).tasks?.[0]?.serviceName, 'b', 'w2: its assignment, no values before it')
  t.same(reads, ['s1'], 'the secret was read once, for w1 only')

  // An agent restart (live restore) opens a new stream: the values come again, first, with nothing else changed.
  const again = await watch('w1', w1.tls)
  t.same(await again.next(), { secrets: [{ id: 's1', data: Buffer.from(VALUE).toString('base64') }] }, 'a new stream: the values again, first')
  t.ok((await again.next()).configs, 'and the config')
  t.equal((await again.next()).tasks?.length, 1, 'then the same assignment')
  again.close()
  t.same(reads, ['s1', 's1'], 'read again for the new stream')

  await m.updateNode('w1', { labelAdd: { zone: 'a' } }) // a change that leaves the set as it was
  const taskA = assigned.tasks?.[0] as TaskRecord
  await m.reportTasks(w1.node, [{ taskId: taskA.id, status: { state: 'failed', message: 'boom', timestamp: 1 } }])
  await clock.advance(10)
  const next = await s1.next()
  t.same(next, { secrets: [] }, 'its task ended: w1 gets a list without the secret')
  t.same(await s1.next(), { configs: [] })
  t.same(reads, ['s1', 's1'], 'not read again for an unchanged set')
  const b64 = Buffer.from(VALUE).toString('base64')
  const hex = Buffer.from(VALUE).toString('hex')
  t.ok(raw.w2?.every((l) => !l.includes(VALUE) && !l.includes(b64) && !l.includes(hex)), 'nothing w2 got carries the value in any form')
})

t.test('by default the value comes from the vault: plain for the stream, undefined when it cannot open', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock: new FakeClock() })
  await m.init()
  const view = await m.secrets.createSecret({ name: 'db', data: Buffer.from(VALUE).toString('base64') })
  t.same(m.fileValues('secrets', [view.id, 'nosuch']), [{ id: view.id, data: Buffer.from(VALUE).toString('base64') }], 'opened; an unknown id left out')
  await store.transact((tx) => { tx.putObject('secret', { id: 'bad', spec: { name: 'bad', labels: {} }, sealed: 'not-sealed', version: 1, createdAt: 1, updatedAt: 1 }) })
  t.same(m.fileValues('secrets', ['bad']), [], 'a value the vault cannot open is left out (sent once it can)')
})
