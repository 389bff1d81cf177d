/**
 * A transmit-limited broadcast queue (memberlist TransmitLimitedQueue). Each message is piggybacked on outgoing
 * packets until it has been sent `retransmitMult × ceil(log10(n + 1))` times. A newer message about the same
 * subject (node name) replaces the queued one. Fewest-sent messages go first, newest first among equals.
 *
 * Kept in buckets by transmit count with lazy deletion, so queueing and invalidation are O(1) and a take is
 * proportional to what it looks at — a 1,000-node join queues a thousand alives at once on every member.
 */

export interface QueuedBroadcast {
  /** Subject key: a newer broadcast with the same key invalidates this one. null = never invalidated. */
  key: string | null
  data: Uint8Array
  /** Called once when the broadcast is used up or replaced. */
  onDone?: () => void
}

/** Messages looked at but too big for the space left before take() gives up on a bucket. */
const MAX_SKIPS = 16

interface Item extends QueuedBroadcast {
  transmits: number
  live: boolean
}

export class BroadcastQueue {
  readonly #retransmitMult: number
  readonly #numNodes: () => number
  /** #buckets[t] holds the items sent t times, oldest first. */
  #buckets: Item[][] = []
  readonly #byKey = new Map<string, Item>()
  #live = 0

  readonly #maxLength: number

  /** `maxLength`: beyond it the most-sent, oldest broadcasts are dropped (serf's MaxQueueDepth is 4096). */
  constructor(retransmitMult: number, numNodes: () => number, maxLength = Infinity) {
    this.#retransmitMult = retransmitMult
    this.#numNodes = numNodes
    this.#maxLength = maxLength
  }

  get length(): number {
    return this.#live
  }

  retransmitLimit(): number {
    const n = this.#numNodes()
    return this.#retransmitMult * Math.ceil(Math.log10(n + 1))
  }

  queue(b: QueuedBroadcast): void {
    const item: Item = { ...b, transmits: 0, live: true }
    if (b.key !== null) {
      const old = this.#byKey.get(b.key)
      if (old) this.#finish(old)
      this.#byKey.set(b.key, item)
    }
    ;(this.#buckets[0] ??= []).push(item)
    this.#live++
    if (this.#live > this.#maxLength) this.#prune()
  }

  /** Drop the most-sent, then oldest, broadcasts until the queue is within its limit. */
  #prune(): void {
    for (let t = this.#buckets.length - 1; t >= 0 && this.#live > this.#maxLength; t--) {
      const bucket = this.#buckets[t] ?? []
      let i = 0
      for (; i < bucket.length && this.#live > this.#maxLength; i++) this.#finish(bucket[i] as Item)
      this.#buckets[t] = bucket.slice(i).filter((it) => it.live)
    }
  }

  /**
   * Take broadcasts that fit in `limit` bytes, each costing its length plus `overhead`. Each taken message counts
   * one transmit; used-up ones leave the queue.
   */
  take(overhead: number, limit: number): Uint8Array[] {
    if (this.#live === 0) return []
    const max = this.retransmitLimit()
    const out: Uint8Array[] = []
    const sent: Item[] = []
    let used = 0
    for (let t = 0; t < this.#buckets.length && limit - used > overhead; t++) {
      const bucket = this.#buckets[t]
      if (!bucket || bucket.length === 0) continue
      const skipped: Item[] = []
      let i = bucket.length - 1
      // Stop after a run of messages too big for what is left: with thousands queued (a large join) a full scan
      // per packet would cost more than the packet.
      for (; i >= 0 && limit - used > overhead && skipped.length < MAX_SKIPS; i--) {
        const it = bucket[i] as Item
        if (!it.live) continue
        const cost = it.data.length + overhead
        if (used + cost > limit) {
          skipped.push(it)
          continue
        }
        used += cost
        out.push(it.data)
        sent.push(it)
      }
      // Keep the unvisited (older) part in place and put back what was looked at but not sent: O(visited).
      bucket.length = i + 1
      for (let j = skipped.length - 1; j >= 0; j--) bucket.push(skipped[j] as Item)
    }
    for (const it of sent) {
      it.transmits++
      if (it.transmits >= max) this.#finish(it)
      else (this.#buckets[it.transmits] ??= []).push(it)
    }
    return out
  }

  /** Drop everything, calling each onDone. */
  reset(): void {
    for (const bucket of this.#buckets) for (const it of bucket) if (it.live) this.#finish(it)
    this.#buckets = []
  }

  #finish(it: Item): void {
    if (!it.live) return
    it.live = false
    this.#live--
    if (it.key !== null && this.#byKey.get(it.key) === it) this.#byKey.delete(it.key)
    it.onDone?.()
  }
}
