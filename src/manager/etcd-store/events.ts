/**
 * EtcdStore's event history (../event-history.ts): one key per event, `<prefix>events/<id>` with the id zero-padded
 * to 16 digits so that key order is id order, holding the event's JSON. The LocalView ignores these keys (they are
 * not records: no store revision, no watcher hears of them); the rev key is not touched, so an append never
 * conflicts with a commit. Appends put the new events in one etcd transaction, then prune: by age (the oldest keys,
 * read in pages, while their time is before the cutoff) and by count (all but the newest maxCount keys).
 */
import { Range, type Etcd3, type IRequestOp } from 'etcd3'
import type { ClusterEvent } from '../../api/index.ts'
import { decodeEvent, encodeEvent, type EventBounds } from '../event-history.ts'

const PAGE = 256

export function eventsPrefix(prefix: string): string {
  return `${prefix}events/`
}

export function eventKey(prefix: string, id: number): string {
  return `${eventsPrefix(prefix)}${String(id).padStart(16, '0')}`
}

export async function appendEtcdEvents(client: Etcd3, prefix: string, events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
  if (events.length > 0) {
    const ops: IRequestOp[] = events.map((e) => ({
      request_put: { key: Buffer.from(eventKey(prefix, e.id)), value: Buffer.from(encodeEvent(e)) },
    }))
    // One transaction (atomic); the compare is always true (the version of a key never written is 0), and the else
    // branch is the same puts, so they apply whatever it says.
    await client.if(eventsPrefix(prefix), 'Version', '>', -1).then(...ops).else(...ops).commit()
  }
  await pruneByAge(client, prefix, bounds.now - bounds.maxAgeMs)
  await pruneByCount(client, prefix, bounds.maxCount)
}

/** Every stored event, oldest first; a value that does not decode is skipped (`onBad` hears why). */
export async function listEtcdEvents(client: Etcd3, prefix: string, onBad: (key: string, reason: string) => void): Promise<ClusterEvent[]> {
  const res = await client.getAll().prefix(eventsPrefix(prefix)).sort('Key', 'Ascend').exec()
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
  const keys = await client.getAll().prefix(eventsPrefix(prefix)).sort('Key', 'Ascend').limit(count - maxCount).keys()
  const last = keys[keys.length - 1]
  if (last !== undefined) await client.delete().range(rangeThrough(prefix, last)).exec()
}

/** From the first event key through `last` (inclusive). */
function rangeThrough(prefix: string, last: string): Range {
  return new Range(eventsPrefix(prefix), `${last}\u0000`)
}
