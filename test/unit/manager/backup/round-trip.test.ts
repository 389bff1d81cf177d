/**
 * The backup file through SQLite: a populated manager's store → file → a fresh SQLite store gives the same lists
 * and metadata (a new epoch besides), tasks keep their ids; the file holds no plaintext secret (plain, hex,
 * base64); a damaged, truncated, other-version or hostile file is refused with one line and the target keeps its
 * store; a target holding a store is refused without --force.
 */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { decodeBackup, encodeBackup, restoreSqlite, snapshotStore } from '../../../../src/manager/backup/index.ts'
import { managerDbPath, openSqliteStore } from '../../../../src/manager/index.ts'
import { MESH_VERSION } from '../../../../src/api/version.ts'
import { SECRET_VALUE, contents, populatedManager, tempDir } from './fixture.ts'

const now = () => new Date(Date.UTC(2026, 11, 7, 11, 0, 0))
const { store } = await populatedManager(t)
const { header, bytes } = snapshotStore(store, { meshVersion: MESH_VERSION, now })

t.test('the header names the cluster, revision, records and checksum', async (t) => {
  t.match(header, { format: 'mesh-backup', version: 1, meshVersion: MESH_VERSION, clusterId: store.getMeta('cluster_id'),
    revision: store.revision, createdAt: '2026-12-07T11:00:00.000Z', kek: false, sha256: /^[0-9a-f]{64}$/ })
  t.ok(store.listTasks().length >= 3, 'tasks were scheduled')
  t.equal(header.records, store.listNodes().length + store.listServices().length + store.listTasks().length + 3)
  t.ok(store.listMeta().vault_data_key, 'the wrapped data key is in the metadata')
  t.ok(Object.keys(store.listMeta()).some((k) => k.startsWith('ca')), 'so is the CA material')
})

t.test('SQLite → file → SQLite: same lists and metadata, a new epoch', async (t) => {
  const dir = tempDir(t, 'backup-dst')
  const db = managerDbPath(dir)
  await restoreSqlite(db, decodeBackup(bytes), { force: false, epoch: 'e1e1e1e1' })
  const restored = openSqliteStore(db)
  t.teardown(() => restored.close())
  t.same(contents(restored), contents(store))
  t.equal(restored.getMeta('epoch'), 'e1e1e1e1')
  t.equal(restored.revision, 1, 'the restored store starts a new history')
  t.same(restored.listTasks().map((x) => x.id), store.listTasks().map((x) => x.id), 'tasks keep their ids')
  t.notOk(existsSync(`${db}.restore`), 'no temp file left')
})

t.test('no plaintext secret in the file (plain, hex or base64), packed or unpacked', async (t) => {
  const text = gunzipSync(bytes).toString('utf8')
  for (const form of [SECRET_VALUE, Buffer.from(SECRET_VALUE).toString('hex'), Buffer.from(SECRET_VALUE).toString('base64')]) {
    t.notOk(text.includes(form), `unpacked: not ${form}`)
    t.notOk(bytes.includes(Buffer.from(form)), `packed: not ${form}`)
  }
  t.match(text, /"sealed":"v1\./, 'the secret is in the file, sealed')
})

t.test('a damaged or hostile file is refused with one line; the target keeps its store', async (t) => {
  const body = () => JSON.parse(gunzipSync(bytes).toString('utf8').split('\n')[1] as string)
  const reencode = (edit: (b: Record<string, any>) => void) => {
    const b = body()
    edit(b)
    const { meta, kek: _k, ...records } = b
    return encodeBackup({ meshVersion: MESH_VERSION, revision: 5, createdAt: now().toISOString(), meta, records }).bytes
  }
  const flipped = Buffer.from(bytes)
  flipped[Math.floor(flipped.length / 2)]! ^= 0x10
  const lines = gunzipSync(bytes).toString('utf8').split('\n')
  const otherVersion = (await import('node:zlib')).gzipSync(`${JSON.stringify({ ...JSON.parse(lines[0] as string), version: 2 })}\n${lines[1]}\n`)
  const sameGzipNewBody = (await import('node:zlib')).gzipSync(`${lines[0]}\n${(lines[1] as string).replace('"web"', '"wab"')}\n`)
  const cases = [
    { desc: 'truncated', file: bytes.subarray(0, bytes.length - 40), want: /^f: not a mesh backup, or damaged/ },
    { desc: 'bit-flipped', file: flipped, want: /^f: (not a mesh backup, or damaged|checksum mismatch)/ },
    { desc: 'changed body, old checksum', file: sameGzipNewBody, want: 'f: checksum mismatch: the file is damaged or was changed' },
    { desc: 'another version', file: otherVersion, want: 'f: backup format version 2 is not supported (this mesh reads version 1)' },
    { desc: 'not gzip', file: Buffer.from('hello'), want: /^f: not a mesh backup, or damaged/ },
    { desc: 'a task without a service', file: reencode((b) => { b.task[0].serviceId = '' }), want: /^f: task record: serviceId must be a non-empty string$/ },
    { desc: 'a service without a spec', file: reencode((b) => { delete b.service[0].spec.mode }), want: /^f: service .*: spec must be an object with an image and a mode$/ },
    { desc: 'a record id with a slash', file: reencode((b) => { b.node[0].id = '../x' }), want: "f: node record: id must be a non-empty string without '/'" },
    { desc: 'a duplicate name', file: reencode((b) => { b.service[1].spec.name = b.service[0].spec.name }), want: /^f: two service records are named/ },
    { desc: 'a reserved meta key', file: reencode((b) => { b.meta.revision = '99' }), want: 'f: meta key "revision" is not allowed' },
    { desc: 'a meta key __proto__', file: reencode((b) => { Object.defineProperty(b.meta, '__proto__', { value: 'x', enumerable: true }) }), want: 'f: meta key "__proto__" is not allowed' },
    { desc: 'a meta key with a slash', file: reencode((b) => { b.meta['../x'] = 'x' }), want: 'f: meta key "../x" is not allowed' },
    { desc: 'a meta value that is not a string', file: reencode((b) => { b.meta.x = 1 }), want: 'f: meta "x" must be a string' },
    { desc: 'a list that is not a list', file: reencode((b) => { b.secret = {} }), want: 'f: secret must be a list' },
  ]
  const dir = tempDir(t, 'backup-keep')
  const db = managerDbPath(dir)
  await restoreSqlite(db, decodeBackup(bytes), { force: false, epoch: 'old' })
  const before = readFileSync(db)
  for (const c of cases) {
    let err: Error | undefined
    try {
      await restoreSqlite(db, decodeBackup(c.file, 'f'), { force: true, epoch: 'new' })
    } catch (e) {
      err = e as Error
    }
    t.match(err, { code: 'MESH_ERR_BACKUP', message: c.want }, c.desc)
    t.notOk(err?.message.includes('\n'), `${c.desc}: one line`)
  }
  t.same(readFileSync(db), before, 'the target is untouched')
  t.notOk(existsSync(join(dir, 'manager.db.restore')))
})

t.test('a target holding a store is refused without --force, replaced with it', async (t) => {
  const dir = tempDir(t, 'backup-force')
  const db = managerDbPath(dir)
  const other = openSqliteStore(db)
  await other.transact((tx) => tx.setMeta('cluster_id', 'another-cluster'))
  other.close()
  await t.rejects(restoreSqlite(db, decodeBackup(bytes), { force: false, epoch: 'e' }),
    { code: 'MESH_ERR_BACKUP', message: `${db} holds a store (revision 1): restore replaces it only with --force` })
  const kept = openSqliteStore(db)
  t.equal(kept.getMeta('cluster_id'), 'another-cluster', 'not replaced')
  kept.close()
  await restoreSqlite(db, decodeBackup(bytes), { force: true, epoch: 'e' })
  const restored = openSqliteStore(db)
  t.teardown(() => restored.close())
  t.same(contents(restored), contents(store), 'replaced with --force')
})
