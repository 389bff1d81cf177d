import t from 'tap'
import { nftIngressRuleset, planNft, planVipServices, planVips, vipRule, vipServiceRule, vipStatus } from '../../../src/ingress/index.ts'
import type { CatalogSnapshot } from '../../../src/catalog/index.ts'
import { ep, svc } from './helpers.ts'

const snapOf = (...services: CatalogSnapshot['services']): CatalogSnapshot => ({ revision: 1, nodes: [], services })
const tcp80 = { published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const }

t.test('planVips: one rule per VIP service and distinct protocol/target port with serving endpoints', async (t) => {
  const cases = [
    {
      name: 'serving endpoints only, catalog order, duplicates folded',
      snap: snapOf(svc([tcp80], [ep(1, '10.77.1.2'), ep(2, '10.77.1.3', { health: 'starting' }), ep(3, '10.77.1.4'), ep(4, '10.77.1.2')], { vip: '10.78.0.2' })),
      want: [{ protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2', '10.77.1.4'] }],
    },
    {
      name: 'two published ports on one target: one rule; host-mode ports count too',
      snap: snapOf(svc([tcp80, { ...tcp80, published: 8081 }, { published: 0, target: 53, protocol: 'udp', mode: 'host' }], [ep(1, '10.77.1.2')], { vip: '10.78.0.2' })),
      want: [
        { protocol: 'udp', vip: '10.78.0.2', port: 53, backends: ['10.77.1.2'] },
        { protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2'] },
      ],
    },
    { name: 'dnsrr services have no VIP rules', snap: snapOf(svc([tcp80], [ep(1, '10.77.1.2')], { vip: '10.78.0.2', endpointMode: 'dnsrr' })), want: [] },
    { name: 'no VIP, no rule', snap: snapOf(svc([tcp80], [ep(1, '10.77.1.2')])), want: [] },
    { name: 'no serving endpoint, no rule', snap: snapOf(svc([tcp80], [ep(1, '10.77.1.2', { state: 'stopping' })], { vip: '10.78.0.2' })), want: [] },
    {
      name: 'sorted by VIP, then port',
      snap: snapOf(
        svc([{ ...tcp80, target: 90 }], [ep(1, '10.77.1.9')], { id: 's2', name: 'b', vip: '10.78.0.9' }),
        svc([{ ...tcp80, target: 90 }, tcp80], [ep(1, '10.77.1.2')], { vip: '10.78.0.2' }),
      ),
      want: [
        { protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2'] },
        { protocol: 'tcp', vip: '10.78.0.2', port: 90, backends: ['10.77.1.2'] },
        { protocol: 'tcp', vip: '10.78.0.9', port: 90, backends: ['10.77.1.9'] },
      ],
    },
  ]
  for (const c of cases) t.same(planVips(c.snap), c.want, c.name)
})

t.test('planVips: the serving filter (the controller drops ejected endpoints) decides per endpoint', async (t) => {
  const snap = snapOf(svc([tcp80], [ep(1, '10.77.1.2'), ep(2, '10.77.1.3')], { vip: '10.78.0.2' }))
  t.same(planVips(snap, (_s, e) => e.ip !== '10.77.1.2'), [{ protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.3'] }])
})

t.test('vipRule text: one endpoint, several endpoints', async (t) => {
  t.equal(vipRule({ protocol: 'udp', vip: '10.78.0.3', port: 53, backends: ['10.77.2.9'] }),
    'ip daddr 10.78.0.3 udp dport 53 ct mark set ct mark or 0x00100000 dnat to 10.77.2.9')
  t.equal(vipRule({ protocol: 'tcp', vip: '10.78.0.2', port: 80, backends: ['10.77.1.2', '10.77.2.2'] }),
    'ip daddr 10.78.0.2 tcp dport 80 ct mark set ct mark or 0x00100000 dnat to numgen inc mod 2 map { 0 : 10.77.1.2, 1 : 10.77.2.2 }')
})

t.test('planVipServices: every VIP service balances every port over its serving endpoints, or refuses', async (t) => {
  const cases = [
    {
      name: 'no published port at all: still balanced (db:5432 without -p)',
      snap: snapOf(svc([], [ep(1, '10.77.1.2'), ep(2, '10.77.2.2')], { vip: '10.78.0.5' })),
      want: [{ vip: '10.78.0.5', backends: ['10.77.1.2', '10.77.2.2'] }],
    },
    {
      name: 'stopping, starting and unhealthy tasks are out of rotation; duplicates folded',
      snap: snapOf(svc([tcp80], [ep(1, '10.77.1.2', { state: 'stopping' }), ep(2, '10.77.1.3', { health: 'unhealthy' }),
        ep(3, '10.77.1.4', { health: 'starting' }), ep(4, '10.77.1.5', { health: 'healthy' }), ep(5, '10.77.1.5')], { vip: '10.78.0.2' })),
      want: [{ vip: '10.78.0.2', backends: ['10.77.1.5'] }],
    },
    {
      name: 'no serving endpoint: listed with none (the VIP refuses)',
      snap: snapOf(svc([], [ep(1, '10.77.1.2', { health: 'unhealthy' })], { vip: '10.78.0.2' }), svc([], [], { id: 's2', name: 'b', vip: '10.78.0.3' })),
      want: [{ vip: '10.78.0.2', backends: [] }, { vip: '10.78.0.3', backends: [] }],
    },
    { name: 'dnsrr and VIP-less services: nothing', snap: snapOf(svc([], [ep(1, '10.77.1.2')], { vip: '10.78.0.2', endpointMode: 'dnsrr' }), svc([], [ep(1, '10.77.1.2')])), want: [] },
    {
      name: 'sorted by VIP',
      snap: snapOf(svc([], [ep(1, '10.77.1.9')], { id: 's2', name: 'b', vip: '10.78.0.9' }), svc([], [ep(1, '10.77.1.2')], { vip: '10.78.0.2' })),
      want: [{ vip: '10.78.0.2', backends: ['10.77.1.2'] }, { vip: '10.78.0.9', backends: ['10.77.1.9'] }],
    },
  ]
  for (const c of cases) t.same(planVipServices(c.snap), c.want, c.name)
  t.same(planVipServices(snapOf(svc([], [ep(1, '10.77.1.2'), ep(2, '10.77.1.3')], { vip: '10.78.0.2' })), (_s, e, port) => port === null && e.ip !== '10.77.1.3'),
    [{ vip: '10.78.0.2', backends: ['10.77.1.2'] }], 'the serving filter is asked with port null (any port)')
})

t.test('vipServiceRule text: any tcp/udp port, destination port unchanged, the same DNAT mark', async (t) => {
  t.equal(vipServiceRule({ vip: '10.78.0.5', backends: ['10.77.1.2'] }),
    'ip daddr 10.78.0.5 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to 10.77.1.2')
  t.equal(vipServiceRule({ vip: '10.78.0.5', backends: ['10.77.1.2', '10.77.2.2', '10.77.3.2'] }),
    'ip daddr 10.78.0.5 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to numgen inc mod 3 map { 0 : 10.77.1.2, 1 : 10.77.2.2, 2 : 10.77.3.2 }')
})

t.test('ruleset: per-port VIP rules come before the catch-all; a VIP with no serving task refuses in forward and output', async (t) => {
  const snap = snapOf(
    svc([tcp80], [ep(1, '10.77.1.2')], { vip: '10.78.0.2' }),
    svc([], [ep(2, '10.77.1.3', { state: 'stopping' })], { id: 's2', name: 'db', vip: '10.78.0.3' }),
  )
  const text = nftIngressRuleset(planNft(snap))
  const pre = text.slice(text.indexOf('chain prerouting'), text.indexOf('chain output'))
  const perPort = pre.indexOf('ip daddr . meta l4proto . th dport vmap @vip-ports')
  const any = pre.indexOf('meta l4proto { tcp, udp } ip daddr vmap @vips')
  t.ok(perPort > 0 && any > perPort, 'per-port map first, then the catch-all map')
  t.match(text, /map vip-ports \{[^}]*elements = \{ 10\.78\.0\.2 \. tcp \. 80 : goto vip-10\.78\.0\.2-tcp-80 \}/, 'the VIP port goes to its chain')
  t.match(text, 'chain vip-10.78.0.2-tcp-80 {\n    ip daddr 10.78.0.2 tcp dport 80 ct mark set ct mark or 0x00100000 dnat to 10.77.1.2\n')
  t.match(text, /map vips \{[^}]*elements = \{ 10\.78\.0\.2 : goto vip-10\.78\.0\.2 \}/, 'and the other ports to the catch-all chain')
  t.notMatch(text, /chain vip-10\.78\.0\.3|: goto vip-10\.78\.0\.3/, 'no DNAT for a VIP without serving endpoints')
  t.match(text, /set vip-refused \{[^}]*elements = \{ 10\.78\.0\.3 \}/, 'it refuses instead')
  for (const chain of ['vip-refuse-forward', 'vip-refuse-output']) {
    const body = text.slice(text.indexOf(`chain ${chain}`))
    t.match(body, new RegExp(`type filter hook ${chain === 'vip-refuse-forward' ? 'forward' : 'output'} priority filter - 10`), chain)
    t.match(body, /ip daddr @vip-refused meta l4proto tcp reject with tcp reset\n\s+ip daddr @vip-refused meta l4proto udp reject\n/, `${chain}: RST and ICMP port unreachable`)
  }
  t.notMatch(nftIngressRuleset(planNft(snapOf(svc([tcp80], [ep(1, '10.77.1.2')], { vip: '10.78.0.2' })))), /set vip-refused \{[^}]*elements/, 'nothing to refuse: an empty set')
})

t.test('vipStatus: per service its VIP, what every port gets, serving out of listed endpoints', async (t) => {
  const snap = snapOf(
    svc([], [ep(1, '10.77.1.2'), ep(2, '10.77.1.3', { health: 'unhealthy' }), ep(3, '10.77.1.4', { state: 'stopping' })], { vip: '10.78.0.2' }),
    svc([], [ep(4, '10.77.1.5', { health: 'starting' })], { id: 's2', name: 'db', vip: '10.78.0.3' }),
    svc([], [ep(5, '10.77.1.6')], { id: 's3', name: 'rr', endpointMode: 'dnsrr' }),
  )
  t.same(vipStatus(snap), [
    { service: 'web', vip: '10.78.0.2', endpointMode: 'vip', endpoints: 3, serving: 1, ports: 'all' },
    { service: 'db', vip: '10.78.0.3', endpointMode: 'vip', endpoints: 1, serving: 0, ports: 'refused' },
    { service: 'rr', vip: null, endpointMode: 'dnsrr', endpoints: 1, serving: 1, ports: 'none' },
  ])
})
