import type { ClusterEvent } from '../api/index.ts'
import { EVENTS_PER_REVISION, revisionEventId } from './event-history.ts'

/**
 * The EventLog's memory (events.ts): the newest `capacity` events in id order, and how the next one is numbered.
 * Ids only grow, but need not be consecutive (revision ids, event-history.ts). Pure: no clock, no I/O.
 */
export class EventRing {
  readonly #capacity: number
  readonly #buf: (ClusterEvent | undefined)[]
  /** Index of the oldest event, and how many are held. */
  #head = 0
  #size = 0
  #lastId = 0
  readonly #revisionIds: boolean
  /** Revision ids: the revision being numbered and the place of its next event. */
  #seqRevision = -1
  #seq = 0

  constructor(capacity: number, ids: 'sequence' | 'revision') {
    this.#capacity = capacity
    this.#buf = new Array(capacity)
    this.#revisionIds = ids === 'revision'
  }

  /** Id of the newest event (0: none yet). */
  get lastId(): number {
    return this.#lastId
  }

  /**
   * The id for the next event, derived from store revision `revision` (events come in revision order): the next
   * number, or with revision ids `revision × 65,536 + place`. Null: not to be told — an id at or below the newest
   * held (a loaded history already has that event), or past the ids one revision has (`overflow` hears it once).
   */
  nextId(revision: number, overflow: (err: Error) => void): number | null {
    if (!this.#revisionIds) return this.#lastId + 1
    if (revision !== this.#seqRevision) {
      this.#seqRevision = revision
      this.#seq = 0
    }
    const seq = this.#seq++
    if (seq === EVENTS_PER_REVISION) overflow(new Error(`revision ${revision} made more than ${EVENTS_PER_REVISION} events: the rest are not numbered`))
    const id = seq < EVENTS_PER_REVISION ? revisionEventId(revision, seq) : null
    return id !== null && id > this.#lastId ? id : null
  }

  /** Adds `e` at the newest end (an id not above the newest is ignored); the oldest goes when full. */
  push(e: ClusterEvent): void {
    if (e.id <= this.#lastId) return
    this.#buf[(this.#head + this.#size) % this.#capacity] = e
    if (this.#size < this.#capacity) this.#size++
    else this.#head = (this.#head + 1) % this.#capacity
    this.#lastId = e.id
  }

  /** The held events, oldest first, that `keep` says yes to. */
  select(keep: (e: ClusterEvent) => boolean): ClusterEvent[] {
    const out: ClusterEvent[] = []
    for (let i = 0; i < this.#size; i++) {
      const e = this.#buf[(this.#head + i) % this.#capacity] as ClusterEvent
      if (keep(e)) out.push(e)
    }
    return out
  }
}
