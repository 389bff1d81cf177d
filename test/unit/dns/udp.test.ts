/**
 * The batched UDP path (native/udpmmsg.c through src/dns/udp.ts) as a client sees it: IPv4 and IPv6 sources answered
 * with the bytes the dgram path sends, a burst of 200 queries all answered, hostile datagrams dropped without costing
 * the others their answers, close() freeing the port, two reusePort sockets sharing one, and the dgram fallback.
 */
import t, { type Test } from 'tap'
import dgram from 'node:dgram'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import dnsPacket from 'dns-packet'
import { DnsServer, loadUdpAddon, type DnsServerOptions } from '../../../src/dns/index.ts'
import { openUdp, type UdpListener } from '../../../src/dns/udp.ts'
import { FakeCatalog, ep, labSnapshot, rcodeOf, svc } from './fixtures.ts'
import { q } from './net.ts'
import { waitFor } from '../../support/procs.ts'

const HOST = '127.0.0.75'
const addon = loadUdpAddon()
const skip = 'error' in addon ? `the addon is not built (${addon.error}): npm run build` : false

function catalog(): FakeCatalog {
  const snap = labSnapshot()
  snap.services.push(svc('big', { endpointMode: 'dnsrr', endpoints: Array.from({ length: 40 }, (_, i) => ep('big', i + 1, `10.77.3.${i + 1}`)) }))
  return new FakeCatalog(snap)
}

async function server(t: Test, opts: Partial<DnsServerOptions>): Promise<{ s: DnsServer; port: number }> {
  const s = new DnsServer({ listen: [{ host: HOST, port: 0 }], upstreams: [], catalog: catalog(), ...opts })
  t.teardown(() => s.stop())
  await s.start()
  return { s, port: s.status().listen[0]!.port }
}

/** A client socket that sends `msgs` at once and collects answers by id until `want` have come (bounded). */
async function burst(host: string, port: number, msgs: Buffer[], want = msgs.length, from = host.includes(':') ? '::1' : '127.0.0.1'): Promise<Map<number, Buffer>> {
  const c = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 })
  const got = new Map<number, Buffer>()
  c.on('message', (m) => { if (m.length >= 2) got.set(m.readUInt16BE(0), m) })
  await new Promise<void>((r) => c.bind(0, from, () => r()))
  try {
    for (const m of msgs) c.send(m, port, host)
    await waitFor(() => got.size >= want, 20_000, { intervalMs: 10, what: `${want} answers` }).catch(() => undefined)
    return got
  } finally {
    c.close()
  }
}

const QUERIES = [q('app_web.mesh', 'A', 1), q('tasks.app_web', 'A', 2), q('nosuch.mesh', 'A', 3), q('big', 'A', 4), q('big', 'A', 5),
  q('_80._tcp.app_web', 'SRV', 6), q('app_web.mesh', 'AAAA', 7), q('foreign.example', 'A', 8)]

t.test('IPv4 and IPv6 sources: answered, byte for byte what the dgram path answers', { skip }, async (t) => {
  const batched = await server(t, { udp: 'batched', listen: [{ host: HOST, port: 0 }, { host: '::1', port: 0 }] })
  const plain = await server(t, { udp: 'dgram', listen: [{ host: HOST, port: 0 }, { host: '::1', port: 0 }] })
  t.equal(batched.s.status().udp, 'batched')
  t.equal(plain.s.status().udp, 'dgram')
  for (const [i, host] of [HOST, '::1'].entries()) {
    const b = batched.s.status().listen[i]!.port
    const d = plain.s.status().listen[i]!.port
    // One by one so both servers see the same order (dnsrr rotation).
    for (const m of QUERIES) {
      const got = await burst(host, b, [m])
      const want = await burst(host, d, [m])
      const id = m.readUInt16BE(0)
      t.ok(got.get(id), `${host}: answer to query ${id}`)
      t.same(got.get(id), want.get(id), `${host}: query ${id} answered with the same bytes`)
    }
  }
  t.equal(dnsPacket.decode((await burst('::1', batched.s.status().listen[1]!.port, [q('app_web', 'A', 9)])).get(9)!).answers?.length, 1, 'IPv6 source: A record')
})

t.test('a burst of 200 queries sent at once: all answered', { skip }, async (t) => {
  const { s, port } = await server(t, { udp: 'batched' })
  const msgs = Array.from({ length: 200 }, (_, i) => q(i % 2 ? 'app_web.mesh' : 'tasks.app_web', 'A', 1000 + i))
  const got = await burst(HOST, port, msgs)
  t.equal(got.size, 200, 'every id answered')
  t.ok([...got.values()].every((m) => rcodeOf(m) === 'NOERROR'))
  t.ok(s.status().answered >= 200)
})

t.test('hostile datagrams (garbage, 0 bytes, 65,000 bytes) are dropped; the queries around them are answered', { skip }, async (t) => {
  const { s, port } = await server(t, { udp: 'batched' })
  const hostile = [Buffer.from('not dns at all'), Buffer.alloc(0), Buffer.alloc(65_000, 0x41), Buffer.alloc(5000, 0), Buffer.from([0xff])]
  const msgs: Buffer[] = []
  for (let i = 0; i < 20; i++) msgs.push(q('app_web.mesh', 'A', 2000 + i), hostile[i % hostile.length]!)
  const got = await burst(HOST, port, msgs, 20)
  for (let i = 0; i < 20; i++) t.ok(got.get(2000 + i), `query ${2000 + i} answered`)
  await waitFor(() => s.status().dropped >= 8, 20_000, { intervalMs: 10 }).catch(() => undefined)
  t.ok(s.status().dropped >= 8, `oversized datagrams counted as dropped (${s.status().dropped})`)
  t.same(dnsPacket.decode((await burst(HOST, port, [q('app_web', 'A', 7)])).get(7)!).answers?.map((a) => (a as { data: string }).data), ['10.78.0.2'], 'still answers')
})

t.test('an answer function that throws costs only its own datagram', { skip }, async (t) => {
  let n = 0
  const l = await openUdp('batched', HOST, 0, (msg) => { if (++n % 2 === 0) throw new Error('boom'); return Buffer.from(msg) }, () => {})
  t.teardown(() => l.close())
  const got = await burst(HOST, l.port, Array.from({ length: 10 }, (_, i) => q('x', 'A', 3000 + i)), 5)
  t.ok(got.size >= 5, `the others echoed (${got.size})`)
})

t.test('close() frees the port: a socket without reusePort binds it next', { skip }, async (t) => {
  const l = await openUdp('batched', HOST, 0, (m) => m, () => {})
  const port = l.port
  await l.close()
  await l.close() // twice is fine
  l.send(Buffer.from('late'), 9, HOST) // a late forwarded answer after close: nothing happens
  const plain = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => { plain.once('error', reject); plain.bind(port, HOST, () => resolve()) })
  plain.close()
  t.pass(`port ${port} bound again`)
})

t.test('two reusePort sockets on one port (batched and dgram, as in a hand-over) both get queries', { skip }, async (t) => {
  const hits = { a: 0, b: 0 }
  const a = await openUdp('batched', HOST, 0, (m) => { hits.a++; return m }, () => {})
  const b = await openUdp('batched', HOST, a.port, (m) => { hits.b++; return m }, () => {})
  const c = await openUdp('dgram', HOST, a.port, (m) => m, () => {})
  const all: UdpListener[] = [a, b, c]
  t.teardown(() => Promise.all(all.map((l) => l.close())))
  t.equal(b.port, a.port)
  // The kernel spreads by source address and port: 60 clients, one query each.
  for (let i = 0; i < 60; i++) await burst(HOST, a.port, [q('x', 'A', i)])
  t.ok(hits.a > 0 && hits.b > 0, `both batched sockets got queries (${hits.a}, ${hits.b})`)
})

t.test('bad arguments and bind errors are one-line exceptions', { skip }, async (t) => {
  await t.rejects(openUdp('batched', 'not-an-ip', 0, (m) => m, () => {}), /host must be an IPv4 or IPv6 address/)
  await t.rejects(openUdp('batched', HOST, 70_000, (m) => m, () => {}), /port must be an integer 0-65535/)
  await t.rejects(openUdp('batched', '192.0.2.99', 0, (m) => m, () => {}), { code: 'EADDRNOTAVAIL', message: /bind 192\.0\.2\.99:0: Cannot assign requested address/ })
  const taken = dgram.createSocket('udp4') // no reusePort: the port is not shared
  await new Promise<void>((r) => taken.bind(0, HOST, () => r()))
  t.teardown(() => taken.close())
  await t.rejects(openUdp('batched', HOST, taken.address().port, (m) => m, () => {}), { code: 'EADDRINUSE' })
})

t.test('without the addon: auto falls back to dgram with one log line, batched refuses to start', async (t) => {
  const saved = process.env.MESH_UDPMMSG_PATH
  t.teardown(() => { if (saved === undefined) delete process.env.MESH_UDPMMSG_PATH; else process.env.MESH_UDPMMSG_PATH = saved })
  const junk = join(tmpdir(), `mesh-udpmmsg-junk-${process.pid}.node`)
  writeFileSync(junk, 'not a shared object')
  for (const [what, path] of [['missing', '/nonexistent/udpmmsg.node'], ['broken', junk]] as const) {
    process.env.MESH_UDPMMSG_PATH = path
    const logs: string[] = []
    const { s, port } = await server(t, { udp: 'auto', log: (level, msg) => logs.push(`${level} ${msg}`) })
    t.equal(s.status().udp, 'dgram', `${what}: dgram`)
    const lines = logs.filter((l) => l.includes('batched UDP unavailable'))
    t.equal(lines.length, 1, `${what}: one line`)
    t.match(lines[0], /^warn dns: batched UDP unavailable \(.+\); using node:dgram$/)
    t.notMatch(lines[0], /\n/)
    t.ok((await burst(HOST, port, [q('app_web.mesh', 'A', 11)])).get(11), `${what}: answered`)
    await s.stop()
    const forced = new DnsServer({ listen: [{ host: HOST, port: 0 }], upstreams: [], catalog: catalog(), udp: 'batched' })
    await t.rejects(forced.start(), { code: 'MESH_ERR_DNS', message: /^dns: udp mode batched: batched UDP unavailable \([^\n]+\)$/ })
    t.equal(forced.status().running, false)
  }
})

t.test('drops counted on a gateway address stay counted after that address is unbound', { skip }, async (t) => {
  const { s, port } = await server(t, { udp: 'batched' })
  const extra = { host: '127.0.0.74', port }
  await s.setExtraListen([extra])
  const msgs = [q('app_web.mesh', 'A', 4000), Buffer.alloc(5000, 0), Buffer.alloc(6000, 0), q('app_web.mesh', 'A', 4001)]
  const got = await burst(extra.host, port, msgs, 2)
  t.ok(got.get(4001), 'the extra address answers')
  await waitFor(() => s.status().dropped >= 2, 20_000, { intervalMs: 10 }).catch(() => undefined)
  const before = s.status().dropped
  t.ok(before >= 2, `oversized datagrams on the extra address counted (${before})`)
  await s.setExtraListen([])
  t.ok(s.status().dropped >= before, `after the address is unbound the count stays (${s.status().dropped} ≥ ${before})`)
})
