/**
 * One manager on SQLite; the first promote or manager-token join moves its state into a managed etcd (issue 15
 * item 2, agent/store-move.ts), with real `etcd` 3.4 members run by the agent's own wiring (openCluster) on
 * 127.0.0.21-27, free ports, temp data dirs. Checked: every object keeps its id, the cluster id, CA, tokens, KEK
 * and secrets, events and a new store epoch; the second manager joins with its own member; a write or a second
 * promote during the move gets one 503 line; a crash after each step leaves SQLite intact or etcd complete.
 * Every wait is bounded; nothing asserts a duration. Members are stopped by PID (stopControlPlane) in teardown.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type http from 'node:http'
import { openCluster, stopControlPlane, type ClusterParts } from '../../../agent/cluster.ts'
import { swapHandler } from '../../../agent/store-move.ts'
import { createLogger } from '../../../agent/log.ts'
import type { Config } from '../../../src/config/index.ts'
import {
  createApp, listMembers, listen, MOVE_DONE_FILE, MOVE_PENDING_FILE, MOVING_LINE, storeEpoch, type Manager, type MoveStep, type Store,
} from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { MeshError } from '../../../src/base/errors.ts'
import { createNodeKeyAndCsr } from '../../../src/pki/index.ts'
import type { Overlay } from '../../../src/overlay/index.ts'
import { runMesh } from '../../support/cli.ts'
import { freePort } from '../../support/etcd.ts'
import { agentConfig, emptyParts } from './agents.ts'
import { waitFor } from '../../support/procs.ts'

const log = createLogger('silent')
const resources = { nanoCpus: 1e9, memoryBytes: 2 ** 30 }
const WAIT_MS = 60_000
const b64 = (s: string) => Buffer.from(s).toString('base64')

interface Agent {
  name: string
  config: Config
  parts: ClusterParts
  api: http.Server | null
}

async function open(a: Agent): Promise<Manager> {
  const kill = a.parts.moveKillPoint
  a.parts = emptyParts()
  if (kill) a.parts.moveKillPoint = kill
  try {
    await openCluster(a.config, log, {} as Overlay, a.parts, () => true)
  } catch (err) {
    await stopControlPlane(a.parts)
    throw err
  }
  const m = a.parts.manager as Manager
  m.start()
  return m
}

/** What startCluster does for the control plane: the own node, the API on TCP, and the hand-over after a move. */
async function serveApi(a: Agent): Promise<void> {
  const m = a.parts.manager as Manager
  const addr = a.config.gossip.advertiseAddr
  const { keyPem, csrPem } = await createNodeKeyAndCsr()
  const names = { csr: csrPem, ipSans: [addr, '127.0.0.1'] }
  const self = await m.registerSelf({ hostname: a.name, addr, resources }, names, a.parts.etcd?.member.config.name)
  const app = (x: Manager) => createApp({ manager: x, local: false, apiPort: a.config.cluster.apiPort }, defaultServiceSpec)
  a.api = await listen(app(m), { host: addr, port: a.config.cluster.apiPort, tls: { key: keyPem, cert: self.certificate, ca: m.ca.trust().roots } })
  a.parts.servers.push(a.api)
  a.parts.serveMoved = async (next) => {
    next.start()
    await next.registerSelf({ hostname: a.name, addr, resources }, names)
    swapHandler(a.api as http.Server, app(next))
  }
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof MeshError) return `${err.code}: ${err.message}`
    throw err
  }
  return 'not refused'
}

/** A worker registered in-process (its agent is not needed to promote it). */
async function addWorker(m: Manager, hostname: string, addr: string): Promise<void> {
  const { csrPem } = await createNodeKeyAndCsr()
  await m.join({ token: m.tokens().worker, csr: csrPem, hostname, addr, resources })
}

function ids(m: Manager): Record<string, string[]> {
  const s = m.getState()
  return {
    node: s.nodes.map((n) => n.id).sort(), service: s.services.map((x) => x.id).sort(), task: s.tasks.map((x) => x.id).sort(),
    secret: m.secrets.listSecrets().map((x) => x.id).sort(), network: m.networks.list().map((x) => x.id).sort(),
  }
}

function movedDbs(dataDir: string): string[] {
  return readdirSync(dataDir).filter((f) => f.startsWith('manager.db.moved-'))
}

t.test('a manager-token join moves a SQLite cluster into etcd; the second manager joins its member', async (t) => {
  const apiPort = await freePort('127.0.0.21')
  const a: Agent = { name: 'm1', config: await agentConfig(t, 'm1', '127.0.0.21', { init: true, apiPort }), parts: emptyParts(), api: null }
  t.teardown(() => stopControlPlane(a.parts))
  const ma = await open(a)
  t.notOk(a.parts.etcd, 'starts on SQLite')
  await serveApi(a)
  await ma.createService(defaultServiceSpec('web', 'mesh/busybox:1'))
  const secret = await ma.secrets.createSecret({ name: 'db', data: b64('hunter2') })
  await ma.networks.create({ name: 'backend', driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {} })
  await addWorker(ma, 'w1', '127.0.0.23')
  await waitFor(() => ma.getState().tasks.length > 0, WAIT_MS, { what: 'web has a task' })
  await ma.events.flush()
  const before = { ids: ids(ma), info: ma.clusterInfo().clusterId, roots: ma.ca.trust().roots, tokens: ma.tokens(), epoch: storeEpoch(a.parts.store as Store),
    events: ma.events.since().map((e) => e.id) }
  t.ok(before.events.length > 0, 'events to carry over')

  const b: Agent = { name: 'm2', parts: emptyParts(), api: null, config: await agentConfig(t, 'm2', '127.0.0.22', { token: ma.tokens().manager, apiPort }) }
  b.config.gossip.join = ['127.0.0.21:7946']
  t.teardown(() => stopControlPlane(b.parts))
  const mb = await open(b)
  const next = a.parts.manager as Manager

  t.test('the first manager now runs on its own etcd member, nothing lost', async (t) => {
    t.not(next, ma, 'a new manager')
    t.ok(a.parts.etcd, 'on its own etcd member')
    t.equal(a.parts.etcd?.member.config.name, ma.getNode('m1')?.id, 'the member is named by the manager\'s node id')
    t.equal(next.clusterInfo().clusterId, before.info, 'same cluster id')
    t.same(next.ca.trust().roots, before.roots, 'same CA')
    t.same(next.tokens(), before.tokens, 'same join tokens')
    const after = ids(next)
    for (const kind of ['service', 'task', 'secret', 'network'] as const) t.same(after[kind], before.ids[kind], `every ${kind} with the same id`)
    t.ok(before.ids.node!.every((id) => after.node!.includes(id)), 'every node with the same id')
    t.same(next.fileValues('secrets', [secret.id]), [{ id: secret.id, data: b64('hunter2') }], 'the secret still decrypts')
    await next.events.ready
    const kept = new Set(next.events.since().map((e) => e.id))
    t.ok(before.events.every((id) => kept.has(id)), 'the event history came along')
    t.not(storeEpoch(a.parts.store as Store), before.epoch, 'a new store epoch: agents follow the new store')
    t.notOk(existsSync(join(a.config.dataDir, 'manager.db')), 'manager.db is gone')
    const moved = movedDbs(a.config.dataDir).filter((f) => !f.endsWith('-wal') && !f.endsWith('-shm'))
    t.equal(moved.length, 1, 'renamed to manager.db.moved-<time>')
    t.equal(statSync(join(a.config.dataDir, moved[0] as string)).mode & 0o777, 0o600, 'kept 0600')
    t.notOk(existsSync(join(a.config.dataDir, MOVE_PENDING_FILE)) || existsSync(join(a.config.dataDir, MOVE_DONE_FILE)), 'the move\'s files are gone')
  })

  t.test('node ls shows 2 managers, each with its member', async (t) => {
    t.ok(b.parts.etcd, 'the second runs its own member')
    const managers = (m: Manager) => m.listNodes().filter((n) => n.role === 'manager').map((n) => n.hostname).sort()
    await waitFor(() => managers(next).length === 2 && managers(mb).length === 2, WAIT_MS, { what: 'both list 2 managers' })
    t.same(managers(next), ['m1', 'm2'])
    t.same((await listMembers(a.parts.etcd!.client)).map((m) => m.name).sort(), [next.getNode('m1')?.id, next.getNode('m2')?.id].sort(), 'two members')
    t.same(mb.fileValues('secrets', [secret.id]), [{ id: secret.id, data: b64('hunter2') }], 'the second manager opens the secret too')
  })

  t.test('a restart comes back on etcd', async (t) => {
    await stopControlPlane(a.parts)
    const again = await open(a)
    t.ok(a.parts.etcd, 'on the member')
    t.same(ids(again).service, before.ids.service)
  })
})

t.test('mesh node promote on SQLite answers docker\'s line; a second promote and a write during the move get one 503 line', async (t) => {
  const a: Agent = { name: 'p1', config: await agentConfig(t, 'p1', '127.0.0.24', { init: true, apiPort: await freePort('127.0.0.24') }), parts: emptyParts(), api: null }
  t.teardown(() => stopControlPlane(a.parts))
  const ma = await open(a)
  await serveApi(a)
  // manager.sock for the CLI (as startCluster serves it), handed over with the TCP API.
  const sockDir = mkdtempSync(join(tmpdir(), 'mesh-move-cli-'))
  t.teardown(() => rmSync(sockDir, { recursive: true, force: true }))
  const sock = await listen(createApp({ manager: ma, local: true }, defaultServiceSpec), { socketPath: join(sockDir, 'manager.sock') })
  a.parts.servers.push(sock)
  const serveTcp = a.parts.serveMoved!
  a.parts.serveMoved = async (next) => {
    await serveTcp(next)
    swapHandler(sock, createApp({ manager: next, local: true }, defaultServiceSpec))
  }
  const saved = process.env.MESH_DATA_DIR
  process.env.MESH_DATA_DIR = sockDir
  t.teardown(() => {
    if (saved === undefined) delete process.env.MESH_DATA_DIR
    else process.env.MESH_DATA_DIR = saved
  })
  await addWorker(ma, 'w1', '127.0.0.25')
  await addWorker(ma, 'w2', '127.0.0.26')
  // While the move runs (its first step done, the store frozen): a second promote and a write.
  const during: Promise<string>[] = []
  a.parts.moveKillPoint = (step) => {
    if (step === 'snapshot') during.push(failure(ma.updateNode('w2', { role: 'manager' })), failure(ma.createService(defaultServiceSpec('web', 'mesh/busybox:1'))))
  }
  const p = await runMesh('node', 'promote', 'w1')
  t.same([p.code, p.out, p.err], [0, 'Node w1 promoted to a manager in the swarm.\n', ''], 'the promote answers as on etcd')
  t.same(await Promise.all(during), [`MESH_ERR_UNAVAILABLE: ${MOVING_LINE}`, `MESH_ERR_UNAVAILABLE: ${MOVING_LINE}`], 'a second promote and a write: 503, one line')
  const next = a.parts.manager as Manager
  t.not(next, ma, 'the manager now runs on etcd')
  t.equal(next.getNode('w1')?.role, 'manager', 'promoted')
  t.equal(next.getNode('w2')?.role, 'worker', 'the refused promote changed nothing')
  t.same(next.listServices(), [], 'the refused write changed nothing')
  t.ok(next.managedEtcd, 'the cluster now has managed members')
  const ls = await runMesh('node', 'ls')
  const managers = ls.out.trim().split('\n').slice(1).filter((l) => /\bmanager\b/i.test(l)).map((l) => /\b(p1|w1|w2)\b/.exec(l)?.[1]).sort()
  t.same(managers, ['p1', 'w1'], `node ls (through the handed-over manager.sock): 2 managers`)
  const c = await runMesh('service', 'create', '--detach', '--name', 'web', 'mesh/busybox:1')
  t.equal(c.code, 0, 'writes go on, on etcd')
  t.equal(next.getService('web')?.spec.name, 'web')
})

t.test('autolock: the manager on etcd is unlocked as the SQLite one was, and opens the secrets', async (t) => {
  const addr = '127.0.0.29'
  const a: Agent = { name: 'l1', config: await agentConfig(t, 'l1', addr, { init: true, autolock: true, apiPort: await freePort(addr) }), parts: emptyParts(), api: null }
  t.teardown(() => stopControlPlane(a.parts))
  const ma = await open(a)
  await serveApi(a)
  const secret = await ma.secrets.createSecret({ name: 'db', data: b64('hunter2') })
  await addWorker(ma, 'w1', '127.0.0.30')
  const key = ma.vault.unlockKey()
  t.equal((await ma.updateNode('w1', { role: 'manager' })).role, 'manager', 'promoted')
  const next = a.parts.manager as Manager
  t.ok(a.parts.etcd, 'on etcd')
  t.equal(next.vault.locked, false, 'not locked')
  t.same(next.fileValues('secrets', [secret.id]), [{ id: secret.id, data: b64('hunter2') }], 'the secret decrypts')
  t.equal(next.vault.unlockKey(), key, 'the same unlock key')
})

const CASES: { step: MoveStep; want: 'sqlite' | 'etcd' }[] = [
  { step: 'pending', want: 'sqlite' },
  { step: 'loaded', want: 'sqlite' },
  { step: 'marker', want: 'etcd' },
]

for (const c of CASES) {
  t.test(`a crash after step "${c.step}": the restart runs on ${c.want}, nothing lost`, async (t) => {
    const addr = '127.0.0.27'
    const a: Agent = { name: `c1-${c.step}`, config: await agentConfig(t, `c1-${c.step}`, addr, { init: true, apiPort: await freePort(addr) }), parts: emptyParts(), api: null }
    t.teardown(() => stopControlPlane(a.parts))
    const ma = await open(a)
    await serveApi(a)
    const svc = await ma.createService(defaultServiceSpec('web', 'mesh/busybox:1'))
    await addWorker(ma, 'w1', '127.0.0.28')
    a.parts.moveKillPoint = (step) => (step === c.step ? 'crash' : undefined)
    t.match(await failure(ma.updateNode('w1', { role: 'manager' })), `injected crash after step ${c.step}`, 'the promote fails with the crash')
    a.parts.moveKillPoint = undefined
    await stopControlPlane(a.parts)
    const m = await open(a)
    const dir = a.config.dataDir
    t.equal(m.getService('web')?.id, svc.id, 'the service, same id')
    t.notOk(existsSync(join(dir, MOVE_PENDING_FILE)) || existsSync(join(dir, MOVE_DONE_FILE)), 'the move\'s files are settled')
    if (c.want === 'sqlite') {
      t.notOk(a.parts.etcd, 'on SQLite')
      t.ok(existsSync(join(dir, 'manager.db')), 'manager.db intact')
      t.notOk(existsSync(join(dir, 'etcd')) || existsSync(join(dir, 'etcd-tls')), 'the half-filled etcd was wiped')
      t.equal(m.getNode('w1')?.role, 'worker', 'the promote did not happen')
      await serveApi(a)
      t.equal((await m.updateNode('w1', { role: 'manager' })).role, 'manager', 'and a promote now moves it')
      t.ok(a.parts.etcd, 'onto etcd')
    } else {
      t.ok(a.parts.etcd, 'on etcd')
      t.notOk(existsSync(join(dir, 'manager.db')), 'manager.db renamed at the restart')
      t.ok(movedDbs(dir).length >= 1, 'kept as manager.db.moved-<time>')
    }
  })
}
