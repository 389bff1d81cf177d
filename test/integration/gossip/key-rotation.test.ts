/**
 * Gossip key rotation on real sockets: four in-process Gossip instances on 127.0.55.1-4 (UDP+TCP, real clock),
 * keyrings published by the manager's rotation state machine and applied node by node as watch streams would,
 * three rotations while the nodes keep probing each other: no member is ever suspected and no packet fails to
 * decrypt. Then a plaintext alive from a socket that holds no key is dropped.
 *
 * Addresses: 127.0.55.0/24 only. Every instance is stopped in teardown.
 */
import dgram from 'node:dgram'
import t from 'tap'
import { localGossipConfig } from '../../../src/config/gossip.ts'
import { Gossip } from '../../../src/gossip/index.ts'
import { encodeMessage, encodePacket } from '../../../src/gossip/codec.ts'
import { encodeTags } from '../../../src/gossip/serf-wire.ts'
import { MSG, VSN } from '../../../src/gossip/wire.ts'
import { keyFingerprint } from '../../../src/base/secret.ts'
import { beginRotation, nextRotationStep, type ClusterKeyring, type Rotation } from '../../../src/manager/key-rotation.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const newKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
const bytes = (k: string) => Uint8Array.from(Buffer.from(k, 'base64'))

const first = newKey()
const nodes = [1, 2, 3, 4].map((i) => new Gossip({
  ...localGossipConfig(), name: `r${i}`, bindAddr: `127.0.55.${i}`, bindPort: 7946, advertiseAddr: `127.0.55.${i}`, advertisePort: 7946,
  encryptKeys: [first], join: i === 1 ? [] : ['127.0.55.1:7946'],
}))
t.teardown(async () => { for (const g of nodes) await g.stop() })
for (const g of nodes) await g.start()

const sum = (k: 'suspicions' | 'decryptFailures') => nodes.reduce((s, g) => s + g.counters()[k], 0)
const allAlive = () => nodes.every((g) => g.aliveCount() === nodes.length)

t.test('three rotations under probing: no suspicion, no decrypt failure', { timeout: 300_000 }, async (t) => {
  for (const end = Date.now() + 30_000; !allAlive() && Date.now() < end;) await sleep(100)
  t.ok(allAlive(), 'four encrypted nodes see each other alive')
  const suspicions = sum('suspicions')
  const failures = sum('decryptFailures')
  let ring: ClusterKeyring = { version: 1, keys: [first], rotatedAt: 0 }
  const push = async (r: ClusterKeyring) => {
    for (const g of nodes) {
      g.applyKeys(r.keys.map(bytes))
      await sleep(150) // watch streams deliver one node after another
    }
  }
  const finals: string[] = []
  for (let round = 1; round <= 3; round++) {
    const begun = beginRotation(ring, newKey(), Date.now(), 30_000)
    ring = begun.ring
    let rotation: Rotation | null = begun.rotation
    await push(ring)
    while (rotation) {
      await sleep(500)
      const acks = new Map(nodes.map((g) => [g.config.name, ring.version]))
      const step = nextRotationStep({ ring, rotation, readyNodes: [...acks.keys()], acks, now: Date.now() }, 30_000)
      if (step.kind !== 'advance') return t.fail(`round ${round}: ${step.kind}`)
      const changed = step.ring.version !== ring.version
      ring = step.ring
      rotation = step.rotation
      if (changed) await push(ring)
    }
    finals.push(keyFingerprint(bytes(ring.keys[0] as string)))
    await sleep(1500)
    t.ok(allAlive(), `round ${round}: every node sees every node alive`)
    t.ok(nodes.every((g) => g.keys().length === 1 && g.keys()[0]?.fingerprint === finals.at(-1)), `round ${round}: every node holds only the new key`)
  }
  t.equal(sum('suspicions') - suspicions, 0, 'no member was suspected')
  t.equal(sum('decryptFailures') - failures, 0, 'no packet failed to decrypt')
  t.equal(new Set(finals).size, 3, 'three different keys')
})

t.test('a plaintext alive from a keyless socket is dropped', async (t) => {
  const sock = dgram.createSocket('udp4')
  await new Promise<void>((r) => sock.bind(7946, '127.0.55.9', r))
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  const before = nodes[0]?.counters().decryptFailures ?? 0
  const alive = { type: MSG.alive, Incarnation: 1, Node: 'intruder', Addr: Uint8Array.of(127, 0, 55, 9), Port: 7946, Meta: encodeTags({}), Vsn: Uint8Array.from(VSN) }
  sock.send(encodePacket([encodeMessage(alive)], { crc: false, compress: false, keyring: null }), 7946, '127.0.55.1')
  for (const end = Date.now() + 20_000; (nodes[0]?.counters().decryptFailures ?? 0) === before && Date.now() < end;) await sleep(20)
  await sleep(300) // nothing more comes of it
  t.equal((nodes[0]?.counters().decryptFailures ?? 0) - before, 1, 'counted as a decrypt failure')
  t.notOk(nodes.some((g) => g.member('intruder')), 'no node lists the intruder')
  t.equal(nodes[0]?.members().length, 4, 'the member list is unchanged')
})
