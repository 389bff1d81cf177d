/**
 * `mesh node promote` / `demote` on running agents (issue 15), with real `etcd` 3.4 members run by the agent's own
 * wiring on 127.0.0.6-8 (agents.ts): a cluster of two managers and a worker; the worker is promoted while its link
 * runs — it hears it on the link's managers list, gets a manager's certificate, its etcd member and a manager on
 * it, and serves the manager API and manager.sock: three members, all Reachable. Demoted, its member is removed,
 * its manager API goes, and the same worker link keeps delivering assignments; promoted while its agent is stopped,
 * it becomes a manager when it starts. Every wait is bounded; nothing asserts a duration.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { listMembers, type Manager } from '../../../src/manager/index.ts'
import { defaultServiceSpec, jsonRequest, managerCertificateCheck, type NodeView } from '../../../src/api/index.ts'
import { freePort } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { stopControlPlane } from '../../../agent/cluster.ts'
import { local, logged, startAgent, testAgent } from './agents.ts'

const WAIT_MS = 90_000

t.test('promote a running worker to a manager, then demote it', async (t) => {
  const apiPort = await freePort('127.0.0.6')
  const m1 = await testAgent(t, 'm1', '127.0.0.6', { init: true, store: 'etcd', apiPort })
  await startAgent(m1)
  const ma = m1.parts.manager as Manager
  await waitFor(() => m1.parts.leadership?.leadership.isLeader(), WAIT_MS, { what: 'm1 leads' })
  const m2 = await testAgent(t, 'm2', '127.0.0.7', { token: ma.tokens().manager, apiPort })
  m2.config.gossip.join = ['127.0.0.6:7946']
  await startAgent(m2)
  const w3 = await testAgent(t, 'w3', '127.0.0.8', { token: ma.tokens().worker, apiPort })
  w3.config.gossip.join = ['127.0.0.6:7946']
  await startAgent(w3)
  t.equal(w3.parts.manager, null, 'w3 starts as a worker')
  const link = w3.parts.link
  await waitFor(() => link?.connected, WAIT_MS, { what: 'w3\'s link connected' })
  const members = async () => (await listMembers(m1.parts.etcd!.client)).map((m) => m.name).sort()
  const id3 = ma.getNode('w3')?.id as string

  t.test('promote: the running worker opens a manager beside its worker side', async (t) => {
    await ma.updateNode('w3', { role: 'manager' })
    await waitFor(() => logged(w3, 'this node now runs a manager'), WAIT_MS, { what: 'w3 serves as a manager' })
    t.equal(w3.parts.link, link, 'the same worker link: never rebuilt')
    t.ok(w3.parts.etcd, 'its own etcd member')
    t.equal(w3.parts.etcd?.member.config.name, id3, 'named by its node id')
    t.same(await members(), [ma.getNode('m1')?.id, ma.getNode('m2')?.id, id3].sort(), 'three members')
    const cert = new X509Certificate(readFileSync(join(w3.config.dataDir, 'tls', 'node.pem'), 'utf8'))
    t.match(cert.subject, /OU=manager/, 'its node certificate is a manager\'s')
    t.match(JSON.parse(readFileSync(join(w3.config.dataDir, 'node.json'), 'utf8')), { nodeId: id3, role: 'manager' }, 'node.json says manager')
    // node ls on w3 (its manager.sock): three managers, all reachable
    const view = await waitFor(async () => {
      const r = await local(w3, '/v1/nodes')
      const nodes = r.body as NodeView[]
      return r.status === 200 && nodes.filter((n) => n.managerStatus?.reachability === 'reachable').length === 3 ? nodes : undefined
    }, WAIT_MS, { what: 'node ls on w3 shows three reachable managers' })
    t.same(view.map((n) => `${n.hostname}:${n.role}`).sort(), ['m1:manager', 'm2:manager', 'w3:manager'])
    // its API on TCP answers (a manager's certificate of this cluster)
    const r = await jsonRequest({ host: '127.0.0.8', port: apiPort, tls: { ca: ma.ca.trust().roots, checkServerIdentity: managerCertificateCheck } },
      { method: 'GET', path: '/v1/ca', timeoutMs: 10_000 })
    t.equal(r.status, 200, 'the manager API on 127.0.0.8 answers')
    const w3Manager = w3.parts.manager as Manager
    await waitFor(() => w3Manager.getNode('w3')?.role === 'manager' && w3Manager.listNodes().length === 3, WAIT_MS, { what: 'w3\'s manager reads the cluster' })
  })

  t.test('demote: its member goes, its manager API goes, its worker link stays', async (t) => {
    const d = await ma.updateNode('w3', { role: 'worker' })
    t.equal(d.role, 'worker')
    t.same(await members(), [ma.getNode('m1')?.id, ma.getNode('m2')?.id].sort(), 'w3\'s member removed')
    await waitFor(() => w3.parts.manager === null && !existsSync(join(w3.config.dataDir, 'etcd')), WAIT_MS, { what: 'w3 retired its manager' })
    t.equal(w3.parts.etcd, null, 'no member')
    t.same(w3.parts.servers, [], 'no API, no sockets')
    const refused = await jsonRequest({ host: '127.0.0.8', port: apiPort, tls: { ca: ma.ca.trust().roots, checkServerIdentity: managerCertificateCheck } },
      { method: 'GET', path: '/v1/ca', timeoutMs: 5_000, connectTimeoutMs: 5_000 }).then(() => 'answered', (err: NodeJS.ErrnoException) => err.code ?? err.message)
    t.equal(refused, 'ECONNREFUSED', 'nothing listens on its API port')
    t.equal(w3.parts.link, link, 'the same worker link')
    await waitFor(() => JSON.parse(readFileSync(join(w3.config.dataDir, 'node.json'), 'utf8')).role === 'worker', WAIT_MS, { what: 'node.json says worker' })
    t.not(w3.parts.transport?.address, `127.0.0.8:${apiPort}`, 'the link talks to another manager')
    // a task placed on w3 reaches it through the link
    await ma.createService({ ...defaultServiceSpec('pinned', 'mesh/busybox:1'), constraints: ['node.hostname==w3'] })
    await waitFor(() => w3.assignments.some((tasks) => tasks.some((task) => task.serviceName === 'pinned')), WAIT_MS,
      { what: 'w3 is assigned the pinned task' })
    t.pass('the worker link delivers assignments after the demote')
  })

  t.test('promoted while its agent is stopped: it becomes a manager when it starts', async (t) => {
    await stopControlPlane(w3.parts)
    await ma.updateNode('w3', { role: 'manager' })
    w3.lines.length = 0
    await startAgent(w3)
    t.equal(w3.parts.manager, null, 'it starts as the worker it was')
    await waitFor(() => logged(w3, 'this node now runs a manager'), WAIT_MS, { what: 'w3 serves as a manager' })
    t.same(await members(), [ma.getNode('m1')?.id, ma.getNode('m2')?.id, id3].sort(), 'three members again')
  })
})
