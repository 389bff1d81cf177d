/** The ingress table as data and its deltas (issue 21): an endpoint change is a small batch, never the whole table. */
import t from 'tap'
import { CounterTotals, endpointTraffic, nftTable, parseCounterSet, planNft, renderDelta, renderFull } from '../../../src/ingress/index.ts'
import type { CatalogService, CatalogSnapshot } from '../../../src/catalog/index.ts'
import { ep, svc } from './helpers.ts'

const web = (ips: string[]): CatalogService =>
  svc([{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], ips.map((ip, i) => ep(i + 1, ip)), { vip: '10.78.0.2' })
const api = (ips: string[]): CatalogService =>
  svc([], ips.map((ip, i) => ep(i + 1, ip)), { id: 's2', name: 'api', shortName: 'api', vip: '10.78.0.3' })
const snap = (...services: CatalogService[]): CatalogSnapshot => ({ revision: 1, nodes: [], services })
const table = (...services: CatalogService[]) => nftTable(planNft(snap(...services)), { snatAddr: '10.77.1.1' })

const cases: Array<{ name: string; from: CatalogService[]; to: CatalogService[]; want: string }> = [
  { name: 'nothing changed: nothing to write', from: [web(['10.77.1.2'])], to: [web(['10.77.1.2'])], want: '' },
  {
    name: 'an endpoint removed: the three chains of its service refilled, its counters deleted',
    from: [web(['10.77.1.2', '10.77.1.3']), api(['10.77.2.2'])], to: [web(['10.77.1.2']), api(['10.77.2.2'])],
    want: `flush chain ip mesh-ingress vip-10.78.0.2-tcp-80
add rule ip mesh-ingress vip-10.78.0.2-tcp-80 ip daddr 10.78.0.2 tcp dport 80 ct mark set ct mark or 0x00100000 dnat to 10.77.1.2
flush chain ip mesh-ingress vip-10.78.0.2
add rule ip mesh-ingress vip-10.78.0.2 ip daddr 10.78.0.2 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to 10.77.1.2
flush chain ip mesh-ingress port-tcp-8080
add rule ip mesh-ingress port-tcp-8080 tcp dport 8080 ct mark set ct mark or 0x00300000 dnat to 10.77.1.2:80
delete element ip mesh-ingress ep-conns { tcp . 10.77.1.3 . 80 }
delete element ip mesh-ingress ep-in { tcp . 10.77.1.3 . 80 }
delete element ip mesh-ingress ep-out { tcp . 10.77.1.3 . 80 }
`,
  },
  {
    name: 'a service added: its chain, then the map element that leads to it',
    from: [web(['10.77.1.2'])], to: [web(['10.77.1.2']), api(['10.77.2.2'])],
    want: `add chain ip mesh-ingress vip-10.78.0.3
add rule ip mesh-ingress vip-10.78.0.3 ip daddr 10.78.0.3 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to 10.77.2.2
add element ip mesh-ingress vips { 10.78.0.3 : goto vip-10.78.0.3 }
`,
  },
  {
    name: 'its last endpoint gone: the element, then the chain; the VIP refuses',
    from: [web(['10.77.1.2']), api(['10.77.2.2'])], to: [web(['10.77.1.2']), api([])],
    want: `delete element ip mesh-ingress vips { 10.78.0.3 }
add element ip mesh-ingress vip-refused { 10.78.0.3 }
delete chain ip mesh-ingress vip-10.78.0.3
`,
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    t.equal(renderDelta(table(...c.from), table(...c.to)), c.want)
  })
}

t.test('a frame change (source NAT, network bridges) or another declaration: no delta, the whole table', async (t) => {
  const a = table(web(['10.77.1.2']))
  t.equal(renderDelta(a, nftTable(planNft(snap(web(['10.77.1.2']))), { snatAddr: '10.77.1.9' })), null)
  t.equal(renderDelta(a, nftTable(planNft(snap(web(['10.77.1.2']))), {
    snatAddr: '10.77.1.1', networkBridges: [{ bridge: 'mbr-1', gateway: '10.80.0.1', subnet: '10.80.0.0/20' }],
  })), null)
})

t.test('at 1,000 services / 10,000 endpoints one changed endpoint is a delta of a few hundred bytes', async (t) => {
  const many = (changed: string) => Array.from({ length: 1000 }, (_, i) => svc(
    [{ published: 20000 + i, target: 80, protocol: 'tcp', mode: 'ingress' }],
    Array.from({ length: 10 }, (_, j) => ep(j + 1, i === 7 && j === 3 ? changed : `10.${100 + (i >> 8)}.${i & 255}.${j + 2}`)),
    { id: `s${i}`, name: `svc${i}`, shortName: `svc${i}`, vip: `10.90.${i >> 8}.${i & 255}` }))
  const from = nftTable(planNft(snap(...many('10.100.7.5'))))
  const to = nftTable(planNft(snap(...many('10.100.7.99'))))
  const full = renderFull(to)
  const delta = renderDelta(from, to) as string
  t.ok(full.length > 1_000_000, `the whole table: ${full.length} bytes`)
  t.ok(delta.length < 3000, `the delta: ${delta.length} bytes`)
  t.equal(delta.split('\n').filter((l) => l.startsWith('flush chain')).length, 3, 'three chains refilled (VIP port, VIP, published port)')
  t.match(delta, 'delete element ip mesh-ingress ep-in { tcp . 10.100.7.5 . 80 }')
  t.match(delta, 'add element ip mesh-ingress ep-in { tcp . 10.100.7.99 . 80 }')
})

t.test('counters: nft -j list set answers to traffic per endpoint, monotonic across an element re-added', async (t) => {
  const answer = (packets: number, bytes: number) => JSON.stringify({
    nftables: [{ metainfo: { version: '1.0.6' } }, {
      set: {
        family: 'ip', name: 'ep-in', table: 'mesh-ingress', type: ['inet_proto', 'ipv4_addr', 'inet_service'],
        elem: [{ elem: { val: { concat: ['tcp', '10.77.1.2', 80] }, counter: { packets, bytes } } }, { elem: { val: 'junk' } }],
      },
    }],
  })
  t.same([...parseCounterSet(answer(3, 180))], [['tcp 10.77.1.2:80', [3, 180]]])
  for (const bad of ['', 'not json', '{"nftables": 5}', '{"nftables": [{"set": {"elem": [{"elem": {"val": {"concat": ["tcp", 1, 80]}, "counter": {"packets": 1, "bytes": 1}}}]}}]}']) {
    t.same([...parseCounterSet(bad)], [], `skipped: ${JSON.stringify(bad).slice(0, 40)}`)
  }
  const totals = new CounterTotals()
  t.same(endpointTraffic([answer(3, 180), answer(3, 180), answer(2, 1000)], totals).get('tcp 10.77.1.2:80'), { connections: 3, bytesIn: 180, bytesOut: 1000 })
  t.same(endpointTraffic([answer(1, 60), answer(1, 60), answer(1, 500)], totals).get('tcp 10.77.1.2:80'), { connections: 4, bytesIn: 240, bytesOut: 1500 },
    'counters restarted at 0 (the element re-added): added to what was counted before')
})

t.test('built against the table in place: unchanged targets are reused as they are, the delta is the same', async (t) => {
  const from = table(web(['10.77.1.2', '10.77.1.3']), api(['10.77.2.2']))
  const plan = planNft(snap(web(['10.77.1.2']), api(['10.77.2.2'])))
  const reused = nftTable(plan, { snatAddr: '10.77.1.1' }, from)
  t.equal(reused.targets.get('vip-10.78.0.3'), from.targets.get('vip-10.78.0.3'), 'api unchanged: the same object')
  t.not(reused.targets.get('port-tcp-8080'), from.targets.get('port-tcp-8080'), 'web changed: built again')
  t.equal(renderDelta(from, reused), renderDelta(from, nftTable(plan, { snatAddr: '10.77.1.1' })))
  t.equal(renderFull(reused), renderFull(nftTable(plan, { snatAddr: '10.77.1.1' })))
})
