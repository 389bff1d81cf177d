import t from 'tap'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { createClusterCa, createNodeKeyAndCsr, signNodeCsr } from '../../../src/pki/index.ts'
import { addMember, etcdClient, listMembers, removeMember } from '../../../src/manager/etcd/index.ts'
import { CLUSTER_ID, testCluster, waitFor } from './members.ts'

/**
 * The member supervisor against real etcd 3.4 processes: a one-member cluster with mutual TLS, joins of a second
 * and a third member, a member killed -9 and restarted by its supervisor, and the removal of a member.
 */
t.test('etcd members: init, mutual TLS, join, restart after kill -9, removal', async (t) => {
  const c = await testCluster(t)
  const m1 = await c.start('n1', () => ({ kind: 'init' }))

  t.test('a one-member cluster serves its certificate holders', async (t) => {
    await m1.client.put('/t/a').value('1')
    t.equal(await m1.client.get('/t/a').string(), '1')
    const members = await listMembers(m1.client)
    t.same(members.map((m) => m.name), ['n1'])
    t.equal(statSync(m1.member.config.dataDir).mode & 0o777, 0o700, 'data dir 0700')
    t.equal(statSync(m1.member.config.tls.keyFile).mode & 0o777, 0o600, 'key 0600')
    t.notOk(m1.member.logs().some((l) => l.includes('PRIVATE KEY')), 'no key material in the log ring')
  })

  t.test('a client without a member certificate of the cluster CA is refused', async (t) => {
    const anonymous = new Etcd3({ hosts: m1.endpoints, credentials: { rootCertificate: Buffer.from(m1.tls.caPem) }, dialTimeout: 3000, defaultCallOptions: { deadline: Date.now() + 8000 } })
    t.teardown(() => anonymous.close())
    await t.rejects(anonymous.get('/t/a').string(), 'no client certificate')
    const other = await createClusterCa({ clusterId: CLUSTER_ID, now: Date.now() })
    const k = await createNodeKeyAndCsr()
    const foreignCert = await signNodeCsr(other, k.csrPem, { nodeId: 'intruder', role: 'manager', clusterId: CLUSTER_ID, ipSans: ['127.0.0.1'], now: Date.now() })
    const foreign = etcdClient({ endpoints: m1.endpoints, tls: { caPem: m1.tls.caPem, certPem: foreignCert, keyPem: k.keyPem }, callTimeoutMs: 8000, dialTimeoutMs: 3000 })
    t.teardown(() => foreign.close())
    await t.rejects(foreign.get('/t/a').string(), 'a certificate of another CA')
    for (const [what, role, ipSans] of [['a worker certificate of the cluster CA', 'worker', []], ['a manager API certificate of the cluster CA', 'manager', ['127.0.0.1']]] as const) {
      const w = await createNodeKeyAndCsr()
      const cert = await signNodeCsr(c.ca, w.csrPem, { nodeId: 'node-w1', role, clusterId: CLUSTER_ID, ipSans: [...ipSans], now: Date.now() })
      const client = etcdClient({ endpoints: m1.endpoints, tls: { caPem: m1.tls.caPem, certPem: cert, keyPem: w.keyPem }, callTimeoutMs: 8000, dialTimeoutMs: 3000 })
      t.teardown(() => client.close())
      await t.rejects(client.get('/t/a').string(), `${what} (not a member certificate)`)
    }
    t.equal(await m1.client.get('/t/a').string(), '1', 'the cluster CA holder still served')
  })

  const joined = await c.prepare('n2').then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(m1.client, { name: 'n2', peerUrl: p.peerUrl }) }))
  const m3 = await c.prepare('n3').then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(joined.client, { name: 'n3', peerUrl: p.peerUrl }) }))

  t.test('a second and a third member join', async (t) => {
    t.same((await listMembers(m1.client)).map((m) => m.name).sort(), ['n1', 'n2', 'n3'])
    await m3.client.put('/t/b').value('from n3')
    t.equal(await joined.client.get('/t/b').string(), 'from n3', 'a write through n3 is read through n2')
    t.equal(await m3.client.get('/t/a').string(), '1', 'n3 has the data written before it joined')
  })

  t.test('adding the same member again is a no-op; another name for its peer URL is refused', async (t) => {
    const again = await addMember(m1.client, { name: 'n3', peerUrl: m3.peerUrl })
    t.same(again.map((m) => m.name).sort(), ['n1', 'n2', 'n3'])
    await t.rejects(addMember(m1.client, { name: 'n9', peerUrl: m3.peerUrl }), { code: 'MESH_ERR_ETCD_MEMBER' })
    t.equal((await listMembers(m1.client)).length, 3)
  })

  t.test('kill -9: the supervisor restarts the member and it serves again', async (t) => {
    const pid = joined.member.pid() as number
    const starts = joined.member.starts()
    const events: string[] = []
    joined.member.onEvent((e) => events.push(e.event))
    process.kill(pid, 'SIGKILL') // the PID this test's supervisor started
    await waitFor('a restarted n2', () => (joined.member.starts() > starts && joined.member.pid() !== undefined ? true : undefined))
    t.not(joined.member.pid(), pid, 'a new process')
    t.same(events.slice(0, 3), ['exited', 'restarting', 'started'])
    await m1.client.put('/t/c').value('while n2 restarted')
    const v = await waitFor('n2 reading a write made after its restart', async () => (await joined.client.get('/t/c').string()) ?? undefined)
    t.equal(v, 'while n2 restarted')
    t.same((await listMembers(m1.client)).map((m) => m.name).sort(), ['n1', 'n2', 'n3'], 'still three members')
  })

  t.test('removal leaves a two-member cluster that serves', async (t) => {
    t.equal(await removeMember(m1.client, 'n3'), true)
    t.equal(await removeMember(m1.client, 'n3'), false, 'a second removal is a no-op')
    await m3.member.stop()
    await m3.member.wipe()
    t.notOk(existsSync(m3.member.config.dataDir), 'the removed member\'s data dir is gone')
    t.equal(m3.member.pid(), undefined, 'no n3 process')
    t.same((await listMembers(m1.client)).map((m) => m.name).sort(), ['n1', 'n2'])
    await joined.client.put('/t/d').value('two members')
    t.equal(await m1.client.get('/t/d').string(), 'two members')
  })

  t.test('stop leaves no process behind', async (t) => {
    const pid = m1.member.pid() as number
    await m1.member.stop()
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' })
    t.ok(existsSync(join(m1.member.config.dataDir, 'member')), 'a stopped member keeps its data')
  })
})
