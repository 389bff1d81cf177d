/**
 * Attack tests for join identity (security review #2): a real Manager on a SQLite store in a temp dir behind the real
 * API app on 127.0.0.1:0 (TLS 1.3), driven over HTTPS as an attacker holding the worker token would. A join never
 * takes over a member (its id, certificate, role or tasks); the role comes only from the token; `node rm` frees the hostname, which
 * then joins as a new node. The manager's own node registers in-process (registerSelf), never through a token.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { HttpManagerTransport, WorkerLink, identityPath, readIdentity, readNodeTls } from '../../../src/worker/index.ts'
import { jsonRequest, managerCertificateCheck, type ClientTls } from '../../../src/api/index.ts'
import { testCsr, testKey, tlsApi } from '../../support/pki.ts'
import { FakeMembers } from '../../support/fake-members.ts'

const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }
const running = { state: 'running' as const, message: 'started', timestamp: 1 }

interface Reply { status: number; body: Record<string, unknown> | null }

async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-joinid-'))
  const store = openSqliteStore(join(dir, 'manager.db'))
  // Managers with their own etcd members (faked): a manager token joins a manager (a SQLite cluster refuses it).
  const m = new Manager({ store, clock: new FakeClock(), members: new FakeMembers({ name: 'node1', peerUrl: 'https://192.168.77.11:2380' }) })
  await m.init()
  t.teardown(() => {
    m.stop()
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const api = await tlsApi(t, m) // closed at teardown, before the store
  const port = api.port
  /** A request as `as` (a client certificate, or anonymous), with `bearer` when given. */
  const call = async (method: string, path: string, as: ClientTls, body?: unknown, bearer?: string): Promise<Reply> => {
    const r = await jsonRequest(api.target(as), { method, path, body, headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, timeoutMs: 30_000 })
    return { status: r.status, body: r.body as Record<string, unknown> | null }
  }
  const csr = await testCsr()
  const joinAs = (token: string, hostname: string, addr = '192.168.77.99') => call('POST', '/v1/agent/join', api.anonymous, { hostname, addr, resources, csr }, token)
  const { worker, manager } = m.tokens()
  return { m, store, call, joinAs, worker, manager, port, admin: api.admin }
}

/** The client TLS of a node holding `certificate` (every in-process and test join shares testKey's key). */
async function nodeTls(m: Manager, certificate: string): Promise<ClientTls> {
  return { ca: m.ca.trust().roots, cert: certificate, key: (await testKey()).keyPem, checkServerIdentity: managerCertificateCheck }
}

/** A worker that joined the normal way and runs a task of service `web` (with a registry password). */
async function workerWithTask(s: Awaited<ReturnType<typeof setup>>, hostname: string) {
  const joined = await s.joinAs(s.worker, hostname, '192.168.77.12')
  if (joined.status !== 200) throw new Error(`setup: join ${hostname}: ${JSON.stringify(joined.body)}`)
  const id = joined.body?.nodeId as string
  const tls = await nodeTls(s.m, joined.body?.certificate as string)
  await s.m.createService({ ...defaultServiceSpec('web', 'reg.example/web:1'), constraints: [`node.hostname==${hostname}`],
    registryAuth: { username: 'ci', password: 'hunter2', serveraddress: 'reg.example' } })
  await s.m.reconcileNow()
  const tasks = s.m.listTasks({ nodeId: id })
  if (tasks.length !== 1) throw new Error('setup: expected one task on the worker')
  return { id, tls, task: tasks[0] as { id: string } }
}

t.test('a worker token joining with a live worker\'s hostname is refused; the real node keeps its id, certificate and tasks', async (t) => {
  const s = await setup(t)
  const real = await workerWithTask(s, 'node2')
  const r = await s.joinAs(s.worker, 'node2')
  t.equal(r.status, 409, 'refused with 409')
  t.same(r.body, { error: { code: 'MESH_ERR_CONFLICT', message: 'node "node2" is already a member; remove it first with mesh node rm node2' } },
    'one line naming the fix, and no certificate')
  t.equal(s.m.listNodes().length, 1, 'no node added')
  t.equal(s.m.getNode('node2')?.id, real.id, 'the hostname keeps its node id')
  t.equal(s.m.getNode('node2')?.addr, '192.168.77.12', 'and its address')
  t.same(s.m.listTasks({ nodeId: real.id }).map((x) => x.id), [real.task.id], 'its task stays assigned to it')
  const report = await s.call('POST', '/v1/agent/status', real.tls, { updates: [{ taskId: real.task.id, status: running }] })
  t.same([report.status, report.body], [200, { applied: 1 }], 'the real node\'s certificate still works for its own task')
})

t.test('a worker token joining with the manager node\'s hostname is refused; the manager node stays as it was', async (t) => {
  const s = await setup(t)
  const self = await s.m.registerSelf({ hostname: 'node1', addr: '192.168.77.11', resources }, { csr: await testCsr() })
  const r = await s.joinAs(s.worker, 'node1')
  t.equal(r.status, 409)
  t.match(r.body, { error: { code: 'MESH_ERR_CONFLICT', message: 'node "node1" is already a member; remove it first with mesh node rm node1' } })
  t.notOk(r.body && 'role' in r.body, 'no role answered')
  t.same(s.m.getNode('node1'), self.node, 'the manager node record is unchanged')
  const still = await s.call('POST', '/v1/agent/status', await nodeTls(s.m, self.certificate), { updates: [] })
  t.same([still.status, still.body], [200, { applied: 0 }], 'its certificate still works')
})

t.test('a worker token never produces role manager; the manager token gives manager', async (t) => {
  const s = await setup(t)
  await s.m.registerSelf({ hostname: 'node1', addr: '192.168.77.11', resources }, { csr: await testCsr() })
  t.equal((await s.joinAs(s.manager, 'node5')).body?.role, 'manager', 'a manager token joins as a manager')
  const cases = [
    { desc: 'a new hostname', hostname: 'node3' },
    { desc: 'the manager node\'s hostname', hostname: 'node1' },
    { desc: 'a manager that joined with the manager token', hostname: 'node5' },
    { desc: 'a manager\'s hostname after it was removed', hostname: 'node5', rm: true },
  ]
  for (const c of cases) {
    if (c.rm) t.equal((await s.call('DELETE', `/v1/nodes/${c.hostname}?force=true`, s.admin)).status, 204, `node rm ${c.hostname}`)
    const r = await s.joinAs(s.worker, c.hostname)
    t.not(r.body?.role, 'manager', `${c.desc}: not a manager (${r.status} ${JSON.stringify(r.body)})`)
    t.ok(r.status === 409 || r.body?.role === 'worker', `${c.desc}: refused, or a worker`)
  }
  t.same(s.m.listNodes().filter((n) => n.role === 'manager').map((n) => n.hostname).sort(), ['node1'], 'the only manager left is node1')
})

t.test('after mesh node rm the hostname joins again as a new node; the old certificate is dead', async (t) => {
  const s = await setup(t)
  const old = await workerWithTask(s, 'node2')
  t.equal((await s.joinAs(s.worker, 'node2')).status, 409, 'refused while node2 is a member')
  await s.m.setNodeState('node2', 'down')
  t.equal((await s.joinAs(s.worker, 'node2')).status, 409, 'refused while node2 is down but not removed')
  t.equal((await s.call('DELETE', '/v1/nodes/node2', s.admin)).status, 204, 'node rm node2')
  const r = await s.joinAs(s.worker, 'node2')
  t.equal(r.status, 200, 'the hostname joins again')
  t.equal(r.body?.role, 'worker')
  t.not(r.body?.nodeId, old.id, 'with a new node id')
  t.not(r.body?.certificate, old.tls.cert, 'and a new certificate')
  t.equal((await s.call('POST', '/v1/agent/status', old.tls, { updates: [] })).status, 401, 'the removed node\'s certificate is refused')
  t.same(s.m.listTasks({ nodeId: r.body?.nodeId as string }).filter((x) => x.id === old.task.id), [], 'the old node\'s task is not handed to the new one')
})

t.test('registerSelf: the manager node keeps its id across manager restarts; it never takes a worker\'s name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-joinid-self-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const start = async () => {
    const store = openSqliteStore(join(dir, 'manager.db'))
    const m = new Manager({ store, clock: new FakeClock() })
    await m.init()
    return { m, close: () => store.close() }
  }
  const a = await start()
  const first = await a.m.registerSelf({ hostname: 'node1', addr: '192.168.77.11', resources }, { csr: await testCsr() })
  await a.m.updateNode('node1', { labelAdd: { zone: 'a' } })
  const w = await a.m.join({ csr: await testCsr(), token: a.m.tokens().worker, hostname: 'node2', addr: '192.168.77.12', resources })
  a.close()
  const b = await start() // kill -9 and `mesh agent --init` again on the same data dir
  t.teardown(b.close)
  const again = await b.m.registerSelf({ hostname: 'node1', addr: '192.168.77.21', resources }, { csr: await testCsr() })
  t.equal(again.node.id, first.node.id, 'same node id')
  t.equal(again.node.role, 'manager')
  t.same(again.node.labels, { zone: 'a' }, 'labels kept')
  t.equal(again.node.addr, '192.168.77.21', 'address updated')
  t.equal((await b.m.ca.identify(again.certificate)).nodeId, first.node.id, 'the new certificate names this node')
  await t.rejects(b.m.registerSelf({ hostname: 'node2', addr: '192.168.77.11', resources }, { csr: await testCsr() }),
    { code: 'MESH_ERR_CONFLICT', message: /^node "node2" is a worker of this cluster, so this manager cannot register under its name; remove it first with mesh node rm node2$/ })
  t.same(b.m.getNode('node2'), w.node, 'the worker record is unchanged')
  const wid = await b.m.ca.identify(w.certificate)
  t.same([wid.nodeId, wid.role, b.m.getNode(wid.nodeId)?.id], [w.node.id, 'worker', w.node.id], 'and its certificate still names a member')
})

t.test('the agent\'s side, over HTTP: restarts keep node.json, a lost node.json gets the line, node rm lets it join anew', async (t) => {
  const s = await setup(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-joinid-agent-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const agent = (token?: string) => new WorkerLink({
    transport: new HttpManagerTransport({ host: '127.0.0.1', port: s.port }), clock: new FakeClock(), dataDir,
    hostname: 'node2', addr: '192.168.77.12', resources, onAssignments: () => undefined, log: () => undefined, ...(token ? { token } : {}),
  })
  // `mesh agent --join … --token …`, then restarts (kill -9) without and with the token.
  const first = await agent(s.worker).register()
  t.equal(first.role, 'worker')
  t.same(await agent().register(), first, 'restarted without --token: node.json')
  t.same(await agent(s.worker).register(), first, 'restarted with the same --token: node.json kept')
  t.equal(s.m.listNodes().length, 1, 'still one node')
  const works = async (): Promise<number> => (await s.call('POST', '/v1/agent/status', { ...readNodeTls(dataDir), checkServerIdentity: managerCertificateCheck }, { updates: [] })).status
  t.equal(await works(), 200, 'its certificate works')
  // node.json lost while the node exists: the one line, nothing changed.
  rmSync(identityPath(dataDir))
  const err = await agent(s.worker).register().then(() => null, (e: unknown) => e as Error)
  t.equal(err?.message, 'node "node2" is already a member; remove it first with mesh node rm node2', 'the line (the CLI prints it after `mesh: `)')
  t.equal(await works(), 200, 'the node keeps its certificate')
  // The fix: mesh node rm, then join again: a new node.
  await s.m.setNodeState('node2', 'down')
  t.equal((await s.call('DELETE', '/v1/nodes/node2', s.admin)).status, 204)
  const again = await agent(s.worker).register()
  t.not(again.nodeId, first.nodeId, 'a new node id')
  t.same(readIdentity(dataDir), again, 'written to node.json')
})
