/**
 * A manager on a 3-member etcd that loses 2 members (killed -9): a write is refused with one line
 * (`mesh: no quorum: 1 of 3 managers reachable`), a read is answered from the manager's view with a warning on
 * stderr; once the members are back, writes commit and reads carry no warning. Before that, `node ls` shows the
 * leader. Real etcd, the CLI in-process on manager.sock; every wait is bounded, no duration is asserted.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EtcdStore, etcdClient, parseEtcdUrl } from '../../../src/manager/etcd-store/index.ts'
import { Manager, managerLeadership } from '../../../src/manager/index.ts'
import { runMesh, serveManagerSocket } from '../../support/cli.ts'
import { startEtcd } from '../../support/etcd.ts'
import { testCsr } from '../../support/pki.ts'
import { waitFor } from '../../support/procs.ts'
import { FakeMembers } from '../../support/fake-members.ts'

const etcd = await startEtcd(t, { members: 3 })
const dir = mkdtempSync(join(tmpdir(), 'mesh-quorum-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const resources = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }

/** `mesh ARGV` with what it wrote to process.stderr too (the stale warning goes there). */
async function mesh(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let stderr = ''
  const write = process.stderr.write
  process.stderr.write = ((s: string) => { stderr += s; return true }) as typeof process.stderr.write
  try {
    const r = await runMesh(...argv)
    return { ...r, err: r.err + stderr }
  } finally {
    process.stderr.write = write
  }
}

t.test('2 of 3 members down: writes refused with the quorum line, reads answered with a warning', async (t) => {
  // This manager talks to member 0 only (its own member, as a managed one does).
  const own = parseEtcdUrl(`etcd://${etcd.endpoints[0]}`)
  const store = await new EtcdStore(etcdClient(own, {}, { callTimeoutMs: 2000 }), { prefix: '/quorum/', commitTimeoutMs: 3000 }).open()
  t.teardown(() => store.close())
  const setup = new Manager({ store, members: new FakeMembers() }) // managers join with the manager token: the members are faked
  await setup.init()
  const self = (await setup.join({ csr: await testCsr(), token: setup.tokens().manager, hostname: 'm1', addr: '10.0.0.1', resources })).node
  await setup.join({ csr: await testCsr(), token: setup.tokens().worker, hostname: 'w1', addr: '10.0.0.2', resources })

  const client = new Etcd3({ hosts: [etcd.endpoints[0] as string], dialTimeout: 1000 })
  const lead = managerLeadership({ client, nodeId: self.id, ttlSeconds: 3, probeIntervalMs: 300 })
  const manager = new Manager({ store, leadership: lead.leadership, managerProbe: lead.managerProbe })
  await manager.init()
  manager.start()
  await lead.start()
  await serveManagerSocket(t, manager, { dir, apiPort: 7947 })
  t.teardown(async () => {
    manager.stop()
    await lead.stop()
    client.close()
  })

  await waitFor(() => manager.leading && !manager.staleView(), 30_000, { what: 'this manager leading, its view current' })
  const ls = await mesh('node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}')
  t.equal(ls.out, 'm1 Leader\nw1 \n', 'node ls: MANAGER STATUS')
  t.equal(ls.err, '', 'no warning while the quorum holds')
  const created = await mesh('service', 'create', '--detach', '--name', 'web', '--replicas', '0', 'nginx:1')
  t.equal(created.code, 0, created.err)

  await etcd.kill(1)
  await etcd.kill(2)
  await waitFor(() => lead.managerProbe.health()?.reachable.length === 1 && manager.staleView(), 30_000, { what: 'the probe seeing 1 member and no quorum' })
  const refused = await mesh('service', 'create', '--detach', '--name', 'api', '--replicas', '0', 'nginx:1')
  t.equal(refused.code, 1)
  t.equal(refused.err, 'mesh: no quorum: 1 of 3 managers reachable\n', 'one line')
  const read = await mesh('service', 'ls', '--format', '{{.Name}}')
  t.equal(read.code, 0)
  t.equal(read.out, 'web\n', 'answered from the manager\'s view')
  t.equal(read.err, 'warning: no quorum: this answer may be stale\n')
  t.notOk(manager.leading, 'no manager leads without a quorum')

  await etcd.restart(1)
  await etcd.restart(2)
  await waitFor(() => manager.leading && !manager.staleView(), 30_000, { what: 'the quorum back and this manager leading again' })
  // The store's own client and watch reconnect on their own schedule: a write may still be refused for a while.
  const again = await waitFor(async () => {
    const r = await mesh('service', 'create', '--detach', '--name', 'api', '--replicas', '0', 'nginx:1')
    return r.code === 0 || /already exists/.test(r.err) ? r : undefined
  }, 60_000, { what: 'a write committed again', intervalMs: 500 })
  t.ok(again, 'writes commit again')
  const fresh = await mesh('service', 'ls', '--format', '{{.Name}}')
  t.equal(fresh.out, 'api\nweb\n')
  t.equal(fresh.err, '', 'no warning once the quorum is back')
})
