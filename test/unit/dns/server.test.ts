import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import net from 'node:net'
import dgram from 'node:dgram'
import { promisify } from 'node:util'
import dnsPacket from 'dns-packet'
import { Registry } from 'prom-client'
import { DnsServer, tcpQuery, type DnsServerOptions } from '../../../src/dns/index.ts'
import { FakeCatalog, ep, labSnapshot, optRecord, rcodeOf, svc } from './fixtures.ts'
import { q, startUpstream, udpQuery, UDP_PATH } from './net.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { waitFor } from '../../support/procs.ts'

const run = promisify(execFile)
const HOST = '127.0.0.71'
const UPSTREAM_HOST = '127.0.0.72'

function catalog(): FakeCatalog {
  const snap = labSnapshot()
  snap.services.push(svc('big', { endpointMode: 'dnsrr', endpoints: Array.from({ length: 150 }, (_, i) => ep('big', i + 1, `10.77.${1 + (i >> 8)}.${i & 255}`)) }))
  return new FakeCatalog(snap)
}

async function server(t: Test, opts: Partial<DnsServerOptions> = {}): Promise<{ s: DnsServer; port: number; cat: FakeCatalog }> {
  const cat = (opts.catalog as FakeCatalog | undefined) ?? catalog()
  const s = new DnsServer({ listen: [{ host: HOST, port: 0 }], upstreams: [], udp: UDP_PATH, ...opts, catalog: cat })
  t.teardown(() => s.stop())
  await s.start()
  return { s, port: s.status().listen[0]!.port, cat }
}

const answers = (msg: Buffer) => (dnsPacket.decode(msg).answers ?? []).map((a) => (a as { data: unknown }).data)

t.test('UDP and TCP: answers, several queries on one TCP connection', async (t) => {
  const { s, port, cat } = await server(t)
  t.same(answers(await udpQuery(HOST, port, q('app_web.mesh'))), ['10.78.0.2'])
  t.same(answers(await tcpQuery(HOST, port, q('_80._tcp.app_web', 'SRV'), 20_000)), [{ priority: 0, weight: 0, port: 80, target: 'app_web.mesh' }])

  const got = await new Promise<Buffer[]>((resolve, reject) => {
    const out: Buffer[] = []
    const c = net.connect(port, HOST)
    let buf = Buffer.alloc(0)
    c.on('connect', () => {
      const frames = [q('app_web', 'A', 1), q('tasks.app_web', 'A', 2), q('nosuch.mesh', 'A', 3)].map((m) => {
        const len = Buffer.alloc(2)
        len.writeUInt16BE(m.length)
        return Buffer.concat([len, m])
      })
      c.write(Buffer.concat(frames)) // pipelined in one segment
    })
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)))
        buf = buf.subarray(2 + buf.readUInt16BE(0))
      }
      if (out.length === 3) { c.end(); resolve(out) }
    })
    c.on('error', reject)
  })
  t.same(got.map((m) => m.readUInt16BE(0)), [1, 2, 3], 'answered in order, ids kept')
  t.equal(rcodeOf(got[2]!), 'NXDOMAIN')

  // A catalog change is visible in the very next answer over the wire.
  const next = labSnapshot(2)
  next.services[0]!.vip = '10.78.0.99'
  cat.set(next)
  t.same(answers(await udpQuery(HOST, port, q('app_web'))), ['10.78.0.99'])
  t.equal(s.status().zone?.revision, 2)
})

t.test('dig: A, NXDOMAIN, EDNS0, truncation with TCP fallback', async (t) => {
  const { port } = await server(t)
  const dig = async (...args: string[]) => (await run('dig', [`@${HOST}`, '-p', String(port), '+time=2', '+tries=1', ...args])).stdout
  t.equal((await dig('+short', 'app_web.mesh')).trim(), '10.78.0.2')
  const nx = await dig('nosuch.mesh')
  t.match(nx, /status: NXDOMAIN/)
  t.match(nx, /flags: qr aa rd ra;/)
  t.match(nx, /mesh\.\s+5\s+IN\s+SOA\s+ns\.mesh\. hostmaster\.mesh\./)
  t.match(await dig('app_web.mesh', 'AAAA'), /status: NOERROR.*\n.*ANSWER: 0, AUTHORITY: 1/)
  t.match(await dig('app_web.mesh'), /; EDNS: version: 0, flags:; udp: 1232/)
  t.match(await dig('-x', '10.78.0.2', '+short'), /^app_web\.mesh\.$/m)
  const udpOnly = await dig('+ignore', '+noedns', 'tasks.big')
  t.match(udpOnly, /flags: qr aa tc rd ra;/, 'UDP answer truncated')
  const full = await dig('+noedns', 'tasks.big')
  t.match(full, /Truncated, retrying in TCP mode/)
  t.match(full, /ANSWER: 150,/, 'TCP fallback has all 150 tasks')
})

t.test('forwarding to an upstream; upstream down → SERVFAIL within the timeout; REFUSED for others', async (t) => {
  const up = await startUpstream(UPSTREAM_HOST)
  t.teardown(() => up.close())
  // The upstream answers at once (it is in this process); a long forwarding timeout so that a stall of this process on a
  // loaded machine is not taken for an upstream that does not answer (that case is below, on a fake clock).
  const { s, port } = await server(t, { upstreams: [`${UPSTREAM_HOST}:${up.port}`], forwardTimeoutMs: 20_000 })
  const reg = new Registry()
  s.registerMetrics(reg)
  const a = await udpQuery(HOST, port, q('only.upstream.test', 'A', 777))
  t.equal(a.readUInt16BE(0), 777, 'client id restored')
  t.same(answers(a), ['192.0.2.7'])
  t.same(answers(await tcpQuery(HOST, port, q('only.upstream.test'), 20_000)), ['192.0.2.7'], 'TCP client forwarded too')
  t.equal(rcodeOf(await udpQuery(HOST, port, q('other.upstream.test'))), 'NXDOMAIN', "upstream's NXDOMAIN passed through")
  const big = await tcpQuery(HOST, port, q('big.upstream.test'), 20_000)
  t.equal(answers(big).length, 120, 'truncated upstream answer retried over TCP for a TCP client')
  const halfClosed = await new Promise<Buffer>((resolve, reject) => {
    const c = net.connect(port, HOST)
    let buf = Buffer.alloc(0)
    c.on('connect', () => {
      const m = q('only.upstream.test', 'A', 31)
      const len = Buffer.alloc(2)
      len.writeUInt16BE(m.length)
      c.end(Buffer.concat([len, m])) // query, then shut down our side at once
    })
    c.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]) })
    c.on('close', () => (buf.length > 2 ? resolve(buf.subarray(2)) : reject(new Error('closed without an answer'))))
    c.on('error', reject)
  })
  t.same(answers(halfClosed), ['192.0.2.7'], 'a half-closed TCP client still gets its forwarded answer')
  const udpBig = await udpQuery(HOST, port, q('big.upstream.test'))
  t.ok(((udpBig[2] as number) & 0x02) !== 0, 'UDP client gets TC and retries itself')

  const text = await reg.metrics()
  t.match(text, /mesh_dns_queries_total\{qtype="A",rcode="NOERROR"\} \d+/)
  t.match(text, /mesh_dns_forwarded_total [1-9]/)
  t.match(text, /mesh_dns_request_duration_seconds_bucket\{le="\+Inf",path="forward"\} [1-9]/)

  // Upstream down: a port nobody answers on.
  // The forwarding deadline runs on the fake clock; the query and the answer are real UDP.
  const clock = new FakeClock()
  const dead = await server(t, { upstreams: [`${UPSTREAM_HOST}:9`], forwardTimeoutMs: 300, forwardAttemptMs: 150, clock })
  const asked = udpQuery(HOST, dead.port, q('only.upstream.test'), 20_000)
  await waitFor(() => dead.s.status().forwardInflight === 1, 20_000, { intervalMs: 5, what: 'the query forwarded' })
  await clock.advance(299)
  t.match(dead.s.status(), { forwardInflight: 1, forwardTimeouts: 0 }, 'still waiting for the upstream 1 ms before the timeout')
  await clock.advance(1)
  const sf = await asked
  t.equal(rcodeOf(sf), 'SERVFAIL')
  t.equal(dead.s.status().forwardTimeouts, 1)

  // No open recursion: a source outside allowCidrs gets REFUSED for foreign names, answers for ours.
  const closed = await server(t, { upstreams: [`${UPSTREAM_HOST}:${up.port}`], allowCidrs: ['10.0.0.0/8'] })
  const before = up.queries
  const r = await udpQuery(HOST, closed.port, q('only.upstream.test'))
  t.equal(rcodeOf(r), 'REFUSED')
  t.equal(up.queries, before, 'nothing sent upstream')
  t.same(answers(await udpQuery(HOST, closed.port, q('app_web'))), ['10.78.0.2'], 'own names still answered')
})

t.test('EDNS0 over the wire: OPT echoed, larger UDP answer within the advertised size', async (t) => {
  const { port } = await server(t)
  const plain = await udpQuery(HOST, port, q('tasks.big'))
  const edns = await udpQuery(HOST, port, q('tasks.big', 'A', 2, { additionals: [optRecord(4096)] }))
  t.ok(plain.length <= 512)
  t.ok(edns.length > 512 && edns.length <= 1232, `EDNS answer ${edns.length} bytes`)
  t.ok(dnsPacket.decode(edns).additionals?.some((a) => a.type === 'OPT'))
})

t.test('start fails cleanly on an address another program holds; stop after a failed start', async (t) => {
  const taken = dgram.createSocket('udp4') // without reusePort: the port is not shared
  await new Promise<void>((r) => taken.bind(0, HOST, () => r()))
  t.teardown(() => taken.close())
  const s2 = new DnsServer({ catalog: catalog(), listen: [{ host: HOST, port: taken.address().port }], upstreams: [], udp: UDP_PATH })
  await t.rejects(s2.start(), { code: 'MESH_ERR_DNS' })
  await s2.stop()
  t.equal(s2.status().running, false)
})

t.test('a second server (a new agent process) listens beside the first (reusePort) and answers once the first stops', async (t) => {
  const { s, port } = await server(t)
  const s2 = new DnsServer({ catalog: catalog(), listen: [{ host: HOST, port }], upstreams: [], udp: UDP_PATH })
  t.teardown(() => s2.stop())
  await s2.start()
  t.equal(s2.status().listen[0]?.port, port, 'same UDP and TCP port')
  await s.stop()
  t.same(answers(await udpQuery(HOST, port, q('app_web.mesh'))), ['10.78.0.2'], 'UDP answered by the second')
  t.same(answers(await tcpQuery(HOST, port, q('app_web.mesh'), 20_000)), ['10.78.0.2'], 'TCP answered by the second')
})

t.test('TCP: idle connections closed, connection count bounded', async (t) => {
  const { s, port } = await server(t, { tcpIdleMs: 200, maxTcpConnections: 3 })
  const conns = await Promise.all([0, 1, 2, 3, 4].map(() => new Promise<net.Socket>((res) => {
    const c = net.connect(port, HOST, () => res(c))
    c.on('error', () => {})
  })))
  // Real sockets and Node's socket idle timer: wait for what the client sees, not a fixed time.
  await waitFor(() => conns.filter((c) => c.closed).length >= 2, 20_000, { intervalMs: 10, what: 'the connections over the limit closed' })
  t.ok(s.status().tcpConnections <= 3, `at most 3 open (${s.status().tcpConnections})`)
  await waitFor(() => s.status().tcpConnections === 0, 20_000, { intervalMs: 10, what: 'idle connections closed' }).catch(() => undefined)
  t.equal(s.status().tcpConnections, 0, 'idle ones closed')
  for (const c of conns) c.destroy()
})

t.test('setExtraListen: answers on addresses added after start, retries one not bindable yet, closes removed ones', async (t) => {
  const logs: string[] = []
  const { s, port } = await server(t, { log: (level, msg) => logs.push(`${level} ${msg}`) })
  const extra = { host: '127.0.0.73', port }
  const notHere = { host: '192.0.2.53', port } // no interface has it: EADDRNOTAVAIL, as a bridge not up yet
  await s.setExtraListen([extra, notHere])
  t.same(answers(await udpQuery(extra.host, port, q('app_web.mesh'))), ['10.78.0.2'], 'UDP on the added address')
  t.same(answers(await tcpQuery(extra.host, port, q('app_web.mesh'), 20_000)), ['10.78.0.2'], 'TCP too')
  t.same(s.status().listen.map((l) => l.host), [HOST, extra.host], 'status lists what is bound')
  await s.setExtraListen([extra, notHere])
  t.equal(logs.filter((l) => l.includes('cannot listen here yet')).length, 1, 'an address still missing is retried quietly')
  await s.setExtraListen([])
  await t.rejects(udpQuery(extra.host, port, q('app_web.mesh'), 300), 'closed once no longer given')
  t.same(s.status().listen.map((l) => l.host), [HOST])
  t.same(answers(await udpQuery(HOST, port, q('app_web.mesh'))), ['10.78.0.2'], 'the fixed address stays')
  await s.stop()
  await s.setExtraListen([extra])
  t.same(s.status().listen, [], 'after stop: nothing is bound')
})
