/**
 * Writes a checked backup (format.ts) into a fresh store, offline (offline.ts, run by `mesh manager restore`, makes sure no
 * agent runs on the target). Both backends end at store revision 1 with the backup's records and metadata and a
 * new epoch (epoch.ts newEpoch: agents holding a catalog of the old history follow the restored one).
 *
 * SQLite: the whole store in one transaction, into `manager.db.restore` beside the target, renamed over
 * `manager.db` once complete: a failure leaves the target as it was.
 * etcd: one etcd transaction cannot hold a store (etcd 3.4 refuses more than --max-txn-ops, default 128, operations
 * and requests over --max-request-bytes, default 1.5 MiB), so records go in bounded batches (RESTORE_BATCH_OPS
 * operations, RESTORE_BATCH_BYTES of values), each guarded by the store's rev key being absent; the metadata and
 * the rev key go last. Until that last batch lands the prefix holds no cluster id (an agent refuses it) and no rev
 * key (a second restore needs --force).
 */
import type { Etcd3, IRequestOp } from 'etcd3'
import { existsSync, renameSync, rmSync } from 'node:fs'
import { OBJECT_KINDS, type Store, type StoreTx } from '../store.ts'
import { openSqliteStore } from '../sqlite-store.ts'
import { KeyLayout, RECORD_KINDS, encodeRev } from '../etcd-store/keys.ts'
import type { ClusterState } from '../../api/types.ts'
import { isCatalogEpoch } from '../../api/catalog.ts'
import { EPOCH_META_KEY, newEpoch } from '../epoch.ts'
import { BackupError } from './errors.ts'
import type { Backup } from './format.ts'

export const RESTORE_BATCH_OPS = 100
export const RESTORE_BATCH_BYTES = 1024 * 1024

export interface RestoreOptions {
  /** Replace a target that holds a store. */
  force: boolean
  /** The new store epoch (epoch.ts randomEpoch). */
  epoch: string
}

/** Whether a store holds anything (a revision above 0). */
export function storeIsEmpty(store: Store): boolean {
  return store.revision === 0
}

/** Restores into the SQLite file at `dbPath`; refuses a non-empty one without `force`. */
export async function restoreSqlite(dbPath: string, backup: Backup, o: RestoreOptions): Promise<void> {
  if (existsSync(dbPath) && !o.force) {
    const current = openSqliteStore(dbPath)
    try {
      if (!storeIsEmpty(current)) throw nonEmpty(dbPath, current.revision)
    } finally {
      current.close()
    }
  }
  const tmp = `${dbPath}.restore`
  removeDb(tmp)
  const store = openSqliteStore(tmp)
  try {
    await store.transact((tx) => writeAll(tx, backup, o.epoch))
  } catch (err) {
    store.close()
    removeDb(tmp)
    throw err
  }
  store.close()
  rmSync(`${dbPath}-wal`, { force: true })
  rmSync(`${dbPath}-shm`, { force: true })
  renameSync(tmp, dbPath)
}

/** Every record and metadata key of `b` into `tx`, with the new `epoch`. */
export function writeAll(tx: StoreTx, b: Backup, epoch: string): void {
  for (const n of b.records.node) tx.putNode(n as ClusterState['nodes'][number])
  for (const s of b.records.service) tx.putService(s as ClusterState['services'][number])
  for (const t of b.records.task) tx.putTask(t as ClusterState['tasks'][number])
  for (const kind of OBJECT_KINDS) for (const r of b.records[kind]) tx.putObject(kind, r as never)
  for (const [k, v] of Object.entries(b.meta)) tx.setMeta(k, v)
  newEpoch(tx, epoch)
}

function removeDb(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) rmSync(p, { force: true })
}

function nonEmpty(where: string, revision: number): BackupError {
  return new BackupError(`${where} holds a store (revision ${revision}): restore replaces it only with --force`)
}

/** Restores under `prefix` of an etcd cluster; refuses a prefix that holds keys without `force` (then deletes them). */
export async function restoreEtcd(client: Etcd3, prefix: string, backup: Backup, o: RestoreOptions & { describe: string }): Promise<{ batches: number }> {
  const keys = new KeyLayout(prefix)
  if (!isCatalogEpoch(o.epoch)) throw new BackupError(`store epoch ${JSON.stringify(o.epoch)} is not 1-64 of A-Za-z0-9_-`)
  const held = await client.getAll().prefix(prefix).count()
  if (held > 0) {
    if (!o.force) throw new BackupError(`${o.describe}${prefix} holds ${held} keys: restore replaces them only with --force`)
    await client.delete().prefix(prefix).exec()
  }
  const puts: [string, string][] = []
  for (const kind of RECORD_KINDS) for (const r of backup.records[kind]) puts.push([keys.record(kind, r.id), JSON.stringify(r)])
  const last: [string, string][] = Object.entries({ ...backup.meta, [EPOCH_META_KEY]: o.epoch }).map(([k, v]) => [keys.meta(k), v])
  last.push([keys.rev, encodeRev(1, `restore-${o.epoch}`)])
  const batches = batch(puts, RESTORE_BATCH_OPS, RESTORE_BATCH_BYTES)
  batches.push(last)
  for (const b of batches) {
    const res = await client.kv.txn({
      compare: [{ key: Buffer.from(keys.rev), result: 'Equal', target: 'Create', create_revision: '0' }],
      success: b.map(([k, v]): IRequestOp => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } })),
      failure: [],
    })
    if (!res.succeeded) throw new BackupError(`${o.describe}${prefix}: another writer created the store during the restore`)
  }
  return { batches: batches.length }
}

/** Splits puts into runs of at most `ops` entries and `bytes` of keys and values (one larger entry goes alone). */
export function batch(puts: readonly [string, string][], ops: number, bytes: number): [string, string][][] {
  const out: [string, string][][] = []
  let cur: [string, string][] = []
  let size = 0
  for (const p of puts) {
    const n = Buffer.byteLength(p[0]) + Buffer.byteLength(p[1])
    if (cur.length > 0 && (cur.length >= ops || size + n > bytes)) {
      out.push(cur)
      cur = []
      size = 0
    }
    cur.push(p)
    size += n
  }
  if (cur.length > 0) out.push(cur)
  return out
}
