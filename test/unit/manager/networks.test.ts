/**
 * User networks on the manager: objects (create, reserved names, rm refused while used), the address pool and
 * per-node slices allocated in the assignment's transaction, per-network VIPs, attachable networks on every node,
 * slices freed with a node, the reports' per-network addresses, and the catalog's networks. Manager on an
 * in-memory store, nodes put straight into the store.
 */
import t, { type Test } from 'tap'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { node, spec } from './sim.ts'
import type { NetworkSpec } from '../../../src/api/index.ts'

const net = (name: string, o: Partial<NetworkSpec> = {}): NetworkSpec =>
  ({ name, driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {}, ...o })

async function setup(t: Test, o: { nodes?: number; addrPool?: string; addrPoolMaskLength?: number } = {}) {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store, clock, ...(o.addrPool ? { addrPool: o.addrPool } : {}), ...(o.addrPoolMaskLength ? { addrPoolMaskLength: o.addrPoolMaskLength } : {}) })
  await manager.init()
  t.teardown(() => store.close())
  await store.transact((tx) => {
    for (let i = 1; i <= (o.nodes ?? 2); i++) tx.putNode(node(`n${i}`, { overlay: { publicKey: 'k', subnet: `10.77.${i}.0/24` } }))
  })
  return { clock, store, manager }
}


t.test('create: a /20 of the pool, the next VNI, reserved names and taken names refused', async (t) => {
  const { manager } = await setup(t)
  const a = await manager.networks.create(net('a'))
  const b = await manager.networks.create(net('b', { subnet: '10.90.0.0/24' }))
  const c = await manager.networks.create(net('c'))
  t.same([a.subnet, a.vni, b.subnet, b.vni, c.subnet, c.vni], ['10.80.0.0/20', 4096, '10.90.0.0/24', 4097, '10.80.16.0/20', 4098])
  t.same(a.slices, {}, 'no slice before a task needs one')
  await t.rejects(manager.networks.create(net('a')), { code: 'MESH_ERR_CONFLICT', message: 'network "a" already exists' })
  await t.rejects(manager.networks.create(net('mesh')), { code: 'MESH_ERR_INVALID', message: /reserved \(the default network\)/ })
  await t.rejects(manager.networks.create(net('bridge')), { message: /reserved/ })
  await t.rejects(manager.networks.create(net('d', { subnet: '10.90.0.128/25' })), { code: 'MESH_ERR_INVALID', message: /\/16 to \/24/ })
  await t.rejects(manager.networks.create(net('d', { subnet: '10.90.0.0/23' })), { message: 'network "d": subnet 10.90.0.0/23 overlaps network "b" (10.90.0.0/24)' })
  await t.rejects(manager.networks.create(net('d', { subnet: '10.77.4.0/24' })), { message: /overlaps the overlay range 10.77.0.0\/16/ })
  await t.rejects(manager.networks.create(net('d', { subnet: '10.78.0.0/24' })), { message: /overlaps the VIP range/ })
  await t.rejects(manager.networks.create(net('d', { subnet: '8.8.8.0/24' })), { message: /private IPv4/ })
  t.same(manager.networks.list().map((n) => n.spec.name), ['mesh', 'a', 'b', 'c'], 'the default network first')
  t.equal(manager.networks.get('mesh')?.subnet, '10.77.0.0/16')
  t.same(manager.networks.get('mesh')?.slices, { n1: '10.77.1.0/24', n2: '10.77.2.0/24' }, 'the default network\'s slices are the registered overlay subnets')
})

t.test('the pool: 256 networks of the default size, then one clear refusal; 300 with a smaller mask length', async (t) => {
  const { manager } = await setup(t, { nodes: 0 })
  for (let i = 0; i < 256; i++) await manager.networks.create(net(`n${i}`))
  await t.rejects(manager.networks.create(net('more')), { code: 'MESH_ERR_ADDR_POOL_EXHAUSTED', message: /the address pool 10.80.0.0\/12 has no free \/20 left/ })
  const small = await setup(t, { nodes: 0, addrPoolMaskLength: 24 })
  const made = []
  for (let i = 0; i < 300; i++) made.push(await small.manager.networks.create(net(`n${i}`)))
  t.equal(new Set(made.map((n) => n.subnet)).size, 300, 'distinct ranges')
  t.equal(new Set(made.map((n) => n.vni)).size, 300, 'distinct VNIs')
  t.equal(made.at(-1)?.subnet, '10.81.43.0/24', 'the 300th /24')
  t.throws(() => new Manager({ store: small.store, addrPool: '10.77.0.0/12' }), { message: /host bits are set/ })
  t.throws(() => new Manager({ store: small.store, addrPool: '10.64.0.0/12' }), { message: /overlaps the overlay range 10.77.0.0\/16/ })
  t.throws(() => new Manager({ store: small.store, addrPool: '10.96.0.0/12', addrPoolMaskLength: 8 }), { message: /mask length 8/ })
})

t.test('a service on a network: one VIP there, tasks get the network and their node a slice when assigned', async (t) => {
  const { manager, store } = await setup(t)
  const web = await manager.networks.create(net('webnet'))
  const s = await manager.createService(spec('web', { replicas: 2, networks: [{ target: 'webnet', aliases: ['www'] }] }))
  t.equal(s.vip, undefined, 'no VIP on the default network')
  t.same(s.virtualIps, [{ network: web.id, addr: '10.80.0.1' }], 'the first address of the VIP slice')
  await manager.reconcileNow()
  const tasks = store.listTasks()
  t.equal(tasks.length, 2)
  const n = store.getObject('network', 'webnet')
  t.same(Object.keys(n?.slices ?? {}).sort(), ['n1', 'n2'])
  t.same(Object.values(n?.slices ?? {}).sort(), ['10.80.0.128/26', '10.80.0.64/26'], 'slices after the VIP slice')
  for (const task of tasks) {
    t.equal(task.status.state, 'assigned')
    t.same(task.networks, [{ network: web.id, name: 'webnet', aliases: ['www'] }])
  }
  await t.rejects(manager.createService(spec('api', { networks: [{ target: 'nonet', aliases: [] }] })), { code: 'MESH_ERR_NOT_FOUND', message: 'service "api": network "nonet" not found' })
  await t.rejects(manager.networks.remove('webnet'), { code: 'MESH_ERR_CONFLICT', message: 'network "webnet" is in use by service "web"' })
  await t.rejects(manager.networks.remove('mesh'), { code: 'MESH_ERR_INVALID', message: /default network and cannot be removed/ })
  t.ok(store.getObject('network', 'webnet'), 'nothing removed')
})

t.test('reports: each address in the node\'s slice of that network, else refused; the catalog carries them', async (t) => {
  const { manager, store } = await setup(t)
  const web = await manager.networks.create(net('webnet'))
  const s = await manager.createService(spec('web', { replicas: 1, networks: [{ target: 'webnet', aliases: ['www'] }] }))
  await manager.reconcileNow()
  const task = store.listTasks()[0]
  if (!task) throw new Error('no task')
  const nodeRec = store.getNode(task.nodeId)
  if (!nodeRec) throw new Error('no node')
  const slice = store.getObject('network', web.id)?.slices[task.nodeId] as string
  const inSlice = slice.replace(/\.(\d+)\/26$/, (_m, o: string) => `.${Number(o) + 2}`)
  const status = { state: 'running', message: 'started', timestamp: 5 }
  t.equal(await manager.reportTasks(nodeRec, [{ taskId: task.id, status, ip: '10.77.1.5' }]), 0, 'an overlay address is refused')
  t.equal(await manager.reportTasks(nodeRec, [{ taskId: task.id, status, addresses: [{ network: web.id, ip: '10.80.15.2' }] }]), 0, 'outside the slice')
  t.equal(await manager.reportTasks(nodeRec, [{ taskId: task.id, status, addresses: [{ network: 'other', ip: inSlice }] }]), 0, 'not the task\'s network')
  t.equal(await manager.reportTasks(nodeRec, [{ taskId: task.id, status, ip: inSlice, addresses: [{ network: web.id, ip: '10.80.15.3' }] }]), 0, 'ip not the first network\'s')
  t.equal(await manager.reportTasks(nodeRec, [{ taskId: task.id, status, ip: inSlice, addresses: [{ network: web.id, ip: inSlice }] }]), 1)
  const stored = store.getTask(task.id)
  t.equal(stored?.ip, inSlice, 'ip: the first network\'s address')
  t.same(stored?.networks, [{ network: web.id, name: 'webnet', aliases: ['www'], ip: inSlice }])
  const cat = manager.catalog().snapshot
  t.same(cat.networks, [{ id: web.id, name: 'webnet', subnet: '10.80.0.0/20', encrypted: true, internal: false, attachable: false, vni: 4096, slices: [{ nodeId: task.nodeId, subnet: slice }] }])
  const svc = cat.services.find((x) => x.name === 'web')
  t.same(svc?.networks, [{ network: web.id, vip: s.virtualIps?.[0]?.addr, aliases: ['www'] }])
  t.same(svc?.endpoints[0]?.addresses, [{ network: web.id, ip: inSlice }])
  t.equal(svc?.vip, undefined)
})

t.test('slices exhausted: the task stays pending saying why, and a pass over it writes nothing', async (t) => {
  const { manager, store } = await setup(t, { nodes: 3 })
  // a /24 splits into 16 /28s: the VIP slice and 15 node slices; fill all but one with fake nodes
  const small = await manager.networks.create(net('small', { subnet: '10.90.0.0/24' }))
  await store.transact((tx) => {
    const slices: Record<string, string> = {}
    for (let i = 1; i < 16; i++) slices[`other${i}`] = `10.90.0.${i * 16}/28`
    tx.putObject('network', { ...small, slices })
  })
  await manager.createService(spec('web', { replicas: 1, networks: [{ target: 'small', aliases: [] }] }))
  await manager.reconcileNow()
  const task = store.listTasks()[0]
  t.equal(task?.status.state, 'pending')
  t.equal(task?.nodeId, '')
  t.match(task?.status.message, /no address for the task: network "small" has no free address slice left for another node \(15 slices of 10.90.0.0\/24 in use\)/)
  const rev = store.revision
  await manager.reconcileNow()
  t.equal(store.revision, rev, 'a stuck task is not rewritten')
})

t.test('attachable: every node gets a slice at once and on join; a removed node frees its slices', async (t) => {
  const { manager, store } = await setup(t)
  const a = await manager.networks.create(net('att', { attachable: true }))
  t.same(Object.keys(a.slices).sort(), ['n1', 'n2'])
  await store.transact((tx) => tx.putNode(node('n3')))
  await manager.reconcileNow()
  t.same(Object.keys(store.getObject('network', 'att')?.slices ?? {}).sort(), ['n1', 'n2', 'n3'], 'a new node gets one too')
  await store.transact((tx) => tx.putNode({ ...(tx.getNode('n3') as ReturnType<typeof node>), state: 'down' }))
  await manager.removeNode('n3', false)
  t.same(Object.keys(store.getObject('network', 'att')?.slices ?? {}).sort(), ['n1', 'n2'], 'freed with the node')
})

t.test('rm: refused while a task still holds an address; then removed, its range reused', async (t) => {
  const { manager, store } = await setup(t)
  await manager.networks.create(net('webnet'))
  await manager.createService(spec('web', { replicas: 1, networks: [{ target: 'webnet', aliases: [] }] }))
  await manager.reconcileNow()
  await manager.removeService('web')
  await t.rejects(manager.networks.remove('webnet'), { code: 'MESH_ERR_CONFLICT', message: /is in use by task web\.1 \(assigned\)/ })
  await manager.reconcileNow() // an assigned task never started goes at once (no container)
  const task = store.listTasks()[0]
  if (task) {
    const n = store.getNode(task.nodeId)
    if (n) await manager.reportTasks(n, [{ taskId: task.id, status: { state: 'shutdown', message: 'stopped', timestamp: 9 } }])
  }
  await manager.networks.remove('webnet')
  t.equal(store.getObject('network', 'webnet'), undefined)
  t.equal((await manager.networks.create(net('again'))).subnet, '10.80.0.0/20', 'the range is free again')
})

t.test('a runtime that reports only ip: taken as the address on the task\'s first network, checked against that slice', async (t) => {
  const { manager, store } = await setup(t)
  const a = await manager.networks.create(net('a'))
  const b = await manager.networks.create(net('b'))
  await manager.createService(spec('web', { replicas: 1, networks: [{ target: 'a', aliases: [] }, { target: 'b', aliases: [] }] }))
  await manager.reconcileNow()
  const task = store.listTasks()[0]
  if (!task) throw new Error('no task')
  const n = store.getNode(task.nodeId)
  if (!n) throw new Error('no node')
  const sliceB = store.getObject('network', b.id)?.slices[task.nodeId] as string
  const sliceA = store.getObject('network', a.id)?.slices[task.nodeId] as string
  const at = (slice: string, k: number) => slice.replace(/\.(\d+)\/26$/, (_m, o: string) => `.${Number(o) + k}`)
  const status = { state: 'running', message: 'started', timestamp: 5 }
  t.equal(await manager.reportTasks(n, [{ taskId: task.id, status, ip: at(sliceB, 2) }]), 0, 'an address of the second network is not the first\'s')
  t.equal(await manager.reportTasks(n, [{ taskId: task.id, status, ip: at(sliceA, 2) }]), 1)
  t.same(store.getTask(task.id)?.networks?.map((x) => x.ip), [at(sliceA, 2), undefined])
  t.equal(store.getTask(task.id)?.ip, at(sliceA, 2))
})
