/**
 * src/manager/backup — `mesh manager backup` / `restore` (issue 15 item 5): a logical backup of the whole store,
 * the same for SQLite and etcd and across them.
 *
 * format.ts (the file: gzip'd header + body, checksum, hostile-input checks), snapshot.ts (a store → a file at one
 * revision), restore.ts (a checked file → a fresh SQLite or etcd store, with a new epoch), errors.ts.
 */
export { BACKUP_FORMAT, BACKUP_VERSION, decodeBackup, encodeBackup, type Backup, type BackupHeader } from './format.ts'
export { snapshotStore } from './snapshot.ts'
export { RESTORE_BATCH_BYTES, RESTORE_BATCH_OPS, restoreEtcd, restoreSqlite } from './restore.ts'
export { BackupError } from './errors.ts'
export { restoreManager, type RestoreRequest, type RestoreResult } from './offline.ts'
