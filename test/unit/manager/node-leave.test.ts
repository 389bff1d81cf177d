/**
 * `mesh leave` on a worker (POST /v1/agent/leave): only the node itself, with its node certificate; the manager
 * marks it down at once, revokes its overlay registration (the `{peers}` list drops it) and orphans its tasks so
 * the orchestrator replaces them; the record stays until `mesh node rm`. Real API app on 127.0.0.1:0 over mutual
 * TLS, manager on a FakeClock.
 */
import t, { type Test } from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { jsonRequest, type ClientTls } from '../../../src/api/index.ts'
import { HttpManagerTransport } from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { tlsApi } from '../../support/pki.ts'
import { FakeMembers } from '../../support/fake-members.ts'
import { spec } from './sim.ts'

const K1 = Buffer.alloc(32, 1).toString('base64')
const K2 = Buffer.alloc(32, 2).toString('base64')

async function setup(t: Test) {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  // Managers with their own etcd members (faked): a worker may be promoted (a SQLite cluster refuses it).
  const manager = new Manager({ store, clock, overlayRange: '10.77.0.0/16', members: new FakeMembers({ name: 'm1', peerUrl: 'https://10.0.0.1:2380' }) })
  await manager.init()
  t.teardown(() => store.close())
  const api = await tlsApi(t, manager)
  const w1 = await api.joinNode('w1', { addr: '10.0.0.2' })
  const w2 = await api.joinNode('w2', { addr: '10.0.0.3' })
  const call = async (method: string, path: string, tls: ClientTls, body?: unknown) => {
    const r = await jsonRequest(api.target(tls), { method, path, timeoutMs: 30_000, ...(body === undefined ? {} : { body }) })
    return { status: r.status, body: (r.body ?? {}) as Record<string, unknown> }
  }
  await call('PUT', '/v1/agent/overlay', w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  await call('PUT', '/v1/agent/overlay', w2.tls, { publicKey: K2, subnet: '10.77.2.0/24' })
  return { clock, store, manager, api, call, w1, w2 }
}

t.test('only the node itself leaves: no certificate 401, an admin certificate 403, nothing changed', async (t) => {
  const s = await setup(t)
  const rev = s.store.revision
  t.equal((await s.call('POST', '/v1/agent/leave', s.api.anonymous, {})).status, 401)
  t.equal((await s.call('POST', '/v1/agent/leave', s.api.admin, {})).status, 403)
  t.same(s.manager.listNodes().map((n) => [n.hostname, n.state, n.overlay?.subnet]), [['w1', 'ready', '10.77.1.0/24'], ['w2', 'ready', '10.77.2.0/24']])
  t.equal(s.store.revision, rev, 'no transaction committed')
})

t.test('a node leaves: down at once, overlay registration revoked, its tasks replaced elsewhere; the record stays', async (t) => {
  const s = await setup(t)
  await s.manager.createService(spec('web', { replicas: 2 }))
  await s.manager.reconcileNow()
  const before = s.store.listTasks({ nodeId: s.w1.node.id })
  t.ok(before.length > 0, 'w1 runs a task')
  await s.clock.advance(1000)
  const r = await s.call('POST', '/v1/agent/leave', s.w1.tls, {})
  t.same(r, { status: 200, body: { nodeId: s.w1.node.id, hostname: 'w1', state: 'down' } })
  const w1 = s.store.getNode('w1')
  t.equal(w1?.state, 'down', 'down at once, no gossip needed')
  t.equal(w1?.overlay, undefined, 'overlay registration revoked')
  t.same(JSON.parse(s.manager.overlayPeersLine()).peers.map((p: { hostname: string }) => p.hostname), ['w2'], 'peers drop it')
  for (const task of s.store.listTasks({ nodeId: s.w1.node.id })) {
    t.equal(task.desiredState, 'shutdown', `${task.id}: desired shutdown`)
    t.match(task.status, { state: 'orphaned', message: 'node left the cluster' })
  }
  await s.manager.reconcileNow()
  const live = s.store.listTasks().filter((x) => x.desiredState === 'running')
  t.equal(live.length, 2, 'two replicas still wanted')
  t.ok(live.every((x) => x.nodeId === s.w2.node.id), 'replaced on w2 at once, without the down-node grace period')
  t.equal((await s.call('PUT', '/v1/agent/overlay', s.w2.tls, { publicKey: K1, subnet: '10.77.1.0/24' })).status, 200, 'its subnet and key are free')
  t.ok(s.manager.getNode('w1'), 'the record stays until mesh node rm')
  await s.manager.removeNode('w1', false)
  t.equal(s.manager.getNode('w1'), undefined, 'node rm without --force: it is down')
})

t.test('the worker transport sends it with the node certificate', async (t) => {
  const s = await setup(t)
  const tr = new HttpManagerTransport({ host: '127.0.0.1', port: s.api.port })
  const tls = s.w2.tls as { ca: string[]; cert: string; key: string }
  tr.setTls({ ca: tls.ca, cert: tls.cert, key: tls.key })
  const r = await tr.leave()
  t.equal(r.status, 200)
  t.equal(r.body?.state, 'down')
  t.equal(s.store.getNode('w2')?.state, 'down')
})

t.test('a manager node does not leave through the API (409, one line)', async (t) => {
  const s = await setup(t)
  await s.manager.updateNode('w1', { role: 'manager' })
  const r = await s.call('POST', '/v1/agent/leave', s.w1.tls, {})
  t.equal(r.status, 409)
  t.match(r.body, { error: { code: 'MESH_ERR_CONFLICT', message: /is a manager/ } })
  t.equal(s.store.getNode('w1')?.state, 'ready')
})
