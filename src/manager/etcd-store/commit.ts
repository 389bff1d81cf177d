/**
 * The commit path of EtcdStore. `fn` runs on a TxView over the local view (the first time synchronously, inside
 * the `transact` call, as SqliteStore runs it); its net writes go to etcd as ONE transaction:
 *
 *   if mod_revision(<prefix>rev) == the view's   then put rev "<revision + 1> <commit id>", the writes
 *                                                else range rev (to learn how far behind the view is)
 *
 * One key compared by every commit serialises writers across managers exactly as SQLite's single writer does: a
 * commit made elsewhere moves the rev key, this one fails, waits until the view has applied that commit and runs
 * `fn` again on it. So unique names are checked on a view that is current at commit time, and the revision grows
 * by exactly 1 per commit. Errors that may pass (leader change, a member down, a deadline) are retried with
 * backoff up to `timeoutMs`, then NoQuorumError. Such an error leaves it unknown whether the write committed; each
 * attempt carries its own commit id in the rev key, so after catching up the view tells, and a commit that did
 * happen is not applied a second time. Before its first proposal a transaction reads the rev key linearizably, so
 * a store that lost quorum refuses without proposing anything ("nothing was written"); only a quorum lost between
 * that read and the commit leaves a proposal whose fate is unknown, and the error says so. A store sends one transaction at a time (the others of the same manager
 * wait for the slot and re-plan on the view it leaves), so a manager's own writes never fail each other's compare.
 */
import type { Etcd3, IRequestOp } from 'etcd3'
import { GRPCDeadlineExceededError, GRPCUnavailableError, isRecoverableError } from 'etcd3'
import type { Clock } from '../../base/clock.ts'
import { RESERVED_META_KEYS, checkMetaKey, checkObjectKind, checkRecord, isThenable, type StoreKind, type StoreTx } from '../store.ts'
import { NoQuorumError, StoreError } from '../store-errors.ts'
import { encodeRev, type KeyLayout } from './keys.ts'
import { TxView, makeReader, type LocalView, type TxWrite } from './view.ts'
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../api/types.ts'
import type { ObjectKind } from '../store.ts'

export interface CommitDeps {
  client: Etcd3
  keys: KeyLayout
  view: LocalView
  clock: Clock
  timeoutMs: number
  describe: string
  commitId: string
  /** Called around each run of fn (the store refuses its own readers meanwhile). */
  enter(): void
  leave(): void
  /** Resolves once the view holds an etcd revision. */
  waitApplied(etcdRevision: number): Promise<void>
  isOpen(): boolean
  /** This store's commit slot: one transaction in flight per store; resolves with the release. */
  acquire(): Promise<() => void>
}

/** Re-runs on a newer view before giving up (each means another writer committed first). */
export const MAX_RERUNS = 200

/** One run of fn: its result, its net writes and the rev key's mod_revision of the view it ran on. */
interface Run<T> {
  result: T
  writes: TxWrite[]
  revModRevision: number
}

export function runCommit<T>(d: CommitDeps, fn: (tx: StoreTx) => T): Promise<T> {
  let first: Run<T>
  try {
    first = runFn(d, fn)
  } catch (err) {
    return Promise.reject(err)
  }
  return commitLoop(d, fn, first)
}

async function commitLoop<T>(d: CommitDeps, fn: (tx: StoreTx) => T, first: Run<T>): Promise<T> {
  if (first.writes.length === 0) return first.result
  const release = await d.acquire()
  try {
    return await commitInSlot(d, fn, first)
  } finally {
    release()
  }
}

async function commitInSlot<T>(d: CommitDeps, fn: (tx: StoreTx) => T, first: Run<T>): Promise<T> {
  const deadline = d.clock.now() + d.timeoutMs
  const attempts = new Map<string, T>()
  /** A transaction was sent and its outcome never learned (it may still apply when quorum returns). */
  const sent = { unsure: false }
  // A linearizable read of the rev key first: it proves a quorum answers before anything is proposed (a refusal
  // for lost quorum is then definite), and brings the view up to the newest commit before planning.
  await catchUp(d, deadline, sent, { now: true })
  let run = first
  for (let n = 0; ; n++) {
    // A commit (this store's, or another manager's seen by the read above) came in since fn ran: plan again on the
    // newer view rather than send a transaction bound to fail.
    if (run.revModRevision !== d.view.revModRevision) run = runFn(d, fn)
    if (run.writes.length === 0) return run.result
    const id = `${d.commitId}.${n}`
    attempts.set(id, run.result)
    try {
      const res = await d.client.kv.txn({
        compare: [{ key: Buffer.from(d.keys.rev), result: 'Equal', target: 'Mod', mod_revision: String(d.view.revModRevision) }],
        success: [put(d.keys.rev, encodeRev(d.view.revision + 1, id)), ...run.writes.map(op)],
        failure: [{ request_range: { key: Buffer.from(d.keys.rev) } }],
      })
      if (res.succeeded) {
        await bounded(d, d.waitApplied(Number(res.header.revision)), deadline, `the write committed at etcd revision ` +
          `${res.header.revision} but this manager's view has not caught up`)
        return run.result
      }
      const kv = res.responses[0]?.response_range?.kvs?.[0]
      await bounded(d, d.waitApplied(Number(kv?.mod_revision ?? res.header.revision)), deadline,
        'another manager committed first and this manager\'s view has not caught up')
    } catch (err) {
      if (err instanceof StoreError) throw err
      if (!transient(err)) throw new StoreError(`${d.describe}: the write failed: ${(err as Error).message}`, { cause: err })
      sent.unsure = true
      await catchUp(d, deadline, sent, { cause: err })
    }
    for (const [aid, result] of attempts) if (d.view.committedAt(aid) !== undefined) return result
    if (n >= MAX_RERUNS) throw new StoreError(`${d.describe}: gave up after ${MAX_RERUNS} commits by other managers came first`)
    if (!d.isOpen()) throw new StoreError(`${d.describe}: the store is not open`)
    run = runFn(d, fn)
  }
}

/**
 * Reads the rev key (a linearizable read: a quorum must answer) and waits until the view holds it; after an error
 * that may pass, backs off and tries again until the deadline, then NoQuorumError. `now`: the first try at once.
 */
async function catchUp(d: CommitDeps, deadline: number, sent: { unsure: boolean }, o: { now?: boolean; cause?: unknown }): Promise<void> {
  let last = o.cause
  for (let i = 0; ; i++) {
    if (i > 0 || !o.now) {
      if (d.clock.now() >= deadline) {
        const outcome = sent.unsure
          ? 'a transaction was sent but never confirmed: it may still apply once quorum returns (check before retrying)'
          : 'nothing was written'
        throw new NoQuorumError(`no quorum: the etcd cluster (${d.describe}) did not commit the write within ` +
          `${Math.round(d.timeoutMs / 1000)} s (${outcome}): ${(last as Error | undefined)?.message ?? 'no answer'}`, { cause: last })
      }
      await sleep(d.clock, Math.min(1000, 50 * 2 ** i, Math.max(0, deadline - d.clock.now())))
    }
    if (!d.isOpen()) throw new StoreError(`${d.describe}: the store is not open`)
    try {
      const res = await d.client.kv.range({ key: Buffer.from(d.keys.rev) })
      await bounded(d, d.waitApplied(Number(res.kvs[0]?.mod_revision ?? 0)), deadline,
        'this manager\'s view of etcd has not caught up')
      return
    } catch (err) {
      if (err instanceof StoreError) throw err
      if (!transient(err)) throw new StoreError(`${d.describe}: ${(err as Error).message}`, { cause: err })
      last = err
    }
  }
}

/** Errors that may pass by themselves: an unreachable member, a leader election, a deadline. */
export function transient(err: unknown): boolean {
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) return true
  if (err instanceof Error && isRecoverableError(err)) return true
  return err instanceof Error &&
    /unavailable|deadline|leader|timed out|timeout|circuit|ECONNREFUSED|ECONNRESET|too many requests|connection/i.test(err.message)
}

async function bounded(d: CommitDeps, p: Promise<void>, deadline: number, what: string): Promise<void> {
  let timer: ReturnType<Clock['setTimeout']> | undefined
  const late = new Promise<'late'>((r) => { timer = d.clock.setTimeout(() => r('late'), Math.max(0, deadline - d.clock.now()) + 1000) })
  try {
    if ((await Promise.race([p.then(() => 'ok' as const), late])) === 'late') throw new StoreError(`${d.describe}: ${what}`)
  } finally {
    d.clock.clearTimeout(timer)
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((r) => clock.setTimeout(r, ms))
}

function put(key: string, value: string): IRequestOp {
  return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } }
}

function op(w: TxWrite): IRequestOp {
  return w.value === undefined ? { request_delete_range: { key: Buffer.from(w.key) } } : put(w.key, w.value)
}

/** One run of fn on a fresh TxView; throws what fn throws (nothing is kept then). */
function runFn<T>(d: CommitDeps, fn: (tx: StoreTx) => T): Run<T> {
  const txv = new TxView(d.view, d.keys)
  let live = true
  const guard = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    if (!live) throw new StoreError('this transaction has ended: use the tx only inside its transact() callback')
    return f(...a)
  }
  const reader = makeReader(txv, (key) => {
    if (key === 'revision') return String(d.view.revision)
    return RESERVED_META_KEYS.includes(key) ? undefined : txv.meta(key)
  })
  const putRec = (kind: StoreKind) => (r: unknown): void => {
    checkRecord(kind, r)
    txv.put(kind, r as { id: string })
  }
  const tx: StoreTx = {
    getNode: guard(reader.getNode), listNodes: guard(reader.listNodes),
    getService: guard(reader.getService), listServices: guard(reader.listServices),
    getTask: guard(reader.getTask), listTasks: guard(reader.listTasks), getMeta: guard(reader.getMeta),
    getObject: guard(reader.getObject), listObjects: guard(reader.listObjects),
    putNode: guard((n: NodeRecord) => putRec('node')(n)),
    deleteNode: guard((id: string) => txv.delete('node', id)),
    putService: guard((s: ServiceRecord) => putRec('service')(s)),
    deleteService: guard((id: string) => txv.delete('service', id)),
    putTask: guard((t: TaskRecord) => putRec('task')(t)),
    deleteTask: guard((id: string) => txv.delete('task', id)),
    putObject: guard((kind: ObjectKind, r: unknown) => {
      checkObjectKind(kind)
      putRec(kind)(r)
    }) as StoreTx['putObject'],
    deleteObject: guard((kind: ObjectKind, id: string) => {
      checkObjectKind(kind)
      return txv.delete(kind, id)
    }),
    setMeta: guard((key: string, value: string) => {
      checkMetaKey(key)
      if (typeof value !== 'string') throw new StoreError(`meta "${key}": value must be a string`)
      txv.setMeta(key, value)
    }),
    deleteMeta: guard((key: string) => {
      checkMetaKey(key)
      return txv.deleteMeta(key)
    }),
  }
  d.enter()
  try {
    const result = fn(tx)
    if (isThenable(result)) {
      result.then(undefined, () => {})
      throw new StoreError('transact(): the callback returned a Promise; it must be synchronous ' +
        '(do the async work before or after the transaction)')
    }
    return { result, writes: txv.writes(), revModRevision: d.view.revModRevision }
  } finally {
    d.leave()
    live = false
  }
}


