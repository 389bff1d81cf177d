/**
 * The pure parts of a store move (src/manager/backup/move.ts, freeze.ts): the recovery rule at start, the renamed
 * file's name, the snapshot through the backup checks, and a store whose writes stop (503 line), drain and resume.
 */
import t from 'tap'
import { FreezableStore, MOVING_LINE, frozenCopy, moveRecovery, movedDbName, openSqliteStore, takeMoveSnapshot } from '../../../../src/manager/index.ts'
import { StoreError } from '../../../../src/manager/store-errors.ts'
import { contents, populatedManager } from './fixture.ts'

t.test('recovery rule at start', async (t) => {
  const cases = [
    { name: 'no move', files: { pending: false, done: false, db: true }, want: 'none' },
    { name: 'etcd cluster, no move files', files: { pending: false, done: false, db: false }, want: 'none' },
    { name: 'crash before the marker: SQLite stays', files: { pending: true, done: false, db: true }, want: 'rollback' },
    { name: 'marker written, db not yet renamed', files: { pending: true, done: true, db: true }, want: 'finish' },
    { name: 'db renamed, files not yet removed', files: { pending: true, done: true, db: false }, want: 'finish' },
    { name: 'a stray pending file without a db', files: { pending: true, done: false, db: false }, want: 'none' },
  ] as const
  for (const c of cases) t.equal(moveRecovery(c.files), c.want, c.name)
})

t.test('the renamed store\'s name has no colon', async (t) => {
  t.equal(movedDbName(new Date('2026-12-07T16:30:05.123Z')), 'manager.db.moved-2026-12-07T16-30-05-123Z')
})

t.test('a move snapshot is the whole store, checked as a backup file, with the event history', async (t) => {
  const { m, store } = await populatedManager(t)
  const snap = await takeMoveSnapshot(store, { meshVersion: 'test', now: () => new Date(0) })
  t.equal(snap.backup.header.revision, store.revision, 'at the store revision')
  t.equal(snap.backup.meta.cluster_id, m.clusterInfo().clusterId)
  const copy = await frozenCopy(snap)
  t.same(contents(copy), contents(store), 'its in-memory copy holds the same records and metadata')
})

t.test('a frozen store refuses writes with one 503 line, waits for those in flight, and resumes', async (t) => {
  const store = new FreezableStore(openSqliteStore(':memory:'))
  t.teardown(() => store.close())
  let settled = false
  const inFlight = store.transact((tx) => tx.setMeta('a', '1')).then(() => { settled = true })
  store.freeze(MOVING_LINE)
  await t.rejects(store.transact((tx) => tx.setMeta('b', '2')), new StoreError(MOVING_LINE, undefined, 'MESH_ERR_UNAVAILABLE'))
  await store.drained()
  await inFlight
  t.ok(settled, 'drained after the write begun before the freeze')
  t.equal(store.getMeta('b'), undefined, 'the refused write left nothing')
  store.thaw()
  await store.transact((tx) => tx.setMeta('b', '2'))
  t.equal(store.getMeta('b'), '2', 'writes go on after a thaw')
  store.freeze(MOVING_LINE)
  const copy = openSqliteStore(':memory:')
  await copy.transact((tx) => tx.setMeta('c', '3'))
  store.retire(copy)
  t.equal(store.getMeta('c'), '3', 'retired: reads come from the copy')
  await t.rejects(store.transact((tx) => tx.setMeta('d', '4')), { message: MOVING_LINE }, 'still frozen')
})
