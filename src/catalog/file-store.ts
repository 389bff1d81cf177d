import { readFileSync } from 'node:fs'
import { writeFileAtomic, writeFileAtomicAsync } from '../base/state-file.ts'
import { join } from 'node:path'
import type { CatalogStore } from './catalog.ts'
import type { CatalogService, CatalogSnapshot } from '../api/catalog.ts'

export const CATALOG_FILE = 'catalog.json'

export interface FileCatalogStoreOptions {
  /**
   * Write off the caller's path: `save()` only keeps the newest snapshot and returns; one write at a time runs at
   * most every `coalesceMs` ms with the newest one (fs/promises, so neither the JSON text of unchanged services nor
   * the fsync holds the event loop). `flush()` writes what is pending. Absent: `save()` writes before it returns.
   */
  coalesceMs?: number
  /** A deferred write failed (the next save tries again). */
  onError?: (err: Error) => void
}

/**
 * The catalog cache as a file, `<dataDir>/catalog.json` (mode 0600): written to a temporary file, fsynced and
 * renamed over the old one, so a crash leaves either the old or the new snapshot, never half of one. With
 * `coalesceMs` (the agent) a crash may lose the last snapshots of that window: the cache only bridges a restart
 * until the manager answers, and revisions order whatever comes next.
 */
export class FileCatalogStore implements CatalogStore {
  readonly path: string
  readonly #o: FileCatalogStoreOptions
  /** Each service's JSON text, computed once per (frozen, shared) service object. */
  #texts = new WeakMap<CatalogService, string>()
  #pending: CatalogSnapshot | null = null
  #timer: NodeJS.Timeout | null = null
  #writing: Promise<void> | null = null

  constructor(dataDir: string, o: FileCatalogStoreOptions = {}) {
    this.path = join(dataDir, CATALOG_FILE)
    this.#o = o
  }

  load(): CatalogSnapshot | null {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
    const snap = JSON.parse(text) as CatalogSnapshot
    if (typeof snap?.revision !== 'number' || !Array.isArray(snap.services) || !Array.isArray(snap.nodes)) {
      throw new Error(`${this.path}: not a catalog snapshot`)
    }
    return snap
  }

  save(snap: CatalogSnapshot): void {
    if (this.#o.coalesceMs === undefined) {
      writeFileAtomic(this.path, this.text(snap), 0o600)
      return
    }
    this.#pending = snap
    if (this.#timer === null && this.#writing === null) this.#schedule()
  }

  /** Write the pending snapshot now (after a write under way). */
  async flush(): Promise<void> {
    for (let i = 0; i < 3 && (this.#writing !== null || this.#pending !== null); i++) {
      if (this.#timer !== null) {
        clearTimeout(this.#timer)
        this.#timer = null
      }
      await (this.#writing ?? this.#write())
    }
  }

  /** The file's text: `JSON.stringify(snap)` and a newline, with each service's text computed once. */
  text(snap: CatalogSnapshot): string {
    const parts: string[] = []
    for (const [k, v] of Object.entries(snap)) {
      if (v === undefined) continue
      if (k !== 'services') { parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`); continue }
      const texts = (v as CatalogService[]).map((s) => {
        if (!Object.isFrozen(s)) return JSON.stringify(s)
        let t = this.#texts.get(s)
        if (t === undefined) this.#texts.set(s, (t = JSON.stringify(s)))
        return t
      })
      parts.push(`"services":[${texts.join(',')}]`)
    }
    return `{${parts.join(',')}}\n`
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null
      if (this.#writing === null) void this.#write() // else its end schedules the next
    }, this.#o.coalesceMs)
    this.#timer.unref()
  }

  #write(): Promise<void> {
    const snap = this.#pending
    if (snap === null) return Promise.resolve()
    this.#pending = null
    this.#writing = writeFileAtomicAsync(this.path, this.text(snap), 0o600)
      .catch((err: Error) => this.#o.onError?.(err))
      .finally(() => {
        this.#writing = null
        if (this.#pending !== null && this.#timer === null) this.#schedule()
      })
    return this.#writing
  }
}
