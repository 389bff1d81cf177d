/**
 * Hostile input: ≥ 100k malformed packets over UDP and a few thousand frames over TCP against a real server (plus
 * 200k straight into the answer builder). The server must not crash, must still answer a valid query afterwards,
 * and its memory must stay bounded. Seeded: a failure replays with the printed seed.
 */
import t from 'tap'
import dgram from 'node:dgram'
import net from 'node:net'
import dnsPacket from 'dns-packet'
import { seededRandom } from '../../../src/base/clock.ts'
import { DnsServer, Responder, dnsConfig, tcpQuery } from '../../../src/dns/index.ts'
import { FakeCatalog, labSnapshot, optRecord } from './fixtures.ts'
import { q, udpQuery, UDP_PATH } from './net.ts'
import { waitFor } from '../../support/procs.ts'

const HOST = '127.0.0.73'
const SEED = Number(process.env.DNS_FUZZ_SEED ?? 0xd75)
const UDP_PACKETS = 100_000
const TCP_FRAMES = 10_000

const NAMES = ['app_web', 'tasks.app_web', 'app_db', 'web.app', '_80._tcp.app_web', 'nosuch.mesh', 'example.com', '2.0.78.10.in-addr.arpa', 'app_web.1.mesh']
const TYPES = ['A', 'AAAA', 'SRV', 'PTR', 'ANY', 'TXT'] as const

function makeFuzzer(seed: number): () => Buffer {
  const rnd = seededRandom(seed)
  const int = (n: number) => Math.floor(rnd.next() * n)
  // Encoding is slow next to answering: encode a pool once, vary only the id.
  const pool = Array.from({ length: 128 }, () => q(NAMES[int(NAMES.length)] as string, TYPES[int(TYPES.length)], 0,
    int(2) ? { additionals: [optRecord(512 + int(4000))] } : {}))
  const valid = (): Buffer => { const b = pool[int(pool.length)] as Buffer; b.writeUInt16BE(int(65536), 0); return b }
  const header = (qd: number, an: number, ns: number, ar: number) => {
    const h = Buffer.alloc(12)
    h.writeUInt16BE(int(65536), 0)
    h.writeUInt16BE(qd, 4); h.writeUInt16BE(an, 6); h.writeUInt16BE(ns, 8); h.writeUInt16BE(ar, 10)
    return h
  }
  const kinds: Array<() => Buffer> = [
    // random bytes
    () => { const b = Buffer.allocUnsafe(int(600)); for (let i = 0; i < b.length; i++) b[i] = int(256); return b },
    // a valid query with a few bytes flipped
    () => { const b = Buffer.from(valid()); for (let i = 1 + int(8); i > 0; i--) b[int(b.length)] = int(256); return b },
    // a valid query cut short
    () => { const b = valid(); return b.subarray(0, int(b.length)) },
    // a valid query with garbage after it
    () => Buffer.concat([valid(), Buffer.alloc(1 + int(64), int(256))]),
    // compression loops: in the question, and in an answer record (decoded by dns-packet on the slow path)
    () => Buffer.concat([header(1, 0, 0, 0), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]),
    () => Buffer.concat([header(1, 1, 0, 0), Buffer.from([1, 97, 0, 0, 1, 0, 1, 0xc0, 0x13, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4])]),
    () => Buffer.concat([header(1, 0, 0, 2), Buffer.from([1, 97, 0, 0, 1, 0, 1, 0xc0, 0x0c + int(30), 0, 41, 16, 0, 0, 0, 0, 0, 0, 0])]),
    // counts that lie
    () => Buffer.concat([header(int(3), int(65536), int(65536), int(65536)), valid().subarray(12)]),
    // label lengths past the end, over-long names
    () => Buffer.concat([header(1, 0, 0, 0), Buffer.from([63, 97, 98, 99])]),
    () => Buffer.concat([header(1, 0, 0, 0), Buffer.alloc(300, 1), Buffer.from([0, 0, 1, 0, 1])]),
    // OPT with a bad length, a non-root owner, a bad version
    () => { const b = Buffer.from(valid()); if (b.readUInt16BE(10) === 1) b.writeUInt16BE(int(65536), b.length - 2); return b },
    () => Buffer.concat([header(1, 0, 0, 1), Buffer.from([1, 97, 0, 0, 1, 0, 1, 1, 98, 0, 0, 41, 4, 0, 0, int(4), 0, 0, 0, 0])]),
    // responses (must be dropped, never answered) and odd opcodes
    () => { const b = Buffer.from(valid()); b[2] = (b[2] as number) | 0x80; return b },
    () => { const b = Buffer.from(valid()); b[2] = ((b[2] as number) & 0x87) | (int(16) << 3); return b },
  ]
  return () => (kinds[int(kinds.length)] as () => Buffer)()
}

const catalog = new FakeCatalog(labSnapshot())

t.test('answer builder: 100k hostile packets, no throw', async (t) => {
  const r = new Responder(catalog, dnsConfig({}))
  const next = makeFuzzer(SEED + 1)
  let answered = 0
  for (let i = 0; i < 100_000; i++) {
    const out = r.handle(Buffer.from(next()), i & 1 ? '127.0.0.1' : '10.77.1.2', (i & 3) === 0)
    if (out instanceof Buffer) {
      answered++
      if (out.length > 65535) t.fail('oversized answer')
    }
  }
  t.ok(answered > 50_000, `${answered} answered, ${r.stats.dropped} dropped, ${r.stats.formerr} FORMERR`)
})

t.test(`UDP: ${UDP_PACKETS} malformed packets, then a valid query (seed ${SEED})`, async (t) => {
  // The upstream is a black hole and the in-flight table small: forwarded fuzz fills it and the rest get SERVFAIL.
  const s = new DnsServer({ catalog, listen: [{ host: HOST, port: 0 }], upstreams: ['127.0.0.74:9'], maxInflight: 64, forwardTimeoutMs: 200, udp: UDP_PATH })
  t.teardown(() => s.stop())
  await s.start()
  const port = s.status().listen[0]!.port
  const client = dgram.createSocket('udp4')
  let replies = 0
  client.on('message', () => { replies++ })
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()))
  t.teardown(() => client.close())
  const next = makeFuzzer(SEED)
  const processed = () => { const st = s.status(); return st.answered + st.dropped + st.forwarded }
  global.gc?.()
  const mem0 = process.memoryUsage()
  const t0 = Date.now()
  let sent = 0
  while (sent < UDP_PACKETS) {
    for (let i = 0; i < 250; i++, sent++) client.send(Buffer.from(next()), port, HOST)
    // Pace on the server's progress so the socket buffers, not the server, are not what drops packets.
    for (let spins = 0; spins < 500 && processed() < sent - 50; spins++) await new Promise((r) => setImmediate(r))
  }
  // Let the server drain its socket buffer (real I/O): stop as soon as every packet is accounted for, or when three
  // checks in a row (each after a turn of the event loop, so after any I/O ready) saw no progress; at most 20 s.
  let seen = -1
  let still = 0
  await waitFor(() => {
    still = processed() === seen ? still + 1 : 0
    seen = processed()
    return processed() >= sent || still >= 3
  }, 20_000, { intervalMs: 20 }).catch(() => undefined)
  const mem1 = process.memoryUsage()
  const st = s.status()
  t.comment(`${sent} sent in ${Date.now() - t0} ms; answered ${st.answered}, dropped ${st.dropped}, FORMERR ${st.formerr}, forwarded ${st.forwarded}, replies ${replies}`)
  t.ok(processed() >= sent * 0.9, `server saw ≥ 90% of the packets (${processed()})`)
  t.ok(st.forwardInflight <= 64, 'in-flight table bounded')
  const heapMb = (mem1.heapUsed - mem0.heapUsed) / 1e6
  const rssMb = (mem1.rss - mem0.rss) / 1e6
  t.comment(`heapUsed ${(mem0.heapUsed / 1e6).toFixed(1)} → ${(mem1.heapUsed / 1e6).toFixed(1)} MB, rss ${(mem0.rss / 1e6).toFixed(1)} → ${(mem1.rss / 1e6).toFixed(1)} MB`)
  t.ok(heapMb < 64, `heap growth ${heapMb.toFixed(1)} MB < 64`)
  t.ok(rssMb < 128, `rss growth ${rssMb.toFixed(1)} MB < 128`)
  const ok = dnsPacket.decode(await udpQuery(HOST, port, q('app_web')))
  t.same(ok.answers?.map((a) => (a as { data: string }).data), ['10.78.0.2'], 'still answers over UDP')
})

t.test(`TCP: ${TCP_FRAMES} hostile frames over many connections, then a valid query`, async (t) => {
  const s = new DnsServer({ catalog, listen: [{ host: HOST, port: 0 }], upstreams: [], tcpIdleMs: 500, udp: UDP_PATH })
  t.teardown(() => s.stop())
  await s.start()
  const port = s.status().listen[0]!.port
  const next = makeFuzzer(SEED + 2)
  const rnd = seededRandom(SEED + 3)
  const int = (n: number) => Math.floor(rnd.next() * n)
  let frames = 0
  const mem0 = process.memoryUsage()
  const conn = () => new Promise<void>((resolve) => {
    const c = net.connect(port, HOST)
    c.on('error', () => {})
    c.on('data', () => {})
    c.on('close', () => resolve())
    c.on('connect', () => {
      const parts: Buffer[] = []
      for (let i = 0; i < 50; i++, frames++) {
        const m = next()
        const len = Buffer.alloc(2)
        // mostly honest lengths; sometimes a lie (too short for a header, or longer than what follows)
        len.writeUInt16BE(int(40) === 0 ? int(65536) : m.length)
        parts.push(len, m)
      }
      const all = Buffer.concat(parts)
      // random chunking, then either a clean end or an abrupt destroy
      let off = 0
      while (off < all.length) { const n = 1 + int(700); c.write(all.subarray(off, off + n)); off += n }
      if (int(8) === 0) c.destroy()
      else c.end()
      setTimeout(() => c.destroy(), 2000).unref()
    })
  })
  for (let batch = 0; frames < TCP_FRAMES; batch++) await Promise.all(Array.from({ length: 10 }, conn))
  const mem1 = process.memoryUsage()
  t.comment(`${frames} frames; answered ${s.status().answered}, dropped ${s.status().dropped}; heap ${(mem0.heapUsed / 1e6).toFixed(1)} → ${(mem1.heapUsed / 1e6).toFixed(1)} MB`)
  t.ok((mem1.heapUsed - mem0.heapUsed) / 1e6 < 64, 'heap bounded')
  t.ok(s.status().answered + s.status().dropped > 2000, 'the server got through thousands of the frames (the rest sit behind lying lengths or aborted writes)')
  const ok = dnsPacket.decode(await tcpQuery(HOST, port, q('tasks.app_web'), 20_000))
  t.equal(ok.answers?.length, 2, 'still answers over TCP')
  const deadline = Date.now() + 20_000 // idle ones close after 500 ms; bounded generously for a loaded machine
  while (s.status().tcpConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(s.status().tcpConnections, 0, 'every connection closed in the end')
})
