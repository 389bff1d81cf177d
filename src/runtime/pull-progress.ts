/**
 * Pull progress (pure): Docker's per-layer pull messages → one percentage for "pulling image N%".
 * Each layer counts by its size; downloading is its first half and extracting its second, so 100 means every
 * layer is in place. Layers that already exist locally, or whose size is not known yet, do not count. The value
 * never goes backwards (a layer whose size becomes known late could otherwise lower it).
 */

/** One line of the pull stream (`POST /images/create`), as the engine sends it. */
export interface PullEvent {
  id?: string
  status?: string
  progressDetail?: { current?: number; total?: number }
  error?: string
  errorDetail?: { message?: string }
}

interface Layer {
  total: number
  downloaded: number
  extracted: number
}

export class PullProgress {
  readonly #layers = new Map<string, Layer>()
  #pct = 0

  /** The current percentage, 0..100 (integer). */
  get pct(): number {
    return this.#pct
  }

  /** Feed one event; returns the percentage after it. */
  update(e: PullEvent): number {
    const id = e.id
    const status = e.status ?? ''
    if (!id || status.startsWith('Pulling from') || status.startsWith('Digest:') || status.startsWith('Status:')) return this.#pct
    if (status === 'Already exists') {
      this.#layers.delete(id)
      return this.#recompute()
    }
    const layer = this.#layers.get(id) ?? { total: 0, downloaded: 0, extracted: 0 }
    this.#layers.set(id, layer)
    const cur = e.progressDetail?.current ?? 0
    const tot = e.progressDetail?.total ?? 0
    if (status === 'Downloading') {
      if (tot > 0) layer.total = tot
      layer.downloaded = cur
    } else if (status === 'Verifying Checksum' || status === 'Download complete') {
      layer.downloaded = layer.total
    } else if (status === 'Extracting') {
      if (layer.total === 0 && tot > 0) layer.total = tot
      layer.downloaded = layer.total
      layer.extracted = layer.total > 0 && tot > 0 ? (cur / tot) * layer.total : cur
    } else if (status === 'Pull complete') {
      layer.downloaded = layer.total
      layer.extracted = layer.total
    }
    return this.#recompute()
  }

  /** Everything is in place (the stream ended without an error). */
  finish(): number {
    this.#pct = 100
    return this.#pct
  }

  #recompute(): number {
    let total = 0
    let done = 0
    for (const l of this.#layers.values()) {
      if (l.total <= 0) continue
      total += l.total
      done += (Math.min(l.downloaded, l.total) + Math.min(l.extracted, l.total)) / 2
    }
    const pct = total > 0 ? Math.floor((done / total) * 100) : 0
    if (pct > this.#pct) this.#pct = Math.min(pct, 100)
    return this.#pct
  }
}

/** The engine's error carried inside a pull stream, if this line is one. */
export function pullEventError(e: PullEvent): string | undefined {
  return e.errorDetail?.message ?? e.error
}
