/**
 * Registry credentials at rest: sealed by the vault for the service before the spec is stored, so neither the
 * service, the tasks' copies nor the store's change history (manager.db and its WAL on disk) hold the password in
 * any form; a node's watch stream gets them in plain for the tasks it runs; the same credentials sent again change
 * nothing; a sealed form moved to another service does not open.
 */
import t from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KekFile, Manager, SecretVault, managerDbPath, openSqliteStore, vaultDir } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { isSealedRegistryAuth, type NodeRecord } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const PASSWORD = 'reg-pa55word-7f3a'
const auth = { username: 'ci', password: PASSWORD, serveraddress: 'reg.example' }

const dataDir = mkdtempSync(join(tmpdir(), 'mesh-regauth-'))
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
const store = openSqliteStore(managerDbPath(dataDir))
t.teardown(() => store.close())
const vault = new SecretVault({ store, keys: new KekFile(vaultDir(dataDir)) })
const m = new Manager({ store, clock: new FakeClock(), vault })
await m.init()
await vault.load()
const node: NodeRecord = {
  id: 'n1', hostname: 'node1', addr: '10.0.0.1', role: 'worker', state: 'ready', availability: 'active', labels: {},
  resources: { nanoCpus: 4e9, memoryBytes: 8e9 }, createdAt: 0, updatedAt: 0, stateChangedAt: 0,
} as NodeRecord
await store.transact((tx) => tx.putNode(node))

t.test('stored sealed, handed to the node in plain', async (t) => {
  const s = await m.createService({ ...defaultServiceSpec('web', 'reg.example/web:1'), registryAuth: auth })
  t.ok(isSealedRegistryAuth(s.spec.registryAuth), 'the stored spec holds the sealed form')
  t.equal((s.spec.registryAuth as { serveraddress: string }).serveraddress, 'reg.example')
  await m.reconcileNow()
  const tasks = m.listTasks({ serviceId: s.id })
  t.equal(tasks.length, 1)
  t.ok(isSealedRegistryAuth(tasks[0]!.spec.registryAuth), 'the task\'s copy too')
  await store.transact((tx) => tx.putTask({ ...tasks[0]!, status: { state: 'assigned', message: '', timestamp: 1 } }))
  const sent = m.assignments(tasks[0]!.nodeId)
  t.same(sent.map((x) => x.spec.registryAuth), [auth], 'the watch stream opens them for the node that runs the task')
  t.same(m.registryAuthOf(s.id, s.spec.registryAuth), auth)
  t.throws(() => m.registryAuthOf('another-service', s.spec.registryAuth), { code: 'MESH_ERR_VAULT' }, 'bound to its service')
})

t.test('the same credentials again change nothing; new ones are sealed again', async (t) => {
  const before = m.getService('web')!
  const same = await m.updateService('web', (spec) => ({ ...spec, registryAuth: { ...auth } }))
  t.equal(same.version, before.version, 'no new version, no task restart')
  const changed = await m.updateService('web', (spec) => ({ ...spec, registryAuth: { ...auth, password: `${PASSWORD}-2` } }))
  t.equal(changed.version, before.version + 1)
  t.ok(isSealedRegistryAuth(changed.spec.registryAuth) && isSealedRegistryAuth(changed.previousSpec?.registryAuth))
  t.same(m.registryAuthOf(changed.id, changed.spec.registryAuth), { ...auth, password: `${PASSWORD}-2` })
  const kept = await m.updateService('web', (spec) => ({ ...spec, env: ['A=1'] }))
  t.same(kept.spec.registryAuth, changed.spec.registryAuth, 'an update without credentials keeps the stored ones')
})

t.test('the password is in no form in manager.db, its WAL or the data dir', async (t) => {
  const forms = [PASSWORD, Buffer.from(PASSWORD).toString('hex'), Buffer.from(PASSWORD).toString('base64'), Buffer.from(`ci:${PASSWORD}`).toString('base64')]
  const files = readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
  t.ok(files.some((f) => f.endsWith('manager.db-wal')) || files.some((f) => f.endsWith('manager.db')))
  for (const f of files) {
    const bytes = readFileSync(f)
    t.same(forms.filter((x) => bytes.includes(x)), [], f.slice(dataDir.length))
  }
})
