/**
 * The manager's traffic core (src/manager/traffic.ts, traffic-ring.ts, traffic-report.ts), on injected wall time:
 * rates from successive cumulative reports, spread over the buckets they cover; a counter that goes down (agent
 * restart) or a gap restarts the series without a negative rate; unknown services and peers are ignored; rings,
 * baselines and pairs stay bounded; hostile reports are refused whole.
 */
import t from 'tap'
import { TrafficAggregator, type TrafficKnown } from '../../../src/manager/traffic.ts'
import { BucketRing } from '../../../src/manager/traffic-ring.ts'
import { parseTrafficReport } from '../../../src/manager/traffic-report.ts'
import { trafficLimits } from '../../../src/config/traffic.ts'
import type { PortTraffic, TrafficReport, TunnelTraffic } from '../../../src/api/traffic.ts'

const L = trafficLimits()
const W = L.bucketMs
const known: TrafficKnown = { services: new Set(['web', 'api']), nodes: new Set(['n1', 'n2', 'n3']) }

function port(service: string, c: Partial<PortTraffic> = {}): PortTraffic {
  return { service, protocol: 'tcp', published: service === 'web' ? 8080 : 9090, connections: 0, bytesIn: 0, bytesOut: 0, errors: 0, retries: 0, ...c }
}
function tunnel(peer: string, c: Partial<TunnelTraffic> = {}): TunnelTraffic {
  return { peer, rxBytes: 0, txBytes: 0, handshakeAgeS: 5, ...c }
}
function setup() {
  let now = 1_000_000 * W // bucket-aligned wall time
  const agg = new TrafficAggregator({ limits: L, now: () => now })
  return {
    agg,
    at: (ms: number) => { now = ms },
    get now() { return now },
    report: (node: string, r: Partial<TrafficReport>) => agg.accept(node, { ports: [], tunnels: [], ...r }, known),
    service: (name: string, points?: number) => agg.view(known, points).services.find((s) => s.service === name),
  }
}

t.test('bucket ring: spreads an interval over the buckets it overlaps, drops what is older than the ring', async (t) => {
  const r = new BucketRing({ bucketMs: 1000, size: 3, width: 1 })
  r.add(500, 2500, [20]) // 0.5 s in bucket 0, 1 s in bucket 1, 0.5 s in bucket 2
  t.same([r.sum(0, 0), r.sum(1, 0), r.sum(2, 0)], [5, 10, 5])
  r.add(3000, 3000, [7]) // an instant: all in its bucket (3 reuses bucket 0's slot)
  t.same([r.sum(0, 0), r.sum(3, 0)], [0, 7], 'slot reused, old bucket gone')
  r.add(0, 1000, [100]) // bucket 0 is older than the ring now
  t.equal(r.sum(0, 0), 0)
  t.equal(r.sum(3, 0), 7)
  r.add(0, 30_000, [30]) // longer than the ring: only the buckets it still holds
  t.ok(r.sum(29, 0) > 0 && r.sum(27, 0) > 0 && r.sum(26, 0) === 0)
})

t.test('rates: successive reports become per-second rates in the buckets they cover', async (t) => {
  const s = setup()
  const t0 = s.now
  s.report('n1', { ports: [port('web', { connections: 100, bytesIn: 1000, bytesOut: 9000, errors: 1, retries: 1 })] })
  t.same(s.service('web')?.rate, { conns: 0, bytesIn: 0, bytesOut: 0, errors: 0, retries: 0 }, 'a first report is only a baseline')
  s.at(t0 + W)
  s.report('n1', { ports: [port('web', { connections: 150, bytesIn: 6000, bytesOut: 59000, errors: 6, retries: 2 })] })
  const web = s.service('web')
  t.same(web?.rate, { conns: 10, bytesIn: 1000, bytesOut: 10000, errors: 1, retries: 0.2 }, 'deltas / 5 s')
  t.equal(web?.series.conns.length, L.buckets, 'the whole window')
  t.same(web?.series.conns.slice(-3), [0, 0, 10])
  t.same(web?.nodes, [{ node: 'n1', conns: 10, bytesPerS: 11000 }], 'the ingress node that carried it')
  t.same(s.agg.view(known).t, t0, 'series end with the newest closed bucket')
})

t.test('rates: summed over every node a service is published on; reports off the bucket edges spread', async (t) => {
  const s = setup()
  const t0 = s.now
  for (const n of ['n1', 'n2']) s.report(n, { ports: [port('web')] })
  s.at(t0 + 2500)
  s.report('n1', { ports: [port('web', { connections: 25 })] }) // 2.5 s at 10/s
  s.at(t0 + 5000)
  s.report('n1', { ports: [port('web', { connections: 50 })] })
  s.report('n2', { ports: [port('web', { connections: 15 })] }) // 5 s at 3/s
  s.at(t0 + 7500)
  s.report('n1', { ports: [port('web', { connections: 75 })] }) // 2.5 s into the next bucket
  s.at(t0 + W + 1)
  const web = s.service('web')
  t.equal(web?.rate.conns, 13, '10/s on n1 + 3/s on n2')
  t.same(web?.nodes.map((e) => [e.node, e.conns]), [['n1', 10], ['n2', 3]])
  s.at(t0 + 2 * W)
  t.same(s.service('web')?.series.conns.slice(-2), [13, 5], 'the next bucket got its share (2.5 s of 10/s over 5 s)')
})

t.test('restart: a counter that goes down restarts the series: no negative rate, the next delta counts', async (t) => {
  const s = setup()
  const t0 = s.now
  s.report('n1', { ports: [port('web', { connections: 1000, bytesIn: 5000 })], tunnels: [tunnel('n2', { rxBytes: 1e6, txBytes: 1e6 })] })
  s.at(t0 + W)
  s.report('n1', { ports: [port('web', { connections: 3, bytesIn: 9000 })], tunnels: [tunnel('n2', { rxBytes: 10, txBytes: 10 })] })
  const v = s.agg.view(known)
  t.same(v.services.find((x) => x.service === 'web')?.rate, { conns: 0, bytesIn: 0, bytesOut: 0, errors: 0, retries: 0 }, 'nothing from the restart')
  t.equal(v.links[0]?.aToB, 0)
  t.ok(v.services.every((x) => Object.values(x.series).every((col) => col.every((y) => y >= 0))), 'never negative')
  s.at(t0 + 2 * W)
  s.report('n1', { ports: [port('web', { connections: 53, bytesIn: 9500 })], tunnels: [tunnel('n2', { rxBytes: 5010, txBytes: 10010 })] })
  const after = s.agg.view(known)
  t.same(after.services.find((x) => x.service === 'web')?.rate.conns, 10, 'the series goes on from the new baseline')
  t.same([after.links[0]?.aToB, after.links[0]?.bToA], [2000, 1000], 'n1 → n2 from n1 tx, n2 → n1 from n1 rx')
})

t.test('a gap longer than maxGapMs only sets a baseline (no rate across it)', async (t) => {
  const s = setup()
  const t0 = s.now
  s.report('n1', { ports: [port('web')] })
  s.at(t0 + L.maxGapMs + W)
  s.report('n1', { ports: [port('web', { connections: 1000 })] })
  s.at(t0 + L.maxGapMs + 2 * W)
  t.ok(s.service('web')?.series.conns.every((x) => x === 0))
})

t.test('tunnels: per node pair, each direction the larger of sender and receiver; handshake the freshest', async (t) => {
  const s = setup()
  const t0 = s.now
  s.report('n2', { tunnels: [tunnel('n1', { handshakeAgeS: 40 })] })
  s.report('n1', { tunnels: [tunnel('n2', { handshakeAgeS: 30 })] })
  s.at(t0 + W)
  s.report('n1', { tunnels: [tunnel('n2', { txBytes: 50_000, rxBytes: 1000, handshakeAgeS: 2 })] })
  s.report('n2', { tunnels: [tunnel('n1', { txBytes: 2000, rxBytes: 49_000, handshakeAgeS: 3 })] })
  s.at(t0 + W + 4000) // the same closed bucket, 4 s later
  const l = s.agg.view(known).links
  t.equal(l.length, 1, 'one pair, reported from both sides')
  t.match(l[0], { a: 'n1', b: 'n2', aToB: 10_000, bToA: 400, handshakeAgeS: 6 }, 'n1→n2 by n1 tx, n2→n1 by n2 tx; age 2 s + 4 s since')
  t.equal(l[0]?.series.at(-1), 10_400)
})

t.test('only what exists: unknown services, peers, self-tunnels and nodes are ignored; removed ones are dropped', async (t) => {
  const s = setup()
  const t0 = s.now
  const r = { ports: [port('ghost', { published: 1 }), port('web')], tunnels: [tunnel('n1'), tunnel('stranger'), tunnel('n3')] }
  s.report('n1', r)
  s.agg.accept('intruder', r, known)
  s.at(t0 + W)
  const r2 = { ports: [port('ghost', { published: 1, connections: 99 }), port('web', { connections: 5 })], tunnels: [tunnel('n1', { txBytes: 9 }), tunnel('stranger', { txBytes: 9 }), tunnel('n3', { txBytes: 5 })] }
  s.report('n1', r2)
  s.agg.accept('intruder', r2, known)
  const v = s.agg.view(known)
  t.same(v.services.map((x) => x.service), ['api', 'web'], 'every known service, no ghost')
  t.equal(v.services.find((x) => x.service === 'web')?.rate.conns, 1)
  t.same(v.links.map((l) => `${l.a}-${l.b}`), ['n1-n3'], 'no self or stranger pairs')
  const fewer: TrafficKnown = { services: new Set(['api']), nodes: new Set(['n1', 'n2']) }
  const w = s.agg.view(fewer)
  t.same(w.services.map((x) => x.service), ['api'])
  t.same(w.links, [], 'the pair went with n3')
  t.same(s.agg.view(known).services.find((x) => x.service === 'web')?.rate.conns, 0, 'a removed service starts over')
})

t.test('a report prunes what no longer exists, with no dashboard reading the view', async (t) => {
  const s = setup()
  const t0 = s.now
  s.report('n1', { ports: [port('web')] })
  s.at(t0 + W)
  s.report('n1', { ports: [port('web', { connections: 50 })] })
  const gone: TrafficKnown = { services: new Set(['api']), nodes: known.nodes }
  s.agg.accept('n2', { ports: [], tunnels: [] }, gone) // web was removed
  t.equal(s.agg.view(known).services.find((x) => x.service === 'web')?.rate.conns, 0, 'its ring went with it')
})

t.test('view: a shorter window on request, always ending with the newest closed bucket', async (t) => {
  const s = setup()
  const v = s.agg.view(known, 3)
  t.equal(v.services[0]?.series.conns.length, 3)
  t.equal(s.agg.view(known, 10_000).services[0]?.series.conns.length, L.buckets, 'never more than the ring')
})

t.test('hostile reports are refused whole with one line naming the field', async (t) => {
  const ok = { ports: [port('web', { connections: 1 })], tunnels: [tunnel('n2')] }
  t.same(parseTrafficReport(ok, L), ok)
  t.same(parseTrafficReport({ ...ok, node: 'n1' }, L).node, 'n1')
  t.same(parseTrafficReport({ ports: [], tunnels: [tunnel('n2', { handshakeAgeS: null })] }, L).tunnels[0]?.handshakeAgeS, null)
  const many = (n: number) => Array.from({ length: n }, (_, i) => port('web', { published: (i % 65535) + 1 }))
  const cases: { name: string; body: unknown; re: RegExp }[] = [
    { name: 'not an object', body: [], re: /the traffic report must be an object/ },
    { name: 'ports not a list', body: { ports: {}, tunnels: [] }, re: /ports must be a list/ },
    { name: 'tunnels missing', body: { ports: [] }, re: /tunnels must be a list/ },
    { name: 'negative counter', body: { ports: [port('web', { bytesIn: -1 })], tunnels: [] }, re: /ports\[0\]\.bytesIn must be a finite number ≥ 0/ },
    { name: 'NaN as a string', body: { ports: [{ ...port('web'), connections: 'NaN' }], tunnels: [] }, re: /connections must be a finite number/ },
    { name: 'infinite (1e999 in JSON)', body: { ports: [port('web', { errors: Infinity })], tunnels: [] }, re: /errors must be a finite number/ },
    { name: 'bad protocol', body: { ports: [{ ...port('web'), protocol: 'sctp' }], tunnels: [] }, re: /protocol must be tcp or udp/ },
    { name: 'bad port', body: { ports: [port('web', { published: 70000 })], tunnels: [] }, re: /published must be a port/ },
    { name: 'long name', body: { ports: [port('x'.repeat(256))], tunnels: [] }, re: /service must be a name of 1 to 255/ },
    { name: 'empty peer', body: { ports: [], tunnels: [tunnel('')] }, re: /tunnels\[0\]\.peer must be a name/ },
    { name: 'negative handshake age', body: { ports: [], tunnels: [tunnel('n2', { handshakeAgeS: -3 })] }, re: /handshakeAgeS must be a finite number ≥ 0/ },
    { name: 'duplicate port', body: { ports: [port('web'), port('web')], tunnels: [] }, re: /tcp\/8080 reported twice/ },
    { name: 'duplicate peer', body: { ports: [], tunnels: [tunnel('n2'), tunnel('n2')] }, re: /peer "n2" reported twice/ },
    { name: 'too many ports', body: { ports: many(L.maxPorts + 1), tunnels: [] }, re: new RegExp(`ports: ${L.maxPorts + 1} entries, at most ${L.maxPorts}`) },
    { name: 'bad node field', body: { ...ok, node: 7 }, re: /node must be a name/ },
  ]
  for (const c of cases) t.throws(() => parseTrafficReport(c.body, L), { name: 'TrafficReportError', code: 'MESH_ERR_TRAFFIC_REPORT', message: c.re }, c.name)
})
