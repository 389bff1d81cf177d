/**
 * Whole-prefix reads in pages (thin adapter over etcd's range). One range answer must fit the gRPC client's
 * receive limit (4 MiB by default): a store of a thousand services with their tasks does not. So a prefix is read
 * `pageKeys` keys at a time in key order, each page after the last key of the one before, and every page after the
 * first at the first page's revision: the pages together are the prefix as it was at that one revision, whatever
 * is written meanwhile (etcd keeps old revisions until they are compacted).
 *
 * A page too large for the client (values of several hundred KiB) is asked again with one key (a value is at most
 * etcd's 1.5 MiB request limit, so one key always fits), and the pages after it grow again, doubling up to
 * `pageKeys`: never two failures in a row (the client's circuit breaker would open). A revision compacted while the pages are read (the compactor, or another manager's) starts the read again
 * at the current revision, at most `attempts` times.
 */
import { GRPCOutOfRangeError, GRPCResourceExhastedError, type Etcd3, type IKeyValue } from 'etcd3'

/** Keys per page: a few hundred KiB for typical records, far below the 4 MiB limit. */
export const PAGE_KEYS = 500
/** Reads started again after their revision was compacted. */
const ATTEMPTS = 5

export interface PrefixRead {
  /** The etcd revision every page was read at. */
  revision: number
  /** Every key under the prefix at that revision, in key order. */
  kvs: IKeyValue[]
}

export interface PagedOptions {
  /** Keys per page (default PAGE_KEYS). */
  pageKeys?: number
  /** Called after each page with the number of pages read so far (tests write between pages). */
  afterPage?: (pages: number) => Promise<void> | void
  /** Keys only, no values. */
  keysOnly?: boolean
  /** Stop after this many keys (the first ones in key order); default all. */
  maxKeys?: number
}

/** The end of the range of every key starting with `prefix` (etcd's prefix range_end: the last byte plus one). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0]) // every key
}

/** Reads every key under `prefix` at one revision, in pages (see above). */
export async function readPrefix(client: Etcd3, prefix: string, o: PagedOptions = {}): Promise<PrefixRead> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readOnce(client, prefix, o)
    } catch (err) {
      const compacted = err instanceof GRPCOutOfRangeError || /compacted/i.test((err as Error | null)?.message ?? '')
      if (!compacted || attempt >= ATTEMPTS) throw err
    }
  }
}

async function readOnce(client: Etcd3, prefix: string, o: PagedOptions): Promise<PrefixRead> {
  const end = prefixEnd(prefix)
  const most = Math.max(1, o.pageKeys ?? PAGE_KEYS)
  const wanted = o.maxKeys ?? Infinity
  if (wanted <= 0) return { revision: 0, kvs: [] } // a range limit of 0 would mean all of them
  let limit = Math.min(most, wanted)
  let from = Buffer.from(prefix)
  let revision: number | undefined
  const kvs: IKeyValue[] = []
  for (let pages = 1; ; pages++) {
    let res
    try {
      res = await client.kv.range({
        key: from, range_end: end, limit, ...(revision !== undefined ? { revision } : {}), ...(o.keysOnly ? { keys_only: true } : {}),
      })
    } catch (err) {
      if (!tooLarge(err) || limit === 1) throw err
      limit = 1
      pages--
      continue
    }
    revision ??= Number(res.header.revision)
    kvs.push(...res.kvs)
    limit = Math.min(most, limit * 2, wanted - kvs.length)
    const last = res.kvs[res.kvs.length - 1]
    if (!res.more || !last || limit <= 0) return { revision, kvs }
    from = Buffer.concat([last.key, Buffer.from([0])])
    await o.afterPage?.(pages)
  }
}

/** An answer larger than the client takes (grpc RESOURCE_EXHAUSTED: "Received message larger than max"). */
function tooLarge(err: unknown): boolean {
  return err instanceof GRPCResourceExhastedError || /larger than max/i.test((err as Error | null)?.message ?? '')
}
