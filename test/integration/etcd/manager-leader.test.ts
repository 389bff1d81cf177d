/**
 * Two Managers on one etcd, each with its own store and a real LeaderElection (managerLeadership): only the leader
 * schedules (a service's tasks are created once: no duplicate task, never two managers leading at once), the
 * follower serves writes; when the leader resigns the other takes over and keeps converging. Fake agents report
 * task states through the follower. Every wait is bounded; nothing asserts a duration.
 */
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore, etcdClient, parseEtcdUrl } from '../../../src/manager/etcd-store/index.ts'
import { Manager, managerLeadership, type ManagerLeadership } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { NodeRecord, TaskRecord } from '../../../src/api/types.ts'
import { startEtcd } from '../../support/etcd.ts'
import { startFakeAgents } from '../../support/fake-agents.ts'
import { testCsr } from '../../support/pki.ts'
import { waitFor } from '../../support/procs.ts'
import { FakeMembers } from '../../support/fake-members.ts'

const etcd = await startEtcd(t, { members: 1 })
const PREFIX = '/leader-test/'
const resources = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }

async function openStore(): Promise<EtcdStore> {
  const url = parseEtcdUrl(`etcd://${etcd.endpoints.join(',')}`)
  const s = await new EtcdStore(etcdClient(url, {}, { callTimeoutMs: 2000 }), { prefix: PREFIX, describe: url.endpoints.join(',') }).open()
  t.teardown(() => s.close())
  return s
}

t.test('one leader schedules; on resign the other takes over and keeps converging', async (t) => {
  // The cluster and its nodes, made through a manager that is never started (registering is an API write).
  const setupStore = await openStore()
  const setup = new Manager({ store: setupStore, members: new FakeMembers() }) // managers join with the manager token: the members are faked
  await setup.init()
  const join = async (hostname: string, role: 'manager' | 'worker', addr: string): Promise<NodeRecord> =>
    (await setup.join({ csr: await testCsr(), token: setup.tokens()[role], hostname, addr, resources })).node
  const m1 = await join('m1', 'manager', '10.0.0.1')
  const m2 = await join('m2', 'manager', '10.0.0.2')
  const workers = [await join('w1', 'worker', '10.0.0.3'), await join('w2', 'worker', '10.0.0.4')]

  const managers: { name: string; manager: Manager; store: EtcdStore; lead: ManagerLeadership; client: Etcd3 }[] = []
  for (const node of [m1, m2]) {
    const store = await openStore()
    const client = new Etcd3({ hosts: etcd.endpoints })
    const lead = managerLeadership({ client, nodeId: node.id, ttlSeconds: 3, probeIntervalMs: 500 })
    const manager = new Manager({ store, leadership: lead.leadership, managerProbe: lead.managerProbe, ...(process.env.MESH_TEST_DEBUG ? { log: (l: string, m: string, f?: object) => console.error(node.hostname, l, m, JSON.stringify(f)) } : {}) })
    await manager.init()
    manager.start()
    t.teardown(async () => {
      manager.stop()
      await lead.stop()
      client.close()
    })
    managers.push({ name: node.hostname, manager, store, lead, client })
  }
  await Promise.all(managers.map((m) => m.lead.start()))

  // Never two managers running the leader's duties at the same instant.
  const overlaps: string[][] = []
  const sampler = setInterval(() => {
    const leading = managers.filter((m) => m.manager.leading).map((m) => m.name)
    if (leading.length > 1) overlaps.push(leading)
  }, 20)
  t.teardown(() => clearInterval(sampler))
  // Every task ever stored, as the etcd watch tells it (whoever wrote it).
  const seen = new Map<string, TaskRecord>()
  setupStore.watch(setupStore.revision, (e) => { if (e.kind === 'task' && e.op === 'put') seen.set(e.record.id, e.record) })

  const leaderOf = () => {
    const l = managers.filter((m) => m.manager.leading)
    return l.length === 1 ? l[0] : undefined
  }
  const first = await waitFor(leaderOf, 30_000, { what: 'one leader' })
  const follower = managers.find((m) => m !== first) as (typeof managers)[number]
  t.equal(follower.manager.leaderId(), (first.name === 'm1' ? m1 : m2).id, 'the follower names the leader')

  const stopAgents = startFakeAgents({ manager: follower.manager, store: follower.store, nodes: [m1, m2, ...workers], intervalMs: 100 })
  t.teardown(stopAgents)
  const running = () => follower.store.listTasks({ desiredState: 'running' }).filter((x) => x.status.state === 'running')
  await follower.manager.createService({ ...defaultServiceSpec('web', 'nginx:1'), mode: { replicated: { replicas: 3 } } })
  await waitFor(() => running().length === 3, 30_000, { what: '3 tasks running' }).catch((err) => { if (process.env.MESH_TEST_DEBUG) console.error(JSON.stringify(follower.store.listTasks().map((x) => [x.slot, x.nodeId, x.status.state, x.desiredState]))); throw err })
  t.same(running().map((x) => x.slot).sort(), [1, 2, 3], 'one task per slot')
  t.equal([...seen.values()].filter((x) => x.serviceName === 'web').length, 3, 'each task created once: no duplicate')

  t.test('the leader resigns: the other leads and converges a scale-up', async (t) => {
    await first.lead.stop()
    const next = await waitFor(() => { const l = leaderOf(); return l && l !== first ? l : undefined }, 30_000, { what: 'a new leader' })
    t.equal(next.name, follower.name)
    await first.manager.updateService('web', (s) => ({ ...s, mode: { replicated: { replicas: 5 } } }))
    await waitFor(() => running().length === 5, 30_000, { what: '5 tasks running' })
    t.same(running().map((x) => x.slot).sort(), [1, 2, 3, 4, 5], 'one task per slot')
    t.equal([...seen.values()].filter((x) => x.serviceName === 'web').length, 5, 'still no task created twice')
    t.same(overlaps, [], 'never two managers leading at once')

    t.test('the new leader loses etcd (its client closed, no resign): it steps down, the other leads', async (t) => {
      await first.lead.start() // campaigns again, behind the leader
      next.client.close() // keep-alives fail from now on; its lease expires after the TTL
      const third = await waitFor(() => { const l = leaderOf(); return l === first ? l : undefined }, 30_000, { what: 'the first manager leading again' })
      t.equal(third.name, first.name)
      t.notOk(next.manager.leading, 'the cut-off manager stopped leading')
      await first.manager.updateService('web', (s) => ({ ...s, mode: { replicated: { replicas: 2 } } }))
      await waitFor(() => running().length === 2, 30_000, { what: 'scaled down to 2' })
      t.same(running().map((x) => x.slot).sort(), [1, 2], 'one task per slot')
      t.same(overlaps, [], 'never two managers leading at once')
    })
  })
})
