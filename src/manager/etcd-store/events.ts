/**
 * EtcdStore's event history (../event-history.ts): one key per event, `<prefix>events/<id>` with the id zero-padded
 * to 16 digits so that key order is id order, holding the event's JSON. The LocalView ignores these keys (they are
 * not records: no store revision, no watcher hears of them); the rev key is not touched, so an append never
 * conflicts with a commit. Appends put the new events in etcd transactions of at most 64 (etcd's --max-txn-ops is
 * 128), each putting a key only if it was never created: an id another manager stored first (a leadership
 * hand-over, when both append) keeps its first content and is skipped here. Then they prune: by age (the oldest
 * keys, read in pages, while their time is before the cutoff) and by count (all but the newest maxCount keys).
 */
import { Range, type Etcd3, type IRequestOp } from 'etcd3'
import type { ClusterEvent } from '../../api/index.ts'
import { decodeEvent, encodeEvent, type EventBounds } from '../event-history.ts'
import { readPrefix } from './paged.ts'

const PAGE = 256
/** Events per append transaction (each has one compare and one put; etcd allows 128 of each by default). */
const APPEND_BATCH = 64
/** Attempts of one batch: each failed one learns which keys another writer stored meanwhile and drops them. */
const APPEND_ATTEMPTS = 5

export function eventsPrefix(prefix: string): string {
  return `${prefix}events/`
}

export function eventKey(prefix: string, id: number): string {
  return `${eventsPrefix(prefix)}${String(id).padStart(16, '0')}`
}

export async function appendEtcdEvents(client: Etcd3, prefix: string, events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
  for (let i = 0; i < events.length; i += APPEND_BATCH) await putAbsent(client, prefix, events.slice(i, i + APPEND_BATCH))
  await pruneByAge(client, prefix, bounds.now - bounds.maxAgeMs)
  await pruneByCount(client, prefix, bounds.maxCount)
}

/**
 * Puts each event whose key was never created, in one transaction: if any key exists, the failure branch reads
 * which (keys only) and the rest are tried again. Keys are never rewritten: a stored id keeps its first content.
 */
async function putAbsent(client: Etcd3, prefix: string, events: readonly ClusterEvent[]): Promise<void> {
  let todo = events
  for (let attempt = 0; attempt < APPEND_ATTEMPTS && todo.length > 0; attempt++) {
    const keys = todo.map((e) => Buffer.from(eventKey(prefix, e.id)))
    const res = await client.kv.txn({
      compare: keys.map((key) => ({ key, result: 'Equal', target: 'Create', create_revision: '0' })),
      success: todo.map((e, i): IRequestOp => ({ request_put: { key: keys[i] as Buffer, value: Buffer.from(encodeEvent(e)) } })),
      failure: keys.map((key): IRequestOp => ({ request_range: { key, keys_only: true } })),
    })
    if (res.succeeded) return
    const stored = new Set(res.responses.flatMap((r) => r.response_range?.kvs.map((kv) => kv.key.toString()) ?? []))
    todo = todo.filter((e) => !stored.has(eventKey(prefix, e.id)))
  }
  if (todo.length > 0) throw new Error(`event history: ${todo.length} events not stored after ${APPEND_ATTEMPTS} attempts (other writers kept adding the same ids)`)
}

/** Every stored event, oldest first; a value that does not decode is skipped (`onBad` hears why). */
export async function listEtcdEvents(client: Etcd3, prefix: string, onBad: (key: string, reason: string) => void): Promise<ClusterEvent[]> {
  const res = await readPrefix(client, eventsPrefix(prefix)) // 10,000 events may pass the client's 4 MiB
  const out: ClusterEvent[] = []
  for (const kv of res.kvs) {
    const e = decodeEvent(kv.value.toString())
    if (typeof e === 'string') onBad(kv.key.toString(), e)
    else out.push(e)
  }
  return out
}

async function pruneByAge(client: Etcd3, prefix: string, oldest: number): Promise<void> {
  for (;;) {
    const res = await client.getAll().prefix(eventsPrefix(prefix)).sort('Key', 'Ascend').limit(PAGE).exec()
    let last: string | undefined
    for (const kv of res.kvs) {
      const e = decodeEvent(kv.value.toString())
      if (typeof e !== 'string' && e.time >= oldest) break
      last = kv.key.toString()
    }
    if (last === undefined) return
    await client.delete().range(rangeThrough(prefix, last)).exec()
    if (res.kvs.length < PAGE || last !== res.kvs[res.kvs.length - 1]?.key.toString()) return
  }
}

async function pruneByCount(client: Etcd3, prefix: string, maxCount: number): Promise<void> {
  const count = await client.getAll().prefix(eventsPrefix(prefix)).count()
  if (count <= maxCount) return
  const keys = (await readPrefix(client, eventsPrefix(prefix), { keysOnly: true, maxKeys: count - maxCount })).kvs // the oldest, in pages
  const last = keys[keys.length - 1]?.key.toString()
  if (last !== undefined) await client.delete().range(rangeThrough(prefix, last)).exec()
}

/** From the first event key through `last` (inclusive). */
function rangeThrough(prefix: string, last: string): Range {
  return new Range(eventsPrefix(prefix), `${last}\u0000`)
}
