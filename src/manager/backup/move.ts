/**
 * Moving a single manager's SQLite store into a managed etcd (issue 15 item 2: `mesh node promote`, or a
 * manager-token join, on a cluster that runs on SQLite). The agent runs the steps (agent/store-move.ts); the rules
 * and the data path are here, on the backup code path: a snapshot at one revision (snapshot.ts) read back through
 * the backup file's checks (format.ts), loaded into etcd in bounded batches with a new epoch (restore.ts), then the
 * event history, also in bounded batches.
 *
 * Crash safety rests on two files in the data dir, written through a rename:
 * - `store-move.pending`, written before the etcd member starts: a move is under way, `<data-dir>/etcd` may be half
 *   filled. Found at the next start without the marker: the etcd dirs are wiped, SQLite (untouched) is the store.
 * - `store-move.done`, the marker, written last, once etcd holds every record, the metadata and the events: found
 *   at the next start, the move is finished (manager.db renamed if it is still there) and the manager runs on etcd.
 * After the rename of manager.db to `manager.db.moved-<time>` both files are removed.
 */
import type { Etcd3, IRequestOp } from 'etcd3'
import type { ClusterEvent } from '../../api/index.ts'
import { EVENTS_PER_REVISION, encodeEvent, isEventHistory } from '../event-history.ts'
import { eventKey } from '../etcd-store/events.ts'
import type { Store } from '../store.ts'
import { decodeBackup, type Backup } from './format.ts'
import { RESTORE_BATCH_BYTES, RESTORE_BATCH_OPS, batch, restoreEtcd, writeAll } from './restore.ts'
import { openSqliteStore } from '../sqlite-store.ts'
import { snapshotStore } from './snapshot.ts'

export const MOVE_PENDING_FILE = 'store-move.pending'
export const MOVE_DONE_FILE = 'store-move.done'
/** The key prefix of the store on a managed etcd (EtcdStore's default). */
export const MOVE_ETCD_PREFIX = '/mesh/'

/** The steps of a move, in order; a test's kill point names the one just done. */
export const MOVE_STEPS = ['snapshot', 'pending', 'etcd-started', 'loaded', 'marker', 'renamed'] as const
export type MoveStep = (typeof MOVE_STEPS)[number]

/** What a start finds in the data dir: the move's files and whether manager.db is still there. */
export interface MoveFiles {
  pending: boolean
  done: boolean
  db: boolean
}

/**
 * What to do at start (pure): `finish` (etcd is complete: rename manager.db if it is there, drop both files),
 * `rollback` (a move that did not complete: wipe the etcd dirs, drop the pending file, SQLite is the store),
 * `none` (no move seen).
 */
export function moveRecovery(f: MoveFiles): 'none' | 'finish' | 'rollback' {
  if (f.done) return 'finish'
  if (f.pending) return f.db ? 'rollback' : 'none' // no manager.db: nothing to roll back to; a stray file, dropped
  return 'none'
}

/** `manager.db.moved-<UTC time>`, safe in a file name (no colons). */
export function movedDbName(now: Date): string {
  return `manager.db.moved-${now.toISOString().replace(/[:.]/g, '-')}`
}

/** What a move carries: the whole store (checked as a backup file is) and the event history. */
export interface MoveSnapshot {
  backup: Backup
  events: ClusterEvent[]
  /** Size of the snapshot as a backup file (gzip), bytes: for the log. */
  bytes: number
}

/** The store's state at one revision, through the backup file's encode and checks, and its event history. */
export async function takeMoveSnapshot(store: Store, o: { meshVersion: string; now: () => Date }): Promise<MoveSnapshot> {
  const events = isEventHistory(store) ? await store.listEvents() : []
  const file = snapshotStore(store, o)
  return { backup: decodeBackup(file.bytes, 'store snapshot'), events, bytes: file.bytes.length }
}

/**
 * Loads a snapshot into an empty etcd under MOVE_ETCD_PREFIX: records and metadata (restoreEtcd, bounded batches,
 * a new `epoch` so agents follow), then the events in bounded batches. Refuses a prefix that holds keys. The store
 * starts again at revision 1 and etcd numbers events by revision (event-history.ts), from revision 2 on: moved
 * events keep their ids when these are below every id to come (2 × 65,536), else are numbered 1, 2, 3 … again in
 * their order (the newest 2 × 65,536 − 1 kept).
 */
export async function loadIntoEtcd(client: Etcd3, s: MoveSnapshot, o: { epoch: string; describe: string }): Promise<{ batches: number }> {
  const r = await restoreEtcd(client, MOVE_ETCD_PREFIX, s.backup, { force: false, epoch: o.epoch, describe: o.describe })
  const below = 2 * EVENTS_PER_REVISION
  const moved = (s.events.at(-1)?.id ?? 0) < below ? s.events : s.events.slice(-(below - 1)).map((e, i) => ({ ...e, id: i + 1 }))
  const puts: [string, string][] = moved.map((e) => [eventKey(MOVE_ETCD_PREFIX, e.id), encodeEvent(e)])
  const batches = batch(puts, RESTORE_BATCH_OPS, RESTORE_BATCH_BYTES)
  for (const b of batches) {
    await client.kv.txn({ compare: [], success: b.map(([k, v]): IRequestOp => ({ request_put: { key: Buffer.from(k), value: Buffer.from(v) } })), failure: [] })
  }
  return { batches: r.batches + batches.length }
}

/** The snapshot as an in-memory store, for reads only (FreezableStore.retire): what the moved-away manager answers. */
export async function frozenCopy(s: MoveSnapshot): Promise<Store> {
  const copy = openSqliteStore(':memory:')
  await copy.transact((tx) => writeAll(tx, s.backup, s.backup.meta.epoch ?? 'moved'))
  return copy
}
