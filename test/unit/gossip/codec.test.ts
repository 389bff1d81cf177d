import t from 'tap'
import { GossipDecodeError, GossipDecryptError } from '../../../src/base/errors.ts'
import {
  MAX_PACKET_DECOMPRESSED_BYTES,
  decodeCompound,
  decodeMessage,
  decodePacket,
  encodeCompound,
  encodeMessage,
  encodePacket,
  encodeStream,
  tryDecodeStream,
} from '../../../src/gossip/codec.ts'
import { crc32 } from '../../../src/gossip/crc32.ts'
import { Keyring } from '../../../src/gossip/keyring.ts'
import { lzwCompress } from '../../../src/gossip/lzw.ts'
import { encodeGo, encodeStruct } from '../../../src/gossip/msgpack.ts'
import { MSG, type PacketMessage, type PushPull, type StreamMessage } from '../../../src/gossip/wire.ts'
import { V, hex, toHex } from './fixtures/spec-vectors.ts'

const VSN = hex('010502020505')
const ip = (s: string) => Uint8Array.from(s.split('.').map(Number))
/** Replace the first occurrence of hex `from` with hex `to` inside `buf`. */
const swap = (buf: Uint8Array, from: string, to: string): Uint8Array => {
  const h = toHex(buf)
  if (!h.includes(from)) throw new Error(`swap: ${from} not found`)
  return hex(h.replace(from, to))
}
const only = (h: string): PacketMessage[] => {
  const r = decodePacket(hex(h))
  if (r.errors.length > 0) throw r.errors[0]
  return r.messages
}

t.test('every captured packet decodes to the right fields', async (t) => {
  const cases: { name: string; input: string; want: unknown[] }[] = [
    { name: 'ping', input: V.ping, want: [{ type: MSG.ping, Node: 'a', SeqNo: 1, SourceAddr: ip('127.0.0.3'), SourceNode: 'b', SourcePort: 7946 }] },
    {
      name: 'indirectPing', input: V.indirectPing,
      want: [{ type: MSG.indirectPing, Nack: true, Node: 'b', Port: 7946, SeqNo: 11, SourceAddr: ip('127.0.0.4'), SourceNode: 'c', SourcePort: 7946, Target: ip('127.0.0.3') }],
    },
    { name: 'nack + suspect compound', input: V.nackCompound, want: [{ type: MSG.nack, SeqNo: 11 }, { type: MSG.suspect, From: 'c', Incarnation: 1, Node: 'b' }] },
    { name: 'lone nack', input: V.nack, want: [{ type: MSG.nack, SeqNo: 13 }] },
    { name: 'suspect (CRC)', input: V.suspect, want: [{ type: MSG.suspect, From: 'c', Incarnation: 1, Node: 'b' }] },
    { name: 'dead (CRC)', input: V.dead, want: [{ type: MSG.dead, From: 'c', Incarnation: 1, Node: 'b' }] },
    { name: 'leave = dead from self (CRC)', input: V.leaveDead, want: [{ type: MSG.dead, From: 'c', Incarnation: 1, Node: 'c' }] },
    {
      name: 'alive with tags (CRC)', input: V.aliveTags,
      want: [{ type: MSG.alive, Addr: ip('127.0.0.4'), Incarnation: 3, Meta: hex('ff83a26463a178a47a6f6e65a27a31a3656e76a470726f64'), Node: 'c', Port: 7946, Vsn: VSN }],
    },
    {
      name: '157-B gossip: CRC → compound [alive, alive, user]', input: V.gossip,
      want: [
        { type: MSG.alive, Addr: ip('127.0.0.2'), Incarnation: 1, Meta: hex(V.tagsWeb), Node: 'a', Port: 7946, Vsn: VSN },
        { type: MSG.alive, Addr: ip('127.0.0.3'), Incarnation: 1, Meta: hex('ff80'), Node: 'b', Port: 7946, Vsn: VSN },
        { type: MSG.user, Payload: hex('0182a54c54696d6501a44e6f6465a162') },
      ],
    },
    { name: 'compressed ack', input: V.compressedAck, want: [{ type: MSG.ack, SeqNo: 99, Payload: null }] },
    { name: 'serf join (user)', input: V.serfJoin, want: [{ type: MSG.user, Payload: hex(V.serfJoin).subarray(1) }] },
  ]
  for (const c of cases) t.same(only(c.input), c.want, c.name)
  t.equal(hex(V.gossip).length, 157)
})

t.test('ack from serf with a 130-B coordinate payload (str16, never str8)', async (t) => {
  const coord = new Uint8Array([0x01, ...encodeStruct({ Adjustment: 0.5, Error: 1.5, Height: 1e-5, Vec: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] })])
  t.equal(coord.length, 130)
  const ack = encodeMessage({ type: MSG.ack, SeqNo: 1, Payload: coord })
  t.equal(ack.length, 150, '150 B as captured')
  t.equal(toHex(ack.subarray(0, 13)), '0282a75061796c6f6164da0082', '0282 a7"Payload" da0082')
  t.equal(toHex(ack.subarray(143)), 'a55365714e6f01', 'a5"SeqNo" 01')
  t.same(decodeMessage(ack), { type: MSG.ack, SeqNo: 1, Payload: coord })
})

t.test('our encoding equals what go-msgpack wrote', async (t) => {
  const cases: { name: string; wire: string; strip?: number; part?: number }[] = [
    { name: 'ping', wire: V.ping },
    { name: 'indirectPing', wire: V.indirectPing },
    { name: 'lone nack', wire: V.nack },
    { name: 'suspect', wire: V.suspect, strip: 5 },
    { name: 'dead', wire: V.dead, strip: 5 },
    { name: 'leave dead', wire: V.leaveDead, strip: 5 },
    { name: 'alive with tags', wire: V.aliveTags, strip: 5 },
    { name: 'ack nil payload', wire: V.ack99 },
  ]
  for (const c of cases) {
    const inner = hex(c.wire).subarray(c.strip ?? 0)
    t.equal(toHex(encodeMessage(decodeMessage(inner))), toHex(inner), c.name)
  }
  const g = only(V.gossip)
  t.equal(toHex(encodeMessage(g[0]!)), toHex(hex(V.gossip).subarray(13, 13 + 0x44)), 'alive a inside the gossip compound')
  const parts = only(V.nackCompound).map(encodeMessage)
  t.equal(toHex(encodeCompound(parts)), toHex(hex(V.nackCompound)), 'nack + suspect compound')
})

t.test('packet pipeline reproduces the CRC vectors', async (t) => {
  const cases = [
    { name: 'suspect', wire: V.suspect },
    { name: 'dead', wire: V.dead },
    { name: 'leave dead', wire: V.leaveDead },
    { name: 'alive with tags', wire: V.aliveTags },
    { name: 'serf leave', wire: V.serfLeave },
    { name: 'serf event', wire: V.serfEvent },
    { name: 'serf query', wire: V.serfQuery },
  ]
  for (const c of cases) {
    const w = hex(c.wire)
    t.equal(crc32(w.subarray(5)), new DataView(w.buffer).getUint32(1), `${c.name}: CRC recomputed`)
    // serf had compression on: it kept these plain because LZW was not smaller, and so must we.
    t.equal(toHex(encodePacket([w.subarray(5)], { crc: true, compress: true })), toHex(w), `${c.name}: encodePacket`)
  }
  const msgs = only(V.gossip).map(encodeMessage)
  t.equal(toHex(encodePacket(msgs, { crc: true, compress: true })), toHex(hex(V.gossip)), '157-B gossip compound, byte for byte')
  t.equal(toHex(encodePacket([hex(V.ack99)], { crc: false, compress: true })), toHex(hex(V.ack99)), '18-B ack stays plain (compressed is 36 B)')
})

t.test('encodePacket compresses when smaller, and options compose', async (t) => {
  const alive = (n: number): PacketMessage => ({ type: MSG.alive, Addr: ip('10.0.0.1'), Incarnation: n, Meta: hex(V.tagsWeb), Node: `node-${n}`, Port: 7946, Vsn: VSN })
  const parts = Array.from({ length: 20 }, (_, i) => encodeMessage(alive(i)))
  const plain = encodePacket(parts, { crc: false, compress: false })
  const packed = encodePacket(parts, { crc: false, compress: true })
  t.equal(plain[0], MSG.compound)
  t.equal(packed[0], MSG.compress)
  t.ok(packed.length < plain.length, 'compressed is smaller')
  const ring = new Keyring([hex(V.key)])
  const full = encodePacket(parts, { crc: true, compress: true, keyring: ring })
  const back = decodePacket(full, ring)
  t.same(back.errors, [])
  t.same(back.messages, parts.map((p) => decodeMessage(p)), 'encrypt ∘ CRC ∘ compress ∘ compound round trip')
  t.throws(() => encodePacket([], { crc: false, compress: false }), RangeError)
  t.throws(() => encodeCompound(new Array(256).fill(hex('0b80'))), RangeError)
  t.throws(() => encodeCompound([new Uint8Array(65536)]), RangeError)
  t.throws(() => encodeMessage({ ...(alive(1) as object), Vsn: hex('010502') } as PacketMessage), /Vsn must be exactly 6 bytes/)
  t.throws(() => encodeMessage({ ...(alive(1) as object), Meta: new Uint8Array(513) } as PacketMessage), /Meta is 513 bytes/)
  t.equal(toHex(encodeMessage({ type: MSG.ping, SeqNo: 1, Node: '', SourceAddr: new Uint8Array(0), SourcePort: 0, SourceNode: '' })), '0082a4' + '4e6f6465a0a55365714e6f01', 'empty Source* omitted')
  t.equal(toHex(encodeMessage({ type: MSG.user, Payload: hex('0102') })), '080102', 'UDP user = 08 + raw payload')
})

t.test('packet decoding keeps good parts and reports bad ones', async (t) => {
  const suspect = hex(V.suspect).subarray(5)
  const nack = hex(V.nack)
  const withCrc = (b: Uint8Array) => encodePacket([b], { crc: true, compress: false })
  const compress = (b: Uint8Array) => new Uint8Array([MSG.compress, ...encodeStruct({ Algo: 0, Buf: lzwCompress(b) })])
  const badCrc = Uint8Array.from(hex(V.suspect))
  badCrc[4] = (badCrc[4] as number) ^ 1
  const truncated = encodeCompound([nack, suspect, nack])
  const cases: { name: string; input: Uint8Array; messages: number; errors: RegExp[] }[] = [
    { name: 'label byte 244', input: hex('f4036c6162'), messages: 0, errors: [/msg type \(244\) not supported/] },
    { name: 'empty packet', input: new Uint8Array(0), messages: 0, errors: [/missing message type byte/] },
    { name: 'CRC mismatch drops the packet', input: badCrc, messages: 0, errors: [/invalid checksum/] },
    { name: 'short 0c is an unknown type', input: hex('0c0102'), messages: 0, errors: [/msg type \(12\)/] },
    { name: 'CRC inside compound is an unknown type', input: encodeCompound([nack, withCrc(nack)]), messages: 1, errors: [/msg type \(12\)/] },
    { name: 'CRC inside compress is an unknown type', input: compress(withCrc(nack)), messages: 0, errors: [/msg type \(12\)/] },
    { name: 'compound inside compress inside CRC', input: withCrc(compress(encodeCompound([nack, suspect]))), messages: 2, errors: [] },
    { name: 'compress inside compound', input: encodeCompound([compress(nack), nack]), messages: 2, errors: [] },
    { name: 'truncated part drops it and later ones', input: truncated.subarray(0, truncated.length - nack.length - 3), messages: 1, errors: [/2 truncated/] },
    { name: 'compound missing count', input: hex('07'), messages: 0, errors: [/missing compound length byte/] },
    { name: 'compound short length table', input: hex('070300010002'), messages: 0, errors: [/truncated len slice/] },
    { name: 'empty part', input: encodeCompound([new Uint8Array(0), nack]), messages: 1, errors: [/missing message type/] },
    { name: 'stream-only pushPull over UDP', input: hex('0680'), messages: 0, errors: [/msg type \(6\)/] },
    { name: 'bad part among good ones', input: encodeCompound([nack, hex('0391c0'), nack]), messages: 2, errors: [/failed to decode suspect/] },
    { name: 'unknown algorithm', input: hex('0982a4416c676f01a3427566a0'), messages: 0, errors: [/unknown algorithm 1/] },
    { name: 'compress without EOF', input: hex('0982a4416c676f00a3427566a20001'), messages: 0, errors: [/without an EOF/] },
  ]
  for (const c of cases) {
    const r = decodePacket(c.input)
    t.equal(r.messages.length, c.messages, `${c.name}: messages`)
    t.equal(r.errors.length, c.errors.length, `${c.name}: error count`)
    c.errors.forEach((re, i) => t.match(r.errors[i]?.message, re, c.name))
    for (const e of r.errors) t.ok(e instanceof GossipDecodeError, `${c.name}: GossipDecodeError`)
  }
  let deep = nack
  for (let i = 0; i < 10; i++) deep = encodeCompound([deep])
  t.match(decodePacket(deep).errors[0]?.message, /nests more than 8/, 'nesting is bounded')
  const bomb = compress(new Uint8Array(MAX_PACKET_DECOMPRESSED_BYTES + 1))
  t.ok(bomb.length < 20_000, 'a small packet…')
  t.match(decodePacket(bomb).errors[0]?.message, /larger than/, '…cannot expand past the packet budget')
  const halfBudgetUser = new Uint8Array(MAX_PACKET_DECOMPRESSED_BYTES / 2)
  halfBudgetUser[0] = MSG.user
  const fourBombs = encodeCompound(Array.from({ length: 4 }, () => compress(halfBudgetUser)))
  const shared = decodePacket(fourBombs)
  t.equal(shared.messages.length, 2, 'two parts fit the budget')
  t.equal(shared.errors.length, 2, 'the budget is shared by all parts of a packet')
  t.throws(() => decodePacket(hex(V.ping), new Keyring([hex(V.key)])), GossipDecryptError, 'plaintext to a keyed node')
})

t.test('messages that would hurt serf are refused', async (t) => {
  const alive = (fields: Record<string, unknown>) => new Uint8Array([MSG.alive, ...encodeGo({ Addr: ip('127.0.0.9'), Incarnation: 1, Meta: hex('ff80'), Node: 'x', Port: 7946, Vsn: VSN, ...fields } as never)])
  const cases: { name: string; input: Uint8Array; error?: RegExp }[] = [
    { name: 'Vsn of 3 bytes', input: alive({ Vsn: hex('010502') }), error: /Vsn must be exactly 6 bytes, got 3/ },
    { name: 'Vsn missing', input: alive({ Vsn: undefined }), error: /got 0/ },
    { name: 'Vsn of 7 bytes', input: alive({ Vsn: hex('01050202050500') }), error: /got 7/ },
    { name: 'Meta of 513 bytes', input: alive({ Meta: new Uint8Array(513) }), error: /Meta is 513 bytes/ },
    { name: 'Meta of 512 bytes', input: alive({ Meta: new Uint8Array(512) }) },
    { name: 'Node as bin', input: hex('0383a446726f6da163ab496e6361726e6174696f6e01a44e6f6465c40162'), error: /field Node: expected a str/ },
    { name: 'Addr, Meta and Vsn as bin', input: swap(swap(swap(alive({}), 'a441646472a4', 'a441646472c404'), 'a44d657461a2', 'a44d657461c402'), 'a356736ea6', 'a356736ec406') },
    { name: 'Port over u16', input: alive({ Port: 70000 }), error: /Port/ },
    { name: 'Incarnation over u32', input: alive({ Incarnation: 2 ** 32 }), error: /Incarnation/ },
    { name: 'Incarnation negative', input: alive({ Incarnation: -1 }), error: /Incarnation/ },
  ]
  for (const c of cases) {
    if (c.error) t.throws(() => decodeMessage(c.input), c.error, c.name)
    else t.equal(decodeMessage(c.input).type, MSG.alive, c.name)
  }
  const binAll = decodeMessage(cases[6]!.input) as { Addr: Uint8Array; Meta: Uint8Array; Vsn: Uint8Array }
  t.same([binAll.Addr, binAll.Meta, binAll.Vsn], [ip('127.0.0.9'), hex('ff80'), VSN], 'bin []byte fields decoded')
  const tolerant = hex('0384a446726f6dd90163a4457874729190ab496e6361726e6174696f6ecd0001a44e6f6465a162')
  t.same(decodeMessage(tolerant), { type: MSG.suspect, From: 'c', Incarnation: 1, Node: 'b' }, 'str8, unknown key, wide int marker')
  t.same(decodeMessage(hex('0182a44e61636b01a6546172676574a0')), { type: MSG.indirectPing, SeqNo: 0, Target: new Uint8Array(0), Port: 0, Node: '', Nack: true }, 'bool from 1, missing = zero')
  t.same(decodeMessage(hex('02c0')), { type: MSG.ack, SeqNo: 0, Payload: null }, 'nil body = zero struct')
  t.throws(() => decodeMessage(hex('0290')), /expected a map/)
})

const pushPull: PushPull = {
  type: MSG.pushPull, Join: false,
  Nodes: [
    { Name: 'a', Addr: ip('10.0.0.1'), Port: 7946, Meta: hex('ff80'), Incarnation: 4, State: 0, Vsn: VSN },
    { Name: 'b', Addr: hex('00000000000000000000000000000001'), Port: 7950, Meta: new Uint8Array(0), Incarnation: 1, State: 3, Vsn: VSN },
  ],
  UserState: hex('0286a54c54696d6501'),
}

t.test('streams: the captured join and compressed ack', async (t) => {
  const join = hex(V.joinPushPull)
  t.equal(join.length, 181)
  const r = tryDecodeStream(join)
  t.match(r, {
    done: true, bytes: 181,
    msg: { type: MSG.pushPull, Join: true, Nodes: [{ Name: 'ts1', Addr: ip('127.0.0.30'), Port: 7946, Meta: hex('ff82a4726f6c65a27473a176a131'), Incarnation: 1, State: 0, Vsn: VSN }] },
  })
  if (r.done && r.msg.type === MSG.pushPull) {
    t.equal(r.msg.UserState.length, 0x49, 'UserStateLen bytes of serf state')
    t.equal(toHex(r.msg.UserState.subarray(0, 9)), '0286a54c54696d6501', 'serf state starts 02 86 LTime 1')
    t.same(tryDecodeStream(encodeStream(r.msg, { compress: false })), { done: true, msg: r.msg, bytes: 181 }, 'ours (sorted) has the same size and content')
  }
  t.same(tryDecodeStream(hex(V.compressedAck)), { done: true, msg: { type: MSG.ack, SeqNo: 99, Payload: null }, bytes: 36 })
  t.equal(toHex(encodeStream({ type: MSG.ack, SeqNo: 99, Payload: null }, { compress: true })), toHex(hex(V.compressedAck)), 'serf always compresses streams: 18 B → 36 B')
})

t.test('streams: round trips, incremental prefixes, trailing bytes', async (t) => {
  const ring = new Keyring([hex(V.key)])
  const msgs: StreamMessage[] = [
    pushPull,
    { ...pushPull, Join: true, Nodes: [], UserState: new Uint8Array(0) },
    { type: MSG.ping, SeqNo: 7, Node: 'a' },
    { type: MSG.ack, SeqNo: 7, Payload: hex('01') },
    { type: MSG.user, Payload: hex('6d01020304') },
    { type: MSG.err, Error: 'No installed keys could decrypt the message' },
  ]
  for (const msg of msgs) {
    for (const opts of [{ compress: false }, { compress: true }, { compress: true, keyring: ring }, { compress: false, keyring: ring }]) {
      const name = `${msg.type} compress=${opts.compress} keyed=${'keyring' in opts}`
      const wire = encodeStream(msg, opts)
      const key = 'keyring' in opts ? ring : null
      for (let i = 0; i < wire.length; i++) {
        const r = tryDecodeStream(wire.subarray(0, i), key)
        if (r.done) t.fail(`${name}: prefix of ${i} B claimed done`)
      }
      t.same(tryDecodeStream(Uint8Array.of(...wire, 0xff, 0xff), key), { done: true, msg, bytes: wire.length }, name)
    }
  }
  t.equal(encodeStream({ type: MSG.user, Payload: hex('0102') }, { compress: false })[1], 0x81, 'TCP user = 08 {UserMsgLen} bytes')
  t.equal(toHex(encodeStream({ type: MSG.err, Error: 'x' }, { compress: false })), '0d81a54572726f72a178', 'err = 0d {Error}')
})

t.test('streams: errors', async (t) => {
  const ring = new Keyring([hex(V.key)])
  const other = new Keyring([new Uint8Array(16).fill(7)])
  const node = (f: Record<string, unknown>) => encodeGo({ Addr: ip('10.0.0.1'), Incarnation: 1, Meta: hex('ff80'), Name: 'n', Port: 7946, State: 0, Vsn: VSN, ...f } as never)
  const cut = hex('0681a44a6f696e')
  const head = Uint8Array.of(MSG.encrypt, 0, 0, 0, cut.length + 29)
  const encryptedCut = Uint8Array.of(...head, ...ring.encrypt(cut, head))
  const compressedPing = encodeStream({ type: MSG.ping, SeqNo: 1, Node: '' }, { compress: true })
  const pp = (header: Record<string, unknown>, ...rest: Uint8Array[]) => Uint8Array.of(MSG.pushPull, ...encodeGo(header as never), ...rest.flatMap((r) => [...r]))
  const cases: { name: string; input: Uint8Array; ring?: Keyring; error: RegExp; cls?: typeof GossipDecodeError }[] = [
    { name: 'plaintext to a keyed node', input: hex(V.ack99), ring, error: /^Encryption is configured but remote state is not encrypted$/, cls: GossipDecryptError },
    { name: 'plaintext, even 1 byte', input: hex('06'), ring, error: /not encrypted/, cls: GossipDecryptError },
    { name: 'encrypted to a keyless node', input: hex('0a'), error: /^Remote state is encrypted and encryption is not configured$/, cls: GossipDecryptError },
    { name: 'wrong key', input: encodeStream({ type: MSG.ping, SeqNo: 1, Node: '' }, { compress: true, keyring: other }), ring, error: /No installed keys/, cls: GossipDecryptError },
    { name: 'blob over 20 MiB', input: hex('0a01400001'), ring, error: /larger than limit \(20971521\)/ },
    { name: 'alive is not a stream message', input: hex('0480'), error: /invalid msgType \(4\)/ },
    { name: 'compress inside compress', input: Uint8Array.of(MSG.compress, ...encodeStruct({ Algo: 0, Buf: lzwCompress(compressedPing) })), error: /invalid msgType \(9\)/ },
    { name: 'too many nodes', input: pp({ Nodes: 70000 }), error: /Nodes/ },
    { name: 'negative user state', input: pp({ Nodes: 0, UserStateLen: -1 }), error: /UserStateLen/ },
    { name: 'user state over 20 MiB', input: pp({ UserStateLen: 20 * 1024 * 1024 + 1 }), error: /UserStateLen/ },
    { name: 'node with 5-byte Vsn', input: pp({ Nodes: 1 }, node({ Vsn: hex('0105020205') })), error: /Vsn must be exactly 6 bytes, got 5/ },
    { name: 'node state 4', input: pp({ Nodes: 1 }, node({ State: 4 })), error: /State/ },
    { name: 'node Meta 513 B', input: pp({ Nodes: 1 }, node({ Meta: new Uint8Array(513) })), error: /Meta is 513/ },
    { name: 'node Name as bin', input: pp({ Nodes: 1 }, swap(node({}), 'a44e616d65a16e', 'a44e616d65c4016e')), error: /field Name: expected a str/ },
    { name: 'truncated inside encryption', input: encryptedCut, ring, error: /stream message is truncated/ },
  ]
  for (const c of cases) {
    t.throws(() => tryDecodeStream(c.input, c.ring ?? null), c.cls ?? GossipDecodeError, c.name)
    t.throws(() => tryDecodeStream(c.input, c.ring ?? null), c.error, c.name)
  }
  t.same(tryDecodeStream(hex('0a0000'), ring), { done: false }, 'encrypted header still arriving')
  t.same(tryDecodeStream(hex('0a00000030aa'), ring), { done: false }, 'encrypted blob still arriving')
  t.same(tryDecodeStream(pp({ Nodes: 65536 })), { done: false }, 'many nodes announced: wait for them')
  t.same(tryDecodeStream(new Uint8Array(0), ring), { done: false }, 'nothing yet')
})
