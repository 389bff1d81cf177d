/** The store epoch on SqliteStore (manager.db in a temp dir, reopened for a restart): epoch-cases.ts. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { managerDbPath, openSqliteStore, type Store } from '../../../src/manager/index.ts'
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
