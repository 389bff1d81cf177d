/**
 * Decoder fuzz: random bytes and mutations of every spec vector (plus a few richer encodings) through
 * decodePacket / tryDecodeStream, with and without a keyring, and the serf decoders on whatever decodes.
 * Nothing but GossipDecodeError / GossipDecryptError may escape, and the heap must stay bounded.
 * Replay a failure with FUZZ_SEED=<seed> (and FUZZ_N=<count>).
 */
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { GossipDecodeError, GossipDecryptError } from '../../../src/base/errors.ts'
import { decodePacket, encodeMessage, encodePacket, encodeStream, tryDecodeStream } from '../../../src/gossip/codec.ts'
import { Keyring } from '../../../src/gossip/keyring.ts'
import { encodeGo } from '../../../src/gossip/msgpack.ts'
import { decodeSerfMessage, decodeSerfPushPull, decodeTags, encodeSerfPushPull } from '../../../src/gossip/serf-wire.ts'
import { MSG, type PacketMessage, type StreamMessage } from '../../../src/gossip/wire.ts'
import { PACKET_VECTORS, STREAM_VECTORS, V, hex, toHex } from './fixtures/spec-vectors.ts'
import { seededRandomFn } from '../../../src/base/clock.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 0x6d657368)
const N = Number(process.env.FUZZ_N ?? 110_000)

const rand = seededRandomFn(SEED)
const int = (n: number) => Math.floor(rand() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256))

const ring = new Keyring([hex(V.key)], { randomBytes: (n) => randomBytes(n) })
const VSN = hex('010502020505')

/** Seeds: every captured vector plus richer encodings (compressed compounds, push/pull with serf state). */
function corpus(): { packets: Uint8Array[]; streams: Uint8Array[]; encrypted: Uint8Array[] } {
  const alive = (i: number): PacketMessage => ({ type: MSG.alive, Addr: Uint8Array.of(10, 0, 0, i), Incarnation: i, Meta: hex(V.tagsWeb), Node: `n${i}`, Port: 7946, Vsn: VSN })
  const parts = [0, 1, 2, 3].map((i) => encodeMessage(alive(i))).concat(hex(V.serfJoin), hex(V.nack))
  const serfState = encodeSerfPushPull({
    LTime: 5, StatusLTimes: { a: 1, b: 2 }, LeftMembers: ['c'], EventLTime: 3, QueryLTime: 2,
    Events: [{ LTime: 2, Events: [{ Name: 'deploy', Payload: hex('7631') }] }],
  })
  const pp: StreamMessage = {
    type: MSG.pushPull, Join: true, UserState: serfState,
    Nodes: [0, 1, 2].map((i) => ({ Name: `n${i}`, Addr: Uint8Array.of(10, 0, 0, i), Port: 7946, Meta: hex('ff80'), Incarnation: 1, State: 0 as const, Vsn: VSN })),
  }
  // A ping carrying an unknown field with every msgpack marker, so truncations hit each reader path.
  const everyMarker = hex(
    'dc0014' + 'ca3fc00000' + 'cb3ff8000000000000' + 'cc80' + 'cd0100' + 'ce00010000' + 'cf0000000100000000' + 'd080' + 'd1ff7f' +
      'd2ffff7fff' + 'd3ffffffff7fffffff' + 'c4026869' + 'c500026869' + 'c6000000026869' + 'd9026869' + 'db000000026869' +
      'd40501' + 'c702ff0102' + 'd807' + '00'.repeat(16) + 'de0001a16191c3' + 'df00000001a162dd00000001c2',
  )
  const kitchenSink = Uint8Array.of(MSG.ping, ...hex('83a4586b6974'), ...everyMarker, ...hex('a44e6f6465a161a55365714e6f01'))
  const packets = PACKET_VECTORS.map(hex).concat(
    kitchenSink,
    encodePacket(parts, { crc: true, compress: true }),
    encodePacket(parts, { crc: false, compress: false }),
    Uint8Array.of(MSG.user, 2, ...serfState),
  )
  const streams = STREAM_VECTORS.map(hex).concat(
    kitchenSink,
    encodeStream(pp, { compress: false }),
    encodeStream(pp, { compress: true }),
    encodeStream({ type: MSG.user, Payload: hex('6d0102') }, { compress: false }),
    encodeStream({ type: MSG.err, Error: 'boom' }, { compress: true }),
  )
  const encrypted = [hex(V.udpEncrypted), hex(V.streamEncrypted), encodeStream(pp, { compress: true, keyring: ring })]
  return { packets, streams, encrypted }
}

const LENGTH_MARKERS = new Set([0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x07, 0x0a])
const INTERESTING = [
  0x00, 0x01, 0x07, 0x09, 0x0a, 0x0c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
  0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc,
  0xdd, 0xde, 0xdf, 0xe0, 0xff,
]

function mutate(src: Uint8Array): Uint8Array {
  let b = Uint8Array.from(src)
  const rounds = 1 + int(4)
  for (let r = 0; r < rounds; r++) {
    const p = b.length > 0 ? int(b.length) : 0
    switch (int(7)) {
      case 0: // bit flips
        for (let k = 1 + int(8); k > 0 && b.length > 0; k--) {
          const q = int(b.length)
          b[q] = (b[q] as number) ^ (1 << int(8))
        }
        break
      case 1: // truncation, sometimes ending in a marker whose payload is then missing
        b = b.subarray(0, int(b.length + 1))
        if (rand() < 0.3) b = Uint8Array.of(...b, pick(INTERESTING))
        break
      case 2: // insertion
        b = Uint8Array.of(...b.subarray(0, p), ...randomBytes(1 + int(8)), ...b.subarray(p))
        break
      case 3: // deletion
        b = Uint8Array.of(...b.subarray(0, p), ...b.subarray(p + 1 + int(8)))
        break
      case 4: { // length-field corruption: overwrite the bytes after a length marker
        const marks = [...b.keys()].filter((i) => LENGTH_MARKERS.has(b[i] as number))
        const m = marks.length > 0 ? pick(marks) : p
        for (let k = 1; k <= 4 && m + k < b.length; k++) b[m + k] = rand() < 0.5 ? 0xff : int(256)
        break
      }
      case 5: // interesting byte
        if (b.length > 0) b[p] = pick(INTERESTING)
        break
      default: // duplicate a slice
        b = Uint8Array.of(...b, ...b.subarray(p, p + 1 + int(64)))
    }
  }
  return b
}

/** Wrap as a keyed packet or stream so the decoder behind the decryption is exercised too. */
function encryptPacket(plain: Uint8Array): Uint8Array {
  return ring.encrypt(plain, new Uint8Array(0), int(2))
}
function encryptStream(plain: Uint8Array): Uint8Array {
  const vsn = int(2)
  const len = vsn === 0 ? plain.length + 16 - (plain.length % 16) + 29 : plain.length + 29
  const head = Uint8Array.of(MSG.encrypt, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff)
  return Uint8Array.of(...head, ...ring.encrypt(plain, head, vsn))
}

t.test(`decoders survive ${N} hostile inputs (seed ${SEED})`, async (t) => {
  const gc = (() => {
    try {
      setFlagsFromString('--expose-gc')
      return runInNewContext('gc') as () => void
    } catch {
      return null
    }
  })()
  const { packets, streams, encrypted } = corpus()
  const all = [...packets, ...streams, ...encrypted]
  const failures: string[] = []
  const stats = { inputs: 0, messages: 0, streamsDone: 0, keyedMessages: 0, keyedStreams: 0, serf: 0, expectedErrors: 0 }

  const guard = (where: string, input: Uint8Array, fn: () => void): void => {
    try {
      fn()
    } catch (err) {
      if (err instanceof GossipDecodeError || err instanceof GossipDecryptError) {
        stats.expectedErrors++
        return
      }
      failures.push(`${where} #${stats.inputs} (FUZZ_SEED=${SEED}): ${(err as Error)?.stack ?? String(err)}\n  input ${toHex(input)}`)
    }
  }
  const serfLayer = (msgs: readonly (PacketMessage | StreamMessage)[], input: Uint8Array): void => {
    for (const m of msgs) {
      if (m.type === MSG.user) guard('decodeSerfMessage', input, () => void decodeSerfMessage(m.Payload))
      if (m.type === MSG.alive) guard('decodeTags', input, () => void decodeTags(m.Meta))
      if (m.type === MSG.pushPull) {
        guard('decodeSerfPushPull', input, () => void decodeSerfPushPull(m.UserState))
        for (const n of m.Nodes) guard('decodeTags', input, () => void decodeTags(n.Meta))
      }
      stats.serf++
    }
  }
  const packet = (input: Uint8Array, keyring: Keyring | null): void =>
    guard(keyring ? 'decodePacket(keyed)' : 'decodePacket', input, () => {
      const r = decodePacket(input, keyring)
      for (const e of r.errors) if (!(e instanceof GossipDecodeError)) throw new Error(`errors[] holds a ${String(e)}`)
      if (keyring) stats.keyedMessages += r.messages.length
      else stats.messages += r.messages.length
      serfLayer(r.messages, input)
    })
  const stream = (input: Uint8Array, keyring: Keyring | null): void =>
    guard(keyring ? 'tryDecodeStream(keyed)' : 'tryDecodeStream', input, () => {
      const r = tryDecodeStream(input, keyring)
      if (!r.done) return
      if (!(r.bytes > 0 && r.bytes <= input.length)) throw new Error(`bytes ${r.bytes} out of range for ${input.length}`)
      if (keyring) stats.keyedStreams++
      else stats.streamsDone++
      serfLayer([r.msg], input)
    })

  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const started = Date.now()
  for (let i = 0; i < N; i++) {
    stats.inputs = i
    const kind = int(10)
    let input: Uint8Array
    if (kind < 2) {
      const len = rand() < 0.9 ? int(300) : int(4000)
      input = randomBytes(len)
      if (len > 0 && rand() < 0.5) input[0] = int(14) // start like a real message type
    } else {
      input = mutate(pick(all))
    }
    // Keyed paths: half the time wrap the (mutated) plaintext so decryption succeeds, else feed it raw.
    const keyedPacket = kind >= 2 && rand() < 0.5 ? encryptPacket(input) : input
    const keyedStream = kind >= 2 && rand() < 0.5 ? encryptStream(input) : input
    packet(input, null)
    packet(keyedPacket, ring)
    stream(input, null)
    stream(keyedStream, ring)
    if (failures.length >= 5) break
  }
  const elapsedMs = Date.now() - started
  gc?.()
  const growth = process.memoryUsage().heapUsed - heapBefore

  t.same(failures, [], 'only GossipDecodeError / GossipDecryptError escaped')
  t.equal(stats.inputs, N - 1, `all ${N} inputs ran`)
  // The fuzzer must reach past the framing, or it proves nothing.
  t.ok(stats.messages > N / 20, `plain packets decoded messages (${stats.messages})`)
  t.ok(stats.keyedMessages > N / 40, `keyed packets decoded messages (${stats.keyedMessages})`)
  t.ok(stats.streamsDone > N / 100, `plain streams completed (${stats.streamsDone})`)
  t.ok(stats.keyedStreams > N / 200, `keyed streams completed (${stats.keyedStreams})`)
  t.ok(stats.expectedErrors > N, `hostile inputs were refused (${stats.expectedErrors})`)
  if (gc) t.ok(growth < 64 * 1024 * 1024, `heap growth ${(growth / 1048576).toFixed(1)} MiB < 64 MiB`)
  else t.comment(`no gc available; heap growth ${(growth / 1048576).toFixed(1)} MiB not asserted`)
  t.comment(`${N} inputs in ${elapsedMs} ms; stats ${JSON.stringify(stats)}`)
})
