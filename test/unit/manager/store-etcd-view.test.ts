/**
 * EtcdStore's pure parts without an etcd: the key layout and codec (keys.ts), the local view fed revision by
 * revision (view.ts: events, hostile values, writes made outside a store commit) and a transaction's net writes.
 */
import t from 'tap'
import { KeyLayout, checkPrefix, decodeRecord, decodeRev, encodeRev } from '../../../src/manager/etcd-store/keys.ts'
import { LocalView, TxView, type KeyChange } from '../../../src/manager/etcd-store/view.ts'
import { brief, node, service } from './store-fixtures.ts'

const keys = new KeyLayout('/mesh/')
const put = (key: string, value: unknown, modRevision: number): KeyChange =>
  ({ key, value: typeof value === 'string' ? value : JSON.stringify(value), modRevision })
const del = (key: string, modRevision: number): KeyChange => ({ key, value: undefined, modRevision })

function view(): { v: LocalView; warnings: string[] } {
  const warnings: string[] = []
  return { v: new LocalView(keys, (key, reason) => warnings.push(`${key}: ${reason}`)), warnings }
}

t.test('keys: layout, parse, prefixes and the rev value', async (t) => {
  const cases = [
    { key: '/mesh/rev', want: { type: 'rev' } },
    { key: '/mesh/meta/cluster_id', want: { type: 'meta', key: 'cluster_id' } },
    { key: '/mesh/service/s1', want: { type: 'record', kind: 'service', id: 's1' } },
    { key: '/mesh/network/n/with/slash', want: { type: 'record', kind: 'network', id: 'n/with/slash' } },
    { key: '/mesh/volume/v1', want: { type: 'foreign' } },
    { key: '/mesh/service/', want: { type: 'foreign' } },
    { key: '/other/service/s1', want: { type: 'foreign' } },
  ]
  for (const c of cases) t.same(keys.parse(c.key), c.want, c.key)
  t.equal(checkPrefix('/mesh/'), undefined)
  t.match(checkPrefix('mesh'), /prefix must look like \/name\//)
  t.same(decodeRev(encodeRev(42, 'abc.0')), { revision: 42, commitId: 'abc.0' })
  t.match(decodeRev('42'), /not "<revision> <commit id>"/)
})

t.test('decodeRecord refuses what is not a record and normalizes legacy specs', async (t) => {
  const cases = [
    { desc: 'not JSON', kind: 'node' as const, id: 'n1', json: '{', re: /not JSON/ },
    { desc: 'no hostname', kind: 'node' as const, id: 'n1', json: JSON.stringify({ id: 'n1' }), re: /hostname must be a non-empty string/ },
    { desc: 'an array', kind: 'task' as const, id: 't1', json: '[]', re: /id must be a non-empty string/ },
    { desc: 'another id', kind: 'node' as const, id: 'n1', json: JSON.stringify(node('n2')), re: /the record's id is "n2"/ },
    { desc: 'a node without resources', kind: 'node' as const, id: 'n1', json: JSON.stringify({ ...node('n1'), resources: 5 }), re: /resources must be an object/ },
    { desc: 'a service without a mode', kind: 'service' as const, id: 's1', json: JSON.stringify({ ...service('s1'), spec: { ...service('s1').spec, mode: null } }), re: /with an image and a mode/ },
    { desc: 'a task without a status', kind: 'task' as const, id: 't1', json: JSON.stringify({ id: 't1', serviceId: 's1', nodeId: '', spec: {}, desiredState: 'running' }), re: /status must be an object/ },
    { desc: 'a secret without its sealed value', kind: 'secret' as const, id: 'x1', json: JSON.stringify({ id: 'x1', spec: { name: 'db' } }), re: /sealed must be a string/ },
    { desc: 'a network without slices', kind: 'network' as const, id: 'w1', json: JSON.stringify({ id: 'w1', spec: { name: 'n' }, subnet: '10.80.0.0/20' }), re: /slices must be an object/ },
  ]
  for (const c of cases) t.match(decodeRecord(c.kind, c.id, c.json), c.re, c.desc)
  const legacy = { ...service('s1', 'web'), spec: { ...service('s1', 'web').spec, networks: ['mesh'] } }
  t.same((decodeRecord('service', 's1', JSON.stringify(legacy)) as any).spec.networks, [], 'names read as the default network')
})

t.test('the view: events per store commit, in etcd order; deletes carry the record as it was', async (t) => {
  const { v, warnings } = view()
  const e1 = v.apply(5, [put('/mesh/rev', encodeRev(1, 'c1'), 5), put('/mesh/service/s1', service('s1', 'web'), 5), put('/mesh/node/n1', node('n1'), 5)])
  t.same(brief(e1), ['1 put service s1', '1 put node n1'])
  const e2 = v.apply(7, [put('/mesh/rev', encodeRev(2, 'c2'), 7), del('/mesh/service/s1', 7), put('/mesh/meta/cluster_id', 'c', 7)])
  t.same(brief(e2), ['2 delete service s1'])
  t.equal((e2[0]?.record as any).spec.name, 'web')
  t.same([v.revision, v.revModRevision, v.etcdRevision, v.meta('cluster_id')], [2, 7, 7, 'c'])
  t.equal(v.committedAt('c2'), 2, 'the commit id is remembered')
  t.same(warnings, [])
})

t.test('the view skips hostile values and keeps going', async (t) => {
  const { v, warnings } = view()
  v.apply(3, [put('/mesh/rev', encodeRev(1, 'c1'), 3), put('/mesh/service/s1', service('s1', 'web'), 3)])
  const events = v.apply(4, [
    put('/mesh/rev', encodeRev(2, 'c2'), 4),
    put('/mesh/service/s2', service('s2', 'web'), 4), // a second holder of the name
    put('/mesh/node/n1', '{oops', 4),
    put('/mesh/node/n2', node('n2'), 4),
  ])
  t.same(brief(events), ['2 put node n2'], 'the valid record of the revision still applies')
  t.equal(v.entry('service', 's2'), undefined)
  t.equal(warnings.length, 2)
  t.match(warnings[0], /service "web" is already held by s1/)
  t.same(v.apply(5, [put('/mesh/rev', 'garbage', 5)]), [])
  t.equal(v.revision, 2, 'a garbage rev keeps the last good revision')
  t.equal(v.revModRevision, 5, 'but the next commit compares against it (and so replaces it)')
  t.same(v.apply(6, [put('/mesh/node/n3', node('n3'), 6)]), [], 'a write outside a store commit raises no event')
  t.ok(v.entry('node', 'n3'), 'yet the view holds it, as every other manager\'s does')
})

t.test('a transaction\'s net writes', async (t) => {
  const { v } = view()
  v.apply(3, [put('/mesh/rev', encodeRev(1, 'c1'), 3), put('/mesh/service/s1', service('s1', 'web'), 3), put('/mesh/meta/a', '1', 3)])
  const tx = new TxView(v, keys)
  tx.put('service', service('s1', 'web')) // identical
  tx.put('node', node('n1'))
  tx.delete('node', 'n1') // created and deleted
  tx.put('service', service('s2', 'api'))
  tx.setMeta('a', '1') // unchanged
  tx.setMeta('b', '2')
  t.equal(tx.delete('task', 'nope'), false)
  t.throws(() => tx.put('service', service('s3', 'api')), { code: 'MESH_ERR_CONFLICT', message: 'service "api" already exists' })
  t.same(tx.writes().map((w) => `${w.key}=${w.value === undefined ? '(delete)' : 'put'}`), ['/mesh/service/s2=put', '/mesh/meta/b=put'])
  t.equal(v.entry('service', 's2'), undefined, 'the view is untouched until the commit comes back')
  const rename = new TxView(v, keys)
  rename.put('service', service('s1', 'web2'))
  rename.put('service', service('s9', 'web'))
  t.same(rename.writes().map((w) => w.key), ['/mesh/service/s1', '/mesh/service/s9'], 'a freed name is free in the same transaction')
})
