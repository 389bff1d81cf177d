import t from 'tap'
import { gatewayMac, planNetworks, sliceGateway, type PlanPeer } from '../../../src/overlay/net-plan.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'
import { planPeers, planRoutes } from '../../../src/overlay/peers.ts'

const peers: PlanPeer[] = [
  { nodeId: 'n2', node: 'w2', underlay: '192.168.77.12' },
  { nodeId: 'n3', node: 'w3', underlay: '192.168.77.13' },
]

function net(o: Partial<CatalogNetwork> & { name: string }): CatalogNetwork {
  return { id: `id-${o.name}`, subnet: '10.80.0.0/16', encrypted: true, internal: false, attachable: false, vni: 4097, slices: [], ...o }
}

const plain = net({ name: 'plain', subnet: '10.81.0.0/16', encrypted: false, vni: 4100, slices: [
  { nodeId: 'n1', subnet: '10.81.0.0/24' }, { nodeId: 'n2', subnet: '10.81.1.0/24' }, { nodeId: 'n3', subnet: '10.81.2.0/24' },
] })
const secret = net({ name: 'secret', subnet: '10.82.0.0/16', vni: 4101, internal: true, slices: [
  { nodeId: 'n1', subnet: '10.82.5.0/24' }, { nodeId: 'n3', subnet: '10.82.6.0/24' },
] })
const elsewhere = net({ name: 'elsewhere', subnet: '10.83.0.0/16', encrypted: false, vni: 4102, slices: [{ nodeId: 'n2', subnet: '10.83.0.0/24' }] })

t.test('a network with a slice here is a local bridge; its gateway is the slice\'s first address; MTU per data path', async (t) => {
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret, elsewhere], peers, tunnelMtu: 1420, underlayMtu: 1500 })
  t.same(p.local.map((n) => [n.name, n.slice, n.gateway, n.bridge, n.mtu, n.internal]), [
    ['plain', '10.81.0.0/24', '10.81.0.1', 'mbr-4100', 1450, false],
    ['secret', '10.82.5.0/24', '10.82.5.1', 'mbr-4101', 1420, true],
  ], 'no bridge for a network without a slice here')
  t.same(p.ranges, ['10.83.0.0/16', '10.81.0.0/16', '10.82.0.0/16'])
})

t.test('unencrypted with a local slice: one VXLAN device, a neighbour per peer slice over its underlay address', async (t) => {
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret, elsewhere], peers, tunnelMtu: 1420, underlayMtu: 1500 })
  t.equal(p.vxlans.length, 1)
  const v = p.vxlans[0]
  t.same([v?.name, v?.vni, v?.mac, v?.mtu, v?.gateway], ['mvx-4100', 4100, '0a:58:0a:51:00:01', 1450, '10.81.0.1'])
  t.same(v?.neighbours, [
    { slice: '10.81.1.0/24', gateway: '10.81.1.1', mac: '0a:58:0a:51:01:01', underlay: '192.168.77.12' },
    { slice: '10.81.2.0/24', gateway: '10.81.2.1', mac: '0a:58:0a:51:02:01', underlay: '192.168.77.13' },
  ])
  t.same(p.vxlanPeers, ['192.168.77.12', '192.168.77.13'])
})

t.test('encrypted slices, and unencrypted ones this node has no slice of, ride the tunnel; allowed-ips hold every slice', async (t) => {
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret, elsewhere], peers, tunnelMtu: 1420, underlayMtu: 1500 })
  t.same(p.tunnelRoutes, ['10.82.6.0/24', '10.83.0.0/24'], 'not 10.81.x: that goes over VXLAN')
  t.same(Object.fromEntries(p.allowedIps), { w2: ['10.83.0.0/24', '10.81.1.0/24'], w3: ['10.81.2.0/24', '10.82.6.0/24'] })
  t.same(p.gateways.sort(), ['10.81.0.1', '10.81.1.1', '10.81.2.1', '10.82.5.1', '10.82.6.1', '10.83.0.1'])
})

t.test('a node with no slice anywhere has no bridge and no VXLAN, but routes every slice into the tunnel', async (t) => {
  const p = planNetworks({ selfId: 'n9', networks: [plain, secret], peers: [...peers, { nodeId: 'n1', node: 'm1', underlay: '192.168.77.11' }], tunnelMtu: 1420, underlayMtu: 1500 })
  t.same(p.local, [])
  t.same(p.vxlans, [])
  t.same(p.tunnelRoutes, ['10.81.0.0/24', '10.81.1.0/24', '10.81.2.0/24', '10.82.5.0/24', '10.82.6.0/24'])
})

t.test('host-only: with its default gateway known, a node without a slice reaches unencrypted networks over VXLAN', async (t) => {
  const gw = peers.map((p, i) => ({ ...p, gateway: `10.77.${i + 2}.1` }))
  const p = planNetworks({ selfId: 'n9', networks: [plain, secret], peers: [...gw, { nodeId: 'n1', node: 'm1', underlay: '192.168.77.11', gateway: '10.77.1.1' }], tunnelMtu: 1420, underlayMtu: 1500, selfGateway: '10.77.9.1' })
  t.same(p.local, [], 'still no bridge: no task here')
  t.same(p.tunnelRoutes, ['10.82.5.0/24', '10.82.6.0/24'], 'the encrypted network still rides the tunnel')
  t.equal(p.vxlans.length, 1)
  const v = p.vxlans[0]
  t.same([v?.name, v?.mac, v?.gateway, v?.hostOnly, v?.slice, v?.hosts], ['mvx-4100', '0a:58:0a:4d:09:01', '10.77.9.1', true, null, []],
    'sourced from the default gateway, MAC derived from it; no table entries, no rule')
  t.same(v?.neighbours.map((n) => [n.slice, n.underlay]), [['10.81.0.0/24', '192.168.77.11'], ['10.81.1.0/24', '192.168.77.12'], ['10.81.2.0/24', '192.168.77.13']])
  t.same(p.vxlanPeers, ['192.168.77.11', '192.168.77.12', '192.168.77.13'])
  t.same(Object.fromEntries(p.allowedIps).w2, ['10.81.1.0/24'], 'allowed-ips still hold every slice')
})

t.test('with a slice: every peer\'s default gateway is a host entry of the network\'s table, matching the MAC a host-only peer has', async (t) => {
  const gw: PlanPeer[] = [...peers.map((p, i) => ({ ...p, gateway: `10.77.${i + 2}.1` })), { nodeId: 'n9', node: 'edge', underlay: '192.168.77.19', gateway: '10.77.9.1' },
    { nodeId: 'n8', node: 'bad', underlay: '192.168.77.18', gateway: '10.77.8.1; drop' }]
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret], peers: gw, tunnelMtu: 1420, underlayMtu: 1500, selfGateway: '10.77.1.1' })
  const v = p.vxlans[0]
  t.same([v?.hostOnly, v?.slice, v?.table, v?.gateway], [false, '10.81.0.0/24', 1_000_004_100, '10.81.0.1'])
  t.same(v?.hosts, [
    { slice: '10.77.2.1/32', gateway: '10.77.2.1', mac: '0a:58:0a:4d:02:01', underlay: '192.168.77.12' },
    { slice: '10.77.3.1/32', gateway: '10.77.3.1', mac: '0a:58:0a:4d:03:01', underlay: '192.168.77.13' },
    { slice: '10.77.9.1/32', gateway: '10.77.9.1', mac: gatewayMac('10.77.9.1'), underlay: '192.168.77.19' },
  ], 'a peer whose gateway is not an address is left out')
  t.ok(p.vxlanPeers.includes('192.168.77.19'), 'VXLAN accepted from a host-only peer')
  t.notOk(p.vxlans.some((x) => x.name === 'mvx-4101'), 'encrypted: no device')
})

t.test('a catalog network that fails a check is skipped and reported; the others are planned', async (t) => {
  const bad = [
    net({ name: 'x; drop', slices: [{ nodeId: 'n1', subnet: '10.80.0.0/24' }] }),
    net({ name: 'sub', subnet: '10.80.0.0/33' }),
    net({ name: 'vni', vni: 16_777_216 }),
    net({ name: 'outside', slices: [{ nodeId: 'n1', subnet: '10.99.0.0/24' }] }),
    net({ name: 'hostbits', slices: [{ nodeId: 'n1', subnet: '10.80.0.1/24' }] }),
  ]
  const rejected: string[] = []
  const p = planNetworks({ selfId: 'n1', networks: [...bad, plain], peers, tunnelMtu: 1420, underlayMtu: 1500, reject: (n) => rejected.push(n) })
  t.same(rejected.sort(), ['hostbits', 'outside', 'sub', 'vni', 'x; drop'])
  t.same(p.local.map((n) => n.name), ['plain'])
})

t.test('a local task on two networks may reach the other network from either address', async (t) => {
  const endpoints = [
    { nodeId: 'n1', addresses: [{ network: 'id-plain', ip: '10.81.0.5' }, { network: 'id-secret', ip: '10.82.5.5' }] },
    { nodeId: 'n2', addresses: [{ network: 'id-plain', ip: '10.81.1.5' }, { network: 'id-secret', ip: '10.82.7.5' }] },
    { nodeId: 'n1', addresses: [{ network: 'id-plain', ip: '10.81.0.6' }] },
  ]
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret], peers, tunnelMtu: 1420, underlayMtu: 1500, endpoints })
  t.same(p.multiHomed, [{ ip: '10.81.0.5', range: '10.82.0.0/16' }, { ip: '10.82.5.5', range: '10.81.0.0/16' }], 'only this node\'s multi-network tasks')
})

t.test('helpers', async (t) => {
  t.equal(gatewayMac('10.255.0.1'), '0a:58:0a:ff:00:01')
  t.equal(sliceGateway('10.81.4.0/24'), '10.81.4.1')
})

t.test('peers: a node\'s slices join its allowed-ips (replaced as a whole); extra routes go into the tunnel', async (t) => {
  const d = { node: 'w2', publicKey: Buffer.alloc(32, 1).toString('base64'), endpoint: '192.168.77.12:51820', subnet: '10.77.2.0/24' }
  const current = [{ publicKey: d.publicKey, endpoint: d.endpoint, allowedIps: ['10.77.2.0/24'], lastHandshakeS: 0, rxBytes: 0, txBytes: 0, persistentKeepaliveS: 25 }]
  t.same(planPeers([d], current, 25), [], 'no slices: unchanged')
  t.same(planPeers([{ ...d, slices: ['10.81.1.0/24'] }], current, 25), [{ publicKey: d.publicKey, endpoint: d.endpoint, allowedIps: ['10.77.2.0/24', '10.81.1.0/24'], persistentKeepaliveS: 25 }])
  t.same(planPeers([d], [{ ...current[0]!, allowedIps: ['10.77.2.0/24', '10.81.1.0/24'] }], 25)[0]?.allowedIps, ['10.77.2.0/24'], 'a slice given up leaves')
  t.same(planRoutes([d], ['10.77.2.0/24', '10.81.9.0/24'], ['10.82.6.0/24']), { add: ['10.82.6.0/24'], remove: ['10.81.9.0/24'] })
})

t.test('VIPs of networks with a slice here are routed (as /32) so proxy ARP answers for them; others are not', async (t) => {
  const vips = [
    { network: 'id-plain', vip: '10.81.0.200' }, { network: 'id-plain', vip: '10.81.0.200' }, { network: 'id-secret', vip: '10.82.0.3' },
    { network: 'id-elsewhere', vip: '10.83.0.3' }, { network: 'id-plain', vip: '10.99.0.1' }, { network: 'id-plain' }, { network: 'id-plain', vip: 'x' },
  ]
  const p = planNetworks({ selfId: 'n1', networks: [plain, secret, elsewhere], peers, tunnelMtu: 1420, underlayMtu: 1500, vips })
  t.same(p.vipRoutes, ['10.81.0.200/32', '10.82.0.3/32'], 'not a network without a slice here, not outside the network, not a bad value')
})
