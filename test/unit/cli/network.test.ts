/**
 * `mesh network create|ls|inspect|rm` against a real manager core and its HTTP API on a unix socket (no agents):
 * docker's columns and filters, the inspect shape with slices and task addresses, refusals as one line.
 */
import t from 'tap'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { runMesh, serveManagerSocket } from '../../support/cli.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
await store.transact((tx) => {
  for (const h of ['n1', 'n2']) {
    tx.putNode({ id: `id-${h}`, hostname: h, role: 'worker', availability: 'active', labels: {}, addr: '10.0.0.1', state: 'ready', stateChangedAt: 0, resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, createdAt: 0, updatedAt: 0 })
  }
})
await serveManagerSocket(t, manager)
t.teardown(() => store.close?.())

const mesh = runMesh

t.test('create, ls, inspect, rm', async (t) => {
  const created = await mesh('network', 'create', '--label', 'team=a', '--attachable', '--opt', 'encrypted=false', 'webnet')
  t.equal(created.code, 0, created.err)
  t.match(created.out, /^[0-9a-f]{25}\n$/)
  t.equal((await mesh('network', 'create', '--subnet', '10.90.0.0/24', 'db')).code, 0)
  const ls = await mesh('network', 'ls')
  t.match(ls.out, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n[0-9a-f]{12}\s+mesh\s+overlay\s+swarm\n[0-9a-f]{12}\s+db\s+overlay\s+swarm\n[0-9a-f]{12}\s+webnet\s+overlay\s+swarm\n$/)
  t.equal((await mesh('network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}} {{.Driver}}')).out, 'webnet overlay\n')
  t.equal((await mesh('network', 'ls', '--filter', 'type=custom', '-q')).out.split('\n').filter(Boolean).length, 2)
  t.equal((await mesh('network', 'ls', '--filter', 'name=web', '--format', '{{.Name}}')).out, 'webnet\n')

  await manager.createService({ ...defaultServiceSpec('web', 'nginx'), networks: [{ target: 'webnet', aliases: [] }] })
  await manager.reconcileNow()
  const task = store.listTasks()[0]
  if (!task) throw new Error('no task')
  const slice = store.getObject('network', 'webnet')?.slices[task.nodeId] as string
  const ip = slice.replace(/\.(\d+)\/26$/, (_m, o: string) => `.${Number(o) + 2}`)
  const node = store.getNode(task.nodeId)
  if (!node) throw new Error('no node')
  t.equal(await manager.reportTasks(node, [{ taskId: task.id, status: { state: 'running', message: '', timestamp: 1 }, ip }]), 1)
  const inspected = await mesh('network', 'inspect', 'webnet')
  t.equal(inspected.code, 0, inspected.err)
  const [n] = JSON.parse(inspected.out) as Record<string, unknown>[]
  t.match(n, {
    Name: 'webnet', Scope: 'swarm', Driver: 'overlay', Attachable: true, Internal: false, IPAM: { Config: [{ Subnet: '10.80.0.0/20' }] },
    Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4096' }, Labels: { team: 'a' },
    Tasks: [{ Name: 'web.1', Node: node.hostname, Address: ip }],
  })
  t.equal((n?.Options as Record<string, string>).encrypted, undefined)
  t.same((n?.Slices as { Node: string }[]).map((s) => s.Node), ['n1', 'n2'], 'attachable: each node\'s slice')
  t.equal((await mesh('network', 'inspect', '--format', '{{.Name}}', 'mesh', 'db')).out, 'mesh\ndb\n')

  const busy = await mesh('network', 'rm', 'webnet')
  t.same([busy.code, busy.err], [1, 'mesh: network "webnet" is in use by service "web"\n'])
  t.same((await mesh('network', 'rm', 'mesh')).err, 'mesh: network "mesh" is the default network and cannot be removed\n')
  t.same((await mesh('network', 'rm', 'nope', 'db')), { code: 1, out: 'db\n', err: 'mesh: network "nope" not found\n' }, 'the others are removed, the first error is the exit')
  t.same((await mesh('network', 'create', '--driver', 'bridge', 'x')).err, 'mesh: --driver "bridge": mesh networks are overlay networks (omit --driver, or give overlay)\n')
  t.same((await mesh('network', 'create', '--opt', 'mtu=1', 'x')).err, 'mesh: --opt "mtu=1": unknown option "mtu" (mesh networks take encrypted=true|false)\n')
})
