/**
 * The agent side of the cluster's gossip keyring (src/worker/gossip-keys.ts and the link's onGossipKeys): the
 * keyring file (0600, a broken one is one line naming it), where keys come from at start, applying a pushed keyring
 * live, and the link handing keyrings on and acknowledging the versions applied.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  WorkerLink, applyClusterKeys, chooseGossipKeys, gossipKeysPath, readSavedGossipKeys, saveGossipKeys, type KeyringTarget,
} from '../../../src/worker/index.ts'
import type { GossipKeyring } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FAKE_TOKEN, FakeManager, fakeNodeTls } from './fake-manager.ts'

const K1 = Buffer.alloc(32, 1).toString('base64')
const K2 = Buffer.alloc(32, 2).toString('base64')

function tmp(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'mesh-gk-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

t.test('gossip-keys.json: saved 0600, read back; none → null', async (t) => {
  const d = tmp(t)
  t.equal(readSavedGossipKeys(d), null, 'no file: null')
  saveGossipKeys(d, { version: 3, keys: [K1, K2] })
  t.equal(statSync(gossipKeysPath(d)).mode & 0o777, 0o600, 'mode 0600')
  t.same(readSavedGossipKeys(d), { version: 3, keys: [K1, K2] })
})

t.test('a broken gossip-keys.json is one line naming the file', async (t) => {
  const cases = [
    { name: 'not JSON', text: '{"version": 1, "keys": [', want: /gossip-keys\.json is not valid JSON: remove it or restore a backup$/ },
    { name: 'no keys', text: '{"version": 1, "keys": []}', want: /gossip-keys\.json has no keys/ },
    { name: 'a short key', text: JSON.stringify({ version: 1, keys: [Buffer.alloc(7).toString('base64')] }), want: /gossip-keys\.json holds a key that is not 16, 24 or 32 bytes/ },
    { name: 'no version', text: JSON.stringify({ keys: [K1] }), want: /gossip-keys\.json has no version/ },
  ]
  for (const c of cases) {
    const d = tmp(t)
    writeFileSync(gossipKeysPath(d), c.text)
    t.throws(() => readSavedGossipKeys(d), { code: 'MESH_ERR_STATE_FILE', message: c.want }, c.name)
    try {
      readSavedGossipKeys(d)
    } catch (err) {
      t.notOk((err as Error).message.includes('\n'), `${c.name}: one line`)
    }
  }
})

t.test('chooseGossipKeys: cluster, then saved, then flags, then plaintext, else refuse', async (t) => {
  const ring = (v: number, k: string): GossipKeyring => ({ version: v, keys: [k] })
  const cases = [
    { name: 'cluster wins', o: { cluster: ring(5, K1), saved: ring(4, K2), configured: true, plaintext: true }, want: { from: 'cluster', version: 5 } },
    { name: 'saved next (restart without a manager)', o: { cluster: null, saved: ring(4, K2), configured: true, plaintext: false }, want: { from: 'saved', version: 4 } },
    { name: 'flags next', o: { cluster: null, saved: null, configured: true, plaintext: true }, want: { from: 'flags' } },
    { name: 'plaintext only when asked', o: { cluster: null, saved: null, configured: false, plaintext: true }, want: { from: 'plaintext' } },
  ]
  for (const c of cases) t.match(chooseGossipKeys(c.o), c.want, c.name)
  t.throws(() => chooseGossipKeys({ cluster: null, saved: null, configured: false, plaintext: false }),
    { code: 'MESH_ERR_CONFIG', message: /no key: create a cluster \(--init\), join one.*--encrypt-file FILE or MESH_GOSSIP_KEY.*--gossip-plaintext/ }, 'nothing: refused, naming the ways out')
})

t.test('applyClusterKeys: applied and saved; plaintext gossip or a refused key is not acknowledged', async (t) => {
  const d = tmp(t)
  const applied: Uint8Array[][] = []
  const target = (encrypted: boolean, fail = false): KeyringTarget => ({
    encrypted,
    applyKeys: (keys) => {
      if (fail) throw new Error('bad key')
      applied.push([...keys])
      return { installed: 1, primaryChanged: false, removed: 0 }
    },
  })
  const logs: string[] = []
  const log = (_l: string, msg: string) => void logs.push(msg)
  t.equal(applyClusterKeys(target(true), d, { version: 2, keys: [K1, K2] }, log), true)
  t.same(applied[0]?.map((k) => Buffer.from(k).toString('base64')), [K1, K2], 'the keys, primary first')
  t.same(readSavedGossipKeys(d), { version: 2, keys: [K1, K2] }, 'saved for a restart without a manager')
  t.equal(applyClusterKeys(target(false), d, { version: 3, keys: [K2] }, log), false, 'plaintext gossip: not applied')
  t.match(logs.at(-1), /plaintext/)
  t.equal(applyClusterKeys(target(true, true), d, { version: 3, keys: [K2] }, log), false, 'a refused keyring: not applied')
  t.same(readSavedGossipKeys(d)?.version, 2, 'the file keeps the last keyring applied')
})

t.test('the link hands keyrings on and acknowledges what was applied', async (t) => {
  const dataDir = tmp(t)
  const clock = new FakeClock()
  const manager = new FakeManager(clock)
  const got: GossipKeyring[] = []
  let accept = true
  const logs: string[] = []
  const link = new WorkerLink({
    transport: manager, clock, dataDir, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1, memoryBytes: 1 }, token: FAKE_TOKEN,
    onAssignments: () => undefined,
    onGossipKeys: (k) => { got.push(k); return accept },
    log: (_l, msg) => void logs.push(msg),
  })
  t.teardown(() => link.stop())
  manager.joinGossipKeys = { version: 1, keys: [K1] }
  await link.register()
  t.same(got, [{ version: 1, keys: [K1] }], 'the join reply\'s keyring, before anything else starts')
  t.same(manager.gossipAcks, [], 'not acknowledged from the join reply (the stream does it)')
  link.start()
  const s = manager.streams[0]
  s?.open()
  s?.send({ gossipKeys: { version: 2, keys: [K1, K2] } })
  await clock.advance(0)
  t.same(got.at(-1), { version: 2, keys: [K1, K2] }, 'a pushed keyring is handed on')
  t.same(manager.gossipAcks, [{ version: 2 }], 'and its version acknowledged')
  s?.send({ gossipKeys: { version: 3, keys: ['not-a-key'] } })
  s?.send({ gossipKeys: { version: 0, keys: [K1] } })
  await clock.advance(0)
  t.equal(got.length, 2, 'malformed keyrings are not handed on')
  t.equal(manager.gossipAcks.length, 1, 'nor acknowledged')
  t.match(logs.join('\n'), /gossip keyring from the manager refused/)
  accept = false
  s?.send({ gossipKeys: { version: 4, keys: [K2] } })
  await clock.advance(0)
  t.equal(got.length, 3)
  t.equal(manager.gossipAcks.length, 1, 'a keyring the agent could not apply is not acknowledged')
  t.notOk(readFileSync(join(dataDir, 'node.json'), 'utf8').includes(K1), 'node.json holds no gossip key')
})

t.test('a node that was away catches up: the reopened stream\'s keyring is handed on and acknowledged', async (t) => {
  const clock = new FakeClock()
  const manager = new FakeManager(clock)
  const got: GossipKeyring[] = []
  const link = new WorkerLink({
    transport: manager, clock, dataDir: tmp(t), hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1, memoryBytes: 1 },
    onAssignments: () => undefined, onGossipKeys: (k) => { got.push(k); return true }, log: () => undefined,
  })
  t.teardown(() => link.stop())
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: manager.address }, await fakeNodeTls('n1'))
  link.start()
  manager.streams[0]?.open()
  manager.streams[0]?.send({ gossipKeys: { version: 1, keys: [K1] } })
  manager.streams[0]?.drop() // the manager went away; a whole rotation happened meanwhile
  await clock.advance(250)
  const again = manager.streams[1]
  again?.open()
  again?.send({ gossipKeys: { version: 4, keys: [K2] } })
  await clock.advance(0)
  t.same(got.at(-1), { version: 4, keys: [K2] }, 'the keyring after the rotation, at once when the stream reopens')
  t.same(manager.gossipAcks.map((a) => a.version), [1, 4], 'acknowledged')
})
