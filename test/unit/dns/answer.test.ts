import t from 'tap'
import dnsPacket from 'dns-packet'
import { FORWARD, Responder, dnsConfig, lookup, type DnsOptions } from '../../../src/dns/index.ts'
import { FakeCatalog, ep, labSnapshot, optRecord, rcodeOf, svc } from './fixtures.ts'

const APP_TASK = '10.77.1.2' // a task of stack app
const BLOG_TASK = '10.77.1.4' // a task of stack blog
const HOST = '127.0.0.1'

function responder(opts: DnsOptions = {}, catalog = new FakeCatalog(labSnapshot())): Responder {
  return new Responder(catalog, dnsConfig(opts))
}

function query(name: string, type: string, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as dnsPacket.RecordType }], ...extra })
}

interface Decoded {
  rcode: string
  aa: boolean
  tc: boolean
  answers: Array<{ name: string; type: string; ttl: number; data: unknown }>
  authorities: Array<{ type: string }>
  additionals: Array<{ name: string; type: string; data?: unknown; udpPayloadSize?: number }>
  id: number
  questions: Array<{ name: string }>
}

function ask(r: Responder, name: string, type = 'A', from = HOST, tcp = false): Decoded | 'forward' | null {
  const out = r.handle(query(name, type), from, tcp)
  if (out === FORWARD) return 'forward'
  if (out === null) return null
  const p = dnsPacket.decode(out) as unknown as Decoded & { flags: number }
  return { ...p, aa: (p.flags & dnsPacket.AUTHORITATIVE_ANSWER) !== 0, tc: (p.flags & dnsPacket.TRUNCATED_RESPONSE) !== 0 }
}

function data(d: Decoded | 'forward' | null): unknown[] {
  if (d === null || d === 'forward') return [d]
  return d.answers.map((a) => a.data)
}

const ipSort = (xs: unknown[]) => (xs as string[]).slice().sort()

t.test('names → records (table)', async (t) => {
  const cases: Array<{ name: string; q: string; type?: string; from?: string; rcode?: string; want?: unknown[]; sorted?: boolean }> = [
    { name: 'full service name → VIP', q: 'app_web', want: ['10.78.0.2'] },
    { name: 'service.stack → VIP', q: 'app_web.app', want: ['10.78.0.2'] },
    { name: 'short.stack → VIP', q: 'web.app', want: ['10.78.0.2'] },
    { name: 'service.domain → VIP', q: 'app_web.mesh', want: ['10.78.0.2'] },
    { name: 'service.domain. absolute → VIP', q: 'app_web.mesh.', want: ['10.78.0.2'] },
    { name: 'short.stack.domain → VIP', q: 'web.app.mesh', want: ['10.78.0.2'] },
    { name: 'mixed case → VIP', q: 'App_Web.MESH', want: ['10.78.0.2'] },
    { name: 'short name from a task of stack app → app_web', q: 'web', from: APP_TASK, want: ['10.78.0.2'] },
    { name: 'short name from a task of stack blog → blog_web', q: 'web', from: BLOG_TASK, want: ['10.78.0.3'] },
    { name: 'ambiguous short name from the host → not ours, forwarded', q: 'web', from: HOST, want: ['forward'] },
    { name: 'unique short name from anywhere', q: 'solo', from: HOST, want: ['10.78.0.5'] },
    { name: 'tasks. → healthy running tasks only', q: 'tasks.app_web', want: ['10.77.1.2', '10.77.1.5'], sorted: true },
    { name: 'tasks.<short> in stack context', q: 'tasks.web', from: APP_TASK, want: ['10.77.1.2', '10.77.1.5'], sorted: true },
    { name: 'tasks.<service>.domain', q: 'tasks.app_web.mesh', want: ['10.77.1.2', '10.77.1.5'], sorted: true },
    { name: 'tasks. of a service with only a starting task left', q: 'tasks.api', want: ['10.77.1.10'] },
    { name: 'dnsrr service → task IPs', q: 'app_db', want: ['10.77.1.3', '10.77.2.3'], sorted: true },
    { name: 'task name → that task', q: 'app_web.1', want: ['10.77.1.2'] },
    { name: 'task name of an unhealthy task still resolves', q: 'app_web.2', want: ['10.77.2.2'] },
    { name: 'task name of a stopping task still resolves', q: 'app_web.3', want: ['10.77.3.2'] },
    { name: 'task name under the domain', q: 'app_web.4.mesh', want: ['10.77.1.5'] },
    { name: 'short.slot in stack context', q: 'web.1', from: BLOG_TASK, want: ['10.77.1.4'] },
    { name: 'SRV tcp', q: '_80._tcp.app_web', type: 'SRV', want: [{ priority: 0, weight: 0, port: 80, target: 'app_web.mesh' }] },
    { name: 'SRV udp under the domain', q: '_53._udp.api.mesh', type: 'SRV', want: [{ priority: 0, weight: 0, port: 53, target: 'api.mesh' }] },
    { name: 'SRV short name in stack context', q: '_80._tcp.web', type: 'SRV', from: APP_TASK, want: [{ priority: 0, weight: 0, port: 80, target: 'app_web.mesh' }] },
    { name: 'PTR of a VIP', q: '2.0.78.10.in-addr.arpa', type: 'PTR', want: ['app_web.mesh'] },
    { name: 'PTR of a task address', q: '5.1.77.10.in-addr.arpa', type: 'PTR', want: ['app_web.4.mesh'] },
    { name: 'PTR of an unknown overlay address → NXDOMAIN', q: '99.9.77.10.in-addr.arpa', type: 'PTR', rcode: 'NXDOMAIN', want: [] },
    { name: 'PTR outside our ranges → forwarded', q: '8.8.8.8.in-addr.arpa', type: 'PTR', want: ['forward'] },
    { name: 'unknown name in the domain → NXDOMAIN', q: 'nosuch.mesh', rcode: 'NXDOMAIN', want: [] },
    { name: 'tasks. of an unknown service in the domain → NXDOMAIN', q: 'tasks.nosuch.mesh', rcode: 'NXDOMAIN', want: [] },
    { name: 'AAAA of a service → NODATA', q: 'app_web', type: 'AAAA', rcode: 'NOERROR', want: [] },
    { name: 'MX of a task name → NODATA', q: 'app_web.1', type: 'MX', rcode: 'NOERROR', want: [] },
    { name: 'A of an SRV name → NODATA', q: '_80._tcp.app_web', type: 'A', rcode: 'NOERROR', want: [] },
    { name: 'empty non-terminal in the domain → NODATA', q: '_tcp.app_web.mesh', type: 'SRV', rcode: 'NOERROR', want: [] },
    { name: 'SOA at the apex', q: 'mesh', type: 'SOA', want: [{ mname: 'ns.mesh', rname: 'hostmaster.mesh', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 5 }] },
    { name: 'A at the apex → NODATA', q: 'mesh', type: 'A', rcode: 'NOERROR', want: [] },
    { name: 'foreign name → forwarded', q: 'example.com', want: ['forward'] },
    { name: 'foreign name from a disallowed source → REFUSED', q: 'example.com', from: '192.0.2.1', rcode: 'REFUSED', want: [] },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const got = ask(responder(), c.q, c.type ?? 'A', c.from ?? HOST)
      const values = data(got)
      t.same(c.sorted ? ipSort(values) : values, c.want)
      if (got !== null && got !== 'forward') {
        t.equal(got.rcode, c.rcode ?? 'NOERROR', 'rcode')
        t.equal(got.id, 4242, 'id echoed')
        if (got.rcode !== 'REFUSED') t.equal(got.aa, true, 'authoritative')
        if (got.answers.length === 0 && got.rcode !== 'REFUSED') t.same(got.authorities.map((a) => a.type), ['SOA'], 'SOA in authority')
        for (const a of got.answers) t.equal(a.ttl, 5, 'default TTL 5 s')
      }
    })
  }
})

t.test('question case is echoed as asked', async (t) => {
  const got = ask(responder(), 'App_Web.Mesh') as Decoded
  t.equal(got.questions[0]?.name, 'App_Web.Mesh')
})

t.test('SRV carries the target address in the additional section', async (t) => {
  const got = ask(responder(), '_80._tcp.app_web', 'SRV') as Decoded
  t.same(got.additionals.map((a) => [a.name, a.type, a.data]), [['app_web.mesh', 'A', '10.78.0.2']])
})

t.test('dnsrr and tasks. answers rotate per query', async (t) => {
  const r = responder()
  const firsts = [0, 1, 2, 3].map(() => data(ask(r, 'app_db'))[0])
  t.same(firsts, ['10.77.1.3', '10.77.2.3', '10.77.1.3', '10.77.2.3'])
  const t1 = data(ask(r, 'tasks.app_web'))
  const t2 = data(ask(r, 'tasks.app_web'))
  t.same(t2, [t1[1], t1[0]])
  t.same(data(ask(r, 'app_web')), ['10.78.0.2'], 'a VIP does not rotate')
})

t.test('a catalog change is visible in the very next answer', async (t) => {
  const cat = new FakeCatalog(labSnapshot(1))
  const r = responder({}, cat)
  t.same(ipSort(data(ask(r, 'tasks.app_web'))), ['10.77.1.2', '10.77.1.5'])
  const next = labSnapshot(2)
  const web = next.services[0]!
  web.endpoints = [...web.endpoints, ep('app_web', 5, '10.77.2.20'), ep('app_web', 6, '10.77.3.20')]
  web.endpoints[0]!.health = 'unhealthy'
  cat.set(next)
  t.same(ipSort(data(ask(r, 'tasks.app_web'))), ['10.77.1.5', '10.77.2.20', '10.77.3.20'])
  t.same(data(ask(r, 'app_web.6')), ['10.77.3.20'])
  const gone = labSnapshot(3)
  gone.services = gone.services.filter((s) => s.name !== 'app_db')
  cat.set(gone)
  t.equal((ask(r, 'app_db.mesh') as Decoded).rcode, 'NXDOMAIN')
  t.equal(ask(r, 'app_db'), 'forward', 'a removed service is no longer ours')
})

t.test('a service without healthy tasks still exists (NODATA, not forwarded)', async (t) => {
  const snap = labSnapshot()
  snap.services.push(svc('down', { endpointMode: 'dnsrr', endpoints: [ep('down', 1, '10.77.1.99', { health: 'unhealthy' })] }))
  const r = responder({}, new FakeCatalog(snap))
  const got = ask(r, 'down') as Decoded
  t.equal(got.rcode, 'NOERROR')
  t.same(got.answers, [])
  t.same((ask(r, 'tasks.down') as Decoded).answers, [])
})

t.test('options: domain and TTL', async (t) => {
  const r = responder({ domain: 'swarm.local', ttlSec: 30 })
  const got = ask(r, 'app_web.swarm.local') as Decoded
  t.same(got.answers.map((a) => [a.data, a.ttl]), [['10.78.0.2', 30]])
  t.equal((ask(r, 'nosuch.swarm.local') as Decoded).rcode, 'NXDOMAIN')
  t.equal(ask(r, 'app_web.mesh'), 'forward', 'the default domain is no longer ours')
  t.throws(() => dnsConfig({ ttlSec: -1 }), { code: 'MESH_ERR_CONFIG' })
  t.throws(() => dnsConfig({ allowCidrs: ['10.0.0.0/33'] }), { code: 'MESH_ERR_CONFIG' })
  t.throws(() => dnsConfig({ upstreams: ['not an address'] }), { code: 'MESH_ERR_CONFIG' })
})

t.test('allowCidrs: who may have foreign names forwarded (table)', async (t) => {
  const r = responder({ allowCidrs: ['10.77.0.0/16', '127.0.0.1/8'] })
  const cases = [
    { from: '10.77.3.9', want: true },
    { from: '::ffff:10.77.3.9', want: true },
    { from: '127.0.0.53', want: true },
    { from: '10.78.0.2', want: false },
    { from: '::1', want: false },
    { from: '010.77.3.9', want: false },
    { from: '10.77.3.9\n', want: false },
    { from: '', want: false },
  ]
  for (const c of cases) t.equal(r.allowed(c.from), c.want, JSON.stringify(c.from))
  t.throws(() => dnsConfig({ allowCidrs: ['10.0.0.0/8\nflush ruleset'] }), {
    code: 'MESH_ERR_CONFIG', message: 'dns: allowCidrs "10.0.0.0/8\nflush ruleset": want an IPv4 network like 10.77.0.0/16',
  })
})

function bigCatalog(n: number): FakeCatalog {
  const snap = labSnapshot()
  const endpoints = Array.from({ length: n }, (_, i) => ep('big', i + 1, `10.77.${1 + (i >> 8)}.${i & 255}`))
  snap.services.push(svc('big', { endpointMode: 'dnsrr', endpoints }))
  return new FakeCatalog(snap)
}

t.test('truncation: UDP answers stay within 512 bytes or the EDNS0 size, TCP gets everything', async (t) => {
  const r = responder({}, bigCatalog(200))
  const plain = r.handle(query('tasks.big', 'A'), HOST, false) as Buffer
  t.ok(plain.length <= 512, `plain UDP ${plain.length} ≤ 512`)
  const p = dnsPacket.decode(plain)
  t.ok((p.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE, 'TC set')
  t.ok((p.answers?.length ?? 0) > 0 && (p.answers?.length ?? 0) < 200, 'as many whole records as fit')
  const edns = r.handle(query('tasks.big', 'A', { additionals: [optRecord(4096)] }), HOST, false) as Buffer
  t.ok(edns.length <= 1232 && edns.length > 512, `EDNS 4096 is capped at maxUdpBytes 1232: ${edns.length}`)
  const tcp = dnsPacket.decode(r.handle(query('tasks.big', 'A'), HOST, true) as Buffer)
  t.equal(tcp.answers?.length, 200, 'TCP: all 200')
  t.notOk((tcp.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE, 'no TC over TCP')
  t.equal(new Set(tcp.answers?.map((a) => (a as { data: string }).data)).size, 200, 'no duplicates after rotation')
})

t.test('EDNS0: OPT echoed with our size and the DO bit; version 1 → BADVERS', async (t) => {
  const r = responder()
  const out = dnsPacket.decode(r.handle(query('app_web', 'A', { additionals: [optRecord(1400, dnsPacket.DNSSEC_OK)] }), HOST, false) as Buffer)
  const opt = out.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer & { flag_do: boolean }
  t.ok(opt, 'OPT in the answer')
  t.equal(opt.udpPayloadSize, 1232)
  t.equal(opt.flag_do, true)
  const bad = Buffer.from(query('app_web', 'A', { additionals: [optRecord(1400)] }))
  bad[bad.length - 11 + 6] = 1 // EDNS version 1
  const b = dnsPacket.decode(r.handle(bad, HOST, false) as Buffer) as unknown as dnsPacket.Packet & { rcode: string }
  const bopt = b.additionals?.find((a) => a.type === 'OPT') as { extendedRcode: number }
  t.equal(bopt.extendedRcode, 1, 'upper bits 1 + header rcode 0 = BADVERS (16)')
  t.equal(b.rcode, 'NOERROR')
  t.same(b.answers, [])
})

t.test('unusual but legal: OPT after another additional record (dns-packet slow path)', async (t) => {
  const r = responder()
  const msg = query('app_web', 'A', { additionals: [{ type: 'TXT', name: 'x', data: 'hello' }, optRecord(2048)] })
  const out = dnsPacket.decode(r.handle(msg, HOST, false) as Buffer)
  t.same(out.answers?.map((a) => (a as { data: string }).data), ['10.78.0.2'])
  t.ok(out.additionals?.some((a) => a.type === 'OPT'))
})

t.test('broken packets: drop, FORMERR, NOTIMP', async (t) => {
  const r = responder()
  t.equal(r.handle(Buffer.alloc(5), HOST, false), null, 'shorter than a header: dropped')
  const resp = Buffer.from(query('app_web', 'A'))
  resp[2] = (resp[2] as number) | 0x80
  t.equal(r.handle(resp, HOST, false), null, 'a response: dropped (no reflection loops)')
  const two = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'a', type: 'A' }, { name: 'b', type: 'A' }] })
  t.equal(rcodeOf(r.handle(two, HOST, false) as Buffer), 'FORMERR', 'two questions')
  const loop = Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1])
  t.equal(rcodeOf(r.handle(loop, HOST, false) as Buffer), 'FORMERR', 'compression pointer in the question')
  const cut = query('app_web', 'A').subarray(0, 20)
  t.equal(rcodeOf(r.handle(cut, HOST, false) as Buffer), 'FORMERR', 'truncated question')
  const upd = Buffer.from(query('app_web', 'A'))
  upd[2] = ((upd[2] as number) & 0x87) | (5 << 3)
  t.equal(rcodeOf(r.handle(upd, HOST, false) as Buffer), 'NOTIMP', 'UPDATE opcode')
  t.equal(r.stats.dropped, 2)
  t.equal(r.stats.formerr, 3)
})

t.test('non-IN class is not answered from the catalog', async (t) => {
  const r = responder()
  const msg = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] })
  t.equal(r.handle(msg, HOST, false), FORWARD)
  t.equal(rcodeOf(r.handle(msg, '192.0.2.1', false) as Buffer), 'REFUSED')
})

t.test('lookup(): answers as a container at fromIp would get them', async (t) => {
  const cat = new FakeCatalog(labSnapshot())
  const web = lookup(cat, 'web', 'A', { fromIp: BLOG_TASK })
  t.same(web.answers.map((a) => [a.name, a.type, a.ttl, a.data]), [['web', 'A', 5, '10.78.0.3']])
  t.equal(web.rcode, 'NOERROR')
  t.equal(web.authoritative, true)
  t.same(lookup(cat, 'example.com').forwarded, true)
  t.equal(lookup(cat, 'example.com').rcode, null)
  const nx = lookup(cat, 'nosuch.mesh')
  t.equal(nx.rcode, 'NXDOMAIN')
  t.same(nx.authorities.map((a) => a.type), ['SOA'])
  const srv = lookup(cat, '_80._tcp.app_web', 'srv')
  t.same(srv.additionals.map((a) => a.data), ['10.78.0.2'])
  t.same(lookup(cat, 'app_web.swarm', 'A', { domain: 'swarm' }).answers.map((a) => a.data), ['10.78.0.2'])
})
