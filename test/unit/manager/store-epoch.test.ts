/** The store epoch on SqliteStore (manager.db in a temp dir, reopened for a restart): epoch-cases.ts. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EPOCH_META_KEY, Manager, managerDbPath, newEpoch, openSqliteStore, type Store } from '../../../src/manager/index.ts'
import { epochCases } from './epoch-cases.ts'

epochCases(t, {
  durable: async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-epoch-'))
    let s: Store = openSqliteStore(managerDbPath(dir))
    t.teardown(() => {
      s.close()
      rmSync(dir, { recursive: true, force: true })
    })
    return { store: s, reopen: async () => { s.close(); s = openSqliteStore(managerDbPath(dir)); return s } }
  },
})

t.test('the manager rebuilds its catalog when the epoch changes at the same revision (a restore landing on it)', async (t) => {
  const real = openSqliteStore(':memory:')
  t.teardown(() => real.close())
  await real.transact((tx) => newEpoch(tx, 'before'))
  let epoch = 'before'
  // The store as a restore could leave it: the same revision number, another epoch.
  const store = new Proxy(real, {
    get(target, key) {
      if (key === 'revision') return 7
      if (key === 'getMeta') return (k: string) => (k === EPOCH_META_KEY ? epoch : target.getMeta(k))
      const v = Reflect.get(target, key, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  }) as Store
  const manager = new Manager({ store })
  t.equal(manager.catalog().snapshot.epoch, 'before')
  epoch = 'after'
  const cat = manager.catalog()
  t.equal(cat.snapshot.revision, 7)
  t.equal(cat.snapshot.epoch, 'after', 'not the cached build of the old epoch')
})
