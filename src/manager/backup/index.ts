/**
 * src/manager/backup — `mesh manager backup` / `restore` (issue 15 item 5): a logical backup of the whole store,
 * the same for SQLite and etcd and across them.
 *
 * format.ts (the file: gzip'd header + body, checksum, hostile-input checks), snapshot.ts (a store → a file at one
 * revision), restore.ts (a checked file → a fresh SQLite or etcd store, with a new epoch), errors.ts; freeze.ts and
 * move.ts: a single manager's SQLite store moved into a managed etcd on the first promote (agent/store-move.ts).
 */
export { BACKUP_FORMAT, BACKUP_VERSION, decodeBackup, encodeBackup, type Backup, type BackupHeader } from './format.ts'
export { snapshotStore } from './snapshot.ts'
export { RESTORE_BATCH_BYTES, RESTORE_BATCH_OPS, restoreEtcd, restoreSqlite } from './restore.ts'
export { BackupError } from './errors.ts'
export { restoreManager, type RestoreRequest, type RestoreResult } from './offline.ts'
export { FreezableStore } from './freeze.ts'
export {
  MOVE_DONE_FILE, MOVE_ETCD_PREFIX, MOVE_PENDING_FILE, MOVE_STEPS, frozenCopy, loadIntoEtcd, moveRecovery, movedDbName, takeMoveSnapshot, type MoveFiles, type MoveSnapshot,
  type MoveStep,
} from './move.ts'
