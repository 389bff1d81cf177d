import t from 'tap'
import { NodeNetworks, type NetOps } from '../../../src/overlay/networks.ts'
import { planNetworks } from '../../../src/overlay/net-plan.ts'
import type { NetworkSpec } from '../../../src/overlay/docker-net.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'

/** The host as NetOps sees it: Docker networks, VXLAN devices and their entries, in memory; every change logged. */
class FakeHost implements NetOps {
  docker = new Map<string, { spec: NetworkSpec; containers: number }>()
  vxlans = new Map<string, { vni: number; mac: string; mtu: number; local: string }>()
  fdbs = new Map<string, { mac: string; dst: string }[]>()
  neighs = new Map<string, { ip: string; mac: string }[]>()
  rts = new Map<string, { dst: string; via?: string }[]>()
  calls: string[] = []
  async listDockerNetworks() { return [...this.docker].map(([name, n]) => ({ name, networkId: n.spec.networkId ?? '', containers: n.containers })) }
  async ensureDockerNetwork(spec: NetworkSpec) {
    const had = this.docker.get(spec.name)
    if (had && JSON.stringify(had.spec) === JSON.stringify(spec)) return 'kept' as const
    this.calls.push(`network ${spec.name} ${spec.ipRange}`)
    this.docker.set(spec.name, { spec, containers: had?.containers ?? 0 })
    return had ? 'replaced' as const : 'created' as const
  }
  async removeDockerNetwork(name: string) {
    if ((this.docker.get(name)?.containers ?? 0) > 0) return false
    this.calls.push(`network rm ${name}`)
    return this.docker.delete(name)
  }
  async enableProxyArp() {}
  async listVxlans() { return [...this.vxlans].map(([name, v]) => ({ name, ...v })) }
  async ensureVxlan(d: { name: string; vni: number; mac: string; mtu: number; local: string }, existing?: object) {
    if (existing) return 'kept' as const
    this.calls.push(`vxlan ${d.name} ${d.vni} ${d.local}`)
    this.vxlans.set(d.name, { vni: d.vni, mac: d.mac, mtu: d.mtu, local: d.local })
    return 'created' as const
  }
  async deleteVxlan(name: string) {
    this.calls.push(`vxlan rm ${name}`)
    this.vxlans.delete(name); this.fdbs.delete(name); this.neighs.delete(name); this.rts.delete(name)
  }
  async fdb(dev: string) { return this.fdbs.get(dev) ?? [] }
  async replaceFdb(dev: string, mac: string, dst: string) { this.calls.push(`fdb ${dev} ${mac} ${dst}`); this.fdbs.set(dev, [...(this.fdbs.get(dev) ?? []).filter((e) => e.mac !== mac), { mac, dst }]) }
  async deleteFdb(dev: string, mac: string) { this.calls.push(`fdb rm ${dev} ${mac}`); this.fdbs.set(dev, (this.fdbs.get(dev) ?? []).filter((e) => e.mac !== mac)) }
  async neighbours(dev: string) { return this.neighs.get(dev) ?? [] }
  async replaceNeighbour(dev: string, ip: string, mac: string) { this.calls.push(`neigh ${dev} ${ip}`); this.neighs.set(dev, [...(this.neighs.get(dev) ?? []).filter((e) => e.ip !== ip), { ip, mac }]) }
  async deleteNeighbour(dev: string, ip: string) { this.calls.push(`neigh rm ${dev} ${ip}`); this.neighs.set(dev, (this.neighs.get(dev) ?? []).filter((e) => e.ip !== ip)) }
  async routes(dev: string) { return this.rts.get(dev) ?? [] }
  async replaceRoute(dst: string, via: string, dev: string) { this.calls.push(`route ${dst} via ${via} dev ${dev}`); this.rts.set(dev, [...(this.rts.get(dev) ?? []).filter((r) => r.dst !== dst), { dst, via }]) }
  async deleteRoute(dst: string, dev: string) { this.calls.push(`route rm ${dst} dev ${dev}`); this.rts.set(dev, (this.rts.get(dev) ?? []).filter((r) => r.dst !== dst)) }
  tables = new Map<number, { dst: string; via: string }[]>()
  ipRules: { from: string; table: number }[] = []
  async tableRoutes(table: number) { return (this.tables.get(table) ?? []).map((r) => ({ dst: r.dst.replace(/\/32$/, ''), via: r.via })) }
  async replaceTableRoute(dst: string, via: string, dev: string, table: number) { this.calls.push(`table ${table} ${dst} via ${via} dev ${dev}`); this.tables.set(table, [...(this.tables.get(table) ?? []).filter((r) => r.dst !== dst), { dst, via }]) }
  async deleteTableRoute(dst: string, table: number) { this.calls.push(`table ${table} rm ${dst}`); this.tables.set(table, (this.tables.get(table) ?? []).filter((r) => r.dst.replace(/\/32$/, '') !== dst)) }
  async rules() { return [...this.ipRules] }
  async addRule(from: string, table: number) { this.calls.push(`rule from ${from} table ${table}`); this.ipRules.push({ from, table }) }
  async deleteRule(from: string, table: number) { this.calls.push(`rule rm from ${from} table ${table}`); this.ipRules = this.ipRules.filter((r) => r.from !== from || r.table !== table) }
}

const peers = [{ nodeId: 'n2', node: 'w2', underlay: '192.168.77.12' }, { nodeId: 'n3', node: 'w3', underlay: '192.168.77.13' }]
const plain = (slices: { nodeId: string; subnet: string }[]): CatalogNetwork =>
  ({ id: 'id-plain', name: 'app_plain', subnet: '10.81.0.0/16', encrypted: false, internal: false, attachable: true, vni: 4100, slices })
const plan = (networks: CatalogNetwork[]) => planNetworks({ selfId: 'n1', networks, peers, tunnelMtu: 1420, underlayMtu: 1500 })
const both = [{ nodeId: 'n1', subnet: '10.81.0.0/24' }, { nodeId: 'n2', subnet: '10.81.1.0/24' }]

function setup() {
  const host = new FakeHost()
  const nets = new NodeNetworks({ ops: host, underlay: '192.168.77.11', log: () => {} })
  return { host, nets }
}

t.test('a network with a slice here: its Docker network, then the VXLAN device with one FDB, neighbour and route per peer slice', async (t) => {
  const { host, nets } = setup()
  t.notOk(nets.isReady('app_plain'))
  await nets.apply(plan([plain(both)]))
  t.ok(nets.isReady('app_plain'), 'tasks may be created on it now')
  t.same(host.calls, [
    'network app_plain 10.81.0.0/24', 'vxlan mvx-4100 4100 192.168.77.11',
    'fdb mvx-4100 0a:58:0a:51:01:01 192.168.77.12', 'neigh mvx-4100 10.81.1.1', 'route 10.81.1.0/24 via 10.81.1.1 dev mvx-4100',
    'rule from 10.81.0.0/24 table 1000004100',
  ])
  t.equal(host.docker.get('app_plain')?.spec.subnet, '10.81.0.0/16', 'the whole range on-link for the containers')
  t.equal(host.docker.get('app_plain')?.spec.gateway, '10.81.0.1')
  host.calls = []
  await nets.apply(plan([plain(both)]))
  t.same(host.calls, [], 'applying the same plan again changes nothing (adoption after a restart too)')
})

t.test('a peer slice that comes and goes: its entries follow', async (t) => {
  const { host, nets } = setup()
  await nets.apply(plan([plain(both)]))
  host.calls = []
  await nets.apply(plan([plain([...both, { nodeId: 'n3', subnet: '10.81.2.0/24' }])]))
  t.same(host.calls, ['fdb mvx-4100 0a:58:0a:51:02:01 192.168.77.13', 'neigh mvx-4100 10.81.2.1', 'route 10.81.2.0/24 via 10.81.2.1 dev mvx-4100'])
  host.calls = []
  await nets.apply(plan([plain([both[0] as { nodeId: string; subnet: string }])]))
  t.same(host.calls.sort(), ['fdb rm mvx-4100 0a:58:0a:51:01:01', 'fdb rm mvx-4100 0a:58:0a:51:02:01', 'neigh rm mvx-4100 10.81.1.1',
    'neigh rm mvx-4100 10.81.2.1', 'route rm 10.81.1.0/24 dev mvx-4100', 'route rm 10.81.2.0/24 dev mvx-4100'])
})

t.test('the network leaves: the Docker network goes once nothing is attached, the VXLAN device at once', async (t) => {
  const { host, nets } = setup()
  await nets.apply(plan([plain(both)]))
  ;(host.docker.get('app_plain') as { containers: number }).containers = 1
  host.calls = []
  t.equal(await nets.apply(plan([])), false, 'not settled: to be applied again')
  t.same(host.calls, ['vxlan rm mvx-4100', 'rule rm from 10.81.0.0/24 table 1000004100'], 'kept while a container is attached; the device and its rule go')
  t.notOk(nets.isReady('app_plain'))
  ;(host.docker.get('app_plain') as { containers: number }).containers = 0
  t.equal(await nets.apply(plan([])), true, 'settled')
  t.same(host.calls, ['vxlan rm mvx-4100', 'rule rm from 10.81.0.0/24 table 1000004100', 'network rm app_plain'])
  t.equal(host.docker.size + host.vxlans.size + host.ipRules.length, 0, 'nothing left')
})

t.test('teardown (leave) removes every network and device mesh made', async (t) => {
  const { host, nets } = setup()
  await nets.apply(plan([plain(both)]))
  await nets.teardown()
  t.equal(host.docker.size + host.vxlans.size + host.ipRules.length, 0)
})

const gwPeers = [{ ...peers[0] as (typeof peers)[0], gateway: '10.77.2.1' }, { ...peers[1] as (typeof peers)[0], gateway: '10.77.3.1' }]
const planGw = (networks: CatalogNetwork[], selfId = 'n1') => planNetworks({ selfId, networks, peers: gwPeers, tunnelMtu: 1420, underlayMtu: 1500, selfGateway: '10.77.1.1' })

t.test('with a slice here: the peers\' hosts (default gateways) in the network\'s table, used only from the slice', async (t) => {
  const { host, nets } = setup()
  t.equal(await nets.apply(planGw([plain(both)])), true)
  t.same(host.calls.filter((c) => /^(table|rule)/.test(c)), [
    'table 1000004100 10.77.2.1/32 via 10.77.2.1 dev mvx-4100', 'table 1000004100 10.77.3.1/32 via 10.77.3.1 dev mvx-4100',
    'rule from 10.81.0.0/24 table 1000004100',
  ])
  t.ok(host.calls.includes('fdb mvx-4100 0a:58:0a:4d:03:01 192.168.77.13'), 'a host peer with no slice gets its FDB entry too')
  host.calls = []
  t.equal(await nets.apply(planGw([plain(both)])), true)
  t.same(host.calls, [], 'the same plan again changes nothing')
  await nets.apply(planGw([plain(both)]).vxlans.length ? plan([plain(both)]) : plan([]))
  t.same(host.calls.filter((c) => c.startsWith('table')).sort(), ['table 1000004100 rm 10.77.2.1', 'table 1000004100 rm 10.77.3.1'], 'hosts gone from the plan: their routes go')
})

t.test('host-only (no slice here): a device sourcing the default gateway, routes in the main table, no rule', async (t) => {
  const { host, nets } = setup()
  const elsewhere = plain([{ nodeId: 'n2', subnet: '10.81.1.0/24' }])
  t.equal(await nets.apply(planGw([elsewhere])), true)
  t.same(host.calls, ['vxlan mvx-4100 4100 192.168.77.11', 'fdb mvx-4100 0a:58:0a:51:01:01 192.168.77.12', 'neigh mvx-4100 10.81.1.1',
    'route 10.81.1.0/24 via 10.81.1.1 dev mvx-4100'])
  t.equal(host.vxlans.get('mvx-4100')?.mac, '0a:58:0a:4d:01:01', 'its MAC is the one peers derive from its default gateway')
  t.notOk(nets.isReady('app_plain'), 'no Docker network: no task here')
  t.same(host.ipRules, [])
})

t.test('an encrypted network has a bridge but no VXLAN device', async (t) => {
  const { host, nets } = setup()
  await nets.apply(plan([{ ...plain(both), encrypted: true }]))
  t.equal(await nets.apply(plan([{ ...plain(both), encrypted: true }])), true, 'settled')
  t.same(host.calls, ['network app_plain 10.81.0.0/24'])
})
