/**
 * The cluster's gossip keyring on the manager (src/manager/gossip-keys.ts) and its routes, against the real API app
 * on 127.0.0.1:0 with a FakeClock: made at init (or seeded, or absent for an old store), handed out in the join reply
 * and on the watch stream, acknowledged by nodes, rotated in three acknowledged steps (a down node not waited for, a
 * missing ack stalling it), and listed by fingerprint only.
 */
import t, { type Test } from 'tap'
import { Manager, openSqliteStore, type Store } from '../../../src/manager/index.ts'
import { managerCertificateCheck, requestFor, type ClientTls, type GossipKeyring, type GossipKeysView } from '../../../src/api/index.ts'
import { createNodeKeyAndCsr } from '../../../src/pki/index.ts'
import { tlsApi } from '../../support/pki.ts'
import { openWatch } from '../../support/watch.ts'
import { keyFingerprint } from '../../../src/base/secret.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeLeadership } from '../../support/fake-leadership.ts'

const KEY_A = Buffer.alloc(32, 1).toString('base64')
const resources = { nanoCpus: 1e9, memoryBytes: 2 ** 30 }

async function cluster(t: Test, o: { seed?: string[]; ackWaitMs?: number } = {}) {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  let n = 0
  const start = Date.now() // wall time for certificates (TLS checks them against the real clock), advanced by the fake one
  const manager = new Manager({ store, clock, now: () => start + clock.now(), gossipAckWaitMs: o.ackWaitMs ?? 5000 })
  const { created } = await manager.init()
  const ring = await manager.gossipKeys.init({ created, seed: o.seed ?? [] })
  manager.start()
  t.teardown(() => {
    manager.stop()
    store.close()
  })
  const api = await tlsApi(t, manager) // mutual TLS: node certificates, an admin client certificate
  const port = api.port
  const call = <T>(method: string, path: string, who: ClientTls, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; text: string }> =>
    new Promise((resolve, reject) => {
      const req = requestFor(api.target(who), { path, method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { text += c })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T, text }))
      })
      req.on('error', reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  const join = async (hostname: string) => {
    const k = await createNodeKeyAndCsr()
    const r = await call<{ nodeId: string; certificate: string; ca: string[]; gossipKeys?: GossipKeyring }>('POST', '/v1/agent/join', api.anonymous,
      { hostname, addr: `10.0.0.${++n}`, resources, csr: k.csrPem }, { authorization: `Bearer ${manager.tokens().worker}` })
    await manager.setNodeState(hostname, 'ready')
    const credential: ClientTls = { ca: r.body.ca, cert: r.body.certificate, key: k.keyPem, checkServerIdentity: managerCertificateCheck }
    return { ...r.body, credential } // the node's certificate is its credential
  }
  const admin = api.admin
  /** Let the rotation look at the acks (it polls every 200 ms of the manager's clock). */
  const tick = async (ms = 250) => {
    await clock.advance(ms)
    await new Promise((r) => setImmediate(r))
    await clock.advance(0)
  }
  return { clock, store, manager, ring, call, join, admin, port, tick, api }
}

t.test('init: a new cluster gets one random 32-byte key; a seed (--encrypt-file) is used as given', async (t) => {
  const a = await cluster(t)
  t.equal(a.ring?.version, 1)
  t.equal(a.ring?.keys.length, 1)
  t.equal(Buffer.from(a.ring?.keys[0] ?? '', 'base64').length, 32, 'AES-256, as serf keygen')
  t.equal(a.manager.gossipKeys.intervalMs(), 12 * 3600_000, 'automatic rotation every 12 h by default')
  const b = await cluster(t, { seed: [KEY_A] })
  t.same(b.ring?.keys, [KEY_A], 'seeded with the given key')
})

t.test('upgrade: a store made before encrypted gossip has no keyring; seeded from the agent\'s key, else it stays plaintext', async (t) => {
  const clock = new FakeClock()
  const make = async (store: Store, seed: string[]) => {
    const m = new Manager({ store, clock })
    const { created } = await m.init()
    return m.gossipKeys.init({ created, seed })
  }
  const old = openSqliteStore(':memory:')
  t.teardown(() => old.close())
  await new Manager({ store: old, clock }).init() // the cluster as an older mesh made it: no gossip_keyring
  t.equal(await make(old, []), null, 'no key given: no keyring (the cluster keeps gossiping in plaintext)')
  t.equal(old.getMeta('gossip_keyring'), undefined, 'nothing written')
  t.same((await make(old, [KEY_A]))?.keys, [KEY_A], 'restarted with --encrypt-file: that key becomes the cluster keyring')
  t.same((await make(old, [Buffer.alloc(32, 9).toString('base64')]))?.keys, [KEY_A], 'a later start keeps the stored keyring')
})

t.test('join reply and watch stream carry the keyring; acks; admin view shows fingerprints only', async (t) => {
  const c = await cluster(t, { seed: [KEY_A] })
  const w1 = await c.join('w1')
  t.same(w1.gossipKeys, { version: 1, keys: [KEY_A] }, 'the join reply holds the keyring')

  const ack = await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: 1 })
  t.equal(ack.status, 200, 'a node acknowledges the version it applied')
  t.equal((await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: 'one' })).status, 400, 'a bad version: 400')
  t.equal((await c.call('POST', '/v1/agent/gossip-keys', c.admin, { version: 1 })).status, 403, 'not a node: 403')

  const view = await c.call<GossipKeysView>('GET', '/v1/gossip/keys', c.admin)
  t.equal(view.status, 200)
  t.same(view.body.keys, [{ fingerprint: keyFingerprint(Buffer.from(KEY_A, 'base64')), primary: true }])
  t.notOk(view.text.includes(KEY_A), 'the key itself is never in the answer')
  t.equal((await c.call('GET', '/v1/gossip/keys', w1.credential)).status, 403, 'a node credential cannot list keys')
  t.equal((await c.call('POST', '/v1/gossip/keys/rotate', w1.credential)).status, 403, 'nor rotate them')
  t.equal(c.manager.gossipKeys.keyring()?.version, 1, 'the refused rotation changed nothing')
})

t.test('watch stream: {gossipKeys} when it opens and after each change', async (t) => {
  const c = await cluster(t, { seed: [KEY_A] })
  const w1 = await c.join('w1')
  const w = await openWatch(c.api.target(w1.credential), (l: { gossipKeys?: GossipKeyring }) => l.gossipKeys)
  t.teardown(w.close)
  t.same(await w.next(), { version: 1, keys: [KEY_A] }, 'sent when the stream opens')
  await c.manager.gossipKeys.rotate()
  await c.clock.advance(10)
  const second = await w.next()
  t.equal(second.version, 2, 'sent again after the change')
  t.equal(second.keys[0], KEY_A, 'the old key is still primary in step 1')
  t.equal(second.keys.length, 2, 'with the new key installed')
})

t.test('rotate: three acknowledged steps; a down node is not waited for', async (t) => {
  const c = await cluster(t, { seed: [KEY_A] })
  const w1 = await c.join('w1')
  const w2 = await c.join('w2')
  await c.join('w3')
  await c.manager.setNodeState('w3', 'down')
  const r = await c.call<GossipKeysView>('POST', '/v1/gossip/keys/rotate', c.admin)
  t.equal(r.status, 202)
  t.equal(r.body.rotation?.phase, 'install')
  t.same(r.body.rotation?.waitingFor, ['w1', 'w2'], 'waits for the ready nodes only')
  t.equal((await c.call('POST', '/v1/gossip/keys/rotate', c.admin)).status, 409, 'a second rotation while one runs: 409')
  const ackAll = async () => {
    const v = c.manager.gossipKeys.keyring()?.version ?? 0
    for (const w of [w1, w2]) await c.call('POST', '/v1/agent/gossip-keys', w.credential, { version: v })
    await c.tick()
  }
  await c.tick()
  t.equal(c.manager.gossipKeys.rotation()?.phase, 'install', 'no acks yet: still installing')
  const newKey = c.manager.gossipKeys.rotation()?.newKey as string
  await ackAll()
  t.same(c.manager.gossipKeys.keyring()?.keys, [newKey, KEY_A], 'step 2: the new key is primary, the old one still installed')
  await ackAll()
  t.same(c.manager.gossipKeys.keyring()?.keys, [newKey], 'step 3: the old key removed')
  await ackAll()
  t.equal(c.manager.gossipKeys.rotation(), null, 'finished')
  t.equal(c.manager.gossipKeys.keyring()?.version, 4)
})

t.test('rotate: a ready node that does not ack stalls the rotation at its step; rotate again resumes it', async (t) => {
  const c = await cluster(t, { seed: [KEY_A], ackWaitMs: 2000 })
  const w1 = await c.join('w1')
  await c.join('w2') // never acknowledges
  await c.call('POST', '/v1/gossip/keys/rotate', c.admin)
  await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: 2 })
  for (let i = 0; i < 12; i++) await c.tick()
  const v = (await c.call<GossipKeysView>('GET', '/v1/gossip/keys', c.admin)).body
  t.equal(v.rotation?.stalled, true, 'stalled')
  t.same(v.rotation?.waitingFor, ['w2'], 'naming the node that did not answer')
  t.equal(v.keys.length, 2, 'both keys stay installed: nobody is cut off')
  t.equal(v.keys[0]?.fingerprint, keyFingerprint(Buffer.from(KEY_A, 'base64')), 'the old key is still primary')
  await c.manager.setNodeState('w2', 'down')
  const again = await c.call<GossipKeysView>('POST', '/v1/gossip/keys/rotate', c.admin)
  t.equal(again.status, 202, 'rotate again: resumed')
  t.equal(again.body.version, 2, 'the same rotation, not a new key')
  await c.tick()
  t.equal(c.manager.gossipKeys.rotation()?.phase, 'use', 'w2 is down now: the rotation goes on without it')
})

t.test('rotate is refused on a cluster without a keyring', async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store, clock })
  await m.init()
  await t.rejects(m.gossipKeys.rotate(), { code: 'MESH_ERR_CONFLICT', message: /plaintext.*--encrypt-file/ })
  t.equal(store.getMeta('gossip_rotation'), undefined)
})

t.test('automatic rotation starts once the interval has passed since the last one', async (t) => {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  const m = new Manager({ store, clock, now: () => clock.now() })
  t.teardown(() => { m.stop(); store.close() })
  const { created } = await m.init()
  await m.gossipKeys.init({ created, seed: [KEY_A], rotationMs: 120_000 })
  m.start()
  await clock.advance(60_000)
  t.equal(m.gossipKeys.rotation(), null, 'not before the interval')
  await clock.advance(60_000)
  await new Promise((r) => setImmediate(r))
  t.equal(m.gossipKeys.rotation()?.phase, 'install', 'a rotation began after 2 minutes')
  t.equal(m.gossipKeys.keyring()?.version, 2)
  for (let i = 0; i < 10; i++) await clock.advance(250)
  t.not(m.gossipKeys.keyring()?.keys[0], KEY_A, 'no node to wait for: it ran to the end, a new primary')
  t.equal(m.gossipKeys.rotation(), null)
  t.equal(m.gossipKeys.keyring()?.keys.length, 1)
})

t.test('several managers: acks any manager hears reach the leader through the store, and a new leader resumes the rotation', async (t) => {
  const c = await cluster(t, { seed: [KEY_A] })
  // A second manager on the same store that does not lead (as a follower on etcd): nodes' streams may be on it.
  const follower = new Manager({ store: c.store, clock: c.clock, now: () => Date.now() + c.clock.now(), gossipAckWaitMs: 5000, leadership: new FakeLeadership({ leading: false }) })
  await follower.init()
  follower.start()
  t.teardown(() => follower.stop())
  const api2 = await tlsApi(t, follower)
  const w1 = await c.join('w1')
  const w2 = await c.join('w2')
  const call2 = (who: ClientTls, version: number): Promise<number> => new Promise((resolve, reject) => {
    const req = requestFor(api2.target(who), { path: '/v1/agent/gossip-keys', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(JSON.stringify({ version }))
  })
  t.equal((await c.call('POST', '/v1/gossip/keys/rotate', c.admin)).status, 202)
  const v = c.manager.gossipKeys.keyring()?.version ?? 0
  // w1 acknowledges to the leader, w2 to the follower: the leader must see both.
  await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: v })
  t.equal(await call2(w2.credential, v), 200, 'the follower takes the ack')
  t.same(JSON.parse(c.store.getMeta('gossip_acks') ?? '{}'), { [w1.nodeId]: v, [w2.nodeId]: v }, 'both acks are in the store')
  await c.tick()
  t.equal(c.manager.gossipKeys.rotation()?.phase, 'use', 'the leader stepped on an ack the follower heard')
  t.same(follower.gossipKeys.view().rotation?.waitingFor, ['w1', 'w2'], 'the follower shows the same progress from the store')
  // An ack at or below the recorded version writes nothing.
  const rev = c.store.revision
  await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: v })
  t.equal(c.store.revision, rev, 'a repeated ack commits nothing')
})

t.test('a hostile gossip_acks value in the store counts as no ack and is replaced by the next one', async (t) => {
  const c = await cluster(t, { seed: [KEY_A] })
  const w1 = await c.join('w1')
  t.equal((await c.call('POST', '/v1/gossip/keys/rotate', c.admin)).status, 202)
  const v = c.manager.gossipKeys.keyring()?.version ?? 0
  for (const bad of ['not json', '[1,2]', JSON.stringify({ [w1.nodeId]: 'x', other: -3 })]) {
    await c.store.transact((tx) => tx.setMeta('gossip_acks', bad))
    t.same(c.manager.gossipKeys.view().rotation?.waitingFor, ['w1'], `${bad}: no ack counted`)
  }
  t.equal((await c.call('POST', '/v1/agent/gossip-keys', w1.credential, { version: v })).status, 200)
  t.same(JSON.parse(c.store.getMeta('gossip_acks') ?? ''), { [w1.nodeId]: v }, 'the ack replaced the bad value (unknown ids dropped)')
})
