import t from 'tap'
import { initialCluster, LogRing } from '../../../../src/manager/etcd/index.ts'

t.test('initial cluster of an added member: every started member by name, the new one under its node id', async (t) => {
  const members = [
    { id: '1', name: 'm1', peerUrls: ['https://10.0.0.1:2380'], clientUrls: ['https://10.0.0.1:2379'] },
    { id: '2', name: '', peerUrls: ['https://10.0.0.2:2380'], clientUrls: [] },
    { id: '3', name: 'm3', peerUrls: ['https://10.0.0.3:2380'], clientUrls: ['https://10.0.0.3:2379'] },
  ]
  t.same(initialCluster(members, { name: 'm2', peerUrl: 'https://10.0.0.2:2380' }), [
    { name: 'm1', peerUrl: 'https://10.0.0.1:2380' }, { name: 'm2', peerUrl: 'https://10.0.0.2:2380' }, { name: 'm3', peerUrl: 'https://10.0.0.3:2380' },
  ])
})

t.test('log ring: bounded in lines and line length, partial lines kept', async (t) => {
  const r = new LogRing({ maxLines: 3, maxLineBytes: 10 })
  r.push('one\ntwo\nthr')
  t.same(r.lines(), ['one', 'two', 'thr'])
  r.push('ee\nfour\nfive\n')
  t.same(r.lines(), ['three', 'four', 'five'], 'oldest dropped')
  r.push(`${'x'.repeat(25)}\n`)
  t.same(r.lines().at(-1), `${'x'.repeat(10)}…`, 'long line cut')
  t.equal(r.lines().length, 3)
})
