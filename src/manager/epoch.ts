import { randomBytes } from 'node:crypto'
import { isCatalogEpoch } from '../api/catalog.ts'
import type { StoreReader, StoreTx } from './store.ts'
import { StoreError } from './store-errors.ts'

/**
 * The store epoch: a random id a store's state gets when it is created (`mesh agent --init`: Manager.init) or
 * restored (`mesh manager restore`: newEpoch in the restoring transaction), kept in the store's metadata under
 * `epoch` by either backend. Every catalog carries it (buildCatalog), because a store's revisions only count within
 * one epoch: a restore, a move from SQLite to etcd or `--force-new-cluster` starts them again, and agents ignore a
 * catalog with a lower revision unless its epoch differs (src/catalog/order.ts).
 *
 * Whatever brings a state into a store whose revisions do not continue the old ones (a restore from a backup, a copy
 * of SQLite's state into etcd, `--force-new-cluster`) calls `newEpoch(tx)`: copying the old epoch along would make
 * every agent ignore the new store until its revisions passed the old ones.
 */
export const EPOCH_META_KEY = 'epoch'

/** A fresh epoch id: 128 random bits as 32 hex characters (`random` is injected for tests). */
export function randomEpoch(random: (bytes: number) => Buffer = randomBytes): string {
  return random(16).toString('hex')
}

/**
 * Give the store a new epoch inside `tx` (what a restore calls, in the transaction that brings the restored state
 * in) and return it. `id` defaults to a random one; a transaction may run more than once, and the epoch committed is
 * the one returned. Throws StoreError (rolling the transaction back) when `id` is not a valid epoch (isCatalogEpoch), so agents never receive one they refuse.
 */
export function newEpoch(tx: Pick<StoreTx, 'setMeta'>, id: string = randomEpoch()): string {
  if (!isCatalogEpoch(id)) throw new StoreError(`store epoch ${JSON.stringify(id)} is not 1-64 of A-Za-z0-9_-`)
  tx.setMeta(EPOCH_META_KEY, id)
  return id
}

/** The epoch in `tx`, made (random, or `id`) when the store has none yet: a new store, or one from before epochs. */
export function ensureEpoch(tx: Pick<StoreTx, 'getMeta' | 'setMeta'>, id?: string): string {
  const held = storeEpoch(tx)
  return held ?? newEpoch(tx, id)
}

/** The store's epoch, or undefined when it has none (or holds a value an agent would refuse: then none is sent). */
export function storeEpoch(store: Pick<StoreReader, 'getMeta'>): string | undefined {
  const v = store.getMeta(EPOCH_META_KEY)
  return isCatalogEpoch(v) ? v : undefined
}
