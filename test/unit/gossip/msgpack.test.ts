import t from 'tap'
import { GossipDecodeError } from '../../../src/base/errors.ts'
import {
  type GoInput,
  type GoValue,
  GoExt,
  MsgpackWriter,
  decodeGo,
  encodeGo,
  encodeStruct,
  getArrayOrNull,
  getBool,
  getBytes,
  getBytesOrNull,
  getInt,
  getMap,
  getStr,
  getU64,
  getUint,
  isBin,
  isIncomplete,
} from '../../../src/gossip/msgpack.ts'
import { hex, toHex } from './fixtures/spec-vectors.ts'

const rep = (s: string, n: number) => s.repeat(n)
const bytesOf = (n: number, v = 0x61) => new Uint8Array(n).fill(v)

t.test('writer: smallest form by value, str family for strings and bytes', async (t) => {
  const cases: { name: string; input: GoInput; want: string }[] = [
    { name: 'zero', input: 0, want: '00' },
    { name: 'fixint max', input: 127, want: '7f' },
    { name: 'u8', input: 128, want: 'cc80' },
    { name: 'u8 max', input: 255, want: 'ccff' },
    { name: 'u16', input: 256, want: 'cd0100' },
    { name: 'port 7946', input: 7946, want: 'cd1f0a' },
    { name: 'u16 max', input: 65535, want: 'cdffff' },
    { name: 'u32', input: 65536, want: 'ce00010000' },
    { name: 'duration 2 s', input: 2_000_000_000, want: 'ce77359400' },
    { name: 'u32 max', input: 0xffffffff, want: 'ceffffffff' },
    { name: 'u64', input: 2 ** 32, want: 'cf0000000100000000' },
    { name: 'u64 bigint max', input: (1n << 64n) - 1n, want: 'cfffffffffffffffff' },
    { name: 'small bigint', input: 5n, want: '05' },
    { name: 'fixneg -1', input: -1, want: 'ff' },
    { name: 'fixneg -32', input: -32, want: 'e0' },
    { name: 'i8', input: -33, want: 'd0df' },
    { name: 'i8 min', input: -128, want: 'd080' },
    { name: 'i16', input: -129, want: 'd1ff7f' },
    { name: 'i32', input: -32769, want: 'd2ffff7fff' },
    { name: 'i64', input: -(2 ** 31) - 1, want: 'd3ffffffff7fffffff' },
    { name: 'float64', input: 1.5, want: 'cb3ff8000000000000' },
    { name: 'true', input: true, want: 'c3' },
    { name: 'false', input: false, want: 'c2' },
    { name: 'nil', input: null, want: 'c0' },
    { name: 'undefined as nil', input: undefined, want: 'c0' },
    { name: 'empty string', input: '', want: 'a0' },
    { name: 'fixstr', input: 'a', want: 'a161' },
    { name: 'fixstr 31 B', input: rep('a', 31), want: 'bf' + rep('61', 31) },
    { name: 'str16 at 32 B (never str8)', input: rep('a', 32), want: 'da0020' + rep('61', 32) },
    { name: 'str16 at 255 B', input: rep('a', 255), want: 'da00ff' + rep('61', 255) },
    { name: 'str16 at 65535 B', input: rep('a', 65535), want: 'daffff' + rep('61', 65535) },
    { name: 'str32 at 65536 B', input: rep('a', 65536), want: 'db00010000' + rep('61', 65536) },
    { name: 'utf-8', input: 'é', want: 'a2c3a9' },
    { name: 'bytes as fixstr', input: hex('7f000002'), want: 'a47f000002' },
    { name: 'bytes 130 B as str16', input: bytesOf(130), want: 'da0082' + rep('61', 130) },
    { name: 'empty array', input: [], want: '90' },
    { name: 'fixarray 15', input: new Array(15).fill(1), want: '9f' + rep('01', 15) },
    { name: 'array16', input: new Array(16).fill(1), want: 'dc0010' + rep('01', 16) },
    { name: 'Go map keeps insertion order', input: new Map([['b', 1], ['a', 2]]), want: '82a16201a16102' },
    { name: 'struct sorts keys bytewise', input: { Vsn: 1, Addr: 2, Node: 3 }, want: '83a44164647202a44e6f646503a356736e01' },
    { name: 'struct omits undefined', input: { B: undefined, A: 1 }, want: '81a14101' },
    { name: 'struct keeps null', input: { Payload: null }, want: '81a75061796c6f6164c0' },
    { name: 'nested structs in arrays', input: [{ LTime: 1, Events: [] }], want: '9182a64576656e747390a54c54696d6501' },
  ]
  for (const c of cases) t.equal(toHex(encodeGo(c.input)), c.want, c.name)
  t.equal(toHex(encodeGo(new Map(Array.from({ length: 16 }, (_, i) => [String.fromCharCode(65 + i), i])))).slice(0, 6), 'de0010')
  t.equal(toHex(encodeStruct({ SeqNo: 99, Payload: null })), '82a75061796c6f6164c0a55365714e6f63')
  t.equal(toHex(new MsgpackWriter().arrayHeader(70000).mapHeader(70000).finish()), 'dd00011170df00011170')
  t.throws(() => encodeGo(1n << 64n), RangeError)
  t.throws(() => encodeGo(new GoExt(1, new Uint8Array(1))), RangeError)
})

const dec = (h: string): GoValue => decodeGo(hex(h)).value

t.test('reader: every marker', async (t) => {
  const cases: { name: string; input: string; want: unknown }[] = [
    { name: 'fixint', input: '05', want: 5 },
    { name: 'fixneg', input: 'e0', want: -32 },
    { name: 'u8', input: 'ccff', want: 255 },
    { name: 'u16', input: 'cd1f0a', want: 7946 },
    { name: 'u32', input: 'ce77359400', want: 2e9 },
    { name: 'u64 small', input: 'cf0000000000000001', want: 1 },
    { name: 'u64 past 2^53 is bigint', input: 'cfffffffffffffffff', want: (1n << 64n) - 1n },
    { name: 'i8', input: 'd080', want: -128 },
    { name: 'i16', input: 'd1ff7f', want: -129 },
    { name: 'i32', input: 'd2ffff7fff', want: -32769 },
    { name: 'i64', input: 'd3ffffffff7fffffff', want: -(2 ** 31) - 1 },
    { name: 'i64 min is bigint', input: 'd38000000000000000', want: -(1n << 63n) },
    { name: 'f32', input: 'ca3fc00000', want: 1.5 },
    { name: 'f64', input: 'cb3ff8000000000000', want: 1.5 },
    { name: 'nil', input: 'c0', want: null },
    { name: 'bools', input: '92c2c3', want: [false, true] },
    { name: 'fixstr', input: 'a26869', want: hex('6869') },
    { name: 'str8 is read', input: 'd9026869', want: hex('6869') },
    { name: 'str16', input: 'da00026869', want: hex('6869') },
    { name: 'str32', input: 'db000000026869', want: hex('6869') },
    { name: 'bin8', input: 'c4026869', want: hex('6869') },
    { name: 'bin16', input: 'c500026869', want: hex('6869') },
    { name: 'bin32', input: 'c6000000026869', want: hex('6869') },
    { name: 'array16', input: 'dc00020102', want: [1, 2] },
    { name: 'array32', input: 'dd000000020102', want: [1, 2] },
    { name: 'fixmap', input: '81a16101', want: new Map([['a', 1]]) },
    { name: 'map16', input: 'de0001a16101', want: new Map([['a', 1]]) },
    { name: 'map32 with str8 key', input: 'df00000001d9016101', want: new Map([['a', 1]]) },
    { name: 'fixext1', input: 'd40501', want: new GoExt(5, hex('01')) },
    { name: 'ext8', input: 'c702ff0102', want: new GoExt(-1, hex('0102')) },
    { name: 'ext16', input: 'c800010701', want: new GoExt(7, hex('01')) },
    { name: 'ext32', input: 'c9000000010701', want: new GoExt(7, hex('01')) },
    { name: 'fixext16', input: 'd807' + rep('00', 16), want: new GoExt(7, new Uint8Array(16)) },
  ]
  for (const c of cases) t.same(dec(c.input), c.want, c.name)
  const d = decodeGo(hex('a26869ff'), 0)
  t.equal(d.offset, 3, 'offset points after the value')
  t.equal(decodeGo(hex('ffa26869'), 1).offset, 4, 'starts at the given offset')
  t.notOk(isBin(dec('a26869') as Uint8Array), 'str is not bin')
  t.ok(isBin(dec('c4026869') as Uint8Array), 'bin is marked')
  const src = hex('a26869')
  const v = decodeGo(src).value as Uint8Array
  src[1] = 0
  t.equal(v[0], 0x68, 'values are copies, not views of the input')
})

t.test('reader: hostile input throws GossipDecodeError only', async (t) => {
  const cases: { name: string; input: string; incomplete: boolean; match?: RegExp }[] = [
    { name: 'empty', input: '', incomplete: true },
    { name: 'u16 cut', input: 'cd1f', incomplete: true },
    { name: 'u64 cut', input: 'cf00000000', incomplete: true },
    { name: 'f64 cut', input: 'cb3ff8', incomplete: true },
    { name: 'i8 cut', input: 'd0', incomplete: true },
    { name: 'fixstr cut', input: 'a3aabb', incomplete: true },
    { name: 'str16 header cut', input: 'da00', incomplete: true },
    { name: 'map value missing', input: '81a161', incomplete: true },
    { name: 'array item missing', input: '920102'.slice(0, 4), incomplete: true },
    { name: 'ext type missing', input: 'd4', incomplete: true },
    { name: 'never-used marker c1', input: 'c1', incomplete: false, match: /invalid marker 0xc1/ },
    { name: 'bin map key (go-msgpack refuses)', input: '81c4014e01', incomplete: false, match: /must be a string, got bin/ },
    { name: 'int map key', input: '810101', incomplete: false, match: /must be a string/ },
    { name: 'array32 of 4 billion items', input: 'ddffffffff00', incomplete: false, match: /over the limit/ },
    { name: 'map32 of 4 billion entries', input: 'dfffffffff00', incomplete: false, match: /over the limit/ },
    { name: 'str32 of 4 GiB', input: 'dbffffffff00', incomplete: false, match: /over the limit/ },
    { name: 'bin32 of 4 GiB', input: 'c6ffffffff00', incomplete: false, match: /over the limit/ },
    { name: 'ext32 of 4 GiB', input: 'c9ffffffff00', incomplete: false, match: /over the limit/ },
    { name: 'nesting 33 deep', input: rep('91', 33) + 'c0', incomplete: false, match: /nesting too deep/ },
    { name: 'map nesting 33 deep', input: rep('81a161', 33) + 'c0', incomplete: false, match: /nesting too deep/ },
  ]
  for (const c of cases) {
    try {
      decodeGo(hex(c.input))
      t.fail(`${c.name}: did not throw`)
    } catch (err) {
      t.ok(err instanceof GossipDecodeError, `${c.name}: GossipDecodeError`)
      t.equal(isIncomplete(err), c.incomplete, `${c.name}: incomplete=${c.incomplete}`)
      if (c.incomplete) t.equal((err as { incomplete?: boolean }).incomplete, true, `${c.name}: err.incomplete`)
      if (c.match) t.match((err as Error).message, c.match, c.name)
    }
  }
  t.same(dec(rep('91', 32) + 'c0'), JSON.parse(rep('[', 32) + 'null' + rep(']', 32)), '32 levels are fine')
  // A huge declared length fails on the bytes present, without allocating what it declares.
  const heap = process.memoryUsage().arrayBuffers
  t.throws(() => decodeGo(hex('dd7fffffff')), GossipDecodeError, 'a huge declared length fails')
  t.ok(process.memoryUsage().arrayBuffers - heap < 64 * 1024 * 1024, 'without allocating what it declares')
})

t.test('field accessors are tolerant the way go-msgpack is', async (t) => {
  const m = decodeGo(
    hex(
      '8b' + 'a46e6f6465a162' + 'a3626e6fc40162' + 'a461646472c4047f000001' + 'a473656e64a0' + 'a3616e79c0' +
        'a3706f72cd1f0a' + 'a3746f6fcdffff' + 'a36e6567ff' + 'a2623101' + 'a26263c3' + 'a3626967cfffffffffffffffff',
    ),
  ).value as Map<string, GoValue>
  t.equal(getStr(m, 'node'), 'b', 'str')
  t.throws(() => getStr(m, 'bno'), /field bno: expected a str/, 'string field refuses bin')
  t.equal(getStr(m, 'missing'), '', 'missing string = ""')
  t.equal(getStr(m, 'any'), '', 'nil string = ""')
  t.same(getBytes(m, 'addr'), hex('7f000001'), '[]byte takes bin')
  t.same(getBytes(m, 'bno'), hex('62'), '[]byte takes bin')
  t.same(getBytes(m, 'node'), hex('62'), '[]byte takes str')
  t.same(getBytes(m, 'missing'), new Uint8Array(0), 'missing bytes = empty')
  t.equal(getBytesOrNull(m, 'any'), null, 'nil bytes = null')
  t.same(getBytesOrNull(m, 'send'), new Uint8Array(0), 'empty str is not nil')
  t.equal(getUint(m, 'por', 0xffff), 7946)
  t.equal(getUint(m, 'b1', 1), 1, 'fixint')
  t.throws(() => getUint(m, 'too', 0xff), /0\.\.255/, 'over max')
  t.throws(() => getUint(m, 'neg', 0xff), GossipDecodeError, 'negative into unsigned')
  t.throws(() => getUint(m, 'node', 0xff), GossipDecodeError, 'str into int')
  t.equal(getUint(m, 'missing', 5), 0)
  t.equal(getInt(m, 'neg', -5, 5), -1)
  t.equal(getBool(m, 'b1'), true, 'bool from 1')
  t.equal(getBool(m, 'bc'), true, 'bool from c3')
  t.equal(getBool(m, 'missing'), false)
  t.throws(() => getBool(m, 'por'), /expected a bool/)
  t.equal(getU64(m, 'big'), Number.MAX_SAFE_INTEGER, 'u64 past 2^53 clamps')
  t.equal(getU64(m, 'por'), 7946)
  t.throws(() => getU64(m, 'neg'), GossipDecodeError)
  t.equal(getArrayOrNull(m, 'any'), null)
  t.throws(() => getArrayOrNull(m, 'node'), GossipDecodeError)
  t.equal(getMap(m, 'missing').size, 0)
  t.throws(() => getMap(m, 'node'), GossipDecodeError)
})

t.test('random values round-trip (seeded)', async (t) => {
  let s = 12345
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32)
  const gen = (depth: number): GoInput => {
    const k = Math.floor(rnd() * (depth > 3 ? 6 : 9))
    switch (k) {
      case 0: return null
      case 1: return rnd() < 0.5
      case 2: return Math.floor((rnd() - 0.5) * 2 ** (1 + Math.floor(rnd() * 52)))
      case 3: return rnd() * 1e6 + 0.25
      case 4: return Uint8Array.from({ length: Math.floor(rnd() * 70) }, () => Math.floor(rnd() * 256))
      case 5: return (1n << 60n) + BigInt(Math.floor(rnd() * 2 ** 32))
      case 6: return Array.from({ length: Math.floor(rnd() * 20) }, () => gen(depth + 1))
      default: return new Map(Array.from({ length: Math.floor(rnd() * 20) }, (_, i) => [`k${i}`, gen(depth + 1)]))
    }
  }
  for (let i = 0; i < 300; i++) {
    const v = gen(0)
    const enc = encodeGo(v)
    const back = decodeGo(enc)
    const replacer = (_k: string, x: unknown): unknown =>
      x instanceof Map ? [...x] : typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? toHex(x) : x
    const want = JSON.stringify(v, replacer)
    const got = JSON.stringify(back.value, replacer)
    if (got !== want || back.offset !== enc.length) t.fail(`value ${i} did not round-trip: ${want} vs ${got}`)
  }
  t.pass('300 random values')
})
