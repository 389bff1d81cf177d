/**
 * EtcdStore: the manager's Store (store.ts) on an etcd 3.4 cluster, through the `etcd3` client.
 *
 * Reads are synchronous on a LocalView (view.ts) loaded by one range read at `open()` and fed by an ordered watch
 * of the prefix from the revision after it. `transact(fn)` runs fn on that view (commit.ts turns its writes into
 * one etcd transaction guarded by the mod_revision of the single `<prefix>rev` key); it resolves once the view has
 * applied the commit, so a write is readable here when its promise resolves. Watchers hear of every commit through
 * the watch, whichever manager made it, once each, in order. History for `watch(fromRevision)` is kept in memory
 * from the revision at open (older: StoreCompactedError, as after SqliteStore's trimming). Compactor
 * (compaction.ts) keeps etcd's own history bounded.
 */
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3'
import { randomUUID } from 'node:crypto'
import { ConfigError } from '../../base/errors.ts'
import { realClock, type Clock } from '../../base/clock.ts'
import {
  RESERVED_META_KEYS, WatchHub, rethrowLater, type ObjectKind, type ObjectRecords, type Store, type StoreEvent,
  type StoreReader, type StoreTx, type TaskFilter, type Unsubscribe,
} from '../store.ts'
import { StoreCompactedError, StoreError } from '../store-errors.ts'
import { KeyLayout, RECORD_KINDS, checkPrefix } from './keys.ts'
import { LocalView, makeReader, viewSource, type KeyChange } from './view.ts'
import { runCommit, type CommitDeps } from './commit.ts'
import { Compactor } from './compaction.ts'
import type { ClusterState, NodeRecord, ServiceRecord, TaskRecord } from '../../api/types.ts'
import type { ClusterEvent } from '../../api/index.ts'
import type { EventBounds, EventHistory } from '../event-history.ts'
import { appendEtcdEvents, listEtcdEvents } from './events.ts'
import { readPrefix, type PagedOptions } from './paged.ts'

export type StoreLog = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

export interface EtcdStoreOptions {
  /** Key prefix of this cluster's store in etcd. Default '/mesh/'. */
  prefix?: string
  /** Store revisions of change history kept in memory for `watch(fromRevision)` (0 = keep all). Default 10000. */
  historyRevisions?: number
  /** How long one transact may keep retrying through etcd errors (leader change, a member down), ms. Default 10000. */
  commitTimeoutMs?: number
  /** etcd revisions kept behind this view when compacting (0: never compact). Default 10000. */
  compactRetainRevisions?: number
  /** How often to compact, ms. Default 300000 (5 min). */
  compactIntervalMs?: number
  /** Receives what a watcher callback throws. Default: rethrown on a microtask. */
  onWatcherError?: (err: unknown, event: StoreEvent) => void
  log?: StoreLog
  clock?: Clock
  /** Names the etcd cluster in messages (its endpoints). */
  describe?: string
  /** How the whole prefix is read at open and after a canceled watch (paged.ts: keys per page, default 500). */
  loadPage?: PagedOptions
}

interface Settings {
  prefix: string
  historyRevisions: number
  commitTimeoutMs: number
  compactRetainRevisions: number
  compactIntervalMs: number
  describe: string
  loadPage: PagedOptions
}

const defaults = Object.freeze({
  prefix: '/mesh/', historyRevisions: 10_000, commitTimeoutMs: 10_000, compactRetainRevisions: 10_000, compactIntervalMs: 300_000,
})

export class EtcdStore implements Store, EventHistory {
  readonly #client: Etcd3
  readonly #o: Settings
  readonly #keys: KeyLayout
  readonly #hub: WatchHub
  readonly #log: StoreLog
  readonly #clock: Clock
  readonly #view: LocalView
  readonly #history: StoreEvent[] = []
  #compactedRevision = 0
  #watcher: Watcher | undefined
  #compactor: Compactor | undefined
  #state: 'new' | 'opening' | 'open' | 'closed' = 'new'
  #inTx = false
  /** Waiters for the view to reach an etcd revision. */
  #waiters: { rev: number; resolve: () => void }[] = []
  /** Keys already warned about (a malformed value is logged once). */
  readonly #warned = new Set<string>()
  #runs = 0
  #slot: Promise<void> = Promise.resolve()

  /** No side effects: `open()` reads the store and starts the watch. The client is closed by `close()`. */
  constructor(client: Etcd3, options: EtcdStoreOptions = {}) {
    const o = { ...defaults, ...options }
    const bad = checkPrefix(o.prefix)
    if (bad) throw new ConfigError(`store: ${bad}`)
    for (const f of ['historyRevisions', 'commitTimeoutMs', 'compactRetainRevisions', 'compactIntervalMs'] as const) {
      if (!Number.isInteger(o[f]) || o[f] < 0 || o[f] > 0x7fffffff) {
        throw new ConfigError(`store: ${f} must be an integer from 0 to 2147483647 (got ${o[f]})`)
      }
    }
    this.#client = client
    this.#o = { prefix: o.prefix, historyRevisions: o.historyRevisions, commitTimeoutMs: o.commitTimeoutMs,
      compactRetainRevisions: o.compactRetainRevisions, compactIntervalMs: o.compactIntervalMs, describe: o.describe ?? 'etcd',
      loadPage: { ...options.loadPage } }
    this.#keys = new KeyLayout(o.prefix)
    this.#hub = new WatchHub(options.onWatcherError ?? rethrowLater)
    this.#log = options.log ?? (() => {})
    this.#clock = options.clock ?? realClock()
    this.#view = new LocalView(this.#keys, (key, reason) => this.#warn(key, reason))
  }

  /** Loads the whole store (one range read) and starts the watch; resolves when reads are complete. */
  async open(): Promise<this> {
    if (this.#state !== 'new') throw new StoreError('open() was called already')
    this.#state = 'opening'
    try {
      const rev = await this.#load()
      this.#compactedRevision = this.#view.revision
      await this.#startWatch(rev + 1)
      this.#compactor = new Compactor({
        client: this.#client, clock: this.#clock, log: this.#log, intervalMs: this.#o.compactIntervalMs,
        retain: this.#o.compactRetainRevisions, appliedRevision: () => this.#view.etcdRevision,
      })
      this.#compactor.start()
      this.#state = 'open'
      return this
    } catch (err) {
      this.close()
      if (err instanceof StoreError) throw err
      throw new StoreError(`${this.#o.describe}: cannot open the store: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Stops the watch and compaction, drops every watcher and closes the etcd client. Idempotent. */
  close(): void {
    if (this.#inTx) throw new StoreError('close() inside transact(): return from the transaction first')
    if (this.#state === 'closed') return
    this.#state = 'closed'
    this.#compactor?.stop()
    this.#hub.clear()
    const w = this.#watcher
    this.#watcher = undefined
    w?.removeAllListeners()
    w?.on('error', () => {})
    void w?.cancel().catch(() => {})
    for (const x of this.#waiters) x.resolve()
    this.#waiters = []
    this.#client.close()
  }

  get revision(): number {
    this.#open()
    return this.#view.revision
  }

  /** Runs of transaction callbacks so far, re-runs on a newer view included (runs − transactions = re-runs). */
  get runs(): number {
    return this.#runs
  }

  /** The etcd revision the local view is complete up to. */
  get etcdRevision(): number {
    return this.#view.etcdRevision
  }

  getState(): ClusterState {
    const r = this.#reader()
    return { nodes: r.listNodes(), services: r.listServices(), tasks: r.listTasks() }
  }

  getNode(idOrHostname: string): NodeRecord | undefined { return this.#reader().getNode(idOrHostname) }
  listNodes(): NodeRecord[] { return this.#reader().listNodes() }
  getService(idOrName: string): ServiceRecord | undefined { return this.#reader().getService(idOrName) }
  listServices(): ServiceRecord[] { return this.#reader().listServices() }
  getTask(id: string): TaskRecord | undefined { return this.#reader().getTask(id) }
  listTasks(filter?: TaskFilter): TaskRecord[] { return this.#reader().listTasks(filter) }
  getMeta(key: string): string | undefined { return this.#reader().getMeta(key) }
  listMeta(): Record<string, string> {
    this.#reader()
    return Object.fromEntries([...this.#view.metaKeys()].sort().map((k) => [k, this.#view.meta(k) as string]))
  }
  getObject<K extends ObjectKind>(kind: K, idOrName: string): ObjectRecords[K] | undefined {
    return this.#reader().getObject(kind, idOrName)
  }
  listObjects<K extends ObjectKind>(kind: K): ObjectRecords[K][] { return this.#reader().listObjects(kind) }

  /**
   * Runs `fn` on the local view and commits its writes as one etcd transaction; when another manager committed
   * first, waits for the view to hold that commit and runs `fn` again. Resolves once this view applied the commit.
   */
  transact<T>(fn: (tx: StoreTx) => T): Promise<T> {
    if (this.#inTx) throw new StoreError('transact() does not nest: use the tx you were given')
    try {
      this.#open()
    } catch (err) {
      return Promise.reject(err)
    }
    const deps: CommitDeps = {
      client: this.#client, keys: this.#keys, view: this.#view, clock: this.#clock,
      timeoutMs: this.#o.commitTimeoutMs, describe: this.#o.describe, commitId: randomUUID(),
      enter: () => { this.#inTx = true; this.#runs++ },
      leave: () => { this.#inTx = false },
      waitApplied: (rev) => this.#waitApplied(rev),
      isOpen: () => this.#state === 'open',
      acquire: () => this.#acquire(),
    }
    return runCommit(deps, fn)
  }

  watch(fromRevision: number, cb: (event: StoreEvent) => void): Unsubscribe {
    this.#open()
    if (!Number.isInteger(fromRevision) || fromRevision < 0) {
      throw new StoreError(`watch: fromRevision must be an integer ≥ 0 (got ${fromRevision})`)
    }
    if (fromRevision < this.#compactedRevision) {
      throw new StoreCompactedError(`watch from revision ${fromRevision}: history up to revision ` +
        `${this.#compactedRevision} was compacted; read getState() and watch from its revision`)
    }
    return this.#hub.add(fromRevision, cb, this.#history.filter((e) => e.revision > fromRevision))
  }

  /** The commit slot: resolves, in call order, with a release once the previous holder released. */
  #acquire(): Promise<() => void> {
    let release!: () => void
    const mine = new Promise<void>((r) => { release = r })
    const prev = this.#slot
    this.#slot = prev.then(() => mine)
    return prev.then(() => release)
  }

  #open(): void {
    if (this.#state !== 'open') throw new StoreError(`${this.#o.describe}: the store is not open`)
  }

  #reader(): StoreReader {
    this.#open()
    if (this.#inTx) throw new StoreError('read through the tx inside transact(): the store shows committed data only')
    return makeReader(viewSource(this.#view), (key) => this.#metaOf(key))
  }

  /** Several managers number the same events alike (../event-history.ts); an id is stored once. */
  readonly eventIds = 'revision' as const

  /** Event history (events.ts): keys under `<prefix>events/`, outside the store revision. */
  async appendEvents(events: readonly ClusterEvent[], bounds: EventBounds): Promise<void> {
    this.#checkOpen()
    await appendEtcdEvents(this.#client, this.#keys.prefix, events, bounds)
  }

  async listEvents(): Promise<ClusterEvent[]> {
    this.#checkOpen()
    return listEtcdEvents(this.#client, this.#keys.prefix, (key, reason) => this.#warn(key, reason))
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new StoreError(`${this.#o.describe}: the store is not open`)
  }

  #metaOf(key: string): string | undefined {
    if (key === 'revision') return String(this.#view.revision)
    if (RESERVED_META_KEYS.includes(key)) return undefined
    return this.#view.meta(key)
  }

  #warn(key: string, reason: string): void {
    const k = `${key}\u0000${reason}`
    if (this.#warned.has(k)) return
    this.#warned.add(k)
    this.#log('warn', 'store: skipped a value in etcd that is not a valid record', { key, reason })
  }

  /** Range-reads the prefix into the view (in pages, at one revision: paged.ts); returns the etcd revision read at. */
  async #load(): Promise<number> {
    const res = await readPrefix(this.#client, this.#keys.prefix, this.#o.loadPage)
    const rev = res.revision
    const changes = res.kvs.map((kv) => change(kv, 'Put'))
    // The rev key first: its mod_revision is the one commits compare.
    changes.sort((a, b) => Number(b.key === this.#keys.rev) - Number(a.key === this.#keys.rev))
    this.#view.apply(rev, changes)
    this.#view.etcdRevision = rev
    return rev
  }

  async #startWatch(fromEtcdRevision: number): Promise<void> {
    const w = await this.#client.watch().prefix(this.#keys.prefix).startRevision(String(fromEtcdRevision)).create()
    if (this.#state === 'closed') {
      void w.cancel().catch(() => {})
      return
    }
    this.#watcher = w
    w.on('data', (res) => this.#onWatch(res))
    w.on('error', (err) => {
      // Canceled by etcd (its history was compacted past this watch): re-read everything and watch again.
      this.#log('warn', 'store: etcd watch canceled; reloading the store', { error: err.message })
      if (this.#watcher === w) this.#watcher = undefined
      void this.#resync()
    })
  }

  #onWatch(res: IWatchResponse): void {
    if (this.#state === 'closed') return
    const groups = new Map<number, KeyChange[]>()
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision)
      let g = groups.get(rev)
      if (!g) groups.set(rev, (g = []))
      g.push(change(ev.kv, ev.type))
    }
    for (const [rev, changes] of [...groups].sort((a, b) => a[0] - b[0])) {
      if (rev <= this.#view.etcdRevision) continue
      this.#publish(this.#view.apply(rev, changes))
    }
    if (res.events.length === 0 && this.#watcher) {
      this.#view.etcdRevision = Math.max(this.#view.etcdRevision, Number(res.header.revision))
    }
    this.#wake()
  }

  #publish(events: StoreEvent[]): void {
    if (events.length === 0) return
    this.#history.push(...events)
    const keep = this.#o.historyRevisions
    const cut = this.#view.revision - keep
    if (keep > 0 && cut > this.#compactedRevision) {
      this.#compactedRevision = cut
      let i = 0
      while (i < this.#history.length && (this.#history[i] as StoreEvent).revision <= cut) i++
      this.#history.splice(0, i)
    }
    this.#hub.publish(events)
  }

  /** After a canceled watch: read the prefix again, publish the difference as one change, watch from there. */
  async #resync(): Promise<void> {
    for (let attempt = 0; this.#state === 'open' || this.#state === 'opening'; attempt++) {
      try {
        const res = await readPrefix(this.#client, this.#keys.prefix, this.#o.loadPage)
        const rev = res.revision
        const seen = new Set<string>()
        const changes: KeyChange[] = []
        for (const kv of res.kvs) {
          const c = change(kv, 'Put')
          seen.add(c.key)
          if (c.value !== this.#valueOf(c.key)) changes.push(c)
        }
        for (const key of this.#keysHeld()) if (!seen.has(key)) changes.push({ key, value: undefined, modRevision: rev })
        changes.sort((a, b) => Number(b.key === this.#keys.rev) - Number(a.key === this.#keys.rev))
        this.#publish(this.#view.apply(rev, changes))
        this.#view.etcdRevision = Math.max(this.#view.etcdRevision, rev)
        this.#wake()
        await this.#startWatch(rev + 1)
        return
      } catch (err) {
        this.#log('warn', 'store: reloading from etcd failed; retrying', { error: (err as Error).message, attempt })
        await new Promise<void>((r) => this.#clock.setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))))
      }
    }
  }

  #valueOf(key: string): string | undefined {
    const k = this.#keys.parse(key)
    if (k.type === 'meta') return this.#view.meta(k.key)
    if (k.type === 'record') return this.#view.entry(k.kind, k.id)?.json
    return undefined
  }

  *#keysHeld(): Generator<string> {
    for (const kind of RECORD_KINDS) {
      for (const [id] of this.#view.entries(kind)) yield this.#keys.record(kind, id)
    }
    for (const key of this.#view.metaKeys()) yield this.#keys.meta(key)
  }

  /** Resolves once the view holds etcd revision `rev` (or the store closed). */
  #waitApplied(rev: number): Promise<void> {
    if (this.#view.etcdRevision >= rev || this.#state === 'closed') return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ rev, resolve }))
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => w.rev <= this.#view.etcdRevision)
    this.#waiters = this.#waiters.filter((w) => w.rev > this.#view.etcdRevision)
    for (const w of ready) w.resolve()
  }
}

function change(kv: IKeyValue, type: 'Put' | 'Delete'): KeyChange {
  return { key: kv.key.toString(), value: type === 'Delete' ? undefined : kv.value.toString(), modRevision: Number(kv.mod_revision) }
}

/** `new EtcdStore(client, options).open()`. */
export function openEtcdStore(client: Etcd3, options?: EtcdStoreOptions): Promise<EtcdStore> {
  return new EtcdStore(client, options).open()
}
