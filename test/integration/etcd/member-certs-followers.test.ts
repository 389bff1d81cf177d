/**
 * A CA rotation started through one manager reaches the etcd member certificates of the others (agent/member-certs.ts),
 * with the agent's own wiring and real `etcd` 3.4 members (agents.ts, 127.0.0.41-43): within seconds every member's
 * files hold a leaf of the new root (with the cross-signed root) and both roots, while etcd keeps running, and the
 * cluster keeps committing writes through every manager. Every wait is bounded; nothing asserts a duration.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defaultServiceSpec } from '../../../src/api/index.ts'
import { memberTlsFiles, type Manager } from '../../../src/manager/index.ts'
import { issuedBy, pemCertificates } from '../../../src/pki/index.ts'
import { freePort } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { startAgent, testAgent, type TestAgent } from './agents.ts'

t.test('a rotation through m1 renews the member certificates of m2 and m3 too', async (t) => {
  const apiPort = await freePort('127.0.0.41')
  const m1 = await testAgent(t, 'm1', '127.0.0.41', { init: true, store: 'etcd', apiPort })
  await startAgent(m1)
  const ma = m1.parts.manager as Manager
  const agents: TestAgent[] = [m1]
  for (const [name, addr] of [['m2', '127.0.0.42'], ['m3', '127.0.0.43']] as const) {
    const a = await testAgent(t, name, addr, { token: ma.tokens().manager, apiPort })
    a.config.gossip.join = ['127.0.0.41:7946']
    await startAgent(a)
    agents.push(a)
  }
  await ma.rotateCa()
  const newRoot = ma.ca.trust().current
  const oldRoot = ma.ca.trust().roots.find((r) => r !== newRoot) as string
  for (const a of agents) {
    const f = memberTlsFiles(join(a.config.dataDir, 'etcd-tls'))
    const ok = await waitFor(async () => issuedBy(readFileSync(f.certFile, 'utf8'), newRoot), 60_000, { intervalMs: 500, what: `${a.name}'s member certificate of the new root` }).then(() => true, () => false)
    t.ok(ok, `${a.name}: member certificate of the new root`)
    t.equal(pemCertificates(readFileSync(f.certFile, 'utf8')).length, 2, `${a.name}: sent with the cross-signed root`)
    t.same(pemCertificates(readFileSync(f.caFile, 'utf8')).sort(), [...pemCertificates(oldRoot), ...pemCertificates(newRoot)].sort(), `${a.name}: both roots trusted`)
  }
  for (const [i, a] of agents.entries()) {
    await (a.parts.manager as Manager).createService(defaultServiceSpec(`after${i}`, 'mesh/busybox:1'))
  }
  // m1's view follows the other managers' writes through its etcd watch: wait for it (bounded).
  const names = await waitFor(() => {
    const n = ma.listServices().map((s) => s.spec.name).sort()
    return n.length === 3 ? n : null
  }, 60_000, { intervalMs: 200, what: 'm1 seeing the three writes' }).catch(() => ma.listServices().map((s) => s.spec.name).sort())
  t.same(names, ['after0', 'after1', 'after2'], 'writes through every manager commit')
})
