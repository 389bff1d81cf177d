/**
 * EtcdManagerHealth against a fake etcd client: the members listed, which answer their own status, whether a
 * quorum answers; a failed member list keeps the last one; health() is the last probe's answer (no waiting).
 */
import t from 'tap'
import type { Etcd3 } from 'etcd3'
import { EtcdManagerHealth, remoteUrls } from '../../../../src/manager/etcd/manager-health.ts'

interface World { members: string[]; up: Set<string>; quorum: boolean; listFails: boolean }

function fakeClient(w: World): Etcd3 {
  return {
    cluster: {
      memberList: async () => {
        if (w.listFails) throw new Error('unavailable')
        return { members: w.members.map((name, i) => ({ ID: String(i + 1), name, peerURLs: [`http://${name}:2380`], clientURLs: [`http://${name}:2379`] })) }
      },
    },
    get: () => ({ options: () => ({ string: async () => { if (!w.quorum) throw new Error('context deadline exceeded'); return null } }) }),
  } as unknown as Etcd3
}

function memberClient(w: World, closed: string[]): (urls: readonly string[]) => Etcd3 {
  return (urls) => {
    const name = new URL(urls[0] as string).hostname
    return {
      maintenance: { status: async () => { if (!w.up.has(name)) throw new Error('unavailable'); return {} } },
      close: () => void closed.push(name),
    } as unknown as Etcd3
  }
}

t.test('members, reachable members and quorum, as last probed', async (t) => {
  const w: World = { members: ['m1', 'm2', 'm3'], up: new Set(['m1', 'm2', 'm3']), quorum: true, listFails: false }
  const closed: string[] = []
  const h = new EtcdManagerHealth({ client: fakeClient(w), memberClient: memberClient(w, closed) })
  t.equal(h.health(), undefined, 'nothing known before the first probe')
  t.same(await h.probe(), { members: ['m1', 'm2', 'm3'], reachable: ['m1', 'm2', 'm3'], quorum: true })
  w.up = new Set(['m1'])
  w.quorum = false
  await h.probe()
  t.same(h.health(), { members: ['m1', 'm2', 'm3'], reachable: ['m1'], quorum: false }, '2 of 3 down: no quorum, 1 reachable')
  w.listFails = true
  await h.probe()
  t.same(h.health()?.members, ['m1', 'm2', 'm3'], 'a failed member list keeps the last one')
  w.listFails = false
  w.members = ['m1', 'm2']
  w.up = new Set(['m1', 'm2'])
  w.quorum = true
  await h.probe()
  t.same(h.health(), { members: ['m1', 'm2'], reachable: ['m1', 'm2'], quorum: true })
  t.same(closed, ['m3'], 'the client of a removed member is closed')
  h.stop()
  t.same(closed.sort(), ['m1', 'm2', 'm3'], 'stop closes the rest')
})

t.test('without member clients: every listed member counts while a quorum answers, none without', async (t) => {
  const w: World = { members: ['a', 'b', 'c'], up: new Set(), quorum: true, listFails: false }
  const h = new EtcdManagerHealth({ client: fakeClient(w) })
  t.same((await h.probe()).reachable, ['a', 'b', 'c'])
  w.quorum = false
  t.same((await h.probe()).reachable, [])
})

t.test('a member\'s loopback URL is not asked: from here it reaches the member that runs here', async (t) => {
  // m1 runs here; m2 and m3 are dead. Each lists its address and 127.0.0.1 (a managed member listens on both).
  const client = {
    cluster: { memberList: async () => ({ members: ['m1', 'm2', 'm3'].map((name, i) => ({ ID: String(i + 1), name, peerURLs: [], clientURLs: [`https://${name}:2379`, 'https://127.0.0.1:2379'] })) }) },
    get: () => ({ options: () => ({ string: async () => { throw new Error('context deadline exceeded') } }) }),
  } as unknown as Etcd3
  const asked: string[][] = []
  const memberClient = (urls: readonly string[]): Etcd3 => {
    asked.push([...urls])
    // Any URL that reaches a live member answers: m1's own, or loopback (m1 too).
    const live = urls.some((u) => u.includes('//m1:') || u.includes('127.0.0.1'))
    return { maintenance: { status: async () => { if (!live) throw new Error('unavailable'); return {} } }, close: () => {} } as unknown as Etcd3
  }
  const h = new EtcdManagerHealth({ client, memberClient })
  t.same(await h.probe(), { members: ['m1', 'm2', 'm3'], reachable: ['m1'], quorum: false }, '1 of 3 reachable, not 3 of 3')
  t.notOk(asked.flat().some((u) => u.includes('127.0.0.1')), 'no loopback URL asked')
  h.stop()
})

t.test('remoteUrls: loopback dropped when the member has another URL, kept when it has none', async (t) => {
  t.same(remoteUrls(['https://10.0.0.2:2379', 'https://127.0.0.1:2379']), ['https://10.0.0.2:2379'])
  t.same(remoteUrls(['https://[::1]:2379', 'https://[fd00::2]:2379']), ['https://[fd00::2]:2379'])
  t.same(remoteUrls(['http://127.0.0.1:23790']), ['http://127.0.0.1:23790'], 'members of one host (tests)')
})
