/**
 * EtcdStore's whole-prefix reads in pages at one revision (src/manager/etcd-store/paged.ts), against a real etcd:
 * a store of more than the gRPC client's 4 MiB (1,500 services with 3 KiB labels, each with a task) opens again
 * with every record equal; a write that lands between two pages of a read does not tear it (the read is the prefix
 * at the first page's revision; the store's watch then brings the write); the event history is read in pages too.
 * Every wait is bounded; nothing asserts a duration.
 */
import t, { type Test } from 'tap'
import { Etcd3 } from 'etcd3'
import { EtcdStore, etcdClient, parseEtcdUrl, type EtcdStoreOptions } from '../../../src/manager/etcd-store/index.ts'
import { readPrefix } from '../../../src/manager/etcd-store/paged.ts'
import { startEtcd } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { service, task } from '../../unit/manager/store-fixtures.ts'

const etcd = await startEtcd(t)

async function open(t: Test, prefix: string, o: EtcdStoreOptions = {}): Promise<EtcdStore> {
  const s = await new EtcdStore(new Etcd3({ hosts: etcd.clientUrls }), { prefix, describe: etcd.endpoints.join(','), ...o }).open()
  t.teardown(() => s.close())
  return s
}

t.test('a store over 4 MiB opens again: every record present and equal', { timeout: 300_000 }, async (t) => {
  const prefix = '/big/'
  const a = await open(t, prefix)
  const big = 'x'.repeat(3 * 1024)
  for (let i = 0; i < 1500; i += 50) {
    await a.transact((tx) => {
      for (let j = i; j < i + 50; j++) {
        const s = service(`s${String(j).padStart(4, '0')}`)
        s.spec.labels = { big, n: String(j) }
        tx.putService(s)
        tx.putTask(task(`t${String(j).padStart(4, '0')}`, s.id))
      }
    })
  }
  const client = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => client.close())
  const bytes = (await readPrefix(client, prefix)).kvs.reduce((n, kv) => n + kv.key.length + kv.value.length, 0)
  t.ok(bytes > 4 * 1024 * 1024, `the prefix holds ${(bytes / 1024 / 1024).toFixed(1)} MiB (over the client's 4 MiB)`)

  const b = await open(t, prefix)
  t.equal(b.revision, a.revision, 'the same revision')
  t.equal(b.listServices().length, 1500)
  t.equal(b.listTasks().length, 1500)
  t.same(b.getState(), a.getState(), 'every record equal')
})

t.test('a write between two pages does not tear the read: the view is the prefix at one revision, the watch brings the write', async (t) => {
  const prefix = '/torn/'
  const a = await open(t, prefix)
  await a.transact((tx) => { for (let i = 0; i < 30; i++) tx.putService(service(`s${String(i).padStart(2, '0')}`)) })
  const before = { revision: a.revision, state: a.getState() }
  let pages = 0
  const b = await open(t, prefix, {
    loadPage: {
      pageKeys: 4,
      afterPage: async (n) => {
        pages = n
        if (n !== 1) return
        // An early key (s00, already read), a late one (s29, not yet read), a delete and a new record, in one commit.
        await a.transact((tx) => {
          tx.putService({ ...service('s00'), version: 2, spec: { ...service('s00').spec, labels: { changed: 'yes' } } })
          tx.putService({ ...service('s29'), version: 2, spec: { ...service('s29').spec, labels: { changed: 'yes' } } })
          tx.deleteService('s15')
          tx.putService(service('s99'))
        })
      },
    },
  })
  t.ok(pages > 1, `read in ${pages} pages`)
  const opened = { revision: b.revision, state: b.getState() }
  t.same(opened, before, 'the view opened at the first page\'s revision: none of the write, not half of it')
  await waitFor(() => b.revision === a.revision, 15_000, { what: 'b\'s watch brings the write' })
  t.same(b.getState(), a.getState(), 'then all of it')
  t.equal(b.getService('s15'), undefined)
  t.same(b.getService('s29')?.spec.labels, { changed: 'yes' })
})

t.test('readPrefix: pages at the first page\'s revision, asks a page too large for the client again with fewer keys', async (t) => {
  const client = new Etcd3({ hosts: etcd.clientUrls })
  t.teardown(() => client.close())
  for (let i = 0; i < 20; i++) await client.put(`/pages/k${String(i).padStart(2, '0')}`).value('v1')
  const seen: number[] = []
  const r = await readPrefix(client, '/pages/', {
    pageKeys: 3,
    afterPage: async (n) => {
      seen.push(n)
      if (n === 2) {
        await client.put('/pages/k19').value('v2')
        await client.delete().key('/pages/k18')
        await client.put('/pages/k100').value('new')
      }
    },
  })
  t.same(seen, [1, 2, 3, 4, 5, 6], 'six full pages, a seventh short one')
  t.same(r.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`), Array.from({ length: 20 }, (_, i) => `/pages/k${String(i).padStart(2, '0')}=v1`))
  // maxKeys: the first ones in key order, in pages, and nothing more asked of etcd once they are read.
  const pages: number[] = []
  const first = await readPrefix(client, '/pages/', { pageKeys: 3, keysOnly: true, maxKeys: 7, afterPage: (n) => { pages.push(n) } })
  t.same(first.kvs.map((kv) => kv.key.toString()), ['/pages/k00', '/pages/k01', '/pages/k02', '/pages/k03', '/pages/k04', '/pages/k05', '/pages/k06'])
  t.same(pages, [1, 2], 'three pages (3, 3 and 1 keys), nothing asked after the seventh key')
  t.same((await readPrefix(client, '/pages/', { maxKeys: 0 })).kvs, [], 'maxKeys 0: none (not etcd\'s limit 0, all)')
  // Values of 1.2 MiB: four of them are more than one answer may carry; the page is asked again with fewer keys.
  const large = 'y'.repeat(1200 * 1024)
  for (let i = 0; i < 4; i++) await client.put(`/large/k${i}`).value(large)
  const store = etcdClient(parseEtcdUrl(`etcd://${etcd.endpoints.join(',')}`)) // the store's client: no retries of its own
  t.teardown(() => store.close())
  const l = await readPrefix(store, '/large/')
  t.equal(l.kvs.length, 4)
  t.ok(l.kvs.every((kv) => kv.value.length === large.length))
})

t.test('an event history over 4 MiB reads back whole', { timeout: 300_000 }, async (t) => {
  const s = await open(t, '/bigev/')
  const pad = 'z'.repeat(600)
  const events = Array.from({ length: 8000 }, (_, i) => ({
    id: i + 1, time: 1_000 + i, revision: i + 1, type: 'service' as const, action: 'create', subject: `svc${i}`, subjectId: `s${i}`, attributes: { pad },
  }))
  for (let i = 0; i < events.length; i += 1000) await s.appendEvents(events.slice(i, i + 1000), { maxCount: 10_000, maxAgeMs: 1e12, now: 10_000 })
  const got = await s.listEvents()
  t.equal(got.length, 8000, 'every event (about 5 MiB of them)')
  t.same(got.map((e) => e.id), events.map((e) => e.id), 'in id order')
})
