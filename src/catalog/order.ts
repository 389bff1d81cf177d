import type { CatalogSnapshot } from '../api/catalog.ts'

/**
 * Which of two manager snapshots an agent keeps (pure). Revisions count within one store epoch only (a restore, a
 * move from SQLite to etcd or `--force-new-cluster` starts them again under a new epoch), so:
 *
 * - `next` carries an epoch other than `held`'s (held's may be absent: a cache from before epochs): `next` is taken
 *   whatever its revision: `'epoch'`, the store behind the manager was replaced;
 * - otherwise (same epoch, or `next` has none: an older manager) revisions decide as they always did: a lower one is
 *   `'stale'` and ignored; an equal or higher one is `'newer'` (the caller still skips an identical snapshot).
 *
 * The empty catalog an agent starts with (revision 0, no epoch) is taken over by anything.
 */
export type Succession = 'newer' | 'epoch' | 'stale'

export function succession(next: Pick<CatalogSnapshot, 'revision' | 'epoch'>, held: Pick<CatalogSnapshot, 'revision' | 'epoch'>): Succession {
  if (next.epoch !== undefined && next.epoch !== held.epoch) return 'epoch'
  return next.revision < held.revision ? 'stale' : 'newer'
}
