/**
 * The store epoch on the manager's side, for any backend (src/manager/epoch.ts): `Manager.init` makes one with a new
 * store and keeps it across restarts, every catalog carries it, `newEpoch(tx)` (what a restore calls) replaces it
 * and the catalog follows, a store from before epochs gets one at its next start. Run by store-epoch.test.ts
 * (SQLite) and test/integration/etcd-store/epoch.test.ts (etcd).
 */
import type { Test } from 'tap'
import { EPOCH_META_KEY, Manager, newEpoch, storeEpoch, type Store } from '../../../src/manager/index.ts'
import { isCatalogEpoch } from '../../../src/api/catalog.ts'

export interface EpochBackend {
  /** A fresh, empty store and a way to close it and open the same state again (a manager restart). */
  durable(t: Test): Promise<{ store: Store; reopen(): Promise<Store> }>
}

export function epochCases(t: Test, backend: EpochBackend): void {
  t.test('init makes the epoch, the catalog carries it, a restart keeps it', async (t) => {
    const b = await backend.durable(t)
    t.equal(storeEpoch(b.store), undefined, 'a new store has none before init')
    const manager = new Manager({ store: b.store })
    await manager.init()
    const epoch = storeEpoch(b.store)
    t.ok(isCatalogEpoch(epoch), `an epoch an agent accepts: ${epoch}`)
    t.equal(epoch?.length, 32)
    const cat = manager.catalog()
    t.equal(cat.snapshot.epoch, epoch, 'the catalog carries it')
    t.equal(JSON.parse(cat.line).catalog.epoch, epoch, 'and so does the line on the watch stream')
    t.match(cat.content, epoch as string, 'its content (what a stream compares) includes it')

    const again = await b.reopen()
    t.equal(again.getMeta(EPOCH_META_KEY), epoch, 'the reopened store holds it')
    const restarted = new Manager({ store: again })
    await restarted.init()
    t.equal(storeEpoch(again), epoch, 'a restart does not make a new one')
    t.equal(restarted.catalog().snapshot.epoch, epoch)
  })

  t.test('newEpoch (a restore) replaces it and the catalog follows; it survives a restart', async (t) => {
    const b = await backend.durable(t)
    const manager = new Manager({ store: b.store })
    await manager.init()
    const before = manager.catalog()
    const fresh = await b.store.transact((tx) => newEpoch(tx))
    t.not(fresh, before.snapshot.epoch, 'a different epoch')
    t.ok(isCatalogEpoch(fresh))
    const after = manager.catalog()
    t.equal(after.snapshot.epoch, fresh, 'the catalog carries the new epoch')
    t.not(after.content, before.content, 'so every watch stream sends it again')
    const again = await b.reopen()
    t.equal(storeEpoch(again), fresh, 'kept across a restart')
    const restarted = new Manager({ store: again })
    await restarted.init()
    t.equal(restarted.catalog().snapshot.epoch, fresh, 'init keeps the restored epoch')
  })

  t.test('newEpoch refuses a value an agent would refuse, and nothing is written', async (t) => {
    const b = await backend.durable(t)
    await new Manager({ store: b.store }).init()
    const epoch = storeEpoch(b.store)
    const rev = b.store.revision
    for (const bad of ['', 'a b', 'x'.repeat(65), '../e', 'é']) {
      await t.rejects(b.store.transact((tx) => newEpoch(tx, bad)), { code: 'MESH_ERR_STORE', message: /store epoch .* is not 1-64 of A-Za-z0-9_-/ })
    }
    t.equal(storeEpoch(b.store), epoch)
    t.equal(b.store.revision, rev)
    const chosen = await b.store.transact((tx) => newEpoch(tx, 'Restore_2026-12-07'))
    t.equal(storeEpoch(b.store), chosen)
  })

  t.test('a store from before epochs gets one at its next start; its catalogs had none', async (t) => {
    const b = await backend.durable(t)
    await b.store.transact((tx) => tx.setMeta('cluster_id', 'c0ffee'))
    const old = new Manager({ store: b.store })
    t.notOk('epoch' in old.catalog().snapshot, 'no epoch in the catalog (what an older manager sent)')
    await old.init()
    const epoch = storeEpoch(b.store)
    t.ok(isCatalogEpoch(epoch))
    t.equal(b.store.getMeta('cluster_id'), 'c0ffee', 'the cluster stays')
    t.equal(old.catalog().snapshot.epoch, epoch)
  })
}
