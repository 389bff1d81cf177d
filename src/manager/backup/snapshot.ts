import { OBJECT_KINDS, type Store } from '../store.ts'
import type { KekContent } from '../vault/key-file.ts'
import { encodeBackup, type BackupHeader, type BackupRecords } from './format.ts'

/**
 * The whole store as a backup file, read at one revision: every read here is synchronous on the store's committed
 * view, so no commit can land between them (the revision is read before and checked after, to make that a rule
 * and not an assumption).
 */
export function snapshotStore(store: Store, o: { meshVersion: string; now: () => Date; kek?: KekContent }): { header: BackupHeader; bytes: Buffer } {
  const revision = store.revision
  const state = store.getState()
  const records = { node: state.nodes, service: state.services, task: state.tasks } as unknown as BackupRecords
  for (const kind of OBJECT_KINDS) records[kind] = store.listObjects(kind)
  const meta = store.listMeta()
  if (store.revision !== revision) throw new Error(`the store moved from revision ${revision} to ${store.revision} during a snapshot`)
  return encodeBackup({ meshVersion: o.meshVersion, revision, createdAt: o.now().toISOString(), meta, records, ...(o.kek ? { kek: o.kek } : {}) })
}
