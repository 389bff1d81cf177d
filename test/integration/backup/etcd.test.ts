/**
 * Backups across backends on a real etcd 3.4 (test/support/etcd.ts): SQLite → file → etcd (`mesh manager restore
 * --store etcd://…`, as mesh manager restore does it (src/manager/backup/offline.ts)) gives the same lists and metadata, in several bounded batches
 * (more records than one etcd transaction may hold); etcd → file → SQLite gives them back; a prefix holding keys is
 * refused without --force and replaced with it; a hostile file leaves the prefix as it was.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { restoreManager } from '../../../src/manager/index.ts'
import { RESTORE_BATCH_OPS, decodeBackup, restoreSqlite, snapshotStore } from '../../../src/manager/backup/index.ts'
import { openEtcdStore } from '../../../src/manager/etcd-store/index.ts'
import { managerDbPath, openSqliteStore } from '../../../src/manager/index.ts'
import { MESH_VERSION } from '../../../src/api/version.ts'
import { startEtcd } from '../../support/etcd.ts'
import { task } from '../../unit/manager/store-fixtures.ts'
import { contents, populatedManager, tempDir } from '../../unit/manager/backup/fixture.ts'

const etcd = await startEtcd(t, { members: 1 })
const url = `etcd://${etcd.endpoints.join(',')}/restored`
const { store } = await populatedManager(t)
// More records than one etcd transaction holds (--max-txn-ops 128): the restore must batch.
const web = store.getService('web')!
await store.transact((tx) => { for (let i = 0; i < 2 * RESTORE_BATCH_OPS; i++) tx.putTask(task(`extra-${String(i).padStart(3, '0')}`, web.id, '', { serviceName: 'web' })) })
const now = () => new Date()
const file = join(tempDir(t, 'backup-etcd'), 'cluster.backup')
writeFileSync(file, snapshotStore(store, { meshVersion: MESH_VERSION, now }).bytes, { mode: 0o600 })

async function etcdStore(t: { teardown(fn: () => unknown): void }) {
  const client = new Etcd3({ hosts: etcd.clientUrls })
  const s = await openEtcdStore(client, { prefix: '/restored/' })
  t.teardown(() => s.close())
  return s
}

t.test('SQLite → file → etcd: the same state, a new epoch, in batches', async (t) => {
  const dataDir = tempDir(t, 'backup-etcd-dd')
  const r = await restoreManager({ file, dataDir, store: url, force: false, newEpoch: () => 'ab12' })
  t.equal(r.target, url)
  const restored = await etcdStore(t)
  t.same(contents(restored), contents(store))
  t.equal(restored.getMeta('epoch'), 'ab12')
  t.equal(restored.revision, 1)
  t.ok(store.listTasks().length > 2 * RESTORE_BATCH_OPS, 'more records than one batch')

  t.test('etcd → file → SQLite gives it back', async (t) => {
    const again = snapshotStore(restored, { meshVersion: MESH_VERSION, now })
    const db = managerDbPath(tempDir(t, 'backup-etcd-back'))
    await restoreSqlite(db, decodeBackup(again.bytes), { force: false, epoch: 'cd34' })
    const back = openSqliteStore(db)
    t.teardown(() => back.close())
    t.same(contents(back), contents(store))
  })
})

t.test('a prefix holding a store: refused without --force, untouched by a hostile file, replaced with --force', async (t) => {
  const dataDir = tempDir(t, 'backup-etcd-force')
  await t.rejects(restoreManager({ file, dataDir, store: url, force: false }),
    { code: 'MESH_ERR_BACKUP', message: /\/restored\/ holds \d+ keys: restore replaces them only with --force$/ })
  const bad = join(dataDir, 'bad.backup')
  writeFileSync(bad, Buffer.from('not a backup'))
  const client = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => client.close())
  const before = await client.getAll().prefix('/restored/').strings()
  await t.rejects(restoreManager({ file: bad, dataDir, store: url, force: true }), { code: 'MESH_ERR_BACKUP', message: /^.*bad\.backup: not a mesh backup/ })
  t.same(await client.getAll().prefix('/restored/').strings(), before, 'the prefix is untouched')
  await restoreManager({ file, dataDir, store: url, force: true, newEpoch: () => 'ef56' })
  const restored = await etcdStore(t)
  t.same(contents(restored), contents(store))
  t.equal(restored.getMeta('epoch'), 'ef56')
})
