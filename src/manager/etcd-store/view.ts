/**
 * The local view of EtcdStore (pure, no I/O): every record, metadata value and the store revision as of one etcd
 * revision, fed in etcd's order by `apply()` (the initial range read, then each revision the watch delivers), and
 * TxView, a transaction's writes on top of it. Reads are synchronous; records handed out are copies.
 */
import {
  ChangeSet, checkObjectKind, type StoreEvent, type StoreKind, type StoreReader, type TaskFilter,
} from '../store.ts'
import { StoreConflictError, StoreError } from '../store-errors.ts'
import { RECORD_KINDS, decodeRecord, decodeRev, sortKey, uniqueName, type KeyLayout } from './keys.ts'
import type { ObjectKind, ObjectRecords } from '../store.ts'
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../api/types.ts'

type Rec = { id: string }

/** A record as the view holds it: frozen and normalized, with the JSON etcd holds (compared on writes). */
export interface Entry {
  rec: Rec
  json: string
}

/** One key change of an etcd revision: `value` undefined is a delete. */
export interface KeyChange {
  key: string
  value: string | undefined
  modRevision: number
}

/** Ids by unique name, per kind. */
class Table {
  readonly kind: StoreKind
  readonly byId = new Map<string, Entry>()
  readonly byName = new Map<string, string>()

  constructor(kind: StoreKind) {
    this.kind = kind
  }

  set(id: string, entry: Entry | undefined): void {
    const old = this.byId.get(id)
    const oldName = old && uniqueName(this.kind, old.rec)
    if (oldName !== undefined && this.byName.get(oldName) === id) this.byName.delete(oldName)
    if (entry === undefined) {
      this.byId.delete(id)
      return
    }
    this.byId.set(id, entry)
    const name = uniqueName(this.kind, entry.rec)
    if (name !== undefined) this.byName.set(name, id)
  }
}

export class LocalView {
  readonly #keys: KeyLayout
  readonly #tables = new Map<StoreKind, Table>(RECORD_KINDS.map((k) => [k, new Table(k)]))
  readonly #meta = new Map<string, string>()
  readonly #warn: (key: string, reason: string) => void
  /** The store revision (the rev key's), and the etcd mod_revision of the rev key (0: absent). */
  revision = 0
  revModRevision = 0
  /** The etcd revision this view is complete up to. */
  etcdRevision = 0
  /** Commit ids of recent revisions, so a writer can tell whether its ambiguous commit happened. */
  readonly #commits = new Map<string, number>()
  static readonly COMMITS_KEPT = 4096

  /** `warn` hears of every value refused (once per key and value is the caller's business). */
  constructor(keys: KeyLayout, warn: (key: string, reason: string) => void) {
    this.#keys = keys
    this.#warn = warn
  }

  /**
   * Applies the changes of one etcd revision (in the order etcd gives them) and returns the events to publish:
   * those of a store commit (it rewrote the rev key) at its store revision; a change made outside a store commit
   * (someone else's write under the prefix) is applied with no event.
   */
  apply(etcdRevision: number, changes: readonly KeyChange[]): StoreEvent[] {
    const set = new ChangeSet()
    let committed: number | undefined
    for (const c of changes) {
      const k = this.#keys.parse(c.key)
      if (k.type === 'rev') {
        if (c.value === undefined) {
          this.#warn(c.key, 'the revision key was deleted')
          continue
        }
        const rev = decodeRev(c.value)
        if (typeof rev === 'string') {
          // Skipped, but the next commit compares against this write (and so overwrites it) instead of failing forever.
          this.revModRevision = c.modRevision
          this.#warn(c.key, rev)
          continue
        }
        committed = rev.revision
        this.revModRevision = c.modRevision
        this.#commits.set(rev.commitId, rev.revision)
        if (this.#commits.size > LocalView.COMMITS_KEPT) this.#commits.delete(this.#commits.keys().next().value as string)
      } else if (k.type === 'meta') {
        if (c.value === undefined) this.#meta.delete(k.key)
        else this.#meta.set(k.key, c.value)
      } else if (k.type === 'record') {
        const table = this.#tables.get(k.kind) as Table
        const before = table.byId.get(k.id)
        if (c.value === undefined) {
          if (!before) continue
          table.set(k.id, undefined)
          set.record(k.kind, k.id, before.rec, undefined)
          continue
        }
        const rec = decodeRecord(k.kind, k.id, c.value)
        if (typeof rec === 'string') {
          this.#warn(c.key, rec)
          continue
        }
        const owner = uniqueName(k.kind, rec) === undefined ? undefined : table.byName.get(uniqueName(k.kind, rec) as string)
        if (owner !== undefined && owner !== k.id) {
          this.#warn(c.key, `${k.kind} "${uniqueName(k.kind, rec)}" is already held by ${owner}`)
          continue
        }
        const entry = { rec: Object.freeze(rec), json: c.value }
        deepFreezeRec(entry.rec)
        table.set(k.id, entry)
        set.record(k.kind, k.id, before?.rec, entry.rec)
      }
    }
    this.etcdRevision = Math.max(this.etcdRevision, etcdRevision)
    if (committed === undefined) return []
    this.revision = committed
    return set.events(committed)
  }

  /** The store revision a commit id reached, if it is among the recent ones. */
  committedAt(commitId: string): number | undefined {
    return this.#commits.get(commitId)
  }

  entry(kind: StoreKind, id: string): Entry | undefined {
    return this.#tables.get(kind)?.byId.get(id)
  }

  idByName(kind: StoreKind, name: string): string | undefined {
    return this.#tables.get(kind)?.byName.get(name)
  }

  entries(kind: StoreKind): IterableIterator<[string, Entry]> {
    return (this.#tables.get(kind) as Table).byId.entries()
  }

  meta(key: string): string | undefined {
    return this.#meta.get(key)
  }

  metaKeys(): IterableIterator<string> {
    return this.#meta.keys()
  }
}

function deepFreezeRec(v: unknown): void {
  if (v !== null && typeof v === 'object') {
    Object.freeze(v)
    for (const x of Object.values(v)) deepFreezeRec(x)
  }
}

/** What a StoreReader needs of a view: a base view, or a transaction's writes over one. */
export interface ViewSource {
  get(kind: StoreKind, id: string): Rec | undefined
  byName(kind: StoreKind, name: string): Rec | undefined
  list(kind: StoreKind): Rec[]
  meta(key: string): string | undefined
}

export function viewSource(v: LocalView): ViewSource {
  return {
    get: (kind, id) => v.entry(kind, id)?.rec,
    byName: (kind, name) => {
      const id = v.idByName(kind, name)
      return id === undefined ? undefined : v.entry(kind, id)?.rec
    },
    list: (kind) => [...v.entries(kind)].map(([, e]) => e.rec),
    meta: (key) => v.meta(key),
  }
}

/** A StoreReader on a source: copies out, lists ordered as SqliteStore orders them. */
export function makeReader(src: ViewSource, metaOf: (key: string) => string | undefined): StoreReader {
  const copy = <T>(r: unknown): T => structuredClone(r) as T
  const one = <T>(kind: StoreKind, idOrName: string): T | undefined => {
    const r = src.get(kind, idOrName) ?? src.byName(kind, idOrName)
    return r === undefined ? undefined : copy<T>(r)
  }
  const all = <T>(kind: StoreKind): T[] => sorted(kind, src.list(kind)).map((r) => copy<T>(r))
  return {
    getNode: (idOrHostname) => one<NodeRecord>('node', idOrHostname),
    listNodes: () => all<NodeRecord>('node'),
    getService: (idOrName) => one<ServiceRecord>('service', idOrName),
    listServices: () => all<ServiceRecord>('service'),
    getTask: (id) => {
      const r = src.get('task', id)
      return r === undefined ? undefined : copy<TaskRecord>(r)
    },
    listTasks: (filter: TaskFilter = {}) => sorted('task', src.list('task').filter((r) => {
      const x = r as TaskRecord
      return (filter.serviceId === undefined || x.serviceId === filter.serviceId) &&
        (filter.nodeId === undefined || x.nodeId === filter.nodeId) &&
        (filter.desiredState === undefined || x.desiredState === filter.desiredState)
    })).map((r) => copy<TaskRecord>(r)),
    getMeta: metaOf,
    getObject: <K extends ObjectKind>(kind: K, idOrName: string) => {
      checkObjectKind(kind)
      return one<ObjectRecords[K]>(kind, idOrName)
    },
    listObjects: <K extends ObjectKind>(kind: K) => {
      checkObjectKind(kind)
      return all<ObjectRecords[K]>(kind)
    },
  }
}

function sorted(kind: StoreKind, recs: Rec[]): Rec[] {
  const key = recs.map((r) => ({ r, k: sortKey(kind, r) }))
  key.sort((a, b) => cmp(a.k, b.k) || cmp(a.r.id, b.r.id))
  return key.map((x) => x.r)
}

/** Code-unit order: SQLite's binary collation for the names mesh allows (ASCII), without a Buffer per compare. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}


/** One write a transaction leaves: the final value of a key (undefined: deleted). */
export interface TxWrite {
  key: string
  value: string | undefined
}

/**
 * A transaction's writes over a LocalView: reads see them, `puts` check unique names against both, and `writes()`
 * gives the net change (a key written back to what the view holds, or created and deleted, is left out).
 */
export class TxView implements ViewSource {
  readonly #base: LocalView
  readonly #keys: KeyLayout
  readonly #records = new Map<string, { kind: StoreKind; id: string; rec: Rec | undefined; json: string | undefined }>()
  readonly #meta = new Map<string, string | undefined>()

  constructor(base: LocalView, keys: KeyLayout) {
    this.#base = base
    this.#keys = keys
  }

  get(kind: StoreKind, id: string): Rec | undefined {
    const w = this.#records.get(this.#keys.record(kind, id))
    return w ? w.rec : this.#base.entry(kind, id)?.rec
  }

  byName(kind: StoreKind, name: string): Rec | undefined {
    for (const w of this.#records.values()) {
      if (w.kind === kind && w.rec && uniqueName(kind, w.rec) === name) return w.rec
    }
    const id = this.#base.idByName(kind, name)
    if (id === undefined) return undefined
    const r = this.get(kind, id)
    return r && uniqueName(kind, r) === name ? r : undefined
  }

  list(kind: StoreKind): Rec[] {
    const out: Rec[] = []
    for (const [id, e] of this.#base.entries(kind)) {
      if (!this.#records.has(this.#keys.record(kind, id))) out.push(e.rec)
    }
    for (const w of this.#records.values()) if (w.kind === kind && w.rec) out.push(w.rec)
    return out
  }

  meta(key: string): string | undefined {
    return this.#meta.has(key) ? this.#meta.get(key) : this.#base.meta(key)
  }

  /** Insert or replace by id; a copy is kept. Throws StoreConflictError when another record has the name. */
  put(kind: StoreKind, rec: Rec): void {
    const json = JSON.stringify(rec)
    const copy = JSON.parse(json) as Rec
    const name = uniqueName(kind, copy)
    if (name !== undefined) {
      const owner = this.byName(kind, name)
      if (owner !== undefined && owner.id !== copy.id) throw new StoreConflictError(`${kind} "${name}" already exists`)
    }
    this.#records.set(this.#keys.record(kind, copy.id), { kind, id: copy.id, rec: deepFrozen(copy), json })
  }

  delete(kind: StoreKind, id: string): boolean {
    if (this.get(kind, id) === undefined) return false
    this.#records.set(this.#keys.record(kind, id), { kind, id, rec: undefined, json: undefined })
    return true
  }

  setMeta(key: string, value: string): void {
    this.#meta.set(key, value)
  }

  deleteMeta(key: string): boolean {
    if (this.meta(key) === undefined) return false
    this.#meta.set(key, undefined)
    return true
  }

  /** The net writes, in order of first touch. */
  writes(): TxWrite[] {
    const out: TxWrite[] = []
    for (const [key, w] of this.#records) {
      const base = this.#base.entry(w.kind, w.id)
      if (w.json === base?.json) continue
      out.push({ key, value: w.json })
    }
    for (const [key, value] of this.#meta) {
      if (value === this.#base.meta(key)) continue
      out.push({ key: this.#keys.meta(key), value })
    }
    return out
  }
}

function deepFrozen<T>(v: T): T {
  deepFreezeRec(v)
  return v
}
