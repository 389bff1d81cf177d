import t from 'tap'
import { Ingress, execCommand, nftIngressRuleset, planNft, planVipServices, planVips, vipStatus } from '../../../src/ingress/index.ts'
import type { CatalogSnapshot } from '../../../src/catalog/index.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { ep, noLog, svc } from './helpers.ts'

/**
 * VIP rules per network: each network's VIP of a service DNATs to its serving endpoints' addresses on that network.
 * `shop` is on networks a (VIP 10.80.0.2) and front (VIP 10.82.0.40); `legacy` is on the default network only.
 */
const tcp80 = { published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const }
const nets: CatalogNetwork[] = [
  { id: 'na', name: 'a_default', subnet: '10.80.0.0/20', encrypted: true, internal: false, attachable: false, vni: 4097, slices: [{ nodeId: 'n1', subnet: '10.80.1.0/26' }] },
  { id: 'nf', name: 'front', subnet: '10.82.0.0/20', encrypted: false, internal: false, attachable: true, vni: 4099, slices: [{ nodeId: 'n1', subnet: '10.82.1.0/26' }] },
]
const shop = svc([tcp80], [
  ep(1, '10.80.1.2', { addresses: [{ network: 'na', ip: '10.80.1.2' }, { network: 'nf', ip: '10.82.1.2' }] }),
  ep(2, '10.80.2.2', { addresses: [{ network: 'na', ip: '10.80.2.2' }, { network: 'nf', ip: '10.82.2.2' }] }),
  ep(3, '10.80.3.2', { addresses: [{ network: 'na', ip: '10.80.3.2' }] }), // not (yet) on front
  ep(4, '10.80.1.9', { state: 'stopping', addresses: [{ network: 'na', ip: '10.80.1.9' }, { network: 'nf', ip: '10.82.1.9' }] }),
], { id: 's1', name: 'shop', shortName: 'shop', networks: [{ network: 'na', vip: '10.80.0.2', aliases: [] }, { network: 'nf', vip: '10.82.0.40', aliases: ['store'] }] })
const legacy = svc([], [ep(5, '10.77.1.5')], { id: 's2', name: 'legacy', shortName: 'legacy', vip: '10.78.0.9' })
const bridges = [
  { bridge: 'mbr-4097', gateway: '10.80.1.1', subnet: '10.80.0.0/20' },
  { bridge: 'mbr-4099', gateway: '10.82.1.1', subnet: '10.82.0.0/20' },
]
const snap = (...services: CatalogSnapshot['services']): CatalogSnapshot => ({ revision: 1, nodes: [], networks: nets, services })

t.test('planVipServices: a VIP per network, each over the addresses on that network', async (t) => {
  t.same(planVipServices(snap(shop, legacy)), [
    { vip: '10.78.0.9', backends: ['10.77.1.5'] },
    { vip: '10.80.0.2', backends: ['10.80.1.2', '10.80.2.2', '10.80.3.2'] },
    { vip: '10.82.0.40', backends: ['10.82.1.2', '10.82.2.2'] },
  ], 'the default network unchanged; a task with no address on front is not behind its VIP there; stopping tasks out')
})

t.test('planVips: the per-port rules follow the same split (and the controller ejections by endpoint)', async (t) => {
  t.same(planVips(snap(shop)), [
    { protocol: 'tcp', vip: '10.80.0.2', port: 80, backends: ['10.80.1.2', '10.80.2.2', '10.80.3.2'] },
    { protocol: 'tcp', vip: '10.82.0.40', port: 80, backends: ['10.82.1.2', '10.82.2.2'] },
  ])
  t.same(planVips(snap(shop), (_s, e, port) => port === 80 && e.ip !== '10.80.1.2' && e.state === 'running'), [
    { protocol: 'tcp', vip: '10.80.0.2', port: 80, backends: ['10.80.2.2', '10.80.3.2'] },
    { protocol: 'tcp', vip: '10.82.0.40', port: 80, backends: ['10.82.2.2'] },
  ], 'an endpoint ejected at its published port leaves every network VIP of that port')
})

t.test('a network VIP without serving endpoints there refuses; gone with the service or the attachment', async (t) => {
  const alone = svc([], [ep(1, '10.80.1.2', { addresses: [{ network: 'na', ip: '10.80.1.2' }] })],
    { id: 's3', name: 'db', shortName: 'db', networks: [{ network: 'na', vip: '10.80.0.3', aliases: [] }, { network: 'nf', vip: '10.82.0.41', aliases: [] }] })
  t.same(planVipServices(snap(alone)), [{ vip: '10.80.0.3', backends: ['10.80.1.2'] }, { vip: '10.82.0.41', backends: [] }])
  t.match(nftIngressRuleset(planNft(snap(alone))), /set vip-refused \{[^}]*elements = \{ 10\.82\.0\.41 \}/)
  const left = { ...alone, networks: [{ network: 'na', vip: '10.80.0.3', aliases: [] }] }
  t.notMatch(nftIngressRuleset(planNft(snap(left))), /10\.82\.0\.41/, 'the attachment removed: no rule for its VIP')
  t.notMatch(nftIngressRuleset(planNft(snap(legacy))), /10\.80\.|10\.82\./, 'the service removed: none of its VIPs')
  t.same(planVipServices(snap(svc([], [ep(1, '10.80.1.2', { addresses: [{ network: 'na', ip: '10.80.1.2' }] })],
    { endpointMode: 'dnsrr', networks: [{ network: 'na', aliases: [] }] }))), [], 'dnsrr: no VIP, no rule')
})

t.test('nft text: each network VIP DNATs to that network; hairpin masquerade on every local bridge', async (t) => {
  const text = nftIngressRuleset(planNft(snap(shop, legacy)), { networkBridges: bridges })
  t.match(text, 'ip daddr 10.80.0.2 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to numgen inc mod 3 map { 0 : 10.80.1.2, 1 : 10.80.2.2, 2 : 10.80.3.2 }')
  t.match(text, 'ip daddr 10.82.0.40 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to numgen inc mod 2 map { 0 : 10.82.1.2, 1 : 10.82.2.2 }')
  t.match(text, 'ip daddr 10.78.0.9 meta l4proto { tcp, udp } ct mark set ct mark or 0x00100000 dnat to 10.77.1.5\n')
  t.match(text, 'ct mark and 0x00100000 == 0x00100000 oifname { "mesh-br", "mbr-4097", "mbr-4099" } masquerade')
  t.match(nftIngressRuleset(planNft(snap(legacy))), 'ct mark and 0x00100000 == 0x00100000 oifname "mesh-br" masquerade', 'no networks: as before')
  for (const bad of [{ bridge: 'mbr"; drop' }, { gateway: '10.80.1.1; drop' }, { subnet: '10.80.0.0/20 } drop' }]) {
    t.throws(() => nftIngressRuleset(planNft(snap(legacy)), { networkBridges: [{ ...bridges[0]!, ...bad }] }), { code: 'MESH_ERR_UNSAFE_VALUE' }, JSON.stringify(bad))
  }
})

t.test('nft text: DNS from a network bridge to anywhere outside the network goes to its gateway', async (t) => {
  const text = nftIngressRuleset(planNft(snap(shop)), { networkBridges: bridges })
  const pre = text.slice(text.indexOf('chain prerouting'), text.indexOf('chain output'))
  t.match(pre, 'iifname "mbr-4097" ip daddr != 10.80.0.0/20 meta l4proto { tcp, udp } th dport 53 dnat to 10.80.1.1\n')
  t.match(pre, 'iifname "mbr-4099" ip daddr != 10.82.0.0/20 meta l4proto { tcp, udp } th dport 53 dnat to 10.82.1.1\n')
  t.notMatch(text.slice(text.indexOf('chain output')), /th dport 53/, 'the node itself resolves as it always did')
  t.notMatch(nftIngressRuleset(planNft(snap(shop))), /th dport 53/, 'no network bridges: no redirect')
})

t.test('hostile network values: a bad address or VIP is skipped, the rest kept', async (t) => {
  const bad = svc([], [
    ep(1, '10.80.1.2', { addresses: [{ network: 'na', ip: '10.80.1.2 }\ntable ip pwn {' }] }),
    ep(2, '10.80.2.2', { addresses: [{ network: 'na', ip: '10.80.2.2' }] }),
  ], { networks: [{ network: 'na', vip: '10.80.0.2', aliases: [] }, { network: 'nf', vip: '10.82.0.40;', aliases: [] }] })
  const plan = planNft(snap(bad))
  t.same(plan.vipServices, [{ vip: '10.80.0.2', backends: ['10.80.2.2'] }])
  t.notMatch(nftIngressRuleset(plan), /pwn|10\.82\.0\.40/)
})

t.test('vipStatus: a row per network VIP', async (t) => {
  t.same(vipStatus(snap(shop, legacy)).map((v) => [v.service, v.vip, v.ports, `${v.serving}/${v.endpoints}`]), [
    ['shop', '10.80.0.2', 'all', '3/4'],
    ['shop', '10.82.0.40', 'all', '3/4'],
    ['legacy', '10.78.0.9', 'all', '1/1'],
  ])
})

t.test('Ingress: the hairpin and DNS name every network bridge the overlay gives it', async (t) => {
  const inputs: string[] = []
  const current = snap(shop)
  const cat = { current: () => current, onChange: () => () => {} }
  const ing = new Ingress({
    catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, clock: new FakeClock(),
    networkBridges: (sn) => (sn.networks ?? []).map((n) => ({ bridge: n.vni === 4099 ? 'bad name!' : `mbr-${n.vni}`, gateway: '10.80.1.1', subnet: n.subnet })),
    exec: async (cmd, _args, input) => { if (cmd === 'nft' && input) inputs.push(input); return '' },
  })
  await ing.start()
  t.match(inputs[0], 'oifname { "mesh-br", "mbr-4097" } masquerade', 'a name that cannot be written is left out, not the ruleset')
  t.match(inputs[0], 'ip daddr 10.82.0.40 meta l4proto')
  t.match(inputs[0], 'iifname "mbr-4097" ip daddr != 10.80.0.0/20 meta l4proto { tcp, udp } th dport 53 dnat to 10.80.1.1')
  await ing.stop()
})

// Without nft and root the check does not run: tap reports it as skipped (with the reason), not as passed.
const kernel = await execCommand('nft', ['--version']).then(() => process.getuid?.() === 0, () => false)
t.test('the kernel accepts the per-network ruleset (nft --check)', { skip: kernel ? false : 'needs nft and root' }, async (t) => {
  await t.resolves(execCommand('nft', ['-c', '-f', '-'], nftIngressRuleset(planNft(snap(shop, legacy)), { snatAddr: '10.77.1.1', networkBridges: bridges })))
})
