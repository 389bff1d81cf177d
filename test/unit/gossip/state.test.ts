import t from 'tap'
import { seededRandom } from '../../../src/base/clock.ts'
import { MemberTable, type MemberEvent } from '../../../src/gossip/state.ts'
import { MSG, type Alive, type PacketMessage } from '../../../src/gossip/wire.ts'
import { FakeClock } from '../../support/fake-clock.ts'

// memberlist's state rules, table-driven: which alive/suspect/dead messages are accepted, what is re-gossiped,
// and what the table emits.

const VSN = Uint8Array.of(1, 5, 2, 2, 5, 5)
const alive = (node: string, inc: number, ip = 10, meta = ''): Alive => ({
  type: MSG.alive, Node: node, Incarnation: inc, Addr: Uint8Array.of(127, 0, 0, ip), Port: 7946, Meta: Buffer.from(meta), Vsn: VSN,
})

function setup(leaving = false, maxMembers = 4096) {
  const clock = new FakeClock()
  const sent: PacketMessage[] = []
  const events: MemberEvent[] = []
  const refused: string[] = []
  let health = 0
  const table = new MemberTable({
    clock, random: seededRandom(1), selfName: 'me', suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1000,
    deadNodeReclaimMs: 0, maxMembers, refused: (name) => refused.push(name),
    broadcast: (_k, m) => sent.push(m), emit: (e) => events.push(e), healthDelta: (d) => { health += d },
    leaving: () => leaving,
  })
  table.alive(alive('me', 1, 1), true)
  sent.length = 0
  events.length = 0
  return { clock, table, sent, events, refused, health: () => health }
}

t.test('alive rules', async (t) => {
  const cases = [
    { name: 'new node joins', before: [], msg: alive('a', 1), state: 'alive', inc: 1, event: 'join', gossiped: true },
    { name: 'older incarnation ignored', before: [alive('a', 5)], msg: alive('a', 4), state: 'alive', inc: 5, event: null, gossiped: false },
    { name: 'same incarnation ignored', before: [alive('a', 5)], msg: alive('a', 5, 10, 'x'), state: 'alive', inc: 5, event: null, gossiped: false },
    { name: 'newer incarnation with new meta is an update', before: [alive('a', 5)], msg: alive('a', 6, 10, 'x'), state: 'alive', inc: 6, event: 'update', gossiped: true },
    { name: 'other address for a live name is a conflict', before: [alive('a', 1)], msg: alive('a', 9, 11), state: 'alive', inc: 1, event: 'conflict', gossiped: false },
    { name: 'Vsn of 3 bytes is dropped', before: [], msg: { ...alive('b', 1), Vsn: Uint8Array.of(1, 5, 2) }, state: undefined, inc: undefined, event: null, gossiped: false },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const s = setup()
      for (const b of c.before) s.table.alive(b)
      s.sent.length = 0
      s.events.length = 0
      s.table.alive(c.msg)
      const m = s.table.get(c.msg.Node)
      t.equal(m?.state, c.state, 'state')
      t.equal(m?.incarnation, c.inc, 'incarnation')
      t.equal(s.events[0]?.type ?? null, c.event, 'event')
      t.equal(s.sent.length > 0, c.gossiped, 'gossiped')
    })
  }
})

t.test('suspect and dead rules', async (t) => {
  const s = setup()
  s.table.alive(alive('a', 3))
  s.table.suspect({ type: MSG.suspect, Node: 'a', Incarnation: 2, From: 'x' })
  t.equal(s.table.get('a')?.state, 'alive', 'suspect with an older incarnation is ignored')
  s.table.suspect({ type: MSG.suspect, Node: 'a', Incarnation: 3, From: 'x' })
  t.equal(s.table.get('a')?.state, 'suspect', 'suspect with the current incarnation is accepted')
  // n = 2 members (me, a): k = 0, timeout = min = 4 × max(1, log10 2) × 1 s = 4 s.
  await s.clock.advance(3_999)
  t.equal(s.table.get('a')?.state, 'suspect', 'still suspect before the timeout')
  await s.clock.advance(1)
  t.equal(s.table.get('a')?.state, 'dead', 'dead when the suspicion times out')
  const deadEvent = s.events.find((e) => e.type === 'dead')
  t.ok(deadEvent, 'a dead event is emitted')
  s.table.alive(alive('a', 3))
  t.equal(s.table.get('a')?.state, 'dead', 'alive with the same incarnation does not resurrect')
  s.table.alive(alive('a', 4))
  t.equal(s.table.get('a')?.state, 'alive', 'alive with a newer incarnation does')
  s.table.dead({ type: MSG.dead, Node: 'a', Incarnation: 4, From: 'a' })
  t.equal(s.table.get('a')?.state, 'left', 'dead from the node itself means left')
  s.table.alive(alive('a', 1, 12))
  t.equal(s.table.get('a')?.ip, '127.0.0.12', 'a left name can come back from a new address')
})

t.test('refutation: suspicion or death about us bumps our incarnation and costs health', async (t) => {
  const s = setup()
  s.table.suspect({ type: MSG.suspect, Node: 'me', Incarnation: 1, From: 'x' })
  t.equal(s.table.self().state, 'alive', 'we stay alive')
  t.equal(s.table.self().incarnation, 2, 'incarnation bumped past the accusation')
  t.equal(s.sent.at(-1)?.type, MSG.alive, 'an alive is gossiped')
  s.table.dead({ type: MSG.dead, Node: 'me', Incarnation: 7, From: 'x' })
  t.equal(s.table.self().incarnation, 8, 'death refuted with incarnation 8')
  s.table.alive(alive('me', 9, 1, 'other'))
  t.equal(s.table.self().incarnation, 10, 'a newer alive about us (other meta) is refuted too')
  t.equal(s.health(), 3, 'each refutation raised the health score')
})

t.test('push/pull merge: remote dead becomes suspect locally, never instantly dead', async (t) => {
  const s = setup()
  s.table.alive(alive('a', 1))
  s.table.merge([{ Name: 'a', Addr: Uint8Array.of(127, 0, 0, 10), Port: 7946, Meta: new Uint8Array(), Incarnation: 1, State: 2, Vsn: VSN }])
  t.equal(s.table.get('a')?.state, 'suspect')
  s.table.merge([{ Name: 'b', Addr: Uint8Array.of(127, 0, 0, 11), Port: 7946, Meta: new Uint8Array(), Incarnation: 2, State: 0, Vsn: VSN }])
  t.equal(s.table.get('b')?.state, 'alive', 'unknown alive node is added')
})

t.test('while leaving, our own death is accepted as left', async (t) => {
  const s = setup(true)
  s.table.dead({ type: MSG.dead, Node: 'me', Incarnation: 1, From: 'me' })
  t.equal(s.table.self().state, 'left')
})

t.test('incarnation at the top of its range (security review #5)', async (t) => {
  const MAX = 0xffff_ffff
  const cases = [
    { name: 'dead at MAX from the network is ignored', apply: (s: ReturnType<typeof setup>) => s.table.dead({ type: MSG.dead, Node: 'a', Incarnation: MAX, From: 'x' }), state: 'alive', inc: 3 },
    { name: 'suspect at MAX from the network is ignored', apply: (s: ReturnType<typeof setup>) => s.table.suspect({ type: MSG.suspect, Node: 'a', Incarnation: MAX, From: 'x' }), state: 'alive', inc: 3 },
    { name: 'a leave at MAX from the network is ignored', apply: (s: ReturnType<typeof setup>) => s.table.dead({ type: MSG.dead, Node: 'a', Incarnation: MAX, From: 'a' }), state: 'alive', inc: 3 },
    { name: 'dead just below MAX is accepted (it can be refuted)', apply: (s: ReturnType<typeof setup>) => s.table.dead({ type: MSG.dead, Node: 'a', Incarnation: MAX - 1, From: 'x' }), state: 'dead', inc: MAX - 1 },
    { name: 'our own suspicion at MAX is accepted', apply: (s: ReturnType<typeof setup>) => { s.table.alive(alive('a', MAX)); s.table.suspect({ type: MSG.suspect, Node: 'a', Incarnation: MAX, From: 'me' }, true) }, state: 'suspect', inc: MAX },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const s = setup()
      s.table.alive(alive('a', 3))
      c.apply(s)
      t.equal(s.table.get('a')?.state, c.state, 'state')
      t.equal(s.table.get('a')?.incarnation, c.inc, 'incarnation')
    })
  }
  t.test('refutations and meta updates saturate at MAX instead of overflowing', async (t) => {
    const s = setup()
    s.table.dead({ type: MSG.dead, Node: 'me', Incarnation: MAX - 1, From: 'x' })
    t.equal(s.table.self().incarnation, MAX, 'dead at MAX - 1 refuted with MAX')
    s.table.alive(alive('me', MAX, 1, 'other'))
    t.equal(s.table.self().incarnation, MAX, 'a conflicting alive at MAX leaves us at MAX')
    t.equal(s.table.bumpSelf().incarnation, MAX, 'a meta update at MAX stays at MAX')
    t.equal(s.table.self().state, 'alive', 'still alive')
  })
})

t.test('member cap (security review #11)', async (t) => {
  const s = setup(false, 3)
  s.table.alive(alive('a', 1, 10))
  s.table.alive(alive('b', 1, 11))
  s.table.alive(alive('c', 1, 12))
  t.equal(s.table.get('c'), undefined, 'a member beyond the cap is not added')
  t.same(s.refused, ['c'], 'and is counted as refused')
  s.table.alive(alive('a', 2, 10, 'new-meta'))
  t.equal(s.table.get('a')?.incarnation, 2, 'a known member still updates')
  s.table.dead({ type: MSG.dead, Node: 'b', Incarnation: 1, From: 'x' })
  await s.clock.advance(10)
  s.table.alive(alive('c', 1, 12))
  t.equal(s.table.get('c')?.state, 'alive', 'a dead member is forgotten to make room')
  t.equal(s.table.get('b'), undefined, 'the dead member is gone')
  t.notOk(s.table.order().includes('b'), 'and out of the probe order')
  t.equal(s.table.size, 3, 'the table stays at the cap')
})
