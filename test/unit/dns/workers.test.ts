// DNS worker threads (`workers` > 1): the same answers as one responder, queries spread over the threads (their
// counters in status() and the metrics), catalog changes reach every worker, forwarding from workers, hostile
// datagrams, and a stop that frees the port and leaves no thread.
import t, { type Test } from 'tap'
import dgram from 'node:dgram'
import dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { DnsServer, tcpQuery, type DnsServerOptions } from '../../../src/dns/index.ts'
import { FakeCatalog, labSnapshot, rcodeOf, svc } from './fixtures.ts'
import { q, startUpstream, udpQuery, UDP_PATH } from './net.ts'
import { waitFor } from '../../support/procs.ts'

const HOST = '127.0.0.73'
const ONE_HOST = '127.0.0.74'
const UPSTREAM_HOST = '127.0.0.75'

async function server(t: Test, host: string, opts: Partial<DnsServerOptions> = {}): Promise<{ s: DnsServer; port: number; cat: FakeCatalog }> {
  const cat = (opts.catalog as FakeCatalog | undefined) ?? new FakeCatalog(labSnapshot())
  const s = new DnsServer({ listen: [{ host, port: 0 }], upstreams: [], udp: UDP_PATH, ...opts, catalog: cat })
  t.teardown(() => s.stop())
  await s.start()
  return { s, port: s.status().listen[0]!.port, cat }
}

/** Queries whose answers do not rotate (so any responder gives the same bytes). */
const QUERIES = [q('app_web.mesh'), q('_80._tcp.app_web', 'SRV'), q('nosuch.mesh'), q('app_web', 'AAAA'), q('2.0.78.10.in-addr.arpa', 'PTR'), q('api')]

/** `n` queries, each from its own source port, 30 at a time; answers in order. */
async function many(host: string, port: number, n: number, msg: (i: number) => Buffer): Promise<Buffer[]> {
  const out: Buffer[] = []
  for (let i = 0; i < n; i += 30) {
    out.push(...await Promise.all(Array.from({ length: Math.min(30, n - i) }, (_, j) => udpQuery(host, port, msg(i + j)))))
  }
  return out
}

const answered = (s: DnsServer) => (s.status().workers ?? []).map((w) => w.answered)

t.test('3 responders: answers byte-identical to 1, spread over every thread, counted in status and metrics', async (t) => {
  const three = await server(t, HOST, { workers: 3 })
  const one = await server(t, ONE_HOST)
  t.equal(one.s.status().workers, undefined, 'no workers field with one responder')
  const withId = (i: number) => { const m = Buffer.from(QUERIES[i % QUERIES.length]!); m.writeUInt16BE(i, 0); return m }
  const a = await many(HOST, three.port, 300, withId)
  const b = await many(ONE_HOST, one.port, 300, withId)
  t.equal(a.filter((m, i) => m.equals(b[i]!)).length, 300, '300 answers byte-identical to one responder')
  await waitFor(() => answered(three.s).reduce((x, y) => x + y, 0) === 300, 20_000, { what: 'worker counters posted' })
  const per = answered(three.s)
  t.equal(per.length, 3, 'main thread + 2 workers')
  t.ok(per.every((n) => n > 0), `every responder answered some: ${per.join(', ')}`)
  t.equal(three.s.status().answered, 300, 'status().answered adds the workers')
  const reg = new Registry()
  three.s.registerMetrics(reg)
  const text = await reg.metrics()
  t.match(text, /mesh_dns_worker_queries_total\{worker="1"\} [1-9]/)
  t.match(text, /mesh_dns_queries_total\{qtype="A",rcode="NOERROR"\} 100/, 'mesh_dns_queries_total adds the workers')
  t.same(answers(await tcpQuery(HOST, three.port, q('app_web.mesh'), 20_000)), ['10.78.0.2'], 'TCP on the main thread')
})

const answers = (msg: Buffer) => (dnsPacket.decode(msg).answers ?? []).map((a) => (a as { data: unknown }).data)

t.test('a catalog change is answered by every worker after its message hop', async (t) => {
  const { s, port, cat } = await server(t, HOST, { workers: 3 })
  t.equal(rcodeOf(await udpQuery(HOST, port, q('fresh.mesh'))), 'NXDOMAIN')
  const snap = labSnapshot(2)
  snap.services.push(svc('fresh', { vip: '10.78.0.99' }))
  cat.set(snap)
  await waitFor(() => s.workers!.list().every((w) => w.revision === 2), 20_000, { what: 'every worker applied revision 2' })
  const got = await many(HOST, port, 90, () => q('fresh.mesh'))
  t.equal(got.filter((m) => answers(m)[0] === '10.78.0.99').length, 90, 'all 90 answers have the new service')

  // Only changed services travel: one removed, one changed, the rest kept (and reordered).
  const third = labSnapshot(3)
  third.services = [...snap.services.filter((x) => x.name !== 'fresh' && x.name !== 'api'), svc('api', { vip: '10.78.0.77' })].reverse()
  cat.set(third)
  await waitFor(() => s.workers!.list().every((w) => w.revision === 3), 20_000, { what: 'every worker applied revision 3' })
  const again = await many(HOST, port, 90, (i) => (i % 2 ? q('fresh.mesh') : q('api')))
  t.equal(again.filter((m, i) => (i % 2 ? rcodeOf(m) === 'NXDOMAIN' : answers(m)[0] === '10.78.0.77')).length, 90, 'removed and changed services answered as changed')
})

t.test('a worker that dies is logged in one line and restarted', async (t) => {
  const logs: string[] = []
  const { s, port } = await server(t, HOST, { workers: 3, log: (level, msg) => { if (level === 'warn') logs.push(msg) } })
  await s.workers!.terminate(1)
  await waitFor(() => s.workers!.list()[0]!.restarts === 1 && s.workers!.threads === 2, 20_000, { what: 'worker 1 restarted' })
  t.match(logs, [/^dns worker 1 exited \(code 1\); restarting in 100 ms$/])
  const got = await many(HOST, port, 90, () => q('app_web.mesh'))
  t.equal(got.filter((m) => answers(m)[0] === '10.78.0.2').length, 90, 'answered after the restart')
})

t.test('forwarding from workers; hostile datagrams stop no worker', async (t) => {
  const up = await startUpstream(UPSTREAM_HOST)
  t.teardown(() => up.close())
  const { s, port } = await server(t, HOST, { workers: 3, upstreams: [`${UPSTREAM_HOST}:${up.port}`], forwardTimeoutMs: 20_000 })
  const got = await many(HOST, port, 90, () => q('only.upstream.test'))
  t.equal(got.filter((m) => answers(m)[0] === '192.0.2.7').length, 90, '90 forwarded answers')
  await waitFor(() => s.status().forwarded === 90, 20_000, { what: 'forward counters posted' })
  t.ok(s.workers!.list().every((w) => (w.counters?.forwarded ?? 0) > 0), 'every worker forwarded some')

  const junk = [Buffer.alloc(0), Buffer.alloc(5, 0xff), Buffer.alloc(1400, 0xc0), Buffer.from(q('x.mesh')).fill(0xff, 12), (() => { const m = Buffer.from(q('x.mesh')); m[2]! |= 0x80; return m })()]
  for (let i = 0; i < 100; i++) {
    const c = dgram.createSocket('udp4')
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()))
    await new Promise<void>((r) => c.send(junk[i % junk.length]!, port, HOST, () => r()))
    c.close()
  }
  const after = await many(HOST, port, 90, () => q('app_web.mesh'))
  t.equal(after.filter((m) => answers(m)[0] === '10.78.0.2').length, 90, 'still answered after 100 hostile datagrams')
  t.match(s.workers!.list(), [{ running: true, restarts: 0 }, { running: true, restarts: 0 }])
})

t.test('stop() ends every thread and frees the port; a bad workers value is one clear line', async (t) => {
  const { s, port } = await server(t, HOST, { workers: 3 })
  const w = s.workers!
  t.equal(w.threads, 2)
  await s.stop()
  t.equal(w.threads, 0, 'no worker thread left')
  const plain = dgram.createSocket('udp4') // no SO_REUSEPORT: binds only when no socket holds the port
  await new Promise<void>((resolve, reject) => { plain.once('error', reject); plain.bind(port, HOST, () => resolve()) })
  plain.close()
  const again = await server(t, HOST, { workers: 2, listen: [{ host: HOST, port }] })
  t.equal(again.port, port, 'a new server binds the same port')
  t.throws(() => new DnsServer({ catalog: new FakeCatalog(labSnapshot()), workers: 17 }), /dns: workers 17: want an integer in 1–16/)
  t.throws(() => new DnsServer({ catalog: new FakeCatalog(labSnapshot()), workers: 0 }), /want an integer in 1–16/)
})
