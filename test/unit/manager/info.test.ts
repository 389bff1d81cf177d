/**
 * GET /v1/info's answer (clusterInfoView): what `mesh info` and `mesh version` show, from a real manager core on
 * an in-memory store: managers, nodes and tasks by state, ranges, published ports, CA expiry, gossip, versions, self.
 */
import t from 'tap'
import { Manager } from '../../../src/manager/manager.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { clusterInfoView } from '../../../src/manager/http/info.ts'
import { API_VERSION, MESH_VERSION } from '../../../src/api/version.ts'
import { testCsr } from '../../support/pki.ts'

t.test('the cluster in one answer', async (t) => {
  const store = openSqliteStore(':memory:')
  const m = new Manager({ store, vipRange: '10.99.0.0/16', overlayRange: '10.88.0.0/16' })
  await m.init()
  t.teardown(() => store.close?.())
  const before = clusterInfoView(m)
  t.equal(before.self, null, 'no own node before registerSelf')
  const res = { nanoCpus: 4e9, memoryBytes: 2 ** 33 }
  const self = (await m.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources: res }, { csr: await testCsr() })).node
  await m.join({ csr: await testCsr(), token: m.tokens().worker, hostname: 'worker1', addr: '10.0.0.2', resources: res })
  await m.createService({ ...defaultServiceSpec('web', 'nginx:1'), ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }] })
  await m.createService({ ...defaultServiceSpec('dns', 'coredns:1'), ports: [{ published: 53, target: 53, protocol: 'udp', mode: 'ingress' }] })
  const i = clusterInfoView(m)
  t.equal(i.clusterId, m.clusterInfo().clusterId)
  t.equal(i.digest, m.clusterInfo().digest)
  t.equal(i.nodes, 2)
  t.equal(i.services, 2)
  t.same(i.managers, [{ id: self.id, hostname: 'manager1', addr: '10.0.0.1', state: self.state }])
  t.equal(Object.values(i.nodesByState).reduce((a, b) => a + b, 0), 2, 'every node counted by state')
  t.equal(i.overlayRange, '10.88.0.0/16')
  t.equal(i.vipRange, '10.99.0.0/16')
  t.same(i.publishedPorts, [
    { service: 'dns', published: 53, target: 53, protocol: 'udp', mode: 'ingress' },
    { service: 'web', published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' },
  ], 'by published port')
  t.ok(Date.parse(i.caExpiresAt) > Date.now() + 365 * 86400_000, `the root CA expires in years (${i.caExpiresAt})`)
  t.equal(i.caRotating, false)
  t.equal(i.gossipEncrypted, m.gossipKeys.view().encrypted)
  t.same(i.self, { id: self.id, hostname: 'manager1' }, 'docker\'s self: the manager\'s own node')
  t.equal(i.version, MESH_VERSION)
  t.equal(i.apiVersion, API_VERSION)
  t.equal(i.tasks, m.listTasks().filter((x) => x.desiredState !== 'remove').length)
  t.equal(Object.values(i.tasksByState).reduce((a, b) => a + b, 0), i.tasks)
})
