/**
 * A fixed ring of time buckets, each a few summed columns (pure). `add` spreads an amount measured over an interval
 * across the buckets it covers, in proportion to the overlap, so reports that do not line up with bucket edges give
 * steady rates. Buckets older than the ring are dropped; a slot is reused by the next bucket that maps to it.
 */
export class BucketRing {
  readonly #bucketMs: number
  readonly #size: number
  readonly #width: number
  readonly #index: number[]
  readonly #sums: Float64Array

  constructor(o: { bucketMs: number; size: number; width: number }) {
    this.#bucketMs = o.bucketMs
    this.#size = o.size
    this.#width = o.width
    this.#index = new Array<number>(o.size).fill(-1)
    this.#sums = new Float64Array(o.size * o.width)
  }

  /** Add `amounts` (one per column) measured over [from, to) wall ms; `to ≤ from` puts it all in to's bucket. */
  add(from: number, to: number, amounts: readonly number[]): void {
    const w = this.#bucketMs
    if (to <= from) return this.#put(Math.floor(to / w), amounts, 1)
    const first = Math.floor(from / w)
    const last = Math.floor((to - 1) / w)
    // An interval longer than the ring only feeds the buckets the ring still holds.
    for (let b = Math.max(first, last - this.#size + 1); b <= last; b++) {
      const overlap = Math.min(to, (b + 1) * w) - Math.max(from, b * w)
      this.#put(b, amounts, overlap / (to - from))
    }
  }

  #put(bucket: number, amounts: readonly number[], share: number): void {
    const slot = bucket % this.#size
    const held = this.#index[slot] as number
    if (held > bucket) return // older than the ring holds
    if (held !== bucket) {
      this.#index[slot] = bucket
      this.#sums.fill(0, slot * this.#width, (slot + 1) * this.#width)
    }
    for (let c = 0; c < this.#width; c++) this.#sums[slot * this.#width + c] = (this.#sums[slot * this.#width + c] as number) + (amounts[c] ?? 0) * share
  }

  /** Column `c`'s sum in `bucket` (0 when the ring holds nothing for it). */
  sum(bucket: number, c: number): number {
    const slot = bucket % this.#size
    return this.#index[slot] === bucket ? (this.#sums[slot * this.#width + c] as number) : 0
  }
}
