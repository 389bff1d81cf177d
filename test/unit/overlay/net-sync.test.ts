import t from 'tap'
import { syncNetworks } from '../../../src/overlay/net-sync.ts'
import type { CatalogSnapshot } from '../../../src/api/catalog.ts'
import type { DesiredPeer } from '../../../src/overlay/peers.ts'

const nodes = [
  { id: 'n1', hostname: 'node1', addr: '192.168.77.11', state: 'ready' as const },
  { id: 'n2', hostname: 'node2', addr: '192.168.77.12', state: 'ready' as const },
  { id: 'n3', hostname: 'node3', addr: '192.168.77.13', state: 'ready' as const },
]
const snap = (slices: { nodeId: string; subnet: string }[]): CatalogSnapshot => ({
  revision: 1, nodes, services: [],
  networks: [{ id: 'w', name: 'web', subnet: '10.80.0.0/24', encrypted: false, internal: false, attachable: false, vni: 4096, slices }],
})
const peers: DesiredPeer[] = [
  { node: 'node2', publicKey: 'k2', endpoint: '192.168.77.12:51820', subnet: '10.77.2.0/24' },
  { node: 'node3', publicKey: 'k3', endpoint: '192.168.77.13:51820', subnet: '10.77.3.0/24' },
]
const sync = (s: CatalogSnapshot) => syncNetworks({
  snap: s, self: 'node1', peers, tunnelMtu: 1420, underlayMtu: 1500,
  default: { bridge: 'mesh-br', slice: '10.77.1.0/24', gateway: '10.77.1.1', range: '10.77.0.0/16', tunnel: 'mesh0' },
})

t.test('a node without a slice (ingress only): a host-only VXLAN device from its default gateway, no tunnel route', async (t) => {
  const r = sync(snap([{ nodeId: 'n2', subnet: '10.80.0.0/26' }, { nodeId: 'n3', subnet: '10.80.0.64/26' }]))
  t.same(r.plan.tunnelRoutes, [])
  t.same(r.plan.vxlans.map((v) => [v.name, v.gateway, v.hostOnly, v.neighbours.map((n) => n.underlay)]),
    [['mvx-4096', '10.77.1.1', true, ['192.168.77.12', '192.168.77.13']]])
  t.same(r.peers.map((p) => p.slices), [['10.80.0.0/26'], ['10.80.0.64/26']], 'allowed-ips still hold the slices')
  t.ok(r.rules.input.some((l) => l.includes('udp dport 4789 ip saddr { 192.168.77.12, 192.168.77.13 } accept')), 'VXLAN accepted from them')
})

t.test('a node with a slice: the peers\' default gateways in the network\'s table', async (t) => {
  const r = sync(snap([{ nodeId: 'n1', subnet: '10.80.0.128/26' }, { nodeId: 'n2', subnet: '10.80.0.0/26' }]))
  const v = r.plan.vxlans[0]
  t.same([v?.hostOnly, v?.slice, v?.hosts.map((h) => [h.gateway, h.underlay])], [false, '10.80.0.128/26', [['10.77.2.1', '192.168.77.12'], ['10.77.3.1', '192.168.77.13']]])
  t.ok(r.rules.forward.some((l) => l.startsWith('iifname { "mesh0", "mvx-4096" } oifname "mbr-4096" ip saddr {') && l.includes('10.77.3.1')),
    'the peers\' hosts (node3 has no slice) are accepted from the VXLAN device')
})
