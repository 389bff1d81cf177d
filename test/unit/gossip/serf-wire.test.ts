import t from 'tap'
import { GossipDecodeError } from '../../../src/base/errors.ts'
import { decodePacket, encodeMessage } from '../../../src/gossip/codec.ts'
import { encodeGo } from '../../../src/gossip/msgpack.ts'
import {
  SERF_MSG,
  type SerfMessage,
  type SerfPushPull,
  decodeSerfMessage,
  decodeSerfPushPull,
  decodeTags,
  encodeSerfMessage,
  encodeSerfPushPull,
  encodeTags,
} from '../../../src/gossip/serf-wire.ts'
import { MSG } from '../../../src/gossip/wire.ts'
import { V, hex, toHex } from './fixtures/spec-vectors.ts'

const text = (s: string) => new TextEncoder().encode(s)

/** The serf payload inside a captured UDP packet (after CRC and the 08). */
function payloadOf(wire: string): Uint8Array {
  const { messages, errors } = decodePacket(hex(wire))
  if (errors.length > 0 || messages.length !== 1 || messages[0]?.type !== MSG.user) throw new Error('not one user message')
  return messages[0].Payload
}

t.test('captured serf messages decode and re-encode byte for byte', async (t) => {
  const cases: { name: string; wire: string; want: SerfMessage }[] = [
    { name: 'join b', wire: V.serfJoin, want: { type: SERF_MSG.join, LTime: 1, Node: 'b' } },
    { name: 'leave c', wire: V.serfLeave, want: { type: SERF_MSG.leave, LTime: 3, Node: 'c', Prune: false } },
    { name: 'event deploy v1', wire: V.serfEvent, want: { type: SERF_MSG.userEvent, LTime: 1, Name: 'deploy', Payload: text('v1'), CC: true } },
    {
      name: 'query whoami hi', wire: V.serfQuery,
      want: {
        type: SERF_MSG.query, LTime: 1, ID: 0x03df3701, Addr: hex('7f000003'), Port: 7946, SourceNode: 'b', Filters: null, Flags: 1,
        RelayFactor: 0, Timeout: 2_000_000_000, Name: 'whoami', Payload: text('hi'),
      },
    },
    { name: 'query ack from c', wire: V.serfQueryAck, want: { type: SERF_MSG.queryResponse, LTime: 1, ID: 0x03df3701, From: 'c', Flags: 1, Payload: null } },
  ]
  for (const c of cases) {
    const payload = payloadOf(c.wire)
    t.same(decodeSerfMessage(payload), c.want, `${c.name}: fields`)
    t.equal(toHex(encodeSerfMessage(c.want)), toHex(payload), `${c.name}: serf bytes`)
  }
  const join = encodeMessage({ type: MSG.user, Payload: encodeSerfMessage({ type: SERF_MSG.join, LTime: 1, Node: 'b' }) })
  t.equal(toHex(join), V.serfJoin, 'UDP user message = 08 | serf type | msgpack')
})

t.test('other serf messages round-trip', async (t) => {
  const cases: { name: string; msg: SerfMessage; head?: string }[] = [
    {
      name: 'query with filters', msg: {
        type: SERF_MSG.query, LTime: 2 ** 40, ID: 0xffffffff, Addr: hex('00000000000000000000000000000001'), Port: 7950, SourceNode: 'x',
        Filters: [Uint8Array.of(0, ...encodeGo(['a', 'b'])), Uint8Array.of(1, ...encodeGo({ Expr: 'w.*', Tag: 'role' }))], Flags: 3,
        RelayFactor: 255, Timeout: 15_000_000_000, Name: '_serf_ping', Payload: new Uint8Array(0),
      },
    },
    { name: 'query response with payload', msg: { type: SERF_MSG.queryResponse, LTime: 9, ID: 1, From: 'y', Flags: 0, Payload: text('pong') } },
    {
      name: 'relay', msg: { type: SERF_MSG.relay, DestAddr: hex('7f000002'), DestPort: 7946, DestZone: '', DestName: 'a', Inner: hex(V.serfQueryAck).subarray(1) },
      // 09 {DestAddr {IP, Port, Zone}, DestName a} then the inner serf message (05 = query response).
      head: '0982a8446573744164647283a24950a47f000002a4506f7274cd1f0aa45a6f6e65a0a8446573744e616d65a16105',
    },
    { name: 'mesh direct', msg: { type: SERF_MSG.meshDirect, Payload: hex('000102') }, head: '6d000102' },
    { name: 'key request (opaque)', msg: { type: SERF_MSG.keyRequest, Body: hex('81a34b6579a0') }, head: '0781a34b6579a0' },
  ]
  for (const c of cases) {
    const wire = encodeSerfMessage(c.msg)
    if (c.head) t.equal(toHex(wire).slice(0, c.head.length), c.head, `${c.name}: bytes`)
    t.same(decodeSerfMessage(wire), c.msg, c.name)
  }
})

t.test('decoding refuses what serf refuses', async (t) => {
  const cases: { name: string; input: Uint8Array; error: RegExp }[] = [
    { name: 'empty', input: new Uint8Array(0), error: /empty/ },
    { name: 'unknown type', input: hex('0a80'), error: /unknown type: 10/ },
    { name: 'push/pull is not gossip', input: hex('0280'), error: /push\/pull/ },
    { name: 'Node as bin', input: hex('0182a54c54696d6501a44e6f6465c40162'), error: /failed to decode serf join message: .*Node/ },
    { name: 'LTime negative', input: hex('0181a54c54696d65ff'), error: /LTime/ },
    { name: 'truncated', input: hex('0182a54c54696d6501a44e6f6465a2'), error: /unexpected end/ },
    { name: 'relay without inner message', input: hex('0982a8446573744164647280a8446573744e616d65a161'), error: /no message/ },
    { name: 'relay port over u16', input: Uint8Array.of(9, ...encodeGo({ DestAddr: { IP: hex('7f000001'), Port: 70000 } }), 1, 0x80), error: /Port/ },
    { name: 'filters not bytes', input: Uint8Array.of(4, ...encodeGo({ Filters: [1] })), error: /Filters/ },
  ]
  for (const c of cases) {
    t.throws(() => decodeSerfMessage(c.input), GossipDecodeError, c.name)
    t.throws(() => decodeSerfMessage(c.input), c.error, c.name)
  }
  t.equal((decodeSerfMessage(hex('0182a54c54696d65cfffffffffffffffffa44e6f6465a162')) as { LTime: number }).LTime, Number.MAX_SAFE_INTEGER, 'u64 LTime past 2^53 clamps')
  t.same(decodeSerfMessage(hex('0184a4457874729190a54c54696d65cd0002a44e6f6465d90162a56f74686572c0')), { type: SERF_MSG.join, LTime: 2, Node: 'b' }, 'tolerant: unknown keys, str8, wide ints')
})

const joinState = (): Uint8Array => {
  const wire = hex(V.joinPushPull)
  return wire.subarray(wire.length - 0x49)
}

t.test('push/pull user state', async (t) => {
  const ours: SerfPushPull = { LTime: 1, StatusLTimes: { ts1: 1 }, LeftMembers: [], EventLTime: 1, Events: [], QueryLTime: 1 }
  t.same(decodeSerfPushPull(joinState()), ours, 'the accepted join state (unsorted keys)')
  const enc = encodeSerfPushPull(ours)
  t.equal(
    toHex(enc),
    '0286aa4576656e744c54696d6501a64576656e747390a54c54696d6501ab4c6566744d656d6265727390aa51756572794c54696d6501ac5374617475734c54696d657381a374733101',
    'ours: same fields, sorted',
  )
  t.equal(enc.length, joinState().length, 'same length as the accepted one')

  // serf's own: Events is array16 of 512 slots, mostly nil; one used slot.
  const used = encodeGo({ Events: [{ Name: 'deploy', Payload: text('v1') }], LTime: 1 })
  const slots = new Uint8Array(511).fill(0xc0)
  const serfs = Uint8Array.of(
    ...hex('0286aa4576656e744c54696d6502a64576656e7473dc0200'), ...slots.subarray(0, 100), ...used, ...slots.subarray(100),
    ...hex('a54c54696d6507ab4c6566744d656d6265727392a163a164aa51756572794c54696d6503ac5374617475734c54696d657383a161cd0100a162cf0000000000000005a16304'),
  )
  t.ok(serfs.length > 585, 'about serf-sized')
  t.same(decodeSerfPushPull(serfs), {
    LTime: 7, StatusLTimes: { a: 256, b: 5, c: 4 }, LeftMembers: ['c', 'd'], EventLTime: 2,
    Events: [{ LTime: 1, Events: [{ Name: 'deploy', Payload: text('v1') }] }], QueryLTime: 3,
  }, 'serf state with 512 event slots')
  const full: SerfPushPull = { ...ours, LeftMembers: ['z'], StatusLTimes: { b: 2, a: 1 }, Events: [{ LTime: 4, Events: [{ Name: 'e', Payload: text('p') }] }] }
  t.same(decodeSerfPushPull(encodeSerfPushPull(full)), full, 'ours round-trips with events')
  t.match(toHex(encodeSerfPushPull(full)), /ac5374617475734c54696d657382a16101a16202$/, 'StatusLTimes keys sorted')
  const proto = decodeSerfPushPull(Uint8Array.of(2, ...encodeGo({ StatusLTimes: new Map([['__proto__', 3]]) })))
  t.equal(Object.entries(proto.StatusLTimes).length, 1, '__proto__ is an ordinary member name')

  const errors: { name: string; input: Uint8Array; error: RegExp }[] = [
    { name: 'zero bytes', input: new Uint8Array(0), error: /zero bytes/ },
    { name: 'bad prefix', input: hex('0380'), error: /bad type prefix: 3/ },
    { name: 'LeftMembers of bin', input: Uint8Array.of(2, ...hex('81ab4c6566744d656d6265727391c40161')), error: /LeftMembers/ },
    { name: 'StatusLTimes not a map', input: Uint8Array.of(2, ...encodeGo({ StatusLTimes: [1] })), error: /StatusLTimes/ },
    { name: 'event slot not a map', input: Uint8Array.of(2, ...encodeGo({ Events: [1] })), error: /event slot/ },
  ]
  for (const c of errors) {
    t.throws(() => decodeSerfPushPull(c.input), GossipDecodeError, c.name)
    t.throws(() => decodeSerfPushPull(c.input), c.error, c.name)
  }
})

t.test('tags in metadata', async (t) => {
  const cases: { name: string; meta: string; tags: Record<string, string> }[] = [
    { name: 'role web', meta: V.tagsWeb, tags: { role: 'web' } },
    { name: 'no tags', meta: 'ff80', tags: {} },
    { name: 'three tags, sorted', meta: 'ff83a26463a178a3656e76a470726f64a47a6f6e65a27a31', tags: { zone: 'z1', dc: 'x', env: 'prod' } },
  ]
  for (const c of cases) {
    t.equal(toHex(encodeTags(c.tags)), c.meta, `${c.name}: encode`)
    t.same(decodeTags(hex(c.meta)), c.tags, `${c.name}: decode`)
  }
  t.same(decodeTags(hex('ff83a26463a178a47a6f6e65a27a31a3656e76a470726f64')), { dc: 'x', zone: 'z1', env: 'prod' }, 'captured Go map order')
  t.same(decodeTags(new Uint8Array(0)), { role: '' }, 'empty meta = legacy empty role')
  t.same(decodeTags(text('db')), { role: 'db' }, 'non-ff meta = legacy role')
  t.same(decodeTags(hex('ff81a3656e76c0')), { env: '' }, 'nil value = ""')
  const errors: { name: string; meta: Uint8Array; error: RegExp }[] = [
    { name: 'over 512 B', meta: Uint8Array.of(0x61, ...new Uint8Array(512)), error: /513 bytes, max 512/ },
    { name: 'bin value', meta: hex('ff81a3656e76c40161'), error: /env: expected a str/ },
    { name: 'not a map', meta: hex('ff91a161'), error: /expected a map/ },
    { name: 'truncated', meta: hex('ff81a3656e76'), error: /unexpected end/ },
  ]
  for (const c of errors) {
    t.throws(() => decodeTags(c.meta), GossipDecodeError, c.name)
    t.throws(() => decodeTags(c.meta), c.error, c.name)
  }
  t.ok(encodeTags({ big: 'x'.repeat(600) }).length > 512, 'encodeTags leaves the size check to the caller')
})
