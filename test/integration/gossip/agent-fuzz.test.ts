/**
 * Hostile input against a running `mesh agent` (src/gossip/index.ts: "Never … throw on hostile input"): ≥ 100,000
 * random and mutated UDP packets and ≥ 2,000 random and mutated TCP streams, built from the captured vectors of
 * the spec (ping, indirect ping, alive, suspect/dead, compound, compress, CRC, push/pull, serf messages), with a
 * seeded PRNG (MESH_FUZZ_SEED replays a run). Afterwards the agent must still run, answer `mesh status`, list
 * itself alive, let a real serf agent join, and not grow its RSS with the input (once warm, a third round adds < 64 MiB).
 *
 * Network rule: only 127.0.52.0/24. Every address inside a vector is rewritten into 127.0.52.x, and every generated
 * packet/stream is decoded with the agent's own decoders before it is sent: if it would make the agent send
 * anything (ack to SourceAddr, ping to Target, probe a new member, query ack, relay) outside 127.0.52.0/24, it is
 * not sent. Nor are alive nodes with incompatible-but-valid versions (see versionPoison). Everything is bounded: packet and stream counts, concurrency (20 streams), and a 120 s fuzz budget per round (a bound, not a goal: a round takes 5-30 s).
 */
import dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import t from 'tap'
import { decodePacket, encodeCompound, encodeStream, tryDecodeStream } from '../../../src/gossip/codec.ts'
import { crc32 } from '../../../src/gossip/crc32.ts'
import { lzwCompress } from '../../../src/gossip/lzw.ts'
import { MsgpackWriter } from '../../../src/gossip/msgpack.ts'
import { SERF_MSG, decodeSerfMessage, encodeSerfMessage, encodeSerfPushPull } from '../../../src/gossip/serf-wire.ts'
import { MSG, type PacketMessage, type StreamMessage } from '../../../src/gossip/wire.ts'
import { V, hex } from '../../unit/gossip/fixtures/spec-vectors.ts'
import { TestCluster, meshStatus, serfMember, type MeshStatus } from '../../support/agents.ts'
import { rssBytes, runMesh, sleep, waitFor } from '../../support/procs.ts'
import { seededRandomFn } from '../../../src/base/clock.ts'

const SEED = Number(process.env.MESH_FUZZ_SEED ?? 0x6d657368)
const UDP_PACKETS = 100_000
const TCP_STREAMS = 2_000
const TCP_CONCURRENCY = 20
/**
 * A bound on each round, not a timing goal: a round ends when its counts are sent (5-30 s in CI). With a 40 s budget a
 * CI run paced until its 30 s mark (the kernel then dropping what the agent could not read), and a run on a loaded
 * machine sent 25,566 packets and 808 streams in 40 s (another, 100,000 in 103 s): the counts depended on the
 * machine's speed. Four rounds of 120 s at most stay within tap's 600 s per file.
 */
const FUZZ_BUDGET_MS = 120_000
const AGENT_IP = '127.0.52.10'
const UDP_SRC_IP = '127.0.52.20'
const TCP_SRC_IP = '127.0.52.21'
const SERF_IP = '127.0.52.200'
const MIB = 1024 * 1024

// ---- seeded PRNG ------------------------------------------------------------------------------------------------

const rnd = seededRandomFn(SEED)
const int = (n: number): number => Math.floor(rnd() * n)
const chance = (p: number): boolean => rnd() < p
function pick<T>(xs: readonly T[]): T {
  return xs[int(xs.length)] as T
}
function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = int(256)
  return b
}
function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

// ---- vectors ----------------------------------------------------------------------------------------------------

/** Rewrite every `a4 7f 00 00 xx` (a 4-byte IPv4 127.0.0.xx in msgpack) to 127.0.52.xx. */
const inRange = (h: string): string => h.replace(/\s+/g, '').replace(/a47f0000([0-9a-f]{2})/g, 'a47f0034$1')
/** Strip a `0c | crc` prefix: the fuzzer adds (valid or broken) CRCs itself. */
function stripCrc(b: Uint8Array): Uint8Array {
  return b[0] === MSG.hasCrc ? b.subarray(5) : b
}
const ip = (last: number): Uint8Array => Uint8Array.of(127, 0, 52, last)

const relay = concat(Uint8Array.of(MSG.user), encodeSerfMessage({
  type: SERF_MSG.relay, DestAddr: ip(3), DestPort: 7946, DestZone: '', DestName: 'b', Inner: hex(inRange(V.serfQueryAck)).subarray(1),
}))
const bigEvent = concat(Uint8Array.of(MSG.user), encodeSerfMessage({
  type: SERF_MSG.userEvent, LTime: 7, Name: 'fuzz', Payload: randomBytes(400), CC: false,
}))
const filteredQuery = concat(Uint8Array.of(MSG.user), encodeSerfMessage({
  type: SERF_MSG.query, LTime: 3, ID: 99, Addr: ip(4), Port: 7946, SourceNode: 'c', Flags: 1, RelayFactor: 2,
  Timeout: 2e9, Name: 'q', Payload: new Uint8Array(0),
  Filters: [concat(Uint8Array.of(0), new MsgpackWriter().value(['a', 'b']).finish()), concat(Uint8Array.of(1), new MsgpackWriter().struct({ Expr: '^w', Tag: 'role' }).finish())],
}))

/** Plaintext UDP messages (no CRC), every address in 127.0.52.0/24. */
const PACKETS: Uint8Array[] = [
  V.ping, V.indirectPing, V.nackCompound, V.nack, V.suspect, V.dead, V.leaveDead, V.aliveTags, V.gossip,
  V.compressedAck, V.ack99, V.serfJoin, V.serfLeave, V.serfEvent, V.serfQuery, V.serfQueryAck, V.udpPlain,
].map((h) => stripCrc(hex(inRange(h)))).concat([relay, bigEvent, filteredQuery])

/** A push/pull carrying serf-shaped user state (512 event slots, mostly nil, as serf sends). */
const serfStatePushPull = encodeStream({
  type: MSG.pushPull, Join: false,
  Nodes: [{ Name: 'fz', Addr: ip(30), Port: 7946, Meta: hex(V.tagsWeb), Incarnation: 3, State: 1, Vsn: Uint8Array.of(1, 5, 2, 2, 5, 5) }],
  UserState: concat(encodeSerfPushPull({
    LTime: 5, StatusLTimes: { fz: 4, b: 2 }, LeftMembers: ['b'], EventLTime: 9,
    Events: [{ LTime: 8, Events: [{ Name: 'deploy', Payload: Uint8Array.of(0x76, 0x31) }] }], QueryLTime: 2,
  })),
} as StreamMessage, { compress: false })

/** Plaintext TCP stream messages. */
const STREAMS: Uint8Array[] = [
  hex(inRange(V.joinPushPull)),
  hex(V.compressedAck),
  concat(Uint8Array.of(MSG.ping), hex(inRange(V.ping)).subarray(1)),
  hex(V.ack99),
  serfStatePushPull,
  compress(hex(inRange(V.joinPushPull))),
  concat(Uint8Array.of(MSG.user), new MsgpackWriter().struct({ UserMsgLen: 17 }).finish(), hex(V.serfJoin).subarray(1)),
  concat(Uint8Array.of(MSG.err), new MsgpackWriter().struct({ Error: 'boom' }).finish()),
  hex(V.streamEncrypted),
]

function compress(inner: Uint8Array): Uint8Array {
  return new MsgpackWriter().byte(MSG.compress).struct({ Algo: 0, Buf: lzwCompress(inner) }).finish()
}

/** Decompression bombs, built once (compressing MiBs costs ~50 ms/MiB): zeros and a repeated vector. */
const UDP_BOMBS = [64 * 1024, MIB, MIB + 1, 4 * MIB].map((n) => compress(new Uint8Array(n)))
  .concat([compress(Buffer.alloc(2 * MIB, Buffer.from(hex(inRange(V.aliveTags)))))])
  .concat([compress(compress(new Uint8Array(4 * MIB)))])
const STREAM_BOMBS = [8 * MIB, 21 * MIB].map((n) => compress(new Uint8Array(n)))
  .concat([compress(Buffer.alloc(4 * MIB, Buffer.from(hex(inRange(V.joinPushPull)))))])
/** Bombs hold zeros or in-range vectors only: the address guard need not decompress them again and again. */
const BOMBS = new Set<Uint8Array>([...UDP_BOMBS, ...STREAM_BOMBS])

// ---- mutation ---------------------------------------------------------------------------------------------------

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xcc, 0xcd, 0xce, 0xcf,
  0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x90, 0x9f, 0x8f, 0xa0, 0xbf, 0x07, 0x09, 0x0a, 0x0c, 0x0d, 0xfe]

function mutateOnce(b: Uint8Array): Uint8Array {
  const n = b.length
  switch (int(10)) {
    case 0: { // flip 1-8 bits
      const out = Uint8Array.from(b)
      for (let i = 0, k = 1 + int(8); i < k && n > 0; i++) {
        const at = int(n)
        out[at] = (out[at] as number) ^ (1 << int(8))
      }
      return out
    }
    case 1: { // set 1-4 bytes to random or interesting values
      const out = Uint8Array.from(b)
      for (let i = 0, k = 1 + int(4); i < k && n > 0; i++) out[int(n)] = chance(0.5) ? pick(INTERESTING) : int(256)
      return out
    }
    case 2: { // insert random bytes
      const at = int(n + 1)
      return concat(b.subarray(0, at), randomBytes(1 + int(16)), b.subarray(at))
    }
    case 3: { // delete a range
      const at = int(n + 1)
      return concat(b.subarray(0, at), b.subarray(Math.min(n, at + 1 + int(8))))
    }
    case 4: { // duplicate a range
      const at = int(n + 1)
      const len = 1 + int(32)
      return concat(b.subarray(0, at + len), b.subarray(at, Math.min(n, at + len)), b.subarray(Math.min(n, at + len)))
    }
    case 5: // truncate
      return b.subarray(0, int(n + 1))
    case 6: // append junk
      return concat(b, randomBytes(1 + int(64)))
    case 7: { // splice with another vector
      const o = pick(PACKETS)
      return concat(b.subarray(0, int(n + 1)), o.subarray(int(o.length + 1)))
    }
    case 8: { // a big length: u16/u32 0xff.. at a random place
      const out = Uint8Array.from(b)
      const at = int(Math.max(1, n - 4))
      for (let i = 0; i < 4 && at + i < n; i++) out[at + i] = 0xff
      return out
    }
    default: { // change the message type byte
      const out = Uint8Array.from(b)
      if (n > 0) out[0] = int(16)
      return out
    }
  }
}

function mutate(b: Uint8Array): Uint8Array {
  let out = b
  for (let i = 0, k = 1 + int(3); i < k; i++) out = mutateOnce(out)
  return out
}

function withCrc(inner: Uint8Array, valid: boolean): Uint8Array {
  const c = valid ? crc32(inner) : int(2 ** 32)
  return concat(Uint8Array.of(MSG.hasCrc, c >>> 24, (c >>> 16) & 0xff, (c >>> 8) & 0xff, c & 0xff), inner)
}

/** One fuzz datagram: mutated vectors, wrapped in compound / compress / CRC, or pure noise. */
function genPacket(): Uint8Array {
  const r = rnd()
  if (r < 0.08) return randomBytes(int(1500))
  if (r < 0.1) return concat(Uint8Array.of(int(16)), randomBytes(int(300)))
  if (r < 0.102) return pick(UDP_BOMBS) // decompression bomb (limit: 1 MiB per packet)
  if (r < 0.104) return encodeCompound(Array.from({ length: 255 }, () => pick(PACKETS))) // max compound
  const base = chance(0.8) ? mutate(pick(PACKETS)) : pick(PACKETS)
  let pkt = base
  const w = rnd()
  if (w < 0.25) {
    const parts = Array.from({ length: 1 + int(5) }, () => (chance(0.6) ? mutate(pick(PACKETS)) : pick(PACKETS)))
    parts[int(parts.length)] = base
    pkt = encodeCompound(parts)
    if (chance(0.3)) pkt = mutate(pkt)
  } else if (w < 0.4) {
    pkt = compress(base)
    if (chance(0.3)) pkt = mutate(pkt)
  } else if (w < 0.45) {
    pkt = compress(encodeCompound([base, mutate(pick(PACKETS))]))
  }
  if (chance(0.3)) pkt = withCrc(pkt, chance(0.85))
  return pkt
}

/** One fuzz stream: a mutated stream vector, compressed or not, or noise. */
function genStream(): Uint8Array {
  const r = rnd()
  if (r < 0.1) return randomBytes(int(4096))
  if (r < 0.12) return concat(Uint8Array.of(int(16)), randomBytes(int(1024)))
  if (r < 0.125) return pick(STREAM_BOMBS) // decompression bomb (limit: 20 MiB per stream)
  if (r < 0.13) return Uint8Array.of(MSG.encrypt, 0x00, 0x10, 0x00, 0x00, ...randomBytes(int(2048))) // claims 1 MiB
  const base = pick(STREAMS)
  let s = chance(0.85) ? mutate(base) : base
  if (chance(0.15)) s = compress(s)
  return s
}

// ---- the network-rule guard -------------------------------------------------------------------------------------

const okAddr = (b: Uint8Array | null | undefined): boolean =>
  !b || (b.length !== 4 && b.length !== 16) || (b.length === 4 && b[0] === 127 && b[1] === 0 && b[2] === 52)

function serfOk(payload: Uint8Array): boolean {
  let m
  try {
    m = decodeSerfMessage(payload)
  } catch {
    return true
  }
  if (m.type === SERF_MSG.query) return okAddr(m.Addr)
  if (m.type === SERF_MSG.relay) return okAddr(m.DestAddr)
  return true
}

/**
 * A shared protocol weakness, not a mesh bug, so not sent: memberlist (serf included) accepts an alive whose Vsn
 * has a valid protocol range (pmin, pmax > 0, pmin ≤ pmax) whatever its current versions are; once such a node is
 * listed, push/pulls that carry it fail the joiner's version check ("Node 'x' protocol version (7) is
 * incompatible: [1, 5]"), with serf as with us. The test's last step (a real serf joins) needs a cluster that
 * stayed joinable, so alive nodes must use the versions every agent here speaks (pcur 2, dcur 5). Vsn values that
 * memberlist ignores (pmin or pmax 0, pmin > pmax) are still sent: the agent must ignore them too.
 */
function versionPoison(vsn: Uint8Array): boolean {
  if (vsn.length !== 6) return false
  const [p0, p1, p2, d0, d1, d2] = vsn as unknown as number[]
  if (p0 === 0 || p1 === 0 || (p0 as number) > (p1 as number)) return false
  return !((p0 as number) <= 2 && (p1 as number) >= 2 && p2 === 2 && (d0 as number) <= 5 && (d1 as number) >= 5 && d2 === 5)
}

function messageOk(m: PacketMessage | StreamMessage): boolean {
  switch (m.type) {
    case MSG.ping: return okAddr(m.SourceAddr)
    case MSG.indirectPing: return okAddr(m.Target) && okAddr(m.SourceAddr)
    case MSG.alive: return okAddr(m.Addr) && !versionPoison(m.Vsn)
    case MSG.user: return serfOk(m.Payload)
    case MSG.pushPull: return m.Nodes.every((n) => okAddr(n.Addr) && (n.State !== 0 || !versionPoison(n.Vsn)))
    default: return true
  }
}

/** Would the agent, decoding exactly these bytes, only ever talk to 127.0.52.0/24 (or to the UDP sender)? */
function packetOk(p: Uint8Array): boolean {
  if (BOMBS.has(p)) return true
  try {
    return decodePacket(p, null).messages.every(messageOk)
  } catch {
    return true
  }
}

/** Same for a stream; the agent acts on the first complete message of any prefix, which is this one's. */
function streamOk(s: Uint8Array): boolean {
  if (BOMBS.has(s)) return true
  try {
    const r = tryDecodeStream(s, null)
    return !r.done || messageOk(r.msg)
  } catch {
    return true
  }
}

// ---- drivers ----------------------------------------------------------------------------------------------------

interface Stats {
  generated: number
  filtered: number
  sent: number
  errors: number
}

/** The agent's UDP socket as the kernel sees it (/proc/net/udp): bytes waiting in its receive queue, and drops. */
function udpSocketState(ip: string, port: number): { rxQueue: number; drops: number } | null {
  const le = ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0').toUpperCase()).reverse().join('')
  const local = `${le}:${port.toString(16).toUpperCase().padStart(4, '0')}`
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f[1] === local) return { rxQueue: parseInt((f[4] ?? '0:0').split(':')[1] ?? '0', 16), drops: Number(f[12] ?? 0) }
    }
  } catch {
    // not Linux: no pacing information
  }
  return null
}

async function fuzzUdp(deadline: number, paceUntil: number): Promise<Stats & { kernelDrops: number; ms: number }> {
  const st = { generated: 0, filtered: 0, sent: 0, errors: 0, kernelDrops: 0, ms: 0 }
  const t0 = Date.now()
  const drops0 = udpSocketState(AGENT_IP, 7946)?.drops ?? 0
  const sock = dgram.createSocket('udp4')
  sock.on('message', () => undefined)
  sock.on('error', () => { st.errors++ })
  await new Promise<void>((r) => sock.bind(0, UDP_SRC_IP, r))
  try {
    // Batches of 50; before each, wait (1 ms at a time) while the agent's receive queue holds more than 64 KiB, so
    // the packets are decoded by the agent rather than dropped by the kernel. On a slow machine, pacing stops at
    // `paceUntil` so the count is still reached within the budget (the kernel then drops what the agent can't read).
    for (let batch = 0; st.sent < UDP_PACKETS && Date.now() < deadline && batch < UDP_PACKETS; batch++) {
      while ((udpSocketState(AGENT_IP, 7946)?.rxQueue ?? 0) > 64 * 1024 && Date.now() < paceUntil) await sleep(1)
      const sends: Promise<void>[] = []
      for (let i = 0; i < 50 && st.sent < UDP_PACKETS; i++) {
        const p = genPacket()
        st.generated++
        if (p.length > 65_000 || !packetOk(p)) {
          st.filtered++
          continue
        }
        st.sent++
        sends.push(new Promise((r) => sock.send(p, 7946, AGENT_IP, (err) => { if (err) st.errors++; r() })))
      }
      await Promise.all(sends)
    }
  } finally {
    await new Promise<void>((r) => sock.close(() => r()))
  }
  st.kernelDrops = (udpSocketState(AGENT_IP, 7946)?.drops ?? 0) - drops0
  st.ms = Date.now() - t0
  return st
}

type StreamMode = 'all-end' | 'all-read' | 'half-destroy' | 'chunked' | 'reset' | 'empty' | 'hold'
const MODES: StreamMode[] = ['all-end', 'all-read', 'half-destroy', 'chunked', 'reset', 'empty', 'hold']

function oneStream(data: Uint8Array, mode: StreamMode): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: AGENT_IP, port: 7946, localAddress: TCP_SRC_IP })
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      resolve()
    }
    const timer = setTimeout(finish, mode === 'hold' ? 300 + int(700) : 2000)
    sock.on('error', finish)
    sock.on('close', finish)
    sock.on('data', () => undefined)
    sock.on('connect', () => {
      switch (mode) {
        case 'all-end': sock.end(data); break
        case 'all-read': sock.write(data); break // wait for the agent's reply/close
        case 'half-destroy': sock.write(data.subarray(0, int(data.length + 1)), () => finish()); break
        case 'reset': sock.write(data, () => sock.resetAndDestroy()); break
        case 'empty': sock.end(); break
        case 'hold': sock.write(data.subarray(0, int(data.length + 1))); break
        case 'chunked': {
          let at = 0
          const next = () => {
            if (done) return
            if (at >= data.length) return void sock.end()
            const n = 1 + int(64)
            sock.write(data.subarray(at, at + n), () => setImmediate(next))
            at += n
          }
          next()
          break
        }
      }
    })
  })
}

async function fuzzTcp(deadline: number): Promise<Stats & { ms: number; bombs: number; modes: Record<string, number> }> {
  const st = { generated: 0, filtered: 0, sent: 0, errors: 0, ms: 0, bombs: 0, modes: {} as Record<string, number> }
  let bombsInFlight = 0
  const t0 = Date.now()
  const worker = async () => {
    for (let i = 0; i < TCP_STREAMS && st.sent < TCP_STREAMS && Date.now() < deadline; i++) {
      let s = genStream()
      // One decompression bomb at a time: each makes the agent hold up to 20 MiB (plus growth) while it lasts, and
      // this test measures steady growth, not how many bombs fit in memory at once.
      while (BOMBS.has(s) && bombsInFlight > 0) s = genStream()
      st.generated++
      if (!streamOk(s)) {
        st.filtered++
        continue
      }
      st.sent++
      const mode = pick(MODES)
      st.modes[mode] = (st.modes[mode] ?? 0) + 1
      const bomb = BOMBS.has(s)
      if (bomb) {
        bombsInFlight++
        st.bombs++
      }
      try {
        await oneStream(s, mode)
      } finally {
        if (bomb) bombsInFlight--
      }
    }
  }
  await Promise.all(Array.from({ length: TCP_CONCURRENCY }, worker))
  st.ms = Date.now() - t0
  return st
}

// ---- the test ---------------------------------------------------------------------------------------------------

t.test('agent survives hostile UDP and TCP input and stays usable', async (t) => {
  t.comment(`seed ${SEED} (set MESH_FUZZ_SEED to replay)`)
  const c = new TestCluster(t, 'fuzz')
  const agent = await c.mesh({ name: 'fz-agent', ip: AGENT_IP, logLevel: 'info' })
  await sleep(1000)
  const rss0 = rssBytes(agent.proc.pid) ?? 0
  const before = await meshStatus(agent.dataDir)

  let peak = rss0
  const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(agent.proc.pid) ?? 0) }, 250)
  t.teardown(() => clearInterval(sampler))
  /** One round of the whole input (≥ UDP_PACKETS packets and ≥ TCP_STREAMS streams, within FUZZ_BUDGET_MS). */
  const round = async () => {
    const t0 = Date.now()
    const deadline = t0 + FUZZ_BUDGET_MS
    // The guard decodes every packet with the agent's decoders; most fail, and stack traces are most of that cost.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      const [udp, tcp] = await Promise.all([fuzzUdp(deadline, t0 + FUZZ_BUDGET_MS * 0.75), fuzzTcp(deadline)])
      return { udp, tcp, fuzzMs: Date.now() - t0 }
    } finally {
      Error.stackTraceLimit = stackTraceLimit
    }
  }
  /** The lowest RSS over 3 s (garbage the agent has not collected yet is not growth). */
  const settledRss = async () => {
    let rss = Infinity
    for (let i = 0; i < 12; i++) {
      rss = Math.min(rss, rssBytes(agent.proc.pid) ?? Infinity)
      await sleep(250)
    }
    return rss
  }
  const { udp, tcp, fuzzMs } = await round()
  t.comment(`fuzzed for ${fuzzMs} ms: UDP ${JSON.stringify(udp)}; TCP ${JSON.stringify(tcp)}`)
  t.ok(udp.sent >= UDP_PACKETS, `sent ≥ ${UDP_PACKETS} UDP packets (${udp.sent})`)
  t.ok(tcp.sent >= TCP_STREAMS, `opened ≥ ${TCP_STREAMS} TCP streams (${tcp.sent})`)

  // Still alive, still answering, still itself.
  await sleep(1000)
  t.ok(agent.proc.running(), `the agent did not exit ${JSON.stringify(agent.proc.exitInfo())}`)
  const st = await waitFor(() => meshStatus(agent.dataDir, 5000), 20_000, { what: 'the control socket to answer' }) as MeshStatus
  const self = st.members.find((m) => m.name === 'fz-agent')
  t.match(self, { state: 'alive', status: 'alive', ip: AGENT_IP, port: 7946 }, 'it lists itself alive')
  const k = st.counters
  t.comment(`counters before ${JSON.stringify(before?.counters)}`)
  const states: Record<string, number> = {}
  for (const m of st.members) states[m.state] = (states[m.state] ?? 0) + 1
  t.comment(`counters after  ${JSON.stringify(k)}; ${st.members.length} members ${JSON.stringify(states)}`)
  t.ok((k.packetsIn ?? 0) >= UDP_PACKETS / 2, `the agent read most packets (${k.packetsIn} of ${udp.sent}; kernel drops ${udp.kernelDrops})`)
  t.ok((k.decodeErrors ?? 0) > 0, 'and counted decode errors rather than crashing')
  const cli = await runMesh(['status', '--json', '--data-dir', agent.dataDir], { timeoutMs: 120_000 })
  t.equal(cli.code, 0, `mesh status --json exits 0 ${cli.stderr}`)
  t.match(JSON.parse(cli.stdout || '{}'), { node: 'fz-agent' }, 'mesh status answers for the agent')

  // Memory. The first rounds take the heap to its working size: Node 24's V8 keeps a larger young generation and
  // gives freed pages back lazily. Measured on Node 24.22 (settled RSS after each round of this input): +80..125 MiB
  // after round one, +75..112 more after round two, then +14..38, +2, +11: it levels off, where a leak would keep growing
  // with the input. So rounds one and two together are bounded loosely (< 300 MiB), and a third round of the same
  // size must add less than 64 MiB. On a loaded machine the heap can still be short of its working size after round
  // two (one run: 298.8 MiB after round two where CI runs had 324..345, then 367.9 after round three, near their
  // 341..361): then a fourth round must add less than 64 MiB, as a leak would keep growing with it.
  const warm = await round()
  t.ok(warm.udp.sent >= UDP_PACKETS && warm.tcp.sent >= TCP_STREAMS, `a second round sent as much (${warm.udp.sent} packets, ${warm.tcp.sent} streams)`)
  const rss2 = await settledRss()
  const again = await round()
  t.ok(again.udp.sent >= UDP_PACKETS && again.tcp.sent >= TCP_STREAMS, `a third round sent as much (${again.udp.sent} packets, ${again.tcp.sent} streams)`)
  let rss3 = await settledRss()
  let beforeLast = rss2
  let last = 'round three'
  if (rss3 - rss2 >= 64 * MIB) {
    t.comment(`round three: RSS grew by ${((rss3 - rss2) / MIB).toFixed(1)} MiB (${(rss2 / MIB).toFixed(1)} → ${(rss3 / MIB).toFixed(1)} MiB): still warming up or a leak; a fourth round tells`)
    const more = await round()
    t.ok(more.udp.sent >= UDP_PACKETS && more.tcp.sent >= TCP_STREAMS, `a fourth round sent as much (${more.udp.sent} packets, ${more.tcp.sent} streams)`)
    beforeLast = rss3
    rss3 = await settledRss()
    last = 'round four'
  }
  clearInterval(sampler)
  const st3 = await meshStatus(agent.dataDir, 5000)
  t.comment(`after ${last}: ${st3?.members.length} members; counters ${JSON.stringify(st3?.counters)}`)
  t.comment(`RSS before ${(rss0 / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB, after round two ${(rss2 / MIB).toFixed(1)} MiB, after ${last} ${(rss3 / MIB).toFixed(1)} MiB`)
  t.ok(rss2 - rss0 < 300 * MIB, `rounds one and two: RSS grew by ${((rss2 - rss0) / MIB).toFixed(1)} MiB (< 300 MiB)`)
  t.ok(rss3 - beforeLast < 64 * MIB, `${last}: RSS grew by ${((rss3 - beforeLast) / MIB).toFixed(1)} MiB (< 64 MiB: no growth with the input)`)

  // A real serf agent can still join it.
  const tj = Date.now()
  const s = await c.serf({ name: 'fuzzserf', ip: SERF_IP, join: agent.bind, logLevel: 'info' })
  await waitFor(async () => (await serfMember(s.rpc, 'fz-agent'))?.status === 'alive', 20_000, { what: 'serf to list the agent alive' })
  await waitFor(async () => (await meshStatus(agent.dataDir))?.members.find((m) => m.name === 'fuzzserf')?.state === 'alive', 20_000,
    { what: 'the agent to list serf alive' })
  t.pass(`serf joined the fuzzed agent and both list each other alive (+${Date.now() - tj} ms)`)
  t.ok(s.proc.running(), 'serf is still running (nothing we relayed crashed it)')

  // Nothing unhandled, and it is still running.
  const out = agent.proc.stdout() + agent.proc.stderr()
  t.notMatch(out, /unhandled|uncaught/i, 'no unhandled/uncaught errors in the agent output')
  t.notMatch(agent.proc.stderr(), /^\s+at /m, 'no stack trace on stderr')
  t.ok(agent.proc.running(), 'the agent is still running at the end')
})
