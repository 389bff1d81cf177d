/**
 * Gossip keyrings at runtime: Keyring.apply's order (install, use, remove), fingerprints, Gossip's keyring operations,
 * and, on a simulated cluster (real Gossip, real codec and AES-GCM, fake network and clock), three rotations driven by
 * the manager's state machine under SWIM probing with no member ever suspected and no packet failing to decrypt; an
 * unkeyed packet to encrypted agents is dropped.
 */
import t, { type Test } from 'tap'
import { ConfigError } from '../../../src/base/errors.ts'
import { keyFingerprint } from '../../../src/base/secret.ts'
import { Keyring } from '../../../src/gossip/keyring.ts'
import { Gossip } from '../../../src/gossip/index.ts'
import { encodeMessage, encodePacket } from '../../../src/gossip/codec.ts'
import { encodeTags } from '../../../src/gossip/serf-wire.ts'
import { MSG, VSN } from '../../../src/gossip/wire.ts'
import { lanGossipConfig } from '../../../src/config/gossip.ts'
import { beginRotation, nextRotationStep, type ClusterKeyring, type Rotation } from '../../../src/manager/key-rotation.ts'
import { SimCluster, type SimNode } from '../../support/sim-cluster.ts'

const key = (n: number) => new Uint8Array(32).fill(n)
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64')
const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'base64'))

t.test('Keyring.apply: install first, then switch primary, then remove', async (t) => {
  const cases = [
    { name: 'install a secondary', from: [1], to: [1, 2], want: [1, 2], changed: { installed: 1, primaryChanged: false, removed: 0 } },
    { name: 'switch primary', from: [1, 2], to: [2, 1], want: [2, 1], changed: { installed: 0, primaryChanged: true, removed: 0 } },
    { name: 'remove the old key', from: [2, 1], to: [2], want: [2], changed: { installed: 0, primaryChanged: false, removed: 1 } },
    { name: 'all at once (a node that was down)', from: [1], to: [3], want: [3], changed: { installed: 1, primaryChanged: true, removed: 1 } },
    { name: 'the same keyring: nothing changes', from: [4, 5], to: [4, 5], want: [4, 5], changed: { installed: 0, primaryChanged: false, removed: 0 } },
  ]
  for (const c of cases) {
    const ring = new Keyring(c.from.map(key))
    t.same(ring.apply(c.to.map(key)), c.changed, `${c.name}: what changed`)
    t.same(ring.keys(), c.want.map(key), `${c.name}: the keys, primary first`)
  }
  const ring = new Keyring([key(1)])
  t.throws(() => ring.apply([]), ConfigError, 'an empty keyring is refused')
  t.throws(() => ring.apply([new Uint8Array(7)]), /got 7/, 'a bad key is refused')
  t.same(ring.keys(), [key(1)], 'a refused keyring changes nothing')
})

t.test('fingerprints name the keys without revealing them', async (t) => {
  const ring = new Keyring([key(1), key(2)])
  const fps = ring.fingerprints()
  t.same(fps.map((f) => f.primary), [true, false])
  t.match(fps[0]?.fingerprint, /^sha256:[0-9a-f]{16}$/)
  t.equal(fps[0]?.fingerprint, keyFingerprint(key(1)))
  t.not(fps[0]?.fingerprint, fps[1]?.fingerprint)
  t.notOk(JSON.stringify(fps).includes(b64(key(1))), 'no key in the output')
})

t.test('Gossip keyring operations', async (t) => {
  const config = { ...lanGossipConfig(), name: 'g', bindAddr: '127.0.0.1', advertiseAddr: '127.0.0.1', bindPort: 0 }
  const plain = new Gossip(config)
  t.equal(plain.encrypted, false)
  t.same(plain.keys(), [])
  t.throws(() => plain.installKey(key(1)), /not encrypted.*--gossip-plaintext/, 'plaintext gossip has no keyring to change')
  plain.setKeyring([key(1)])
  t.equal(plain.encrypted, true, 'setKeyring before start turns encryption on')
  const g = new Gossip({ ...config, encryptKeys: [b64(key(1))] })
  t.equal(g.installKey(key(2)), true)
  g.useKey(key(2))
  t.equal(g.removeKey(key(1)), true)
  t.same(g.keys(), [{ fingerprint: keyFingerprint(key(2)), primary: true }])
  t.throws(() => g.removeKey(key(2)), /primary/, 'never the primary')
})

async function cluster(t: Test, n: number, keys: string[]): Promise<SimCluster> {
  const c = new SimCluster({ nodes: n, seed: 11, config: { encryptKeys: keys } })
  t.teardown(() => c.stopAll())
  await c.startAll()
  t.ok(await c.until(() => c.fullyConverged(), 30_000) >= 0, `${n} encrypted nodes converge`)
  return c
}

const total = (c: SimCluster, k: 'suspicions' | 'decryptFailures') => c.nodes.reduce((s, n) => s + n.gossip.counters()[k], 0)

/** Push a keyring to every node as watch streams would: one node after another, `staggerMs` apart. */
async function push(c: SimCluster, ring: ClusterKeyring, staggerMs: number): Promise<void> {
  for (const n of c.nodes) {
    n.gossip.applyKeys(ring.keys.map(bytes))
    await c.clock.advance(staggerMs)
  }
}

t.test('three rotations under probing: no member suspected, no packet failing to decrypt', async (t) => {
  const first = b64(key(1))
  const c = await cluster(t, 5, [first])
  const suspicionsBefore = total(c, 'suspicions')
  const decryptBefore = total(c, 'decryptFailures')
  let ring: ClusterKeyring = { version: 1, keys: [first], rotatedAt: 0 }
  const ids = c.nodes.map((n) => n.name)
  for (let round = 1; round <= 3; round++) {
    const begun = beginRotation(ring, b64(key(10 + round)), c.clock.now(), 30_000)
    ring = begun.ring
    let rotation: Rotation | null = begun.rotation
    await push(c, ring, 300)
    while (rotation) {
      await c.clock.advance(1000) // acks come back; probes and gossip go on meanwhile
      const acks = new Map(ids.map((id) => [id, ring.version]))
      const step = nextRotationStep({ ring, rotation, readyNodes: ids, acks, now: c.clock.now() }, 30_000)
      if (step.kind !== 'advance') return t.fail(`round ${round}: ${step.kind}`)
      const changed = step.ring.version !== ring.version
      ring = step.ring
      rotation = step.rotation
      if (changed) await push(c, ring, 300)
    }
    await c.clock.advance(5000)
    t.ok(c.nodes.every((n: SimNode) => c.everyLiveNodeSees(n.name, ['alive'])), `round ${round}: every node sees every node alive`)
    t.ok(c.nodes.every((n) => n.gossip.keys().length === 1 && n.gossip.keys()[0]?.fingerprint === keyFingerprint(key(10 + round))),
      `round ${round}: every node holds only the new key`)
  }
  t.equal(total(c, 'suspicions') - suspicionsBefore, 0, 'no member was ever suspected')
  t.equal(total(c, 'decryptFailures') - decryptBefore, 0, 'no packet failed to decrypt')
  t.comment(`packetsIn: ${c.nodes.map((n) => n.gossip.counters().packetsIn).join(',')}`)
  t.ok(c.nodes.every((n) => n.gossip.counters().packetsIn > 50), 'the nodes kept talking throughout')
})

t.test('control: switching the primary node by node without installing first does lose packets', async (t) => {
  const c = await cluster(t, 5, [b64(key(1))])
  const before = total(c, 'decryptFailures')
  for (const n of c.nodes) {
    n.gossip.applyKeys([key(2)]) // new primary, old key dropped, on one node at a time
    await c.clock.advance(1000)
  }
  t.ok(total(c, 'decryptFailures') - before > 0, 'decrypt failures counted: the rotation test above can fail')
})

t.test('an unkeyed packet to an encrypted agent is dropped: the member list does not change', async (t) => {
  for (const encrypted of [true, false]) {
    const c = new SimCluster({ nodes: 3, seed: 5, config: encrypted ? { encryptKeys: [b64(key(1))] } : {} })
    t.teardown(() => c.stopAll())
    await c.startAll()
    await c.until(() => c.fullyConverged(), 30_000)
    const evil = c.net.transport({ ip: '127.99.0.1', port: 7946 })
    await evil.listen({ onPacket: () => undefined, frame: () => null, onStream: async () => null, onStreamError: () => null })
    const target = c.nodes[0] as SimNode
    const before = target.gossip.counters().decryptFailures
    const alive = { type: MSG.alive, Incarnation: 1, Node: 'intruder', Addr: Uint8Array.of(127, 99, 0, 1), Port: 7946, Meta: encodeTags({}), Vsn: Uint8Array.from(VSN) }
    evil.sendPacket(target.addr, encodePacket([encodeMessage(alive)], { crc: false, compress: false, keyring: null }))
    await c.clock.advance(100)
    const names = target.gossip.members().map((m) => m.name)
    if (encrypted) {
      t.notOk(names.includes('intruder'), 'encrypted: the intruder is not a member')
      t.same(names.sort(), ['n0', 'n1', 'n2'], 'encrypted: the member list is unchanged')
      t.equal(target.gossip.counters().decryptFailures - before, 1, 'encrypted: counted as a decrypt failure')
    } else {
      t.ok(names.includes('intruder'), 'control, plaintext: the same packet adds a member (what encryption stops)')
    }
  }
})

t.test('a node down during a rotation comes back with the old key and catches up from the pushed keyring', async (t) => {
  const old = b64(key(1))
  const c = await cluster(t, 4, [old])
  await c.kill(3)
  await c.until(() => c.everyLiveNodeSees('n3', ['dead', 'left']), 60_000)
  for (const n of c.nodes.slice(0, 3)) n.gossip.applyKeys([key(1), key(2)])
  await c.clock.advance(1000)
  for (const n of c.nodes.slice(0, 3)) n.gossip.applyKeys([key(2), key(1)])
  await c.clock.advance(1000)
  for (const n of c.nodes.slice(0, 3)) n.gossip.applyKeys([key(2)])
  const back = c.extraNode('n3', 3) // restarted with gossip-keys.json from before the rotation
  c.nodes[3] = back
  await back.gossip.start()
  back.alive = true
  const joined = await c.settle(back.gossip.join([`${SimCluster.address(0).ip}:7946`]).then(() => true, () => false))
  t.equal(joined, false, 'with the old key alone it cannot join (its peers dropped that key)')
  back.gossip.applyKeys([key(2)]) // its watch stream reconnects: the current keyring, all at once
  await c.settle(back.gossip.join([`${SimCluster.address(0).ip}:7946`]))
  t.ok(await c.until(() => c.fullyConverged(), 30_000) >= 0, 'caught up: every node sees all four alive')
})
