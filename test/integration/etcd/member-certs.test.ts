/**
 * A CA rotation on real etcd 3.4 members (issue 15's leftover): each member's certificate keeper
 * (src/manager/etcd/member-certs.ts) writes a leaf of the new root with the cross-signed root, and the roots file;
 * etcd reads certificates again per connection but its trusted roots only when it starts, so members restart one at
 * a time (the agent restarts the manager half; here the supervisor restarts a killed process). Checked: a member
 * restarted with the new files and one still running with only the old root keep committing writes together; a
 * member joining during the rotation under the new root is taken in; after the rotation ends and a restart, the
 * old root's certificates are refused and the new ones keep the cluster together.
 */
import t from 'tap'
import { join } from 'node:path'
import { realClock } from '../../../src/base/clock.ts'
import { caDigest, createClusterCa, crossSignRoot, signNodeCsr, type ClusterCa } from '../../../src/pki/index.ts'
import { addMember, etcdClient, listMembers, MemberCertKeeper, writeMemberTls, type MemberCertAuthority, type MemberTls } from '../../../src/manager/etcd/index.ts'
import { CLUSTER_ID, testCluster, waitFor, type TestMember } from './members.ts'

class RotatingCa implements MemberCertAuthority {
  current: ClusterCa
  previous: ClusterCa | null = null
  cross: string | null = null
  constructor(root: ClusterCa) {
    this.current = root
  }
  async issue(csr: string, o: { nodeId: string; role: 'manager' | 'worker' | 'admin'; clusterId: string; ipSans?: string[]; dnsSans?: string[] }): Promise<string> {
    const leaf = await signNodeCsr(this.current, csr, { ...o, now: Date.now() })
    return this.cross ? leaf + this.cross : leaf
  }
  trust(): { roots: string[] } {
    return { roots: this.previous ? [this.previous.certPem, this.current.certPem] : [this.current.certPem] }
  }
  status(): { digest: string } {
    return { digest: caDigest(this.current.certPem) }
  }
  async rotate(): Promise<void> {
    const next = await createClusterCa({ clusterId: CLUSTER_ID, now: Date.now() })
    this.cross = await crossSignRoot(this.current, next, { now: Date.now() })
    this.previous = this.current
    this.current = next
  }
  finish(): void {
    this.previous = null
    this.cross = null
  }
}

t.test('etcd members through a CA rotation', async (t) => {
  const c = await testCluster(t)
  const ca = new RotatingCa(c.ca)
  const m1 = await c.start('n1', () => ({ kind: 'init' }))
  const m2 = await c.prepare('n2').then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(m1.client, { name: 'n2', peerUrl: p.peerUrl }) }))
  const writes: string[] = []
  /** One keeper pass for a member: what the agent's keeper does when the CA changes. */
  const renew = async (m: TestMember, tls: MemberTls): Promise<MemberTls> => {
    const keeper = new MemberCertKeeper({
      tls, identity: { nodeId: m.name, clusterId: CLUSTER_ID, addr: '127.0.0.1' }, authority: () => ca,
      write: async (next) => { await writeMemberTls(join(c.dir, m.name, 'etcd-tls'), next) }, written: (why) => writes.push(`${m.name}: ${why}`),
      clock: realClock(), now: Date.now, log: () => undefined,
    })
    await keeper.start()
    keeper.stop()
    return keeper.tls
  }
  const restart = async (m: TestMember, tls: MemberTls): Promise<ReturnType<typeof etcdClient>> => {
    const starts = m.member.starts()
    process.kill(m.member.pid() as number, 'SIGKILL') // the PID this test's supervisor started; it restarts it
    await waitFor(`${m.name} restarted`, () => (m.member.starts() > starts && m.member.pid() !== undefined ? true : undefined))
    const client = etcdClient({ endpoints: m.endpoints, tls, callTimeoutMs: 3000 })
    t.teardown(() => client.close())
    await waitFor(`${m.name} serving again`, async () => ((await client.get('/t/none').string()) === null ? true : undefined))
    return client
  }

  await ca.rotate()
  const tls1 = await renew(m1, m1.tls)
  const tls2 = await renew(m2, m2.tls)
  t.same(writes, ['n1: the cluster CA was rotated', 'n2: the cluster CA was rotated'], 'both members renewed under the new root')

  const c2 = await restart(m2, tls2)
  await t.test('n2 restarted with both roots; n1 still runs with only the old one: writes commit through either', async (t) => {
    await c2.put('/t/a').value('through n2')
    t.equal(await m1.client.get('/t/a').string(), 'through n2', 'n2 → n1')
    await m1.client.put('/t/b').value('through n1')
    t.equal(await waitFor('n2 has it', async () => (await c2.get('/t/b').string()) ?? undefined), 'through n1', 'n1 → n2')
  })

  const m3 = await c.prepare('n3', ca).then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(c2, { name: 'n3', peerUrl: p.peerUrl }) }))
  await t.test('a member joining during the rotation under the new root is taken in by both', async (t) => {
    t.same((await listMembers(m1.client)).map((m) => m.name).sort(), ['n1', 'n2', 'n3'])
    await m3.client.put('/t/c').value('through n3')
    t.equal(await m1.client.get('/t/c').string(), 'through n3')
  })

  ca.finish()
  const done1 = await renew(m1, tls1)
  t.equal(done1.caPem, ca.current.certPem, 'the rotation ended: n1\'s roots file holds only the new root')
  t.equal(done1.certPem, tls1.certPem, 'and its certificate is kept')
  const c1 = await restart(m1, done1)
  await t.test('n1 restarted with only the new root: the old root\'s certificates are refused, the cluster holds', async (t) => {
    await c1.put('/t/d').value('after the rotation')
    t.equal(await waitFor('n3 has it', async () => (await m3.client.get('/t/d').string()) ?? undefined), 'after the rotation')
    t.equal(await c2.get('/t/d').string(), 'after the rotation')
    const stale = etcdClient({ endpoints: m1.endpoints, tls: m1.tls, callTimeoutMs: 3000, dialTimeoutMs: 3000 })
    t.teardown(() => stale.close())
    await t.rejects(stale.get('/t/d').string(), 'a client certificate of the old root is refused')
  })
})
