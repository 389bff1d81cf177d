/**
 * A transmit-limited broadcast queue (memberlist TransmitLimitedQueue). Each message is piggybacked on outgoing
 * packets until it has been sent `retransmitMult × ceil(log10(n + 1))` times. A newer message about the same
 * subject (node name) replaces the queued one. Fewest-sent messages go first, then larger, then newer.
 */

export interface QueuedBroadcast {
  /** Subject key: a newer broadcast with the same key invalidates this one. null = never invalidated. */
  key: string | null
  data: Uint8Array
  /** Called once when the broadcast is used up or replaced. */
  onDone?: () => void
}

interface Item extends QueuedBroadcast {
  transmits: number
  id: number
}

export class BroadcastQueue {
  readonly #retransmitMult: number
  readonly #numNodes: () => number
  #items: Item[] = []
  #ids = 0

  constructor(retransmitMult: number, numNodes: () => number) {
    this.#retransmitMult = retransmitMult
    this.#numNodes = numNodes
  }

  get length(): number {
    return this.#items.length
  }

  retransmitLimit(): number {
    const n = this.#numNodes()
    return this.#retransmitMult * Math.ceil(Math.log10(n + 1))
  }

  queue(b: QueuedBroadcast): void {
    if (b.key !== null) {
      const keep: Item[] = []
      for (const it of this.#items) {
        if (it.key === b.key) it.onDone?.()
        else keep.push(it)
      }
      this.#items = keep
    }
    this.#items.push({ ...b, transmits: 0, id: ++this.#ids })
  }

  /**
   * Take broadcasts that fit in `limit` bytes, each costing its length plus `overhead`. Each taken message counts
   * one transmit; used-up ones leave the queue.
   */
  take(overhead: number, limit: number): Uint8Array[] {
    if (this.#items.length === 0) return []
    const max = this.retransmitLimit()
    this.#items.sort((a, b) => a.transmits - b.transmits || b.data.length - a.data.length || b.id - a.id)
    const out: Uint8Array[] = []
    let used = 0
    const keep: Item[] = []
    for (const it of this.#items) {
      const cost = it.data.length + overhead
      if (used + cost > limit) {
        keep.push(it)
        continue
      }
      used += cost
      out.push(it.data)
      it.transmits++
      if (it.transmits >= max) it.onDone?.()
      else keep.push(it)
    }
    this.#items = keep
    return out
  }

  /** Drop everything, calling each onDone. */
  reset(): void {
    for (const it of this.#items) it.onDone?.()
    this.#items = []
  }
}
