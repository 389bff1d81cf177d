import type { CatalogService, CatalogSnapshot, CatalogView } from '../api/catalog.ts'
import { checkSnapshot, type CheckRanges } from './check.ts'
import { succession } from './order.ts'
import { deepFreeze, share } from './share.ts'

/** Where a catalog keeps its last snapshot across restarts (file-store.ts writes `<dataDir>/catalog.json`). */
export interface CatalogStore {
  /** The saved snapshot, or null when there is none (or it cannot be read). */
  load(): CatalogSnapshot | null
  save(snap: CatalogSnapshot): void
}

export type CatalogLog = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface CatalogOptions extends CheckRanges {
  store?: CatalogStore
  log?: CatalogLog
  /** Time source for `appliedAt` (ms). Default Date.now. */
  clock?: { now(): number }
}

const EMPTY: CatalogSnapshot = Object.freeze({ revision: 0, services: [], nodes: [] }) as CatalogSnapshot

/**
 * The agent's catalog (pure: no sockets, no timers; the store is injected). It holds the manager's latest snapshot
 * and the set of nodes gossip says are dead, and serves the merged view:
 *
 * - `apply(snap)` takes a manager snapshot; one with a lower revision than the current one of the same store epoch
 *   is ignored (a stale push or an older cache never wins). One of another epoch is taken whatever its revision (the
 *   manager's store was restored or moved, and its revisions started again: order.ts), logged once as
 *   `catalog epoch changed: following the restored store`. Accepted snapshots (epoch included) are saved through
 *   the store, so a restarted agent keeps following the same epoch.
 * - `nodeDown(id)` takes that node's endpoints out of `current()` at once. The mark holds until gossip says the node
 *   is alive again (`nodeUp`) or the manager has caught up (a snapshot lists the node as `down`; from then on the
 *   manager's node state rules, so a later snapshot with the node `ready` brings its endpoints back).
 * - Endpoints on a node the snapshot itself lists as `down` are never served.
 * - `current()` returns the same frozen object until something changes; `onChange` listeners get each new one.
 *   A new snapshot shares every unchanged service (and the nodes and networks when unchanged) with the one before
 *   it, as the same frozen object (share.ts): readers find what changed by identity, nothing is copied twice.
 * - Every snapshot (from the manager or the cache) is checked first (check.ts): a bad endpoint, port, service or
 *   node is dropped, logged and counted (`rejectedValues`); one that is not a snapshot at all is refused whole.
 */
export class Catalog implements CatalogView {
  #raw: CatalogSnapshot = EMPTY
  #view: CatalogSnapshot = EMPTY
  /** The view's copy of each raw service with dead nodes' endpoints removed, while the dead set is `#deadKey`. */
  #filtered = new WeakMap<CatalogService, CatalogService>()
  #deadKey = ''
  /** Node ids or hostnames gossip has declared dead. */
  readonly #down = new Set<string>()
  readonly #listeners = new Set<(snap: CatalogSnapshot) => void>()
  readonly #store: CatalogStore | undefined
  readonly #log: CatalogLog
  readonly #clock: { now(): number }
  readonly #ranges: CheckRanges
  #rejected = 0
  #appliedAt: number | null = null
  #fromCache = false

  constructor(opts: CatalogOptions = {}) {
    this.#store = opts.store
    this.#log = opts.log ?? (() => undefined)
    this.#clock = opts.clock ?? Date
    this.#ranges = { ...(opts.overlayRange ? { overlayRange: opts.overlayRange } : {}), ...(opts.vipRange ? { vipRange: opts.vipRange } : {}) }
    // Fail at construction, not on the first snapshot, when a range does not parse.
    checkSnapshot(EMPTY, this.#ranges)
  }

  /** Values dropped from snapshots because they failed a check (bad address, port, name), since construction. */
  get rejectedValues(): number {
    return this.#rejected
  }

  /** When the last manager snapshot was applied (clock ms); null while only the cache (or nothing) was served. */
  get appliedAt(): number | null {
    return this.#appliedAt
  }

  /** True while the view comes from the cached file, not from the manager. */
  get fromCache(): boolean {
    return this.#fromCache
  }

  /** Serve the stored snapshot, if any (call once at start, before the manager answers). True when one was loaded. */
  restore(): boolean {
    let snap: CatalogSnapshot | null = null
    try {
      snap = this.#store?.load() ?? null
    } catch (err) {
      this.#log('warn', 'cached catalog unreadable; starting empty', { err: (err as Error).message })
    }
    const checked = snap ? this.#check(snap) : null
    if (!checked || succession(checked, this.#raw) === 'stale') return false
    this.#set(checked, false)
    this.#fromCache = true
    this.#log('info', 'serving cached catalog', { revision: checked.revision, ...epochField(checked), services: checked.services.length })
    return true
  }

  current(): CatalogSnapshot {
    return this.#view
  }

  /** The manager's snapshot as last applied (dead nodes not filtered). */
  raw(): CatalogSnapshot {
    return this.#raw
  }

  onChange(fn: (snap: CatalogSnapshot) => void): () => void {
    this.#listeners.add(fn)
    return () => {
      this.#listeners.delete(fn)
    }
  }

  /**
   * Take a manager snapshot. Returns false when it was ignored (refused, an older revision of the same epoch, or
   * identical to the current one).
   */
  apply(snap: CatalogSnapshot): boolean {
    const checked = this.#check(snap)
    if (!checked) return false
    const order = succession(checked, this.#raw)
    if (order === 'stale') return false
    if (order === 'epoch' && this.#raw !== EMPTY) {
      this.#log('info', 'catalog epoch changed: following the restored store', {
        ...epochField(this.#raw, 'fromEpoch'), fromRevision: this.#raw.revision, epoch: checked.epoch, revision: checked.revision,
      })
    }
    this.#appliedAt = this.#clock.now()
    this.#fromCache = false
    return this.#set(checked, true)
  }

  /** The snapshot with every bad value dropped (each logged and counted), or null when it is not a snapshot. */
  #check(snap: CatalogSnapshot): CatalogSnapshot | null {
    const r = checkSnapshot(snap, this.#ranges)
    if (!r) {
      const given = snap as { revision?: unknown; epoch?: unknown } | null
      this.#log('warn', 'catalog snapshot refused: not a snapshot (revision, epoch, services, nodes)', {
        revision: given?.revision, epoch: typeof given?.epoch === 'string' ? JSON.stringify(given.epoch.slice(0, 80)) : typeof given?.epoch,
      })
      return null
    }
    for (const p of r.problems) {
      this.#rejected++
      const { what, ...where } = p
      this.#log('warn', 'catalog value dropped: it failed a check', { ...where, problem: what, revision: snap.revision })
    }
    return r.snap
  }

  /** Gossip declared a node dead (by node id or hostname): its endpoints leave the view now. */
  nodeDown(node: string): void {
    if (this.#down.has(node)) return
    this.#down.add(node)
    this.#rebuild()
  }

  /** Gossip sees the node alive again. */
  nodeUp(node: string): void {
    if (!this.#down.delete(node)) return
    this.#rebuild()
  }

  /** Nodes currently marked dead by gossip. */
  downNodes(): string[] {
    return [...this.#down]
  }

  #set(snap: CatalogSnapshot, save: boolean): boolean {
    const next = share(snap, this.#raw)
    if (next === this.#raw) return false
    this.#raw = next
    // The manager has caught up with a death gossip reported: its node state rules from now on.
    for (const n of snap.nodes) {
      if (n.state === 'down') {
        this.#down.delete(n.id)
        this.#down.delete(n.hostname)
      }
    }
    if (save && this.#store) {
      try {
        this.#store.save(this.#raw)
      } catch (err) {
        this.#log('warn', 'could not cache the catalog', { err: (err as Error).message })
      }
    }
    this.#rebuild()
    return true
  }

  #rebuild(): void {
    const raw = this.#raw
    const dead = new Set<string>()
    for (const n of raw.nodes) {
      if (n.state === 'down' || this.#down.has(n.id) || this.#down.has(n.hostname)) dead.add(n.id)
    }
    for (const d of this.#down) dead.add(d)
    const deadKey = [...dead].sort().join('\n')
    if (deadKey !== this.#deadKey) {
      this.#deadKey = deadKey
      this.#filtered = new WeakMap()
    }
    const filtered = this.#filtered
    const view = dead.size === 0 ? raw : Object.freeze({
      ...raw, // networks (and anything else a newer manager sends) stay when a node is down
      services: Object.freeze(raw.services.map((s): CatalogService => {
        let out = filtered.get(s)
        if (out === undefined) {
          const endpoints = s.endpoints.filter((e) => !dead.has(e.nodeId) && !dead.has(e.node))
          out = endpoints.length === s.endpoints.length ? s : deepFreeze({ ...s, endpoints })
          filtered.set(s, out)
        }
        return out
      })) as CatalogService[],
    })
    this.#view = view
    for (const fn of [...this.#listeners]) {
      try {
        fn(view)
      } catch (err) {
        this.#log('error', 'catalog listener failed', { err: (err as Error).message })
      }
    }
  }
}

/** `{ [name]: epoch }` when the snapshot has one, else nothing (log fields). */
function epochField(snap: CatalogSnapshot, name = 'epoch'): Record<string, string> {
  return snap.epoch === undefined ? {} : { [name]: snap.epoch }
}
