import t from 'tap'
import dnsPacket from 'dns-packet'
import { FORWARD, Responder, dnsConfig, lookup } from '../../../src/dns/index.ts'
import type { CatalogSnapshot } from '../../../src/api/catalog.ts'
import { FakeCatalog, ep, labSnapshot, rcodeOf, svc } from './fixtures.ts'

/**
 * DNS per network: a container sees only services sharing a network with it, at their VIP on that network.
 * Networks: `a` (stack a's default, 10.80.0.0/16), `b` (stack b's, 10.81.0.0/16), `front` (attachable,
 * 10.82.0.0/24), and the default network `mesh` (10.77.0.0/16). a_web is on a and front (alias `shop` there), api
 * on mesh and front (alias `gateway` there), legacy on mesh only (no `networks`, as before networks existed).
 */
function netSnapshot(revision = 1): CatalogSnapshot {
  return {
    revision,
    nodes: [{ id: 'n1', hostname: 'node1', addr: '192.168.77.11', state: 'ready' }],
    networks: [
      { id: 'na', name: 'a_default', subnet: '10.80.0.0/16', encrypted: true, internal: false, attachable: false, vni: 4097, slices: [{ nodeId: 'n1', subnet: '10.80.1.0/24' }, { nodeId: 'n2', subnet: '10.80.2.0/24' }] },
      { id: 'nb', name: 'b_default', subnet: '10.81.0.0/16', encrypted: true, internal: false, attachable: false, vni: 4098, slices: [{ nodeId: 'n1', subnet: '10.81.1.0/24' }] },
      { id: 'nf', name: 'front', subnet: '10.82.0.0/24', encrypted: false, internal: false, attachable: true, vni: 4099, slices: [{ nodeId: 'n1', subnet: '10.82.0.0/26' }] },
    ],
    services: [
      svc('a_web', {
        stack: 'a', shortName: 'web', networks: [{ network: 'na', vip: '10.80.0.2', aliases: [] }, { network: 'nf', vip: '10.82.0.41', aliases: ['shop'] }],
        ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }],
        endpoints: [ep('a_web', 1, '10.80.1.2', { addresses: [{ network: 'na', ip: '10.80.1.2' }, { network: 'nf', ip: '10.82.0.12' }] })],
      }),
      svc('a_db', {
        stack: 'a', shortName: 'db', networks: [{ network: 'na', vip: '10.80.0.3', aliases: ['database'] }],
        endpoints: [ep('a_db', 1, '10.80.1.3', { addresses: [{ network: 'na', ip: '10.80.1.3' }] })],
      }),
      svc('b_web', {
        stack: 'b', shortName: 'web', networks: [{ network: 'nb', vip: '10.81.0.2', aliases: [] }],
        endpoints: [ep('b_web', 1, '10.81.1.2', { addresses: [{ network: 'nb', ip: '10.81.1.2' }] })],
      }),
      svc('b_db', {
        stack: 'b', shortName: 'db', networks: [{ network: 'nb', vip: '10.81.0.3', aliases: [] }],
        endpoints: [ep('b_db', 1, '10.81.1.3', { addresses: [{ network: 'nb', ip: '10.81.1.3' }] })],
      }),
      svc('b_cache', {
        stack: 'b', shortName: 'cache', endpointMode: 'dnsrr', networks: [{ network: 'nb', aliases: [] }],
        endpoints: [ep('b_cache', 1, '10.81.1.7'), ep('b_cache', 2, '10.81.1.8')],
      }),
      svc('api', {
        vip: '10.78.0.4', networks: [{ network: 'mesh', vip: '10.78.0.4', aliases: [] }, { network: 'nf', vip: '10.82.0.40', aliases: ['gateway'] }],
        endpoints: [ep('api', 1, '10.77.1.10', { addresses: [{ network: 'mesh', ip: '10.77.1.10' }, { network: 'nf', ip: '10.82.0.10' }] })],
      }),
      svc('legacy', { vip: '10.78.0.9', endpoints: [ep('legacy', 1, '10.77.1.20')] }),
    ],
  }
}

const A_WEB = '10.80.1.2'
const A_WEB_FRONT = '10.82.0.12'
const B_WEB = '10.81.1.2'
const API = '10.77.1.10'
const API_FRONT = '10.82.0.10'
const PLAIN_FRONT = '10.82.0.30' // `docker run --network front`: no task
const PLAIN_DEFAULT = '10.77.1.99'
const GATEWAY_A = '10.80.1.1' // node n1 on network a's bridge
const HOST = '127.0.0.1'

function query(name: string, type = 'A'): Buffer {
  return dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as dnsPacket.RecordType }] })
}

/** `rcode data…` of an answer, sorted data; `forward` when the name would go upstream. */
function ask(r: Responder, name: string, from: string, type = 'A'): string {
  const out = r.handle(query(name, type), from, false)
  if (out === FORWARD) return 'forward'
  if (out === null) return 'dropped'
  const p = dnsPacket.decode(out)
  return [rcodeOf(out), ...(p.answers ?? []).map((a) => String((a as { data: unknown }).data)).sort()].join(' ')
}

t.test('names per network: who sees what (table)', async (t) => {
  const r = new Responder(new FakeCatalog(netSnapshot()), dnsConfig({}))
  const cases = [
    // Stack a's web: its own network's names at that network's VIPs, nothing of stack b.
    { from: A_WEB, q: 'db', want: 'NOERROR 10.80.0.3', why: 'short name in its stack → the a-network VIP' },
    { from: A_WEB, q: 'a_db', want: 'NOERROR 10.80.0.3' },
    { from: A_WEB, q: 'db.a', want: 'NOERROR 10.80.0.3' },
    { from: A_WEB, q: 'a_db.mesh', want: 'NOERROR 10.80.0.3' },
    { from: A_WEB, q: 'tasks.db', want: 'NOERROR 10.80.1.3' },
    { from: A_WEB, q: 'database', want: 'NOERROR 10.80.0.3', why: 'an alias on a shared network' },
    { from: A_WEB, q: 'b_db', want: 'NXDOMAIN', why: "another stack's service: NXDOMAIN, not forwarded" },
    { from: A_WEB, q: 'db.b', want: 'NXDOMAIN' },
    { from: A_WEB, q: 'tasks.b_db', want: 'NXDOMAIN' },
    { from: A_WEB, q: 'b_db.mesh', want: 'NXDOMAIN' },
    { from: A_WEB, q: 'legacy', want: 'NXDOMAIN', why: 'a default-network service: a_web is not on it' },
    { from: A_WEB, q: 'api', want: 'NOERROR 10.82.0.40', why: 'on two networks: the VIP of the one they share' },
    { from: A_WEB, q: 'gateway', want: 'NOERROR 10.82.0.40' },
    { from: A_WEB, q: 'shop', want: 'NOERROR 10.82.0.41', why: 'its own alias on front' },
    { from: A_WEB, q: '3.1.81.10.in-addr.arpa', type: 'PTR', want: 'NXDOMAIN', why: "PTR of stack b's task" },
    { from: A_WEB, q: '3.1.80.10.in-addr.arpa', type: 'PTR', want: 'NOERROR a_db.1.mesh' },
    { from: A_WEB, q: '3.0.80.10.in-addr.arpa', type: 'PTR', want: 'NOERROR a_db.mesh' },
    { from: A_WEB_FRONT, q: 'db', want: 'NOERROR 10.80.0.3', why: 'asked from its front address: its other network still counts' },
    { from: A_WEB_FRONT, q: 'api', want: 'NOERROR 10.82.0.40' },
    // Stack b's web: the mirror image.
    { from: B_WEB, q: 'db', want: 'NOERROR 10.81.0.3' },
    { from: B_WEB, q: 'web', want: 'NOERROR 10.81.0.2' },
    { from: B_WEB, q: 'a_db', want: 'NXDOMAIN' },
    { from: B_WEB, q: 'database', want: 'NXDOMAIN', why: "an alias on a network b_web is not on" },
    { from: B_WEB, q: 'shop', want: 'NXDOMAIN' },
    { from: B_WEB, q: 'cache', want: 'NOERROR 10.81.1.7 10.81.1.8', why: 'dnsrr: the tasks on that network' },
    { from: B_WEB, q: 'tasks.b_cache', want: 'NOERROR 10.81.1.7 10.81.1.8' },
    // api: on the default network and front.
    { from: API, q: 'legacy', want: 'NOERROR 10.78.0.9' },
    { from: API, q: 'api', want: 'NOERROR 10.78.0.4', why: 'asked from its default address: the default VIP first' },
    { from: API_FRONT, q: 'api', want: 'NOERROR 10.82.0.40', why: 'asked from its front address: the front VIP first' },
    { from: API, q: 'a_web', want: 'NOERROR 10.82.0.41' },
    { from: API, q: 'tasks.a_web', want: 'NOERROR 10.82.0.12', why: "the task's front address" },
    { from: API, q: 'a_db', want: 'NXDOMAIN' },
    // A plain container on the attachable network: no task, its network from its address.
    { from: PLAIN_FRONT, q: 'api', want: 'NOERROR 10.82.0.40' },
    { from: PLAIN_FRONT, q: 'gateway', want: 'NOERROR 10.82.0.40' },
    { from: PLAIN_FRONT, q: 'web', want: 'NOERROR 10.82.0.41', why: 'the only `web` on front' },
    { from: PLAIN_FRONT, q: 'a_db', want: 'NXDOMAIN' },
    { from: PLAIN_FRONT, q: 'legacy', want: 'NXDOMAIN' },
    { from: PLAIN_FRONT, q: 'example.com', want: 'forward', why: 'network ranges may recurse' },
    // A plain container on the default network: the default network's services, as before.
    { from: PLAIN_DEFAULT, q: 'legacy', want: 'NOERROR 10.78.0.9' },
    { from: PLAIN_DEFAULT, q: 'api', want: 'NOERROR 10.78.0.4' },
    { from: PLAIN_DEFAULT, q: 'b_web', want: 'NXDOMAIN' },
    // The node itself (a slice gateway, loopback) and hosts: every service, as before networks.
    { from: GATEWAY_A, q: 'b_db', want: 'NOERROR 10.81.1.3' },
    { from: HOST, q: 'b_db', want: 'NOERROR 10.81.1.3' },
    { from: HOST, q: 'legacy', want: 'NOERROR 10.78.0.9' },
    { from: HOST, q: 'api', want: 'NOERROR 10.78.0.4' },
    { from: '192.0.2.1', q: 'example.com', want: 'REFUSED', why: 'outside every range: no recursion' },
  ]
  for (const c of cases) t.equal(ask(r, c.q, c.from, c.type), c.want, `${c.from} ${c.q}${c.why ? `: ${c.why}` : ''}`)
})

t.test('aliases: an alias never takes a service name on its network', async (t) => {
  const snap = netSnapshot()
  const db = snap.services.find((s) => s.name === 'a_db')!
  db.networks = [{ network: 'na', vip: '10.80.0.3', aliases: ['a_web', 'store'] }]
  const r = new Responder(new FakeCatalog(snap), dnsConfig({}))
  t.equal(ask(r, 'a_web', A_WEB), 'NOERROR 10.80.0.2', 'the service keeps its name')
  t.equal(ask(r, 'store', A_WEB), 'NOERROR 10.80.0.3')
  t.equal(ask(r, 'tasks.store', A_WEB), 'NOERROR 10.80.1.3', 'tasks.<alias> → the tasks, as Swarm')
  t.equal(ask(r, 'store.mesh', A_WEB), 'NOERROR 10.80.0.3')
})

t.test('a network change is visible in the next answer; a removed network hides its names', async (t) => {
  const cat = new FakeCatalog(netSnapshot(1))
  const r = new Responder(cat, dnsConfig({}))
  t.equal(ask(r, 'api', PLAIN_FRONT), 'NOERROR 10.82.0.40')
  const next = netSnapshot(2)
  const api = next.services.find((s) => s.name === 'api')!
  api.networks = [{ network: 'mesh', vip: '10.78.0.4', aliases: [] }]
  api.endpoints = [ep('api', 1, '10.77.1.10', { addresses: [{ network: 'mesh', ip: '10.77.1.10' }] })]
  cat.set(next)
  t.equal(ask(r, 'api', PLAIN_FRONT), 'NXDOMAIN', 'api left front')
  t.equal(ask(r, 'gateway', PLAIN_FRONT), 'forward', 'its alias there is no name anywhere now: not ours')
  t.equal(ask(r, 'api', API), 'NOERROR 10.78.0.4')
})

t.test('the default network answers byte for byte as before networks', async (t) => {
  const flat = labSnapshot()
  const withNets: CatalogSnapshot = { ...labSnapshot(), networks: netSnapshot().networks, services: [...labSnapshot().services, ...netSnapshot().services.filter((s) => s.stack === 'b')] }
  const before = new Responder(new FakeCatalog(flat), dnsConfig({}))
  const after = new Responder(new FakeCatalog(withNets), dnsConfig({}))
  const app = '10.77.1.2' // a task of stack app, default network
  for (const [name, type] of [['web', 'A'], ['app_web', 'A'], ['tasks.app_web', 'A'], ['_80._tcp.app_web', 'SRV'], ['api', 'A'], ['app_web.1', 'A'], ['2.0.78.10.in-addr.arpa', 'PTR'], ['nosuch.mesh', 'A'], ['solo', 'A']] as const) {
    const a = before.handle(query(name, type), app, false)
    const b = after.handle(query(name, type), app, false)
    t.same(b, a, `${name} ${type}`)
  }
  t.equal(ask(after, 'b_db', app), 'NXDOMAIN', 'the other network stays hidden from the default one')
})

t.test('recursion and reverse names follow the networks in the catalog', async (t) => {
  const r = new Responder(new FakeCatalog(netSnapshot()), dnsConfig({ allowCidrs: ['127.0.0.0/8'] }))
  t.equal(r.allowed(PLAIN_FRONT), true, 'an attachable container')
  t.equal(r.allowed('10.81.200.9'), true, "anywhere in a network's range")
  t.equal(r.allowed('10.83.0.1'), false, 'not a network')
  t.equal(ask(r, '99.9.81.10.in-addr.arpa', B_WEB, 'PTR'), 'NXDOMAIN', "an unknown address of a network's range is ours")
})

t.test('lookup(): --from picks the view', async (t) => {
  const cat = new FakeCatalog(netSnapshot())
  t.same(lookup(cat, 'db', 'A', { fromIp: A_WEB }).answers.map((a) => a.data), ['10.80.0.3'])
  t.equal(lookup(cat, 'a_db', 'A', { fromIp: B_WEB }).rcode, 'NXDOMAIN')
  t.same(lookup(cat, 'a_db', 'A').answers.map((a) => a.data), ['10.80.1.3'], 'from the host: every service')
})
