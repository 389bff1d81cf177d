/**
 * A manager on an external 3-member etcd with client TLS (`--store etcd://… --store-ca/--store-cert/--store-key`,
 * opened as agent/ opens it): `mesh service create` and `mesh service ls` through its API on manager.sock; a second
 * manager's store on the same etcd sees the service; with 2 of 3 members down a write is refused with the quorum
 * line and ls still answers; an etcd holding no cluster is refused without --init.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openManagerStore } from '../../../agent/manager-store.ts'
import { createLogger } from '../../../agent/log.ts'
import { Manager } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { jsonRequest } from '../../../src/api/index.ts'
import { Etcd3 } from 'etcd3'
import { readFileSync } from 'node:fs'
import { defaultConfig, type Config } from '../../../src/config/index.ts'
import { runMesh, serveManagerSocket } from '../../support/cli.ts'
import { startEtcd } from '../../support/etcd.ts'
import { startFakeAgents } from '../../support/fake-agents.ts'
import { testCsr } from '../../support/pki.ts'
import { waitFor } from '../../support/procs.ts'

const etcd = await startEtcd(t, { members: 3, tls: true })
const dir = mkdtempSync(join(tmpdir(), 'mesh-etcd-manager-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const log = createLogger('silent')

const config = (o: Partial<Config['cluster']> = {}): Config => {
  const c = defaultConfig('local')
  const tls = etcd.tls!
  return {
    ...c, dataDir: dir,
    cluster: { ...c.cluster, store: `etcd://${etcd.endpoints.join(',')}`, storeCa: tls.ca, storeCert: tls.clientCert, storeKey: tls.clientKey, ...o },
  }
}

const mesh = runMesh

t.test('a manager on an external etcd serves service create and service ls', async (t) => {
  const store = await openManagerStore(config({ init: true }), log)
  t.teardown(() => store.close())
  const manager = new Manager({ store })
  await manager.init()
  await serveManagerSocket(t, manager, { dir })
  const created = await mesh('service', 'create', '--detach', '--name', 'web', '--replicas', '0', 'nginx:1')
  t.equal(created.code, 0, created.err)
  const ls = await mesh('service', 'ls', '--format', '{{.Name}} {{.Replicas}}')
  t.equal(ls.code, 0, ls.err)
  t.equal(ls.out.trim(), 'web 0/0')
  const dup = await mesh('service', 'create', '--detach', '--name', 'web', 'nginx:1')
  t.equal(dup.code, 1)
  t.match(dup.err, /^mesh: .*web.* already exists/, 'a taken name is one line')

  t.test('a secret is in etcd sealed, as in manager.db: no plaintext, no base64 of it', async (t) => {
    const VALUE = 'etcd-s3cr3t-hunter2-value'
    const r = await jsonRequest({ socketPath: join(dir, 'manager.sock') }, {
      method: 'POST', path: '/v1/secrets', timeoutMs: 10_000, body: { name: 'db_password', data: Buffer.from(VALUE).toString('base64') },
    })
    t.equal(r.status, 201)
    const tls = etcd.tls!
    const raw = new Etcd3({ hosts: etcd.clientUrls, credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.clientCert), privateKey: readFileSync(tls.clientKey) } })
    t.teardown(() => raw.close())
    const all = await raw.getAll().prefix('/mesh/').strings()
    const text = Object.entries(all).map(([k, v]) => `${k}=${v}`).join('\n')
    t.ok(Object.keys(all).some((k) => k.startsWith('/mesh/secret/')), 'the secret is there')
    for (const form of [VALUE, Buffer.from(VALUE).toString('base64'), Buffer.from(VALUE).toString('hex')]) {
      t.notOk(text.includes(form), `etcd holds no ${form === VALUE ? 'plaintext' : 'encoding'} of the value`)
    }
    t.match(store.getObject('secret', 'db_password')?.sealed, /^v1\./, 'sealed, as SQLite holds it')
  })

  t.test('another manager on the same etcd reads the same cluster', async (t) => {
    const other = await openManagerStore(config(), log)
    t.teardown(() => other.close())
    t.equal(other.getService('web')?.spec.image, store.getService('web')?.spec.image)
    t.equal(other.getMeta('cluster_id'), store.getMeta('cluster_id'))
    t.equal(other.revision, store.revision)
  })

  t.test('with 2 of 3 etcd members down: writes refused with the quorum line, reads answered', async (t) => {
    await etcd.kill(1)
    await etcd.kill(2)
    const refused = await mesh('service', 'create', '--detach', '--name', 'api', '--replicas', '0', 'nginx:1')
    t.equal(refused.code, 1)
    t.match(refused.err, /^mesh: no quorum: the etcd cluster \(127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\) did not commit the write within 10 s \(nothing was written\): .+\n$/)
    const ls = await mesh('service', 'ls', '--format', '{{.Name}}')
    t.equal(ls.out.trim(), 'web', 'ls answers from the manager\'s view')
    await etcd.restart(1)
    await etcd.restart(2)
    const again = await mesh('service', 'create', '--detach', '--name', 'api', '--replicas', '0', 'nginx:1')
    t.equal(again.code, 0, again.err)
  })
})

t.test('a started manager on etcd schedules, runs and scales a service on its nodes', async (t) => {
  const store = await openManagerStore(config({ init: true, store: `etcd://${etcd.endpoints.join(',')}/reconcile` }), log)
  const manager = new Manager({ store })
  let stopAgents = () => {}
  t.teardown(() => { // the agents first, then the manager, then its store
    stopAgents()
    manager.stop()
    store.close()
  })
  await manager.init()
  manager.start()
  const res = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }
  const nodes = [
    (await manager.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources: res }, { csr: await testCsr() })).node,
    (await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: 'worker1', addr: '10.0.0.2', resources: res })).node,
  ]
  stopAgents = startFakeAgents({ manager, store, nodes, intervalMs: 100 })
  const running = () => store.listTasks({ desiredState: 'running' }).filter((x) => x.status.state === 'running')
  await manager.createService({ ...defaultServiceSpec('web', 'nginx:1'), mode: { replicated: { replicas: 3 } } })
  await waitFor(() => running().length === 3, 30_000, { what: '3 tasks running' })
  t.same(new Set(running().map((x) => x.slot)), new Set([1, 2, 3]), 'one task per slot')
  t.ok(running().every((x) => nodes.some((nd) => nd.id === x.nodeId)), 'each on a node of the cluster')
  await manager.updateService('web', (spec) => ({ ...spec, mode: { replicated: { replicas: 1 } } }))
  await waitFor(() => running().length === 1 && store.listTasks({ desiredState: 'running' }).length === 1, 30_000, { what: 'scaled to 1' })
  t.pass('scaled down to one task')
})

t.test('without --init, an etcd that holds no cluster is refused with one line', async (t) => {
  await t.rejects(openManagerStore(config({ store: `etcd://${etcd.endpoints.join(',')}/empty` }), log), {
    code: 'MESH_ERR_CONFIG',
    message: `--store etcd://${etcd.endpoints.join(',')}/empty: holds no mesh cluster yet; start the first manager with --init`,
  })
})
