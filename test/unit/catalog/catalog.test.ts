import t from 'tap'
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Catalog, FileCatalogStore, type CatalogSnapshot, type CatalogStore } from '../../../src/catalog/index.ts'
import { buildCatalog } from '../../../src/manager/build-catalog.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord, TaskStatus } from '../../../src/api/types.ts'

function node(id: string, hostname: string, state: NodeRecord['state'] = 'ready'): NodeRecord {
  return {
    id, hostname, role: 'worker', availability: 'active', labels: {}, addr: `192.168.77.${id.length}`, state,
    stateChangedAt: 0, resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, createdAt: 0, updatedAt: 0,
  }
}

function service(id: string, name: string, o: { labels?: Record<string, string>; global?: boolean; vip?: string } = {}): ServiceRecord {
  const spec = { ...defaultServiceSpec(name, 'nginx'), labels: o.labels ?? {} }
  if (o.global) spec.mode = { global: {} }
  spec.ports = [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }]
  const r: ServiceRecord = { id, spec, version: 1, createdAt: 0, updatedAt: 0 }
  if (o.vip) r.vip = o.vip
  return r
}

function task(id: string, svc: ServiceRecord, slot: number, nodeId: string, o: Partial<TaskRecord> & { state?: TaskStatus['state']; health?: TaskStatus['health'] } = {}): TaskRecord {
  const { state, health, ...rest } = o
  const status: TaskStatus = { state: state ?? 'running', message: '', timestamp: 0 }
  if (health) status.health = health
  return {
    id, serviceId: svc.id, serviceName: svc.spec.name, slot, nodeId, specVersion: 1, spec: svc.spec,
    desiredState: 'running', status, ip: `10.77.${slot}.2`, createdAt: 0, updatedAt: 0, ...rest,
  }
}

t.test('buildCatalog', async (t) => {
  const web = service('s1', 'lab_web', { labels: { 'com.docker.stack.namespace': 'lab' }, vip: '10.78.0.2' })
  const mon = service('s2', 'monitor', { global: true })
  const state: ClusterState = {
    nodes: [node('n2', 'node2'), node('n1', 'node1')],
    services: [web, mon],
    tasks: [
      task('t3', web, 3, 'n2', { health: 'unhealthy' }),
      task('t1', web, 1, 'n1', { health: 'healthy' }),
      task('t2', web, 2, 'n2', { desiredState: 'shutdown', health: 'starting' }),
      task('t4', web, 4, 'n1', { state: 'starting' }),
      task('t5', web, 5, 'n1', { ip: undefined }),
      task('t6', web, 6, 'n1', { state: 'failed' }),
      task('g1', mon, 0, 'n1', { ip: '10.77.1.9' }),
    ],
  }
  const snap = buildCatalog(state, 42)
  t.equal(snap.revision, 42)
  t.same(snap.nodes.map((n) => n.hostname), ['node1', 'node2'], 'nodes by hostname')
  const [s0, s1] = snap.services
  t.equal(s0?.name, 'lab_web')
  t.equal(s0?.stack, 'lab')
  t.equal(s0?.shortName, 'web', 'stack prefix stripped')
  t.equal(s0?.vip, '10.78.0.2')
  t.same(s0?.ports, [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }])
  const cases = [
    { taskName: 'lab_web.1', node: 'node1', state: 'running', health: 'healthy' },
    { taskName: 'lab_web.2', node: 'node2', state: 'stopping', health: 'starting' },
    { taskName: 'lab_web.3', node: 'node2', state: 'running', health: 'unhealthy' },
  ]
  t.equal(s0?.endpoints.length, 3, 'only running tasks with an ip')
  for (const [i, c] of cases.entries()) t.match(s0?.endpoints[i], c, c.taskName)
  t.equal(s1?.name, 'monitor')
  t.equal(s1?.shortName, 'monitor')
  t.notOk('stack' in (s1 ?? {}))
  t.match(s1?.endpoints, [{ taskName: 'monitor.n1', slot: 0, health: 'none', ip: '10.77.1.9', node: 'node1' }])
  t.same(buildCatalog(state, 42), snap, 'deterministic')
})

t.test('buildCatalog: job tasks are endpoints while they run, not after they complete; a global job names tasks by node', async (t) => {
  const job = service('s3', 'migrate')
  job.spec = { ...job.spec, mode: { replicatedJob: { totalCompletions: 2, maxConcurrent: 2 } } }
  const warm = service('s4', 'warm')
  warm.spec = { ...warm.spec, mode: { globalJob: {} } }
  const state: ClusterState = {
    nodes: [node('n1', 'node1')],
    services: [job, warm],
    tasks: [
      task('j1', job, 1, 'n1', { state: 'complete', desiredState: 'shutdown' }),
      task('j2', job, 2, 'n1'),
      task('w1', warm, 0, 'n1', { ip: '10.77.9.9' }),
    ],
  }
  const [migrate, w] = buildCatalog(state, 1).services
  t.same(migrate?.endpoints.map((e) => e.taskId), ['j2'], 'the completed task is no endpoint')
  t.match(w?.endpoints, [{ taskName: 'warm.n1', slot: 0 }])
})

function snap(revision: number, nodeState: 'ready' | 'down' = 'ready'): CatalogSnapshot {
  const ep = (i: number, nodeId: string, node: string) => ({
    taskId: `t${i}`, slot: i, taskName: `web.${i}`, nodeId, node, ip: `10.77.${i}.2`, state: 'running' as const, health: 'none' as const,
  })
  return {
    revision,
    nodes: [
      { id: 'n1', hostname: 'node1', addr: 'a', state: 'ready' },
      { id: 'n2', hostname: 'node2', addr: 'b', state: nodeState },
    ],
    services: [{
      id: 's1', name: 'web', shortName: 'web', endpointMode: 'vip', stopGracePeriodMs: 10_000,
      ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }],
      endpoints: [ep(1, 'n1', 'node1'), ep(2, 'n2', 'node2')],
    }],
  }
}

const ips = (c: Catalog) => c.current().services[0]?.endpoints.map((e) => e.ip) ?? []

t.test('revisions never go backwards; identical snapshots are not news', async (t) => {
  const c = new Catalog()
  let changes = 0
  const off = c.onChange(() => changes++)
  t.ok(c.apply(snap(5)))
  t.notOk(c.apply(snap(4)), 'lower revision ignored')
  t.notOk(c.apply(snap(5)), 'same snapshot ignored')
  t.equal(c.current().revision, 5)
  t.equal(c.current(), c.current(), 'stable object')
  t.ok(Object.isFrozen(c.current().services[0]?.endpoints[0]), 'frozen')
  t.ok(c.apply(snap(6)))
  t.equal(changes, 2)
  off()
  c.apply(snap(7))
  t.equal(changes, 2, 'unsubscribed')
})

t.test('gossip death removes endpoints at once; they return on nodeUp or when the manager says ready after down', async (t) => {
  const cases: Array<{ name: string; steps: Array<(c: Catalog) => void>; want: string[] }> = [
    { name: 'down by id', steps: [(c) => c.nodeDown('n2')], want: ['10.77.1.2'] },
    { name: 'down by hostname', steps: [(c) => c.nodeDown('node2')], want: ['10.77.1.2'] },
    { name: 'down then up', steps: [(c) => c.nodeDown('n2'), (c) => c.nodeUp('n2')], want: ['10.77.1.2', '10.77.2.2'] },
    { name: 'a stale snapshot still saying ready does not bring it back', steps: [(c) => c.nodeDown('n2'), (c) => c.apply(snap(2))], want: ['10.77.1.2'] },
    { name: 'manager says down', steps: [(c) => c.apply(snap(2, 'down'))], want: ['10.77.1.2'] },
    {
      name: 'manager caught up (down), later ready again',
      steps: [(c) => c.nodeDown('n2'), (c) => c.apply(snap(2, 'down')), (c) => c.apply(snap(3, 'ready'))],
      want: ['10.77.1.2', '10.77.2.2'],
    },
  ]
  for (const k of cases) {
    const c = new Catalog()
    c.apply(snap(1))
    for (const s of k.steps) s(c)
    t.same(ips(c), k.want, k.name)
  }
  const c = new Catalog()
  c.apply(snap(1))
  const seen: number[] = []
  c.onChange((s) => seen.push(s.services[0]?.endpoints.length ?? -1))
  c.nodeDown('n2')
  c.nodeDown('n2')
  t.same(seen, [1], 'one change event per death')
  t.equal(c.raw().services[0]?.endpoints.length, 2, 'raw keeps the manager view')
})

t.test('persistence: saved on apply, restored after a restart, never older than what is held', async (t) => {
  let saved = null as CatalogSnapshot | null
  const store: CatalogStore = { load: () => saved, save: (s) => { saved = s } }
  const a = new Catalog({ store })
  a.apply(snap(9))
  t.equal(saved?.revision, 9)
  let now = 100
  const b = new Catalog({ store, clock: { now: () => now } })
  t.ok(b.restore())
  t.equal(b.fromCache, true, 'serving the cache')
  t.equal(b.appliedAt, null)
  t.equal(b.current().revision, 9)
  t.same(ips(b), ['10.77.1.2', '10.77.2.2'])
  now = 250
  b.apply(snap(10))
  t.equal(b.fromCache, false, 'the manager answered')
  t.equal(b.appliedAt, 250)
  const c = new Catalog({ store: { load: () => { throw new Error('boom') }, save: () => { throw new Error('disk full') } } })
  t.notOk(c.restore(), 'unreadable cache: start empty')
  t.ok(c.apply(snap(1)), 'a failing save does not refuse the snapshot')
})

t.test('FileCatalogStore writes catalog.json atomically with mode 0600', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-catalog-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = new FileCatalogStore(dir)
  t.equal(store.load(), null, 'no file yet')
  store.save(snap(3))
  t.equal(statSync(join(dir, 'catalog.json')).mode & 0o777, 0o600)
  t.same(store.load(), snap(3))
  const restarted = new Catalog({ store: new FileCatalogStore(dir) })
  t.ok(restarted.restore())
  t.equal(restarted.current().revision, 3)
  t.same(JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')).revision, 3)
  writeFileSync(join(dir, 'catalog.json'), '{"x":1}')
  t.throws(() => store.load(), /not a catalog snapshot/)
})

t.test('a node down keeps the snapshot\'s networks in the view (the overlay builds bridges from them)', async (t) => {
  const c = new Catalog()
  const networks = [{ id: 'x', name: 'app_net', subnet: '10.81.0.0/16', encrypted: true, internal: false, attachable: false, vni: 4100, slices: [{ nodeId: 'n1', subnet: '10.81.0.0/24' }] }]
  c.apply({ ...snap(1), networks })
  c.nodeDown('n2')
  t.same(ips(c), ['10.77.1.2'], 'the dead node\'s endpoints left')
  t.same(c.current().networks, networks)
})
