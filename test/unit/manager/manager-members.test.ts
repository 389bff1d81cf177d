/**
 * Managers and their etcd members (issue 15 items 2 and 8): the quorum arithmetic, and a real Manager behind the
 * real API (TLS 1.3 on 127.0.0.1:0) with the members faked (test/support/fake-members.ts): a manager-token join and
 * a promote are refused on a cluster without a managed etcd; with one, a manager node gets its member certificate,
 * initial cluster and the KEK over mutual TLS and nobody else does; demote and rm remove the member first, refused
 * for the last manager and when the remaining members would lose their quorum; a renewal issues the role the store
 * holds (promote at runtime: the manager's certificate the grant needs).
 */
import t, { type Test } from 'tap'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, MEMBER_CERT_NAME, openSqliteStore, quorumRefusal, type EtcdMemberGrant } from '../../../src/manager/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeMembers } from '../../support/fake-members.ts'
import { jsonRequest, managerCertificateCheck, type ClientTls } from '../../../src/api/index.ts'
import { testCsr, testKey, tlsApi } from '../../support/pki.ts'
import { requestMemberGrant } from '../../../agent/etcd-member.ts'
import { defaultConfig } from '../../../src/config/index.ts'
import { writeIdentity, writeNodeTls } from '../../../src/worker/index.ts'

const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

t.test('quorumRefusal: the remaining members must keep a quorum reachable', async (t) => {
  const up = (name: string) => ({ name, reachable: true })
  const down = (name: string) => ({ name, reachable: false })
  const cases = [
    { desc: '3 up, remove one: 2 of 2 remain', members: [up('a'), up('b'), up('c')], remove: 'c', refused: false },
    { desc: '3 members, the removed one down: 2 of 2 remain', members: [up('a'), up('b'), down('c')], remove: 'c', refused: false },
    { desc: '3 members, another down: 1 of 2 remain, quorum 2', members: [up('a'), down('b'), up('c')], remove: 'c', refused: true },
    { desc: '2 members, the other down: 0 of 1', members: [up('a'), down('b')], remove: 'a', refused: true },
    { desc: '2 members, remove the down one: 1 of 1', members: [up('a'), down('b')], remove: 'b', refused: false },
    { desc: '5 members, 1 other down: 3 of 4, quorum 3', members: [up('a'), up('b'), up('c'), down('d'), up('e')], remove: 'e', refused: false },
    { desc: '5 members, 2 others down: 2 of 4, quorum 3', members: [up('a'), up('b'), down('c'), down('d'), up('e')], remove: 'e', refused: true },
    { desc: 'no such member: nothing to remove', members: [up('a'), down('b')], remove: 'z', refused: false },
  ]
  for (const c of cases) t.equal(quorumRefusal(c.members, c.remove) !== null, c.refused, c.desc)
  t.equal(quorumRefusal([up('a'), down('b'), up('c')], 'c', 'node3'),
    'node "node3": removing its etcd member would leave 1 of 2 managers reachable, fewer than a quorum (2); bring the unreachable managers back first')
})

async function setup(t: Test, o: { managed: boolean }) {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-members-'))
  const store = openSqliteStore(join(dir, 'manager.db'))
  const members = o.managed ? new FakeMembers() : undefined
  const m = new Manager({ store, clock: new FakeClock(), ...(members ? { members } : {}) })
  await m.init()
  t.teardown(() => {
    m.stop()
    store.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const api = await tlsApi(t, m)
  const call = async (method: string, path: string, as: ClientTls, body?: unknown, bearer?: string) => {
    const r = await jsonRequest(api.target(as), { method, path, body, headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, timeoutMs: 5000 })
    return { status: r.status, body: r.body as Record<string, unknown> | null }
  }
  const self = await m.registerSelf({ hostname: 'node1', addr: '192.168.77.11', resources }, { csr: await testCsr() })
  members?.members.set(self.node.id, { peerUrl: 'https://192.168.77.11:2380', reachable: true }) // the first member: named by the node id
  const joinAs = async (token: string, hostname: string, addr: string) => call('POST', '/v1/agent/join', api.anonymous, { hostname, addr, resources, csr: await testCsr() }, token)
  const tlsOf = async (certificate: string): Promise<ClientTls> => ({ ca: m.ca.trust().roots, cert: certificate, key: (await testKey()).keyPem, checkServerIdentity: managerCertificateCheck })
  return { m, members, call, joinAs, tlsOf, self, admin: api.admin, anonymous: api.anonymous, tokens: m.tokens(), port: api.port, dir }
}

const errorOf = (r: { body: Record<string, unknown> | null }) => (r.body?.error as { message?: string } | undefined)?.message

t.test('without a managed etcd: a manager-token join and a promote are refused with one line; workers join as before', async (t) => {
  const s = await setup(t, { managed: false })
  const r = await s.joinAs(s.tokens.manager, 'node2', '192.168.77.12')
  t.equal(r.status, 409)
  t.match(errorOf(r), /^node "node2": this cluster's managers do not run their own etcd \(SQLite or --store etcd:\/\/…\), so it has one manager; .*mesh agent --init --store etcd/)
  t.notOk(s.m.getNode('node2'), 'nothing stored')
  const w = await s.joinAs(s.tokens.worker, 'node3', '192.168.77.13')
  t.equal(w.status, 200, 'a worker joins')
  const p = await s.call('PATCH', '/v1/nodes/node3', s.admin, { role: 'manager' })
  t.equal(p.status, 409)
  t.match(errorOf(p), /^node "node3": this cluster's managers do not run their own etcd/)
  t.equal(s.m.getNode('node3')?.role, 'worker', 'the role is unchanged')
  const d = await s.call('PATCH', '/v1/nodes/node1', s.admin, { role: 'worker' })
  t.same([d.status, errorOf(d)], [409, 'node "node1" is the last manager: cannot demote it (promote another node first)'])
  const w2 = await s.call('POST', '/v1/agent/etcd-member', await s.tlsOf(s.self.certificate), { csr: await testCsr(), peerPort: 2380 })
  t.equal(w2.status, 409, 'the manager node itself gets no member either')
})

t.test('with a managed etcd: a manager joins, gets its member over mutual TLS; only a manager certificate does', async (t) => {
  const s = await setup(t, { managed: true })
  const r = await s.joinAs(s.tokens.manager, 'node2', '192.168.77.12')
  t.same([r.status, r.body?.role], [200, 'manager'])
  const tls = await s.tlsOf(r.body?.certificate as string)
  const csr = await testCsr()
  const g = await s.call('POST', '/v1/agent/etcd-member', tls, { csr, peerPort: 2390 })
  t.equal(g.status, 200, JSON.stringify(g.body?.error ?? ''))
  const grant = g.body as unknown as EtcdMemberGrant
  const id2 = r.body?.nodeId as string
  t.same(s.members?.calls, [`add ${id2} https://192.168.77.12:2390`], 'member add named by its node id, with its registered address and peer port')
  t.same(grant.initialCluster, [{ name: s.self.node.id, peerUrl: 'https://192.168.77.11:2380' }, { name: id2, peerUrl: 'https://192.168.77.12:2390' }])
  t.equal(grant.clusterToken, s.m.clusterInfo().clusterId)
  t.same(grant.ca, s.m.ca.trust().roots)
  const cert = new X509Certificate(grant.certificate.split(/(?<=-----END CERTIFICATE-----)/)[0] as string)
  t.match(cert.subject, new RegExp(`CN=${r.body?.nodeId as string}`), 'CN = the node id')
  t.match(cert.subject, /OU=manager/)
  t.match(cert.subjectAltName ?? '', new RegExp(`DNS:${MEMBER_CERT_NAME}`), 'the pinned member name')
  t.match(cert.subjectAltName ?? '', /IP Address:192\.168\.77\.12/, 'its registered address')
  t.ok(cert.verify(new X509Certificate(s.m.ca.trust().roots[0] as string).publicKey), 'issued by the cluster CA')
  t.same(grant.kek, s.m.vault.kekContent(), 'the KEK as the manager keeps it')
  t.ok(grant.kek, 'there is one')

  const w = await s.joinAs(s.tokens.worker, 'node3', '192.168.77.13')
  const asWorker = await s.call('POST', '/v1/agent/etcd-member', await s.tlsOf(w.body?.certificate as string), { csr, peerPort: 2380 })
  t.same([asWorker.status, errorOf(asWorker)], [403, 'node "node3": only a manager\'s certificate gets an etcd member'])
  t.equal((await s.call('POST', '/v1/agent/etcd-member', s.anonymous, { csr, peerPort: 2380 })).status, 401, 'anonymous: refused')
  t.equal((await s.call('POST', '/v1/agent/etcd-member', s.admin, { csr, peerPort: 2380 })).status, 403, 'an admin certificate: not an agent')
  t.equal((await s.call('POST', '/v1/agent/etcd-member', tls, { csr, peerPort: 'x' })).status, 400, 'a bad peer port')
  t.same(s.members?.calls, [`add ${id2} https://192.168.77.12:2390`], 'no member added for any of them')
})

t.test('with a managed etcd: demote and rm remove the member first; last manager and quorum refusals change nothing', async (t) => {
  const s = await setup(t, { managed: true })
  const members = s.members as FakeMembers
  for (const [name, addr] of [['node2', '192.168.77.12'], ['node3', '192.168.77.13']] as const) {
    const r = await s.joinAs(s.tokens.manager, name, addr)
    await s.call('POST', '/v1/agent/etcd-member', await s.tlsOf(r.body?.certificate as string), { csr: await testCsr(), peerPort: 2380 })
  }
  const id = (h: string) => s.m.getNode(h)?.id as string
  t.same([...members.members.keys()], [id('node1'), id('node2'), id('node3')])

  members.reachable(id('node2'), false)
  const refused = await s.call('PATCH', '/v1/nodes/node3', s.admin, { role: 'worker' })
  t.same([refused.status, errorOf(refused)], [409, 'node "node3": removing its etcd member would leave 1 of 2 managers reachable, fewer than a quorum (2); bring the unreachable managers back first'])
  t.equal(s.m.getNode('node3')?.role, 'manager', 'still a manager')
  t.notOk(members.calls.some((c) => c.startsWith('remove')), 'no member removed')

  const demoted = await s.call('PATCH', '/v1/nodes/node2', s.admin, { role: 'worker' })
  t.same([demoted.status, demoted.body?.role], [200, 'worker'], 'demoting the unreachable one leaves 2 of 2')
  const [id2, id3] = [id('node2'), id('node3')]
  t.same(members.calls.filter((c) => c.startsWith('remove')), [`remove ${id2}`])

  t.equal((await s.call('DELETE', '/v1/nodes/node3?force=true', s.admin)).status, 204, 'node rm --force of a manager')
  t.same(members.calls.filter((c) => c.startsWith('remove')), [`remove ${id2}`, `remove ${id3}`], 'its member removed')
  t.same([...members.members.keys()], [id('node1')])

  const last = await s.call('PATCH', '/v1/nodes/node1', s.admin, { role: 'worker' })
  t.same([last.status, errorOf(last)], [409, 'node "node1" is the last manager: cannot demote it (promote another node first)'])
  t.same(members.calls.filter((c) => c.startsWith('remove')), [`remove ${id2}`, `remove ${id3}`], 'the last member stays')

  const promoted = await s.call('PATCH', '/v1/nodes/node2', s.admin, { role: 'manager' })
  t.same([promoted.status, promoted.body?.role], [200, 'manager'], 'promote is allowed with a managed etcd')
})

t.test('an agent holding a manager certificate of a cluster without a managed etcd is told no, and stays a worker', async (t) => {
  const s = await setup(t, { managed: false })
  const dataDir = join(s.dir, 'agent')
  writeNodeTls(dataDir, { ca: s.m.ca.trust().roots, cert: s.self.certificate, key: (await testKey()).keyPem })
  writeIdentity(dataDir, { nodeId: s.self.node.id, role: 'manager', manager: `127.0.0.1:${s.port}` })
  const got = await requestMemberGrant({ ...defaultConfig('local'), dataDir })
  t.ok('refused' in got, 'refused, not thrown')
  t.match('refused' in got ? got.refused : '', /^node "node1": this cluster's managers do not run their own etcd/)
})

t.test('promote at runtime: a renewal issues the role the store holds (OU=manager, then OU=worker), with a manager\'s API names', async (t) => {
  const s = await setup(t, { managed: true })
  const w = await s.joinAs(s.tokens.worker, 'node2', '192.168.77.12')
  const asWorker = await s.tlsOf(w.body?.certificate as string)
  const renew = async () => {
    const r = await s.call('POST', '/v1/agent/renew', asWorker, { csr: await testCsr() })
    t.equal(r.status, 200, JSON.stringify(r.body?.error ?? ''))
    return new X509Certificate(r.body?.certificate as string)
  }
  t.match((await renew()).subject, /OU=worker/, 'a worker renews as a worker')
  const refused = await s.call('POST', '/v1/agent/etcd-member', asWorker, { csr: await testCsr(), peerPort: 2380 })
  t.equal(refused.status, 403, 'a worker\'s certificate gets no member')
  t.equal((await s.call('PATCH', '/v1/nodes/node2', s.admin, { role: 'manager' })).status, 200)
  const promoted = await renew()
  t.match(promoted.subject, /OU=manager/, 'promoted: the renewal is a manager\'s certificate')
  t.match(promoted.subjectAltName ?? '', /IP Address:192\.168\.77\.12/, 'naming its registered address (its API serves it)')
  const asManager = await s.tlsOf(promoted.toString())
  const g = await s.call('POST', '/v1/agent/etcd-member', asManager, { csr: await testCsr(), peerPort: 2380 })
  t.equal(g.status, 200, 'which gets its member grant')
  t.equal((await s.call('PATCH', '/v1/nodes/node2', s.admin, { role: 'worker' })).status, 200)
  t.match((await renew()).subject, /OU=worker/, 'demoted: a worker\'s certificate again')
})
