/**
 * EtcdStore as several managers use it: two stores on one 3-member etcd writing at once, a member killed -9
 * mid-stream, quorum lost and back, a restart that resumes, hostile values, and compaction under a watcher.
 * Every wait is bounded; nothing asserts a duration.
 */
import t, { type Test } from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore, etcdClient, parseEtcdUrl, type EtcdStoreOptions } from '../../../src/manager/etcd-store/index.ts'
import { NoQuorumError, StoreConflictError } from '../../../src/manager/store-errors.ts'
import type { StoreEvent } from '../../../src/manager/store.ts'
import { startEtcd, type EtcdCluster } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { node, service } from '../../unit/manager/store-fixtures.ts'

const etcd = await startEtcd(t, { members: 3 })
let n = 0

async function open(t: Test, prefix: string, o: EtcdStoreOptions = {}, cluster: EtcdCluster = etcd): Promise<EtcdStore> {
  const url = parseEtcdUrl(`etcd://${cluster.endpoints.join(',')}`)
  const s = await new EtcdStore(etcdClient(url, {}, { callTimeoutMs: 2000 }),
    { prefix, describe: url.endpoints.join(','), onWatcherError: (err) => t.fail(String(err)), ...o }).open()
  t.teardown(() => s.close())
  return s
}

/** Every event a store's watchers get, from revision 0. */
function recordAll(s: EtcdStore): StoreEvent[] {
  const got: StoreEvent[] = []
  s.watch(0, (e) => got.push(e))
  return got
}

t.test('two managers writing at once: fn re-runs, nothing lost, names unique across both, views converge', async (t) => {
  const prefix = `/mm${++n}/`
  const a = await open(t, prefix)
  const b = await open(t, prefix)
  const seenA = recordAll(a)
  const seenB = recordAll(b)
  const acked: string[] = []
  const conflicts: string[] = []
  const write = (s: EtcdStore, who: string, i: number) => s.transact((tx) => {
    tx.putService(service(`${who}-${i}`, `svc-${who}-${i}`))
    // Both managers also race for the same 5 names: exactly one may hold each.
    if (i < 5) tx.putService(service(`${who}-shared-${i}`, `shared-${i}`))
    return `${who}-${i}`
  }).then((id) => acked.push(id), (err) => {
    if (err instanceof StoreConflictError) conflicts.push(`${who}-${i}`)
    else throw err
  })
  const ops: Promise<unknown>[] = []
  for (let i = 0; i < 15; i++) ops.push(write(a, 'a', i), write(b, 'b', i))
  await Promise.all(ops)
  t.equal(acked.length + conflicts.length, 30, 'every write was answered')
  t.equal(conflicts.length, 5, 'one of each pair racing for a shared name was refused')
  const reruns = a.runs + b.runs - 30
  t.ok(reruns > 0, `fn re-ran on a newer view (${reruns} re-runs)`)
  await waitFor(() => a.revision === b.revision, 10_000, { what: 'both views at one revision' })
  t.equal(a.revision, acked.length, 'one revision per acknowledged write')
  t.same(a.getState(), b.getState(), 'both views hold the same state')
  for (const id of acked) t.ok(a.getService(id), `acknowledged write ${id} present`)
  t.same(a.listServices().filter((s) => s.spec.name.startsWith('shared-')).map((s) => s.spec.name),
    ['shared-0', 'shared-1', 'shared-2', 'shared-3', 'shared-4'], 'each shared name held once')
  const revs = (events: StoreEvent[]) => [...new Set(events.map((e) => e.revision))]
  const want = Array.from({ length: a.revision }, (_, i) => i + 1)
  t.same(revs(seenA), want, 'manager a heard every commit (its own and b\'s) once, in order')
  t.same(revs(seenB), want, 'manager b too')
  t.same(seenA.map((e) => `${e.revision} ${e.record.id}`), seenB.map((e) => `${e.revision} ${e.record.id}`), 'the same events')
})

t.test('one manager\'s concurrent writes go one at a time: never a failed compare, at most one re-plan each', async (t) => {
  const s = await open(t, `/mm${++n}/`)
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => s.transact((tx) => {
    tx.putService(service(`s${i}`, `svc-${i}`))
    return tx.listServices().length
  })))
  t.equal(s.revision, 20)
  t.same([...results].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'each ran last on the view the one before left')
  t.ok(s.runs <= 40, `${s.runs} runs for 20 transactions (≤ 2 each: the first, and one on the newer view)`)
})

t.test('the etcd leader killed -9 mid-stream: writes continue on 2 of 3 through the election; it rejoins', async (t) => {
  const s = await open(t, `/mm${++n}/`)
  let killed = -1
  for (let i = 0; i < 30; i++) {
    if (i === 10) {
      killed = await etcd.leader()
      await etcd.kill(killed)
    }
    await s.transact((tx) => tx.putNode(node(`n${i}`)))
  }
  t.equal(s.revision, 30, 'all 30 writes committed')
  t.equal(s.listNodes().length, 30)
  t.not(await etcd.leader(), killed, 'another member leads')
  await etcd.restart(killed)
  await s.transact((tx) => tx.putNode(node('after')))
  t.equal(s.revision, 31)
})

t.test('quorum lost: writes refused with a no-quorum error, reads answered; back when a member returns', async (t) => {
  const s = await open(t, `/mm${++n}/`, { commitTimeoutMs: 3000 })
  await s.transact((tx) => tx.putNode(node('n1', 'alpha')))
  await etcd.kill(1)
  await etcd.kill(2)
  const err = await s.transact((tx) => tx.putNode(node('n2', 'beta'))).then(() => null, (e: unknown) => e)
  t.ok(err instanceof NoQuorumError, 'NoQuorumError')
  t.equal((err as NoQuorumError).code, 'MESH_ERR_NO_QUORUM')
  t.match((err as Error).message, /^no quorum: the etcd cluster \(127\.0\.0\.1:\d+,.*\) did not commit the write within 3 s \(nothing was written\): /, 'a definite refusal: no proposal was made')
  t.equal(s.getNode('alpha')?.id, 'n1', 'reads answer from the last view')
  await etcd.restart(1)
  await etcd.restart(2)
  // On a loaded machine the watch may reconnect after the 3 s commit bound: the store then says the write committed
  // but its view has not caught up yet (no second write is sent); the view shows it once the watch is back.
  await s.transact((tx) => tx.putNode(node('n3', 'gamma'))).catch((err: Error) => {
    if (!/committed at etcd revision \d+ but this manager's view has not caught up/.test(err.message)) throw err
    t.comment(`slow watch reconnect: ${err.message}`)
  })
  await waitFor(() => s.getNode('gamma') !== undefined, 60_000, { what: 'the view shows the accepted write' })
  t.ok(s.getNode('gamma'), 'writes accepted again')
  t.equal(s.getNode('beta'), undefined, 'the refused write is not there')
  t.equal(s.revision, 2)
})

t.test('a restart (every etcd member and the store) resumes revision and view', async (t) => {
  const prefix = `/mm${++n}/`
  const a = await open(t, prefix)
  await a.transact((tx) => { tx.putService(service('s1', 'web')); tx.setMeta('cluster_id', 'c1') })
  await a.transact((tx) => tx.putNode(node('n1')))
  const state = a.getState()
  a.close()
  for (let i = 0; i < 3; i++) await etcd.kill(i)
  await Promise.all([0, 1, 2].map((i) => etcd.restart(i)))
  const b = await open(t, prefix)
  t.same(b.getState(), state, 'the view is complete before open() resolves')
  t.equal(b.revision, 2)
  t.equal(b.getMeta('cluster_id'), 'c1')
  await b.transact((tx) => tx.putNode(node('n2')))
  t.equal(b.revision, 3, 'the revision resumes')
})

t.test('hostile values in etcd are logged once and skipped, never fatal', async (t) => {
  const prefix = `/mm${++n}/`
  const raw = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => raw.close())
  await raw.put(`${prefix}service/bad`).value('{not json')
  await raw.put(`${prefix}node/n9`).value(JSON.stringify(node('someone-else')))
  const warnings: string[] = []
  const log = (level: string, _msg: string, f?: Record<string, unknown>) => { if (level === 'warn') warnings.push(String(f?.key)) }
  const s = await open(t, prefix, { log })
  t.same(s.listServices(), [], 'the malformed service is not there')
  t.equal(s.getNode('n9'), undefined, 'a record under another id\'s key is not there')
  t.same(warnings.sort(), [`${prefix}node/n9`, `${prefix}service/bad`], 'each logged')
  await s.transact((tx) => tx.putService(service('s1', 'web')))
  await raw.put(`${prefix}task/t1`).value('[]')
  await raw.put(`${prefix}task/t1`).value('[]')
  await raw.put(`${prefix}rev`).value('garbage')
  await waitFor(() => warnings.includes(`${prefix}rev`), 10_000, { what: 'the bad rev value seen' })
  await s.transact((tx) => tx.putService(service('s2', 'api')))
  t.ok(s.getService('api'), 'a write after a garbage revision key commits over it')
  t.equal(s.revision, 2, 'and the revision carries on from the last good one')
  t.equal(warnings.filter((w) => w === `${prefix}task/t1`).length, 1, 'a value seen twice is logged once')
  t.equal(s.getTask('t1'), undefined)
  t.ok(s.getService('web'), 'the store kept working')
})

t.test('compaction keeps etcd history bounded without breaking a watcher', async (t) => {
  const s = await open(t, `/mm${++n}/`, { compactRetainRevisions: 3, compactIntervalMs: 50 })
  const got: number[] = []
  s.watch(0, (e) => got.push(e.revision))
  for (let i = 1; i <= 10; i++) await s.transact((tx) => tx.putNode(node('n1', 'h', { updatedAt: i })))
  const raw = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => raw.close())
  const early = s.etcdRevision - 6
  await waitFor(async () => {
    try {
      await raw.get('anything').revision(early).exec()
      return false
    } catch (err) {
      return /compacted/.test((err as Error).message)
    }
  }, 15_000, { what: `etcd compacted past revision ${early}` })
  for (let i = 11; i <= 15; i++) await s.transact((tx) => tx.putNode(node('n1', 'h', { updatedAt: i })))
  t.same(got, Array.from({ length: 15 }, (_, i) => i + 1), 'the watcher got every revision, before and after compaction')
  const other = await open(t, s.revision > 0 ? `/mm${n}/` : '/x/')
  t.equal(other.revision, 15, 'a manager starting after compaction loads the current view')
})

t.test('a manager whose etcd member was down while history was compacted catches up', async (t) => {
  const prefix = `/mm${++n}/`
  const a = await open(t, prefix, { compactRetainRevisions: 1, compactIntervalMs: 50 })
  // b talks to member 0 only, so its watch stops while that member is down.
  const logs: string[] = []
  const b = await new EtcdStore(new Etcd3({ hosts: etcd.clientUrls[0] as string }), {
    prefix, compactRetainRevisions: 0, log: (_level, msg) => logs.push(msg),
  }).open()
  t.teardown(() => b.close())
  const got: StoreEvent[] = []
  b.watch(0, (e) => got.push(e))
  await a.transact((tx) => { tx.putService(service('s0', 'gone-later')); tx.setMeta('token_old', 'x') })
  await waitFor(() => b.revision === 1, 10_000, { what: 'b at revision 1' })
  await etcd.kill(0)
  await a.transact((tx) => { tx.deleteService('s0'); tx.deleteMeta('token_old') })
  for (let i = 1; i <= 20; i++) await a.transact((tx) => tx.putNode(node(`n${i}`)))
  const raw = new Etcd3({ hosts: [etcd.clientUrls[1] as string, etcd.clientUrls[2] as string] })
  t.teardown(() => raw.close())
  const early = a.etcdRevision - 5
  await waitFor(async () => raw.get('x').revision(early).exec().then(() => false, (err: Error) => /compacted/.test(err.message)),
    15_000, { what: 'history compacted while member 0 is down' })
  await etcd.restart(0)
  await waitFor(() => b.revision === a.revision, 30_000, { what: `b caught up to revision ${a.revision}` })
  t.same(b.getState(), a.getState(), 'b holds what a holds, the deleted service included')
  t.equal(b.getService('gone-later'), undefined)
  t.equal(b.getMeta('token_old'), undefined, 'a metadata delete it missed too')
  t.equal(got.at(-1)?.revision, a.revision, 'b\'s watcher heard of the latest revision')
  t.ok(got.some((e) => e.op === 'delete' && e.record.id === 's0'), 'and of the delete it missed')
  t.comment(`b's watch ${logs.some((m) => /watch canceled/.test(m)) ? 'was canceled and reloaded' : 'resumed without a reload'}`)
})
