import t from 'tap'
import { planVips, vipRule } from '../../../src/ingress/index.ts'
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
