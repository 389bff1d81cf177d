/**
 * The Store conformance suite: the invariants at the top of src/manager/store.ts, run against every backend
 * (store.test.ts: SqliteStore; test/integration/etcd-store/conformance.test.ts: EtcdStore on a real etcd). A
 * backend gives a factory; writes are awaited (etcd commits asynchronously) and nothing depends on timing.
 */
import type { Test } from 'tap'
import { StoreCompactedError, StoreConflictError, StoreError } from '../../../src/manager/store-errors.ts'
import type { Store, StoreEvent } from '../../../src/manager/store.ts'
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../../src/api/types.ts'
import { brief, caught, node, service, task } from './store-fixtures.ts'

export interface BackendOptions {
  historyRevisions?: number
  onWatcherError?: (err: unknown, event: StoreEvent) => void
}

export interface Backend {
  name: string
  /** A new, empty store, closed at the test's teardown. */
  open(t: Test, o?: BackendOptions): Promise<Store>
  /** A durable store and a way to open it again (the old one closed first). */
  durable(t: Test): Promise<{ store: Store; reopen(): Promise<Store> }>
}

export function storeConformance(t: Test, b: Backend): void {
  const open = (t: Test, o: BackendOptions = {}): Promise<Store> =>
    b.open(t, { onWatcherError: (err) => t.fail(`watcher threw: ${String(err)}`), ...o })

  /** Two nodes, two services and three tasks, committed in one transaction (revision 1). */
  const seeded = async (t: Test): Promise<Store> => {
    const s = await open(t)
    await s.transact((tx) => {
      tx.putNode(node('n2', 'beta'))
      tx.putNode(node('n1', 'alpha'))
      tx.putService(service('s1', 'web'))
      tx.putService(service('s2', 'api'))
      tx.putTask(task('t1', 's1', 'n1'))
      tx.putTask(task('t2', 's1', 'n2', { desiredState: 'shutdown' }))
      tx.putTask(task('t3', 's2'))
    })
    return s
  }

  const record = (s: Store): StoreEvent[] => {
    const got: StoreEvent[] = []
    s.watch(s.revision, (e) => got.push(e))
    return got
  }

  t.test(`${b.name}: CRUD round trip for every kind`, async (t) => {
    const cases = [
      {
        name: 'node', rec: node('n9', 'gamma'), key: 'gamma', changed: node('n9', 'delta'),
        put: (s: Store, r: any) => s.transact((tx) => tx.putNode(r)), get: (s: Store, k: string) => s.getNode(k),
        del: (s: Store, id: string) => s.transact((tx) => tx.deleteNode(id)), list: (s: Store) => s.listNodes(),
      },
      {
        name: 'service', rec: service('s9', 'db'), key: 'db', changed: service('s9', 'db2', { version: 2 }),
        put: (s: Store, r: any) => s.transact((tx) => tx.putService(r)), get: (s: Store, k: string) => s.getService(k),
        del: (s: Store, id: string) => s.transact((tx) => tx.deleteService(id)), list: (s: Store) => s.listServices(),
      },
      {
        name: 'task', rec: task('t9', 's1', 'n1'), key: 't9', changed: task('t9', 's1', 'n2'),
        put: (s: Store, r: any) => s.transact((tx) => tx.putTask(r)), get: (s: Store, k: string) => s.getTask(k),
        del: (s: Store, id: string) => s.transact((tx) => tx.deleteTask(id)), list: (s: Store) => s.listTasks(),
      },
    ]
    for (const c of cases) {
      t.test(c.name, async (t) => {
        const s = await open(t)
        t.equal(c.get(s, c.rec.id), undefined, 'absent at first')
        await c.put(s, c.rec)
        t.same(c.get(s, c.rec.id), c.rec, 'read back by id')
        t.same(c.get(s, c.key), c.rec, 'read back by its key (hostname, name or id)')
        t.same(c.list(s), [c.rec], 'listed')
        t.equal(s.revision, 1)
        await c.put(s, c.changed)
        t.same(c.get(s, c.rec.id), c.changed, 'replaced by id')
        t.same(c.list(s), [c.changed], 'still one record')
        t.equal(s.revision, 2)
        t.equal(await c.del(s, c.rec.id), true, 'deleted')
        t.equal(c.get(s, c.rec.id), undefined, 'gone')
        t.equal(await c.del(s, c.rec.id), false, 'a second delete finds nothing')
        t.equal(s.revision, 3, 'the empty delete moved nothing')
      })
    }
  })

  t.test(`${b.name}: lists are ordered and filtered; getState holds everything`, async (t) => {
    const s = await seeded(t)
    t.same(s.listNodes().map((n) => n.hostname), ['alpha', 'beta'], 'nodes by hostname')
    t.same(s.listServices().map((x) => x.spec.name), ['api', 'web'], 'services by name')
    const cases = [
      { name: 'no filter', filter: undefined, want: ['t1', 't2', 't3'] },
      { name: 'by service', filter: { serviceId: 's1' }, want: ['t1', 't2'] },
      { name: 'by node', filter: { nodeId: 'n2' }, want: ['t2'] },
      { name: 'unassigned', filter: { nodeId: '' }, want: ['t3'] },
      { name: 'by desired state', filter: { desiredState: 'running' as const }, want: ['t1', 't3'] },
      { name: 'all fields', filter: { serviceId: 's1', nodeId: 'n1', desiredState: 'running' as const }, want: ['t1'] },
      { name: 'no match', filter: { serviceId: 's1', desiredState: 'remove' as const }, want: [] },
    ]
    for (const c of cases) t.same(s.listTasks(c.filter).map((x) => x.id), c.want, c.name)
    const state = s.getState()
    t.same([state.nodes.length, state.services.length, state.tasks.length], [2, 2, 3])
    t.same(state.tasks, s.listTasks())
  })

  t.test(`${b.name}: records handed out are copies; event records are frozen`, async (t) => {
    const s = await seeded(t)
    const got = record(s)
    const n = s.getNode('n1') as NodeRecord
    n.labels.zone = 'mutated'
    t.same(s.getNode('n1')?.labels, {}, 'mutating a read record changes nothing')
    const mine = node('n3', 'gamma')
    await s.transact((tx) => tx.putNode(mine))
    mine.hostname = 'mutated after put'
    t.equal(s.getNode('n3')?.hostname, 'gamma', 'mutating the put record afterwards changes nothing')
    t.equal((got[0]?.record as NodeRecord).hostname, 'gamma')
    t.ok(Object.isFrozen(got[0]?.record) && Object.isFrozen((got[0]?.record as NodeRecord).labels), 'deep-frozen')
  })

  t.test(`${b.name}: revision: +1 per committed transaction that changed something`, async (t) => {
    const s = await seeded(t)
    const got = record(s)
    const cases = [
      { name: 'read-only transaction', fn: (tx: any) => tx.listNodes(), want: 1 },
      { name: 'identical put', fn: (tx: any) => tx.putNode(node('n1', 'alpha')), want: 1 },
      { name: 'delete of a missing record', fn: (tx: any) => tx.deleteTask('nope'), want: 1 },
      { name: 'five writes in one transaction', fn: (tx: any) => ['a', 'b', 'c', 'd', 'e'].forEach((id) => tx.putTask(task(id, 's1'))), want: 2 },
      { name: 'a metadata write', fn: (tx: any) => tx.setMeta('cluster_id', 'c1'), want: 3 },
      { name: 'the same metadata again', fn: (tx: any) => tx.setMeta('cluster_id', 'c1'), want: 3 },
    ]
    for (const c of cases) {
      await s.transact(c.fn)
      t.equal(s.revision, c.want, c.name)
    }
    t.equal(got.length, 5, 'the metadata write raised no event')
    t.same(await s.transact(() => 42), 42, 'transact resolves with what fn returns')
  })

  t.test(`${b.name}: a transaction that throws changes nothing`, async (t) => {
    const s = await seeded(t)
    await s.transact((tx) => tx.setMeta('token_worker', 'old'))
    const before = { state: s.getState(), revision: s.revision }
    const got = record(s)
    const boom = new Error('boom')
    const err = await caught(() => s.transact((tx) => {
      tx.putNode(node('n3', 'gamma'))
      tx.putService({ ...service('s1', 'web'), version: 7 })
      tx.deleteTask('t1')
      tx.deleteNode('n2')
      tx.setMeta('token_worker', 'new')
      t.equal(tx.getNode('gamma')?.id, 'n3', 'the tx sees its own put')
      t.equal(tx.getTask('t1'), undefined, 'and its own delete')
      t.equal(tx.getMeta('token_worker'), 'new', 'and its own metadata')
      throw boom
    }))
    t.equal(err, boom, 'the callback\'s error comes out unchanged')
    t.same(s.getState(), before.state, 'state unchanged')
    t.equal(s.revision, before.revision, 'revision unchanged')
    t.equal(s.getMeta('token_worker'), 'old', 'metadata unchanged')
    t.same(got, [], 'no watch events')
  })

  t.test(`${b.name}: unique names: a conflict leaves nothing half-applied`, async (t) => {
    const cases = [
      {
        name: 'service name taken', code: 'MESH_ERR_CONFLICT', message: 'service "web" already exists',
        fn: (tx: any) => { tx.putNode(node('n3')); tx.putService(service('s3', 'fresh')); tx.putService(service('s4', 'web')) },
      },
      {
        name: 'rename onto a taken name', code: 'MESH_ERR_CONFLICT', message: 'service "api" already exists',
        fn: (tx: any) => { tx.deleteTask('t1'); tx.putService(service('s1', 'api')) },
      },
      {
        name: 'node hostname taken', code: 'MESH_ERR_CONFLICT', message: 'node "alpha" already exists',
        fn: (tx: any) => { tx.putTask(task('t9', 's1')); tx.putNode(node('n3', 'alpha')) },
      },
    ]
    for (const c of cases) {
      t.test(c.name, async (t) => {
        const s = await seeded(t)
        const before = s.getState()
        const got = record(s)
        const err = (await caught(() => s.transact(c.fn))) as StoreError
        t.ok(err, 'refused')
        t.ok(err instanceof StoreConflictError && err instanceof StoreError, 'a StoreError')
        t.equal(err.code, c.code)
        t.equal(err.message, c.message)
        t.same(s.getState(), before, 'nothing applied')
        t.equal(s.revision, 1)
        t.same(got, [])
      })
    }
    t.test('a freed name can be taken in the same transaction; a caught conflict lets the rest commit', async (t) => {
      const s = await seeded(t)
      await s.transact((tx) => {
        tx.putService(service('s1', 'web-old'))
        tx.putService(service('s5', 'web'))
        t.throws(() => tx.putNode(node('n5', 'alpha')), { code: 'MESH_ERR_CONFLICT' })
      })
      t.same(s.listServices().map((x) => `${x.spec.name}=${x.id}`), ['api=s2', 'web=s5', 'web-old=s1'])
      t.equal(s.getNode('n5'), undefined)
    })
  })

  t.test(`${b.name}: misuse is refused with StoreError`, async (t) => {
    const s = await seeded(t)
    let kept: any
    const cases = [
      { name: 'nested transact', fn: () => s.transact(() => s.transact(() => 1)), re: /does not nest/ },
      { name: 'store reads inside a transaction', fn: () => s.transact(() => s.listNodes()), re: /read through the tx/ },
      { name: 'a tx used after its transaction', fn: () => { s.transact((tx) => { kept = tx }); kept.putNode(node('n7')) }, re: /has ended/ },
      { name: 'an async callback', fn: () => s.transact(async (tx) => tx.putNode(node('n8'))), re: /must be synchronous/ },
      { name: 'a record without an id', fn: () => s.transact((tx) => tx.putNode(node(''))), re: /id must be a non-empty string/ },
      { name: 'a service without a name', fn: () => s.transact((tx) => tx.putService(service('s9', ''))), re: /spec\.name/ },
      { name: 'a reserved meta key', fn: () => s.transact((tx) => tx.setMeta('revision', '99')), re: /kept by the store/ },
      { name: 'watch from a negative revision', fn: () => s.watch(-1, () => {}), re: /integer ≥ 0/ },
    ]
    for (const c of cases) {
      const err = (await caught(c.fn)) as StoreError
      t.ok(err, `${c.name}: refused`)
      t.ok(err instanceof StoreError, `${c.name}: StoreError`)
      t.match(err.message, c.re, `${c.name}: message`)
    }
    t.equal(s.getNode('n8'), undefined, 'the async callback\'s synchronous part was rolled back')
    t.equal(s.revision, 1)
  })

  t.test(`${b.name}: watch delivers committed changes in revision order, then unsubscribes`, async (t) => {
    const s = await open(t)
    const got: StoreEvent[] = []
    const stop = s.watch(0, (e) => got.push(e))
    await s.transact((tx) => { tx.putService(service('s1', 'web')); tx.putTask(task('t1', 's1')); tx.putTask(task('t2', 's1')) })
    await s.transact((tx) => { tx.putTask(task('t1', 's1', 'n1')); tx.putTask(task('t1', 's1', 'n2')); tx.deleteTask('t2') })
    await s.transact((tx) => { tx.putTask(task('t3', 's1')); tx.deleteTask('t3') })
    await s.transact((tx) => { tx.putService(service('s1', 'web', { version: 9 })); tx.deleteService('s1') })
    t.same(brief(got), [
      '1 put service s1', '1 put task t1', '1 put task t2',
      '2 put task t1', '2 delete task t2',
      '3 delete service s1',
    ], 'a put then delete of a new record is invisible; several puts report the last')
    t.equal((got[3]?.record as TaskRecord).nodeId, 'n2', 'the last put wins')
    t.equal(got[4]?.record.id, 't2', 'a delete carries the record as it was')
    t.equal((got[5]?.record as ServiceRecord).version, 1, 'as last committed, not as rewritten inside the transaction')
    t.equal(s.revision, 3, 'a put and delete of a new record left nothing, so moved no revision')
    stop()
    await s.transact((tx) => tx.putNode(node('n1')))
    t.equal(got.length, 6, 'nothing after unsubscribing')
  })

  t.test(`${b.name}: watch(fromRevision) replays history, then goes live, never twice`, async (t) => {
    const s = await open(t)
    for (let i = 1; i <= 5; i++) await s.transact((tx) => tx.putNode(node(`n${i}`)))
    const cases = [
      { name: 'from 0: everything', from: 0, want: [1, 2, 3, 4, 5, 6] },
      { name: 'from 3', from: 3, want: [4, 5, 6] },
      { name: 'from now', from: 5, want: [6] },
      { name: 'from the future', from: 9, want: [] },
    ]
    const got = cases.map((c) => {
      const revs: number[] = []
      s.watch(c.from, (e) => revs.push(e.revision))
      return revs
    })
    await s.transact((tx) => tx.putNode(node('n6')))
    cases.forEach((c, i) => t.same(got[i], c.want, c.name))
  })

  t.test(`${b.name}: callbacks that commit or watch keep every watcher in revision order`, async (t) => {
    const s = await open(t)
    const a: number[] = []
    const b2: number[] = []
    const late: number[] = []
    const inner: Promise<unknown>[] = []
    s.watch(0, (e) => {
      a.push(e.revision)
      // The orchestrator's pattern: react to a service by writing its tasks.
      if (e.kind === 'service') inner.push(s.transact((tx) => tx.putTask(task(`t-${e.record.id}`, e.record.id))))
      if (e.revision === 2 && late.length === 0) s.watch(1, (e2) => late.push(e2.revision))
    })
    s.watch(0, (e) => b2.push(e.revision))
    await s.transact((tx) => tx.putService(service('s1')))
    await s.transact((tx) => tx.putService(service('s2')))
    for (let settled = 0; settled < inner.length;) {
      const n = inner.length
      await Promise.all(inner)
      settled = n
    }
    t.same(a, [1, 2, 3, 4])
    t.same(b2, [1, 2, 3, 4], 'the second watcher sees the nested commit after the one that caused it')
    t.same(late, [2, 3, 4], 'a watcher added mid-delivery gets history then live, once each')
  })

  t.test(`${b.name}: a throwing watcher neither undoes the commit nor starves the others`, async (t) => {
    const errors: unknown[] = []
    const s = await b.open(t, { onWatcherError: (err) => errors.push(err) })
    const ok: number[] = []
    s.watch(0, () => { throw new Error('bad watcher') })
    s.watch(0, (e) => ok.push(e.revision))
    await s.transact((tx) => tx.putNode(node('n1')))
    t.ok(s.getNode('n1'), 'committed')
    t.same(ok, [1])
    t.equal(errors.length, 1)
    t.match((errors[0] as Error).message, 'bad watcher')
    t.test('unsubscribing inside the callback stops at once', async (t) => {
      const seen: string[] = []
      const stop = s.watch(s.revision, (e) => { seen.push(e.record.id); stop() })
      await s.transact((tx) => { tx.putNode(node('n2')); tx.putNode(node('n3')) })
      t.same(seen, ['n2'])
    })
  })

  t.test(`${b.name}: history is compacted after historyRevisions`, async (t) => {
    const s = await open(t, { historyRevisions: 3 })
    for (let i = 1; i <= 10; i++) await s.transact((tx) => tx.putNode(node('n1', 'h', { updatedAt: i })))
    const revs: number[] = []
    s.watch(7, (e) => revs.push(e.revision))
    t.same(revs, [8, 9, 10], 'the last 3 revisions are kept')
    const err = t.throws(() => s.watch(6, () => {})) as StoreError
    t.ok(err instanceof StoreCompactedError)
    t.equal(err.code, 'MESH_ERR_COMPACTED')
    t.match(err.message, /history up to revision 7 was compacted/)
  })

  t.test(`${b.name}: cluster metadata`, async (t) => {
    const s = await open(t)
    t.equal(s.getMeta('cluster_id'), undefined)
    await s.transact((tx) => { tx.setMeta('cluster_id', 'c1'); tx.setMeta('token_worker', 'tw') })
    t.same([s.getMeta('cluster_id'), s.getMeta('token_worker')], ['c1', 'tw'])
    t.equal(await s.transact((tx) => tx.deleteMeta('token_worker')), true)
    t.equal(await s.transact((tx) => tx.deleteMeta('token_worker')), false)
    t.equal(s.getMeta('token_worker'), undefined)
  })

  t.test(`${b.name}: reopen keeps records, metadata, revision and unique names`, async (t) => {
    const { store: a, reopen } = await b.durable(t)
    await a.transact((tx) => { tx.putNode(node('n1', 'alpha')); tx.putService(service('s1', 'web')); tx.setMeta('cluster_id', 'c1') })
    await a.transact((tx) => tx.putTask(task('t1', 's1', 'n1')))
    const state = a.getState()
    const s = await reopen()
    t.same(s.getState(), state)
    t.equal(s.getMeta('cluster_id'), 'c1')
    t.equal(s.revision, 2)
    const got: StoreEvent[] = []
    s.watch(s.revision, (e) => got.push(e))
    await s.transact((tx) => tx.putTask(task('t2', 's1')))
    t.same(brief(got), ['3 put task t2'], 'revisions resume where they were')
    await t.rejects(s.transact((tx) => tx.putService(service('s2', 'web'))), { code: 'MESH_ERR_CONFLICT' }, 'unique names survive')
  })

  t.test(`${b.name}: secrets, configs and networks: one id space and unique names per kind, events of their kind`, async (t) => {
    const s = await open(t)
    const got = record(s)
    const secret = { id: 'x1', spec: { name: 'db', labels: {} }, sealed: 'opaque', version: 1, createdAt: 1, updatedAt: 1 }
    const config = { id: 'x1', spec: { name: 'db', labels: {}, data: 'aGk=' }, version: 1, createdAt: 1, updatedAt: 1 }
    await s.transact((tx) => {
      tx.putObject('secret', secret)
      tx.putObject('config', config)
      t.same(tx.getObject('secret', 'db'), secret, 'the tx sees its own write, by name')
    })
    t.same(s.getObject('secret', 'x1'), secret)
    t.same(s.getObject('config', 'db'), config, 'the same id and name in another kind is another object')
    t.equal(s.getObject('network', 'db'), undefined)
    await t.rejects(s.transact((tx) => tx.putObject('secret', { ...secret, id: 'x2' })), { code: 'MESH_ERR_CONFLICT', message: 'secret "db" already exists' })
    await s.transact((tx) => tx.putObject('secret', { ...secret, id: 'x0', spec: { name: 'aa', labels: {} } }))
    t.same(s.listObjects('secret').map((r) => r.spec.name), ['aa', 'db'], 'ordered by name')
    t.equal(await s.transact((tx) => tx.deleteObject('secret', 'x1')), true)
    t.equal(await s.transact((tx) => tx.deleteObject('secret', 'x1')), false)
    t.same(brief(got), ['1 put secret x1', '1 put config x1', '2 put secret x0', '3 delete secret x1'], 'the refused write moved no revision')
    await t.rejects(s.transact((tx) => tx.putObject('volume' as 'secret', secret)), /unknown object kind "volume"/)
    t.throws(() => s.listObjects('task' as 'secret'), /unknown object kind "task"/)
  })

  t.test(`${b.name}: legacy records read normalized (networks as names)`, async (t) => {
    const s = await open(t)
    const legacy = service('s1', 'web')
    ;(legacy.spec as any).networks = ['mesh']
    await s.transact((tx) => tx.putService(legacy))
    const got = s.getService('web') as any
    t.same(got.spec.networks, [], 'the list of names reads as the default network')
  })

  t.test(`${b.name}: a closed store refuses reads and writes; close is idempotent`, async (t) => {
    const s = await open(t)
    s.close()
    s.close()
    t.throws(() => s.listNodes(), /not open/)
    await t.rejects(Promise.resolve().then(() => s.transact((tx) => tx.putNode(node('n1')))), /not open/)
  })
}
