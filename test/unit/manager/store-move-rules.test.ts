/**
 * The Manager's side of a store move (manager.ts with a StoreMove role, manager-members.ts): what starts a move, what
 * is refused before anything moves, and the one-line answers when the move fails or is under way. The role is a fake
 * here; the move itself is test/integration/etcd/store-move.test.ts.
 */
import t from 'tap'
import { Manager, MOVING_LINE, openSqliteStore, RequestRefusedError, type StoreMove } from '../../../src/manager/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { joinAs } from '../../support/pki.ts'

async function setup(t: { teardown(fn: () => unknown): void }, toEtcd: StoreMove['toEtcd']): Promise<{ m: Manager; calls: () => number }> {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  let calls = 0
  const m = new Manager({ store, clock: new FakeClock(), storeMove: { toEtcd: () => { calls++; return toEtcd() } } })
  await m.init()
  await joinAs(m, 'w1')
  return { m, calls: () => calls }
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof RequestRefusedError) return `${err.code}: ${err.message}`
    throw err
  }
  return 'not refused'
}

t.test('refused before anything moves: a member\'s hostname, a CSR the CA cannot sign', async (t) => {
  const s = await setup(t, () => Promise.reject(new Error('must not be called')))
  t.equal(await refusal(joinAs(s.m, 'w1', { token: s.m.tokens().manager })), 'MESH_ERR_CONFLICT: node "w1" is already a member; remove it first with mesh node rm w1')
  await t.rejects(s.m.join({ token: s.m.tokens().manager, hostname: 'm2', addr: '10.0.0.8', resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, csr: 'not a csr' }))
  t.equal(s.calls(), 0, 'no move started')
})

t.test('a move that fails: one 503 line, nothing changed, and the next promote tries again', async (t) => {
  const s = await setup(t, () => Promise.reject(new Error('etcd: address already in use')))
  t.equal(await refusal(s.m.updateNode('w1', { role: 'manager' })),
    'MESH_ERR_UNAVAILABLE: node "w1": moving the cluster\'s state from SQLite into etcd failed (etcd: address already in use); the manager carries on on SQLite, nothing changed')
  t.equal(s.m.getNode('w1')?.role, 'worker', 'the role is unchanged')
  await refusal(s.m.updateNode('w1', { role: 'manager' }))
  t.equal(s.calls(), 2, 'tried again')
})

t.test('while a move runs a second promote gets the 503 line; the first goes on on the manager the move returns', async (t) => {
  let release!: (m: Manager) => void
  const s = await setup(t, () => new Promise<Manager>((r) => { release = r }))
  await joinAs(s.m, 'w2')
  const first = s.m.updateNode('w1', { role: 'manager' })
  t.equal(await refusal(s.m.updateNode('w2', { role: 'manager' })), `MESH_ERR_UNAVAILABLE: ${MOVING_LINE}`)
  const next = { updateNode: async () => ({ hostname: 'w1', role: 'manager' }) } as unknown as Manager
  release(next)
  t.match(await first, { hostname: 'w1', role: 'manager' }, 'answered by the manager on etcd')
  t.equal(s.calls(), 1)
})

t.test('without a StoreMove (an external etcd) a promote is refused with the way to move', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock: new FakeClock() })
  await m.init()
  await joinAs(m, 'w1')
  t.match(await refusal(m.updateNode('w1', { role: 'manager' })), /^MESH_ERR_CONFLICT: node "w1": this cluster's managers do not run their own etcd/)
})
