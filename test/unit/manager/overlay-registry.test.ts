/**
 * Overlay membership from the manager (issue 14, item 6): a node registers its own WireGuard key and overlay subnet
 * (PUT /v1/agent/overlay, identity from its node certificate only); a bad value is 400, another node's subnet or key
 * 409, and a refused registration stores nothing. The registered list goes out as `{peers}` on every watch stream,
 * again after each registration and `mesh node rm`; task addresses are checked against the REGISTERED subnet.
 * Real API app on 127.0.0.1:0 over mutual TLS (nodes joined over the API, with their certificates), manager on a
 * FakeClock.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, clusterView, openSqliteStore } from '../../../src/manager/index.ts'
import { jsonRequest, requestFor, type ClientTls, type HttpTarget } from '../../../src/api/index.ts'
import type { OverlayPeer } from '../../../src/api/watch.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { realClock } from '../../../src/base/clock.ts'
import { HttpManagerTransport, WorkerLink, type NodeTls } from '../../../src/worker/index.ts'
import { spec } from './sim.ts'
import { tlsApi } from '../../support/pki.ts'
import { openWatch } from '../../support/watch.ts'

const K1 = Buffer.alloc(32, 1).toString('base64')
const K2 = Buffer.alloc(32, 2).toString('base64')
const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

async function setup(t: Test, dbPath = ':memory:') {
  const clock = new FakeClock()
  const store = openSqliteStore(dbPath)
  const manager = new Manager({ store, clock, overlayRange: '10.77.0.0/16' })
  await manager.init()
  t.teardown(() => store.close())
  const api = await tlsApi(t, manager)
  const join1 = await api.joinNode('w1', { addr: '10.0.0.2' })
  const join2 = await api.joinNode('w2', { addr: '10.0.0.3' })
  /** A request over mutual TLS as the holder of `tls` (a node's certificate, `api.admin` or `api.anonymous`). */
  const call = async (method: string, path: string, tls: ClientTls, body?: unknown) => {
    const r = await jsonRequest(api.target(tls), { method, path, timeoutMs: 30_000, ...(body === undefined ? {} : { body }) })
    return { status: r.status, body: (r.body ?? {}) as Record<string, unknown> }
  }
  const register = (tls: ClientTls, body: unknown) => call('PUT', '/v1/agent/overlay', tls, body)
  return { clock, store, manager, api, port: api.port, call, register, w1: join1, w2: join2 }
}

/** A joined node's client TLS as the worker keeps it (tls/: roots, chain, key). */
function nodeTls(tls: ClientTls): NodeTls {
  if (!Array.isArray(tls.ca) || typeof tls.cert !== 'string' || typeof tls.key !== 'string') throw new Error('expected a joined node\'s roots, certificate and key')
  return { ca: tls.ca.map(String), cert: tls.cert, key: tls.key }
}

t.test('a node registers its own key and subnet; the body cannot name another node', async (t) => {
  const s = await setup(t)
  const r = await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24', nodeId: s.w2.node.id, hostname: 'w2' })
  t.same(r, { status: 200, body: { nodeId: s.w1.node.id, publicKey: K1, subnet: '10.77.1.0/24' } })
  t.same(s.store.getNode('w1')?.overlay, { publicKey: K1, subnet: '10.77.1.0/24' })
  t.equal(s.store.getNode('w2')?.overlay, undefined, 'w2 is untouched')
  const rev = s.store.revision
  t.equal((await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })).status, 200, 'registering the same again is fine')
  t.equal(s.store.revision, rev, 'and changes nothing')
  t.equal((await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.7.0/24' })).status, 200, 'a node may move')
  t.same(s.store.getNode('w1')?.overlay?.subnet, '10.77.7.0/24')
})

t.test('another node\'s subnet or key: 409 with one line, nothing stored', async (t) => {
  const s = await setup(t)
  await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  const rev = s.store.revision
  const taken = await s.register(s.w2.tls, { publicKey: K2, subnet: '10.77.1.0/24' })
  t.equal(taken.status, 409)
  t.match(taken.body, { error: { code: 'MESH_ERR_CONFLICT', message: /10\.77\.1\.0\/24 is registered to node "w1"; it is freed by mesh node rm w1/ } })
  t.notMatch((taken.body.error as { message: string }).message, /\n/, 'one line')
  const sameKey = await s.register(s.w2.tls, { publicKey: K1, subnet: '10.77.2.0/24' })
  t.equal(sameKey.status, 409)
  t.match(sameKey.body, { error: { code: 'MESH_ERR_CONFLICT', message: /WireGuard key is registered to node "w1"/ } })
  t.equal(s.store.getNode('w2')?.overlay, undefined, 'w2 holds nothing')
  t.equal(s.store.revision, rev, 'no transaction committed')
})

const badBodies = [
  { desc: 'a key that is not a key', body: { publicKey: 'not-a-key', subnet: '10.77.2.0/24' }, why: /publicKey/ },
  { desc: 'a key of 31 bytes', body: { publicKey: Buffer.alloc(31, 1).toString('base64'), subnet: '10.77.2.0/24' }, why: /publicKey/ },
  { desc: 'a key with a UAPI line', body: { publicKey: `${K2}\nallowed_ip=0.0.0.0/0`, subnet: '10.77.2.0/24' }, why: /publicKey/ },
  { desc: 'a key that is not canonical base64', body: { publicKey: `${K2.slice(0, 42)}B=`, subnet: '10.77.2.0/24' }, why: /publicKey/ },
  { desc: 'no key', body: { subnet: '10.77.2.0/24' }, why: /publicKey/ },
  { desc: 'half the internet', body: { publicKey: K2, subnet: '0.0.0.0/1' }, why: /subnet/ },
  { desc: 'a subnet outside the overlay range', body: { publicKey: K2, subnet: '10.78.2.0/24' }, why: /subnet/ },
  { desc: 'a subnet of the wrong size', body: { publicKey: K2, subnet: '10.77.0.0/16' }, why: /subnet/ },
  { desc: 'a subnet with host bits', body: { publicKey: K2, subnet: '10.77.2.7/24' }, why: /subnet/ },
  { desc: 'a subnet with a UAPI line', body: { publicKey: K2, subnet: '10.77.2.0/24\nallowed_ip=0.0.0.0/0' }, why: /subnet/ },
  { desc: 'a subnet with leading zeros', body: { publicKey: K2, subnet: '10.77.02.0/24' }, why: /subnet/ },
  { desc: 'a subnet that is not text', body: { publicKey: K2, subnet: 42 }, why: /subnet/ },
  { desc: 'a list', body: [K2, '10.77.2.0/24'], why: /JSON object/ },
]

t.test('a bad key or subnet: 400 naming the field, nothing stored', async (t) => {
  const s = await setup(t)
  for (const c of badBodies) {
    const rev = s.store.revision
    const r = await s.register(s.w2.tls, c.body)
    t.equal(r.status, 400, c.desc)
    t.match((r.body.error as { message: string }).message, c.why, `${c.desc}: names the field`)
    t.notMatch((r.body.error as { message: string }).message, /\n/, `${c.desc}: one line`)
    t.equal(s.store.getNode('w2')?.overlay, undefined, `${c.desc}: nothing stored`)
    t.equal(s.store.revision, rev, `${c.desc}: no transaction committed`)
  }
})

t.test('only nodes register: no client certificate 401, an admin certificate 403', async (t) => {
  const s = await setup(t)
  t.equal((await s.register(s.api.anonymous, { publicKey: K1, subnet: '10.77.1.0/24' })).status, 401)
  t.equal((await s.register(s.api.admin, { publicKey: K1, subnet: '10.77.1.0/24' })).status, 403)
  t.same(s.manager.listNodes().map((n) => n.overlay), [undefined, undefined])
})

t.test('mesh node rm frees the subnet and the key', async (t) => {
  const s = await setup(t)
  await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  t.equal((await s.register(s.w2.tls, { publicKey: K2, subnet: '10.77.1.0/24' })).status, 409)
  await s.manager.removeNode('w1', true)
  t.equal((await s.register(s.w2.tls, { publicKey: K1, subnet: '10.77.1.0/24' })).status, 200)
  t.same(s.store.getNode('w2')?.overlay, { publicKey: K1, subnet: '10.77.1.0/24' })
})

t.test('a registration survives a manager restart (the node record keeps it)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-overlay-reg-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db = join(dir, 'manager.db')
  const first = await setup(t, db)
  await first.register(first.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  first.store.close()
  const store = openSqliteStore(db)
  t.teardown(() => store.close())
  const manager = new Manager({ store, overlayRange: '10.77.0.0/16' })
  t.same(JSON.parse(manager.overlayPeersLine()), { peers: [{ nodeId: first.w1.node.id, hostname: 'w1', publicKey: K1, subnet: '10.77.1.0/24' }] })
})

type Line = { tasks?: unknown[]; catalog?: unknown; peers?: OverlayPeer[]; ca?: unknown }

/** The watch stream's `{peers}` lines (the others are dropped), in order (test/support/watch.ts). */
const watchPeers = (target: HttpTarget) => openWatch(target, (l: Line) => l.peers)

t.test('the watch stream carries {peers} at open and after each registration and node rm', { timeout: 120_000 }, async (t) => {
  const s = await setup(t)
  const w = await watchPeers(s.api.target(s.w2.tls))
  t.teardown(w.close)
  t.same(await w.next(), [], 'at open: nobody registered yet')
  await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  await s.clock.advance(10)
  t.same(await w.next(), [{ nodeId: s.w1.node.id, hostname: 'w1', publicKey: K1, subnet: '10.77.1.0/24' }], 'w1 registered')
  await s.register(s.w2.tls, { publicKey: K2, subnet: '10.77.2.0/24' })
  await s.clock.advance(10)
  t.same((await w.next()).map((p) => p.hostname), ['w1', 'w2'], 'w2 registered')
  await s.manager.updateNode('w2', { labelAdd: { zone: 'a' } }) // a change the list does not show
  await s.manager.removeNode('w1', true)
  await s.clock.advance(10)
  t.same(await w.next(), [{ nodeId: s.w2.node.id, hostname: 'w2', publicKey: K2, subnet: '10.77.2.0/24' }], 'w1 removed: one line, without it')
})

t.test('a task address outside the REGISTERED subnet is refused; inside it is taken', async (t) => {
  const s = await setup(t)
  await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  await s.manager.createService(spec('web', { replicas: 1, constraints: ['node.hostname==w1'] }))
  await s.manager.reconcileNow()
  const [task] = s.store.listTasks({ nodeId: s.w1.node.id })
  if (!task) throw new Error('expected a task on w1')
  const report = (ip: string) => s.call('POST', '/v1/agent/status', s.w1.tls, { updates: [{ taskId: task.id, status: { state: 'running', message: 'started', timestamp: 1 }, ip }] })
  t.same(await report('10.77.2.5'), { status: 200, body: { applied: 0 } }, 'another subnet of the range: refused')
  t.equal(s.store.getTask(task.id)?.ip, task.ip, 'no address stored')
  t.equal(s.store.getTask(task.id)?.status.state, task.status.state, 'no state change')
  t.same(await report('10.77.1.5'), { status: 200, body: { applied: 1 } })
  t.equal(s.store.getTask(task.id)?.ip, '10.77.1.5')
})

t.test('the dashboard shows the REGISTERED subnet of a node, none before it registers', async (t) => {
  const s = await setup(t)
  await s.register(s.w1.tls, { publicKey: K1, subnet: '10.77.1.0/24' })
  const view = clusterView(s.manager, new Map([['w1', { tunnel: 'up' as const }], ['w2', { tunnel: 'none' as const }]]))
  t.match(view.nodes.find((n) => n.name === 'w1'), { subnet: '10.77.1.0/24', tunnel: 'up' })
  t.equal(view.nodes.find((n) => n.name === 'w2')?.subnet, undefined)
})

t.test('round trip over HTTP: the worker link registers, and its watch stream hands the list to onPeers', { timeout: 120_000 }, async (t) => {
  const s = await setup(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-overlay-link-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const got: OverlayPeer[][] = []
  const link = new WorkerLink({
    transport: new HttpManagerTransport({ host: '127.0.0.1', port: s.port }), clock: realClock(), dataDir,
    hostname: 'w1', addr: '10.0.0.2', resources, onAssignments: () => undefined, onPeers: (p) => got.push(p), log: () => undefined,
  })
  link.useIdentity({ nodeId: s.w1.node.id, role: 'worker', manager: `127.0.0.1:${s.port}` }, nodeTls(s.w1.tls))
  t.teardown(() => link.stop())
  link.registerOverlay({ publicKey: K1, subnet: '10.77.1.0/24' })
  // Bounded generously (the request takes milliseconds; a loaded CI machine can stall this process for seconds).
  for (const end = Date.now() + 20_000; !s.store.getNode('w1')?.overlay && Date.now() < end;) await new Promise((r) => setTimeout(r, 10))
  t.same(s.store.getNode('w1')?.overlay, { publicKey: K1, subnet: '10.77.1.0/24' }, 'registered through PUT /v1/agent/overlay')
  link.start()
  for (const end = Date.now() + 20_000; got.length === 0 && Date.now() < end;) await new Promise((r) => setTimeout(r, 10))
  t.same(got[0], [{ nodeId: s.w1.node.id, hostname: 'w1', publicKey: K1, subnet: '10.77.1.0/24' }], 'the list reached onPeers')
})
