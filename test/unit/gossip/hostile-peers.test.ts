import t, { type Test } from 'tap'
import { encodeMessage, encodePacket } from '../../../src/gossip/codec.ts'
import { SERF_MSG, encodeSerfMessage, encodeTags } from '../../../src/gossip/serf-wire.ts'
import type { Address } from '../../../src/gossip/transport.ts'
import { MSG, VSN, type PacketMessage } from '../../../src/gossip/wire.ts'
import type { FakeTransport } from '../../support/fake-network.ts'
import { SimCluster, type SimNode } from '../../support/sim-cluster.ts'

// The security review's gossip findings (#5, #11), replayed against a simulated cluster: an unauthenticated
// sender on the network forges memberlist and serf messages. Each case failed before the fix it names.

const INCARNATION_MAX = 0xffff_ffff

/** A host on the fake network that is not a member: it sends forged packets and records what reaches it. */
interface Outsider {
  addr: Address
  transport: FakeTransport
  received: Uint8Array[]
  send(to: Address, msgs: PacketMessage[]): void
}

async function outsider(c: SimCluster, last: number): Promise<Outsider> {
  const addr = { ip: `127.99.0.${last}`, port: 7946 }
  const transport = c.net.transport(addr)
  const received: Uint8Array[] = []
  await transport.listen({
    onPacket: (data) => received.push(data),
    frame: () => null,
    onStream: async () => null,
    onStreamError: () => null,
  })
  return {
    addr, transport, received,
    send: (to, msgs) => transport.sendPacket(to, encodePacket(msgs.map(encodeMessage), { crc: false, compress: false, keyring: null })),
  }
}

async function cluster(t: Test, n: number, config = {}): Promise<SimCluster> {
  const c = new SimCluster({ nodes: n, seed: 3, config })
  t.teardown(() => c.stopAll())
  await c.startAll()
  t.ok(await c.until(() => c.fullyConverged(), 30_000) >= 0, `${n} nodes converge`)
  return c
}

const node = (c: SimCluster, i: number) => c.nodes[i] as SimNode

/** A serf message wrapped as a memberlist user message. */
const serfUser = (msg: Parameters<typeof encodeSerfMessage>[0]): PacketMessage => ({ type: MSG.user, Payload: encodeSerfMessage(msg) })

t.test('one spoofed dead at incarnation 0xFFFFFFFF does not evict a live node', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  const dead: PacketMessage = { type: MSG.dead, Incarnation: INCARNATION_MAX, Node: 'n1', From: 'n0' }
  evil.send(node(c, 0).addr, [dead])
  evil.send(node(c, 2).addr, [dead])
  await c.clock.advance(30_000)
  t.ok(c.everyLiveNodeSees('n1', ['alive']), 'every node still sees n1 alive')
  t.ok(node(c, 1).gossip.member('n1')!.incarnation < INCARNATION_MAX, 'n1 did not have to refute at the top of the range')
})

t.test('a spoofed suspect at incarnation 0xFFFFFFFF is ignored, one just below it is refuted', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  evil.send(node(c, 0).addr, [{ type: MSG.suspect, Incarnation: INCARNATION_MAX, Node: 'n1', From: 'n2' }])
  await c.clock.advance(30_000)
  t.ok(c.everyLiveNodeSees('n1', ['alive']), 'n1 alive everywhere after a suspect at the top')
  evil.send(node(c, 0).addr, [{ type: MSG.dead, Incarnation: INCARNATION_MAX - 1, Node: 'n1', From: 'n2' }])
  const back = await c.until(() => c.everyLiveNodeSees('n1', ['alive']) && node(c, 0).gossip.member('n1')!.incarnation === INCARNATION_MAX, 30_000)
  t.ok(back >= 0, `n1 refutes a dead at 0xFFFFFFFE with 0xFFFFFFFF and is alive everywhere (${back} ms)`)
  t.doesNotThrow(() => node(c, 1).gossip.setTags({ after: 'top' }), 'a tag update at the top does not overflow')
  await c.clock.advance(5_000)
  t.equal(node(c, 0).gossip.member('n1')!.incarnation, INCARNATION_MAX, 'n1 stays at the top of the range')
  t.ok(c.everyLiveNodeSees('n1', ['alive']), 'and alive everywhere')
})

t.test('a flood of fake members stops at gossip.maxMembers; real members keep working', async (t) => {
  const c = await cluster(t, 3, { maxMembers: 20 })
  const evil = await outsider(c, 1)
  for (let i = 0; i < 200; i++) {
    evil.send(node(c, 0).addr, [{
      type: MSG.alive, Incarnation: 1, Node: `fake${i}`, Addr: Uint8Array.of(127, 98, i >> 8, i & 255), Port: 7946,
      Meta: encodeTags({}), Vsn: Uint8Array.from(VSN),
    }])
  }
  await c.clock.advance(5_000)
  for (const n of c.live()) {
    t.ok(n.gossip.members().length <= 20, `${n.name} lists ${n.gossip.members().length} members (cap 20)`)
  }
  t.ok(node(c, 0).gossip.counters().membersRefused >= 180, `n0 counted the refused members (${node(c, 0).gossip.counters().membersRefused})`)
  node(c, 2).gossip.setTags({ still: 'working' })
  const seen = await c.until(() => node(c, 0).gossip.member('n2')?.tags.still === 'working', 10_000)
  t.ok(seen >= 0, 'an existing member\'s update still spreads')
  await c.kill(2)
  const died = await c.until(() => node(c, 0).gossip.member('n2')?.state === 'dead', 120_000)
  t.ok(died >= 0, `failure detection still works (n2 dead after ${died} ms)`)
})

t.test('a serf relay to an address that is not a member is not forwarded', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  const victim = await outsider(c, 2)
  const inner = encodeSerfMessage({ type: SERF_MSG.userEvent, LTime: 1, Name: 'x', Payload: new Uint8Array(900), CC: false })
  const relay = (to: Address) => serfUser({
    type: SERF_MSG.relay, DestAddr: Uint8Array.from(to.ip.split('.').map(Number)), DestPort: to.port, DestZone: '', DestName: '', Inner: inner,
  })
  evil.send(node(c, 0).addr, [relay(victim.addr)])
  await c.clock.advance(1_000)
  t.equal(victim.received.length, 0, 'nothing reached the outsider')
  const events: string[] = []
  node(c, 2).gossip.on((e) => { if (e.type === 'user') events.push(e.name) })
  evil.send(node(c, 0).addr, [relay(node(c, 2).addr)])
  await c.clock.advance(1_000)
  t.same(events, ['x'], 'a relay to a member is still forwarded')
})

t.test('a query ack goes only to the member that asked, at its gossip address', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  const victim = await outsider(c, 2)
  const query = (from: string, to: Address, id: number) => serfUser({
    type: SERF_MSG.query, LTime: 5, ID: id, Addr: Uint8Array.from(to.ip.split('.').map(Number)), Port: to.port,
    SourceNode: from, Filters: null, Flags: 1 | 2, RelayFactor: 0, Timeout: 1e9, Name: 'q', Payload: new Uint8Array(),
  })
  evil.send(node(c, 0).addr, [query('ghost', victim.addr, 1)])
  evil.send(node(c, 0).addr, [query('n2', victim.addr, 2)])
  await c.clock.advance(1_000)
  t.equal(victim.received.length, 0, 'no ack for an unknown source, nor for a member\'s name at another address')
})

t.test('an indirect ping is relayed only to a member, and answered only to a member', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  const victim = await outsider(c, 2)
  const bytes = (a: Address) => Uint8Array.from(a.ip.split('.').map(Number))
  evil.send(node(c, 0).addr, [{
    type: MSG.indirectPing, SeqNo: 1, Target: bytes(victim.addr), Port: victim.addr.port, Node: 'ghost', Nack: true,
    SourceAddr: bytes(evil.addr), SourcePort: evil.addr.port, SourceNode: 'evil',
  }])
  evil.send(node(c, 0).addr, [{
    type: MSG.indirectPing, SeqNo: 2, Target: bytes(node(c, 2).addr), Port: 7946, Node: 'n2', Nack: true,
    SourceAddr: bytes(victim.addr), SourcePort: victim.addr.port, SourceNode: 'victim',
  }])
  await c.clock.advance(2_000)
  t.equal(victim.received.length, 0, 'no ping to a non-member target, no ack or nack to a non-member requester')
  t.equal(evil.received.length, 0, 'and nothing back to the outsider')
})

t.test('tags with control characters or odd keys are not taken from a member, nor published by us', async (t) => {
  const c = await cluster(t, 2)
  const evil = await outsider(c, 1)
  const cases: { name: string; tags: Record<string, string> }[] = [
    { name: 'bad1', tags: { 'mesh.subnet': '10.77.9.0/24\nallowed_ip=0.0.0.0/0' } },
    { name: 'bad2', tags: { 'a key': 'v' } },
    { name: 'good', tags: { 'mesh.subnet': '10.77.9.0/24', role: 'web' } },
  ]
  for (const [i, x] of cases.entries()) {
    evil.send(node(c, 0).addr, [{
      type: MSG.alive, Incarnation: 1, Node: x.name, Addr: Uint8Array.of(127, 98, 0, i + 1), Port: 7946,
      Meta: encodeTags(x.tags), Vsn: Uint8Array.from(VSN),
    }])
  }
  await c.clock.advance(100)
  const g = node(c, 0).gossip
  t.same(g.member('bad1')?.tags, {}, 'a newline in a value: the member is listed without tags')
  t.same(g.member('bad2')?.tags, {}, 'a space in a key: the member is listed without tags')
  t.same(g.member('good')?.tags, cases[2]!.tags, 'valid tags are taken')
  t.ok(g.counters().tagsRefused >= 2, `refusals counted (${g.counters().tagsRefused})`)
  t.throws(() => g.setTags({ x: 'a\r\nb' }), { code: 'MESH_ERR_CONFIG' }, 'we do not publish a control character')
  t.throws(() => g.updateTags({ '': 'v' }), { code: 'MESH_ERR_CONFIG' }, 'nor an empty key')
  t.same(g.tags, {}, 'our tags are unchanged')
})

t.test('failed members beyond gossip.maxDeadMembers are reaped, oldest first', async (t) => {
  const c = await cluster(t, 6, { maxDeadMembers: 2 })
  const reaped: string[] = []
  node(c, 0).gossip.on((e) => { if (e.type === 'reap') reaped.push(e.member.name) })
  for (const i of [3, 4, 5]) {
    await c.kill(i)
    const failed = await c.until(() => node(c, 0).gossip.member(`n${i}`)?.status !== 'alive', 120_000)
    t.ok(failed >= 0, `n${i} is seen failed (or already reaped) (${failed} ms)`)
  }
  const gone = node(c, 0).gossip.members().filter((m) => m.status === 'failed' || m.status === 'left')
  t.equal(gone.length, 2, 'two failed members are kept')
  t.same(reaped, ['n3'], 'the one that failed first was reaped')
  t.equal(node(c, 0).gossip.counters().membersReaped, 1, 'and counted')
  t.equal(node(c, 0).gossip.aliveCount(), 3, 'the live members are untouched')
})

t.test('a ping from a non-member is acked without piggybacked broadcasts (no amplification)', async (t) => {
  const c = await cluster(t, 3)
  const evil = await outsider(c, 1)
  node(c, 0).gossip.setTags({ filler: 'x'.repeat(300) })
  const ping: PacketMessage = {
    type: MSG.ping, SeqNo: 7, Node: '', SourceAddr: Uint8Array.of(127, 99, 0, 1), SourcePort: 7946, SourceNode: 'evil',
  }
  evil.send(node(c, 0).addr, [ping])
  await c.clock.advance(10)
  const sent = encodePacket([encodeMessage(ping)], { crc: false, compress: false, keyring: null }).length
  t.equal(evil.received.length, 1, 'the ping is acked')
  t.ok((evil.received[0]?.length ?? Infinity) <= sent, `the ack (${evil.received[0]?.length} B) is no bigger than the ping (${sent} B)`)
})
