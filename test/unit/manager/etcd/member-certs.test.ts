/**
 * The etcd member's certificate keeper (src/manager/etcd/member-certs.ts) against a CA that behaves as the cluster's
 * (real keys and certificates from src/pki; rotation = a new root cross-signed by the old, both trusted, then the old
 * dropped), on virtual time: a renewal at two thirds of the life, a rotation's new leaf that peers still trusting
 * only the old root verify, the roots file after the rotation ends, a renewal after it that such a peer still
 * verifies (the cross-signed root kept), a second rotation, and failures retried without writing anything.
 */
import t, { type Test } from 'tap'
import { caDigest, createClusterCa, crossSignRoot, pemCertificates, signNodeCsr, verifyPeerCertificate, type ClusterCa } from '../../../../src/pki/index.ts'
import { Manager, openSqliteStore } from '../../../../src/manager/index.ts'
import { issueMemberTls, MEMBER_RENEW_RETRY_MS, MemberCertKeeper, type MemberCertAuthority, type MemberTls } from '../../../../src/manager/etcd/index.ts'
import { FakeClock } from '../../../support/fake-clock.ts'

const CLUSTER = 'member-certs-test'
const HOUR = 3_600_000
const LIFE = 3 * HOUR
const BASE = Date.parse('2026-12-01T00:00:00Z')

/** A CA shaped like ClusterAuthority: current root, the previous one and the cross-signed bridge while rotating. */
class TestCa implements MemberCertAuthority {
  current: ClusterCa
  previous: ClusterCa | null = null
  cross: string | null = null
  failing = false
  readonly now: () => number
  constructor(root: ClusterCa, now: () => number) {
    this.current = root
    this.now = now
  }

  async issue(csr: string, o: { nodeId: string; role: 'manager' | 'worker' | 'admin'; clusterId: string; ipSans?: string[]; dnsSans?: string[] }): Promise<string> {
    if (this.failing) throw new Error('store unavailable')
    const leaf = await signNodeCsr(this.current, csr, { ...o, now: this.now(), lifetimeMs: LIFE })
    return this.cross ? leaf + this.cross : leaf
  }

  trust(): { roots: string[] } {
    return { roots: this.previous ? [this.previous.certPem, this.current.certPem] : [this.current.certPem] }
  }

  status(): { digest: string } {
    return { digest: caDigest(this.current.certPem) }
  }

  async rotate(): Promise<void> {
    const next = await createClusterCa({ clusterId: CLUSTER, now: this.now() })
    this.cross = await crossSignRoot(this.current, next, { now: this.now() })
    this.previous = this.current
    this.current = next
  }

  finish(): void {
    this.previous = null
    this.cross = null
  }
}

async function setup(t: Test) {
  const clock = new FakeClock()
  const now = () => BASE + clock.now()
  const ca = new TestCa(await createClusterCa({ clusterId: CLUSTER, now: now() - HOUR }), now)
  const identity = { nodeId: 'n1', clusterId: CLUSTER, addr: '10.0.0.1' }
  const files: MemberTls[] = []
  const written: string[] = []
  const logs: string[] = []
  let authority: MemberCertAuthority | null = ca
  const keeper: MemberCertKeeper = new MemberCertKeeper({
    tls: await issueMemberTls(ca, identity), identity, authority: () => authority,
    write: async (tls) => { files.push(tls) }, written: (why) => { written.push(why) },
    clock, now, log: (level, msg, fields) => { logs.push(`${level}: ${msg}${fields?.err ? ` (${String(fields.err)})` : ""}`) },
  })
  t.teardown(() => keeper.stop())
  return { clock, now, ca, keeper, files, written, logs, setAuthority: (a: MemberCertAuthority | null) => { authority = a } }
}

/** Does a peer that trusts exactly `roots` accept this chain (as etcd would, with the chain's intermediates)? */
async function accepts(chain: string, roots: string[], now: number): Promise<boolean> {
  return verifyPeerCertificate(chain, roots, now).then(() => true, () => false)
}

const count = (pem: string): number => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0

t.test('renewed at two thirds of its life, not before; nothing written while it is young', async (t) => {
  const s = await setup(t)
  const first = s.keeper.tls.certPem
  await s.keeper.start()
  await s.clock.advance(HOUR)
  await s.keeper.settled
  t.same(s.written, [], 'a young certificate is left alone')
  await s.clock.advance(HOUR + 60_000)
  await s.keeper.settled
  t.same(s.written, ['two thirds of its lifetime passed'])
  t.equal(s.files.length, 1)
  t.not(s.keeper.tls.certPem, first, 'a new certificate')
  t.equal(s.files[0]?.certPem, s.keeper.tls.certPem, 'the one written')
  t.not(s.files[0]?.keyPem, undefined)
  t.ok(await accepts(s.keeper.tls.certPem, [s.ca.current.certPem], s.now()), 'issued by the cluster root')
})

t.test('a CA rotation: a new leaf with the cross-signed root, the roots file with both; then the old root goes', async (t) => {
  const s = await setup(t)
  const oldRoot = s.ca.current.certPem
  await s.keeper.start()
  await s.clock.advance(1000)
  await s.keeper.settled
  await s.ca.rotate()
  await s.keeper.check()
  t.same(s.written, ['the cluster CA was rotated'], s.logs.join(' | '))
  const rotated = s.keeper.tls
  t.equal(count(rotated.certPem), 2, 'leaf and the cross-signed root')
  t.ok(await accepts(rotated.certPem, [oldRoot], s.now()), 'a member still trusting only the old root accepts it')
  t.ok(await accepts(rotated.certPem, [s.ca.current.certPem], s.now()), 'so does one trusting only the new root')
  t.equal(rotated.caPem, oldRoot + s.ca.current.certPem, 'the roots file holds both')

  s.ca.finish()
  await s.keeper.check()
  t.same(s.written, ['the cluster CA was rotated', 'the cluster\'s trusted roots changed'], 'the rotation ended: roots written')
  t.equal(s.keeper.tls.caPem, s.ca.current.certPem, 'only the new root')
  t.equal(s.keeper.tls.certPem, rotated.certPem, 'the certificate is kept')

  await s.clock.advance(2 * HOUR + 60_000)
  await s.keeper.settled
  t.equal(s.written.at(-1), 'two thirds of its lifetime passed')
  const later = s.keeper.tls.certPem
  t.equal(count(later), 2, 'a renewal after the rotation keeps the cross-signed root')
  t.ok(await accepts(later, [oldRoot], s.now()), 'a member not restarted since the rotation still accepts it')
  t.ok(await accepts(later, [s.ca.current.certPem], s.now()), 'and a restarted one')

  const middle = s.ca.current.certPem
  await s.ca.rotate()
  await s.keeper.check()
  t.equal(count(s.keeper.tls.certPem), 2, 'a second rotation: leaf and its own cross-signed root only')
  t.ok(await accepts(s.keeper.tls.certPem, [middle], s.now()), 'accepted by a member trusting the previous root')
  t.notOk(await accepts(s.keeper.tls.certPem, [oldRoot], s.now()), 'no longer by one that kept the root of two rotations ago')
})

t.test('no CA (the half reopening) or a failing CA: nothing written, tried again', async (t) => {
  const s = await setup(t)
  await s.ca.rotate()
  s.setAuthority(null)
  await s.keeper.start()
  await s.clock.advance(MEMBER_RENEW_RETRY_MS * 2)
  await s.keeper.settled
  t.same(s.written, [], 'no CA: nothing written')
  s.setAuthority(s.ca)
  s.ca.failing = true
  await s.clock.advance(MEMBER_RENEW_RETRY_MS)
  await s.keeper.settled
  t.same(s.written, [], 'a failing CA: nothing written')
  t.ok(s.logs.some((l) => l.startsWith('warn: etcd member certificate renewal failed')), 'the failure is logged')
  s.ca.failing = false
  await s.clock.advance(MEMBER_RENEW_RETRY_MS)
  await s.keeper.settled
  t.same(s.written, ['the cluster CA was rotated'], 'renewed on the next try')
  s.keeper.stop()
  await s.ca.rotate()
  await s.keeper.check()
  t.equal(s.written.length, 1, 'a stopped keeper does nothing')
})

t.test('the cluster CA: a member renewed only after the rotation ended still chains to the previous root (the bridge)', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store })
  await m.init()
  const clusterId = m.clusterInfo().clusterId
  const identity = { nodeId: 'n1', clusterId, addr: '10.0.0.1' }
  const oldRoot = m.ca.trust().current
  t.equal(m.ca.memberBridge(), null, 'no bridge before any rotation')
  const before = await issueMemberTls(m.ca, identity)
  t.equal(count(before.certPem), 1, 'a leaf alone')
  const written: string[] = []
  const keeper = new MemberCertKeeper({
    tls: before, identity, authority: () => m.ca, write: async () => undefined, written: (why) => { written.push(why) },
    clock: new FakeClock(), now: Date.now, log: () => undefined,
  })
  t.teardown(() => keeper.stop())
  await keeper.start()
  await m.rotateCa() // no node registered: nothing pending, the rotation ends at once (a follower that looked late)
  t.notOk(m.ca.status().rotating, 'the rotation has ended')
  const newRoot = m.ca.trust().current
  await keeper.check()
  t.same(written, ['the cluster CA was rotated'])
  t.equal(count(keeper.tls.certPem), 2, 'leaf and the bridge')
  t.ok(await accepts(keeper.tls.certPem, [oldRoot], Date.now()), 'a member still trusting only the previous root accepts it')
  t.ok(await accepts(keeper.tls.certPem, [newRoot], Date.now()), 'so does one trusting only the new root')
  t.same(pemCertificates(keeper.tls.caPem), pemCertificates(newRoot), 'the roots file: only the new root')
  const granted = await issueMemberTls(m.ca, { ...identity, nodeId: 'n2' })
  t.ok(await accepts(granted.certPem, [oldRoot], Date.now()), 'a member issued after the rotation (a new manager) too')
})
