/**
 * `mesh node promote` / `demote` against a real manager core and its HTTP API on a unix socket (no agents): docker's
 * lines when it works; one `mesh: …` line, nothing changed, when a SQLite cluster is asked for a second manager or
 * the last manager would go; with a managed etcd (members faked) the member is removed first.
 */
import t, { type Test } from 'tap'
import { Manager } from '../../../src/manager/manager.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { runMesh, serveManagerSocket } from '../../support/cli.ts'
import { FakeMembers } from '../../support/fake-members.ts'
import { joinAs, testCsr } from '../../support/pki.ts'

const resources = { nanoCpus: 1e9, memoryBytes: 2 ** 30 }

async function cluster(t: Test, members?: FakeMembers): Promise<Manager> {
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store, ...(members ? { members } : {}) })
  await manager.init()
  await serveManagerSocket(t, manager)
  t.teardown(() => store.close())
  const self = await manager.registerSelf({ hostname: 'node1', addr: '10.0.0.1', resources }, { csr: await testCsr() })
  members?.members.set(self.node.id, { peerUrl: 'https://10.0.0.1:2380', reachable: true }) // named by the node id
  await joinAs(manager, 'node2', { addr: '10.0.0.2' })
  return manager
}

t.test('a SQLite cluster: promote and demoting the last manager print one line and change nothing', async (t) => {
  const m = await cluster(t)
  const p = await runMesh('node', 'promote', 'node2')
  t.equal(p.code, 1)
  t.equal(p.out, '')
  t.match(p.err, /^mesh: node "node2": this cluster's managers do not run their own etcd \(SQLite or --store etcd:\/\/…\), so it has one manager; [^\n]*\n$/, 'one line')
  t.equal(m.getNode('node2')?.role, 'worker')
  const d = await runMesh('node', 'demote', 'node1')
  t.same([d.code, d.err], [1, 'mesh: node "node1" is the last manager: cannot demote it (promote another node first)\n'])
  t.equal(m.getNode('node1')?.role, 'manager')
})

t.test('a managed etcd: promote, then demote removes the member first', async (t) => {
  const members = new FakeMembers()
  const m = await cluster(t, members)
  const id = (h: string) => m.getNode(h)?.id as string
  const p = await runMesh('node', 'promote', 'node2')
  t.same([p.code, p.out, p.err], [0, 'Node node2 promoted to a manager in the swarm.\n', ''])
  members.members.set(id('node2'), { peerUrl: 'https://10.0.0.2:2380', reachable: true }) // its agent added its member
  members.reachable(id('node1'), false)
  const refused = await runMesh('node', 'demote', 'node2')
  t.same([refused.code, refused.err], [1, 'mesh: node "node2": removing its etcd member would leave 0 of 1 managers reachable, fewer than a quorum (1); bring the unreachable managers back first\n'])
  t.equal(m.getNode('node2')?.role, 'manager', 'nothing changed')
  t.same(members.calls, [], 'no member removed')
  members.reachable(id('node1'), true)
  const d = await runMesh('node', 'demote', 'node2')
  t.same([d.code, d.out], [0, 'Manager node2 demoted in the swarm.\n'])
  t.same(members.calls, [`remove ${id('node2')}`])
  t.equal(m.getNode('node2')?.role, 'worker')
})
