import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, openSqliteStore, type JoinResult } from '../../../src/manager/index.ts'
import { jsonRequest, managerCertificateCheck } from '../../../src/api/index.ts'
import type { NodeRecord, TaskRecord } from '../../../src/api/types.ts'
import { spec } from './sim.ts'
import { testCsr, testKey, tlsApi } from '../../support/pki.ts'

/**
 * A task address a node reports goes into every agent's VIP rules (`nft -f`), so the manager takes only a
 * dotted-quad IPv4 inside that node's overlay subnet (security review finding #3). A refused report changes
 * nothing for that task; the other reports of the same batch apply.
 */

// node1 registered 10.77.1.0/24 (PUT /v1/agent/overlay); node2 registered nothing yet.
const KEY1 = Buffer.alloc(32, 1).toString('base64')

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-taskaddr-'))
  const store = openSqliteStore(join(dir, 'm.db'))
  const warnings: Record<string, unknown>[] = []
  const m = new Manager({
    store, overlayRange: '10.77.0.0/16',
    log: (level, _msg, fields) => { if (level === 'warn') warnings.push(fields ?? {}) },
  })
  t.teardown(() => {
    m.stop()
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const res = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }
  await m.init()
  const n1 = await m.join({ csr: await testCsr(), token: m.tokens().worker, hostname: 'node1', addr: '192.168.77.11', resources: res })
  const n2 = await m.join({ csr: await testCsr(), token: m.tokens().worker, hostname: 'node2', addr: '192.168.77.12', resources: res })
  await m.registerOverlay(n1.node, { publicKey: KEY1, subnet: '10.77.1.0/24' })
  return { m, store, warnings, n1, n2 }
}

const running = () => ({ state: 'running' as const, message: 'started', timestamp: 1 })

function tasksOn(store: { listTasks(f: { nodeId: string }): TaskRecord[] }, node: NodeRecord): TaskRecord[] {
  return store.listTasks({ nodeId: node.id })
}

const refused = [
  { desc: 'an nft table after a newline', ip: '10.77.1.5 }\n}\ntable ip pwn {' },
  { desc: 'a trailing newline', ip: '10.77.1.5\n' },
  { desc: 'an octet above 255', ip: '10.77.1.256' },
  { desc: 'leading zeros', ip: '10.77.01.5' },
  { desc: 'a CIDR', ip: '10.77.1.5/32' },
  { desc: 'an IPv6 address', ip: 'fd00::5' },
  { desc: 'not a string', ip: 42 as unknown as string },
  { desc: 'another node\'s subnet', ip: '10.77.2.5' },
  { desc: 'outside the overlay', ip: '1.2.3.4' },
]

t.test('the manager refuses a task address that is not an IPv4 of the node\'s subnet, and keeps the rest of the batch', async (t) => {
  for (const c of refused) {
    await t.test(c.desc, async (t) => {
      const { m, store, warnings, n1 } = await setup(t)
      await m.createService(spec('web', { replicas: 2, constraints: ['node.hostname==node1'] }))
      await m.reconcileNow()
      const [a, b] = tasksOn(store, n1.node)
      if (!a || !b) throw new Error('expected two tasks on node1')
      const applied = await m.reportTasks(n1.node, [{ taskId: a.id, status: running(), ip: c.ip }, { taskId: b.id, status: running(), ip: '10.77.1.6' }])
      t.equal(applied, 1, 'only the good report applies')
      t.equal(store.getTask(a.id)?.ip, a.ip, 'the refused task keeps its address')
      t.equal(store.getTask(a.id)?.status.state, a.status.state, 'and its state')
      t.equal(store.getTask(b.id)?.ip, '10.77.1.6')
      t.equal(store.getTask(b.id)?.status.state, 'running')
      t.match(warnings, [{ task: a.id, node: 'node1' }], 'the refusal is logged')
    })
  }
})

t.test('without a known subnet for the node, the address must lie in the overlay range', async (t) => {
  const { m, store, n2 } = await setup(t)
  await m.createService(spec('api', { replicas: 1, constraints: ['node.hostname==node2'] }))
  await m.reconcileNow()
  const [a] = tasksOn(store, n2.node)
  if (!a) throw new Error('expected a task on node2')
  t.equal(await m.reportTasks(n2.node, [{ taskId: a.id, status: running(), ip: '10.99.0.5' }]), 0)
  t.equal(await m.reportTasks(n2.node, [{ taskId: a.id, status: running(), ip: '10.77.9.5' }]), 1)
  t.equal(store.getTask(a.id)?.ip, '10.77.9.5')
})

t.test('a report without an address is taken as before', async (t) => {
  const { m, store, n1 } = await setup(t)
  await m.createService(spec('web', { replicas: 1, constraints: ['node.hostname==node1'] }))
  await m.reconcileNow()
  const [a] = tasksOn(store, n1.node)
  if (!a) throw new Error('expected a task on node1')
  t.equal(await m.reportTasks(n1.node, [{ taskId: a.id, status: running() }]), 1)
  t.equal(await m.reportTasks(n1.node, [{ taskId: a.id, status: running(), ip: '' }]), 1)
})

t.test('POST /v1/agent/status with a hostile address: the status is refused, the task is unchanged', async (t) => {
  const { m, store, n1 } = await setup(t)
  await m.init()
  await m.createService(spec('web', { replicas: 1, constraints: ['node.hostname==node1'] }))
  await m.reconcileNow()
  const [a] = tasksOn(store, n1.node)
  if (!a) throw new Error('expected a task on node1')
  const post1 = await statusPoster(t, m, n1)
  const post = async (ip: string) => {
    const r = await post1({ updates: [{ taskId: a.id, status: running(), ip }] })
    return { status: r.status, body: r.body as { applied: number } }
  }
  t.same(await post('10.77.1.5\ntable ip pwn { }'), { status: 200, body: { applied: 0 } })
  t.equal(store.getTask(a.id)?.ip, a.ip)
  t.same(await post('10.77.1.5'), { status: 200, body: { applied: 1 } })
  t.equal(store.getTask(a.id)?.ip, '10.77.1.5')
})

t.test('a bad overlay range fails at construction', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-taskaddr-'))
  const store = openSqliteStore(join(dir, 'm.db'))
  t.teardown(() => { store.close(); rmSync(dir, { recursive: true, force: true }) })
  t.throws(() => new Manager({ store, overlayRange: '10.77.0.1/16' }), { code: 'MESH_ERR_CONFIG' })
})

t.test('POST /v1/agent/status: one malformed report is skipped and logged, the rest of the batch applies', async (t) => {
  const { m, store, warnings, n1 } = await setup(t)
  await m.init()
  await m.createService(spec('web', { replicas: 2, constraints: ['node.hostname==node1'] }))
  await m.reconcileNow()
  const [a, b] = tasksOn(store, n1.node)
  if (!a || !b) throw new Error('expected two tasks on node1')
  const post1 = await statusPoster(t, m, n1)
  const post = async (updates: unknown[]) => {
    const r = await post1({ updates })
    return { status: r.status, body: r.body as { applied?: number } }
  }
  const bad: { desc: string; u: unknown }[] = [
    { desc: 'an unknown state', u: { taskId: a.id, status: { ...running(), state: 'pwned' } } },
    { desc: 'no status', u: { taskId: a.id } },
    { desc: 'null', u: null },
    { desc: 'a message that is not text', u: { taskId: a.id, status: { ...running(), message: { x: 1 } } } },
    { desc: 'a timestamp that is not a time', u: { taskId: a.id, status: { ...running(), timestamp: 'soon' } } },
    { desc: 'a container id with a newline', u: { taskId: a.id, status: { ...running(), containerId: 'abc\ndef' } } },
    { desc: 'an unknown health', u: { taskId: a.id, status: { ...running(), health: 'great' } } },
  ]
  for (const c of bad) {
    warnings.length = 0
    const before = store.getTask(a.id)?.status.state
    const r = await post([c.u, { taskId: b.id, status: running(), ip: '10.77.1.9' }])
    t.same(r, { status: 200, body: { applied: 1 } }, `${c.desc}: answered, and the good report of the batch applied`)
    t.equal(store.getTask(a.id)?.status.state, before, `${c.desc}: the bad report changed nothing`)
    t.equal(warnings.length, 1, `${c.desc}: the refusal is logged once`)
  }
  t.equal(store.getTask(b.id)?.status.state, 'running')
  // Fields a node adds of its own are not stored, and text is bounded.
  await post([{ taskId: a.id, status: { ...running(), message: 'x'.repeat(100_000), extra: 'mine' }, ip: '10.77.1.8' }])
  const got = store.getTask(a.id)?.status as unknown as Record<string, unknown>
  t.equal(got.state, 'running')
  t.notOk('extra' in got, 'an unknown status field is dropped')
  t.equal((got.message as string).length, 4096, 'the message is cut to 4096 characters')
})

/** POST /v1/agent/status over the manager's TLS API with node `n`'s certificate (in-process joins share testKey's key). */
async function statusPoster(t: Test, m: Manager, n: JoinResult): Promise<(body: unknown) => Promise<{ status: number; body: unknown }>> {
  const api = await tlsApi(t, m)
  const tls = { ca: m.ca.trust().roots, cert: n.certificate, key: (await testKey()).keyPem, checkServerIdentity: managerCertificateCheck }
  return (body) => jsonRequest(api.target(tls), { method: 'POST', path: '/v1/agent/status', body, timeoutMs: 30_000 })
}
