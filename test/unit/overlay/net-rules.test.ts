import t from 'tap'
import { execFileSync } from 'node:child_process'
import { cidrSet, netRules, type NetRulesSpec } from '../../../src/overlay/net-rules.ts'
import { nftRuleset } from '../../../src/overlay/firewall.ts'
import type { LocalNetwork } from '../../../src/overlay/net-plan.ts'
import { isRoot } from '../../lab/index.ts'

const local = (o: Partial<LocalNetwork> & { name: string; vni: number; subnet: string; slice: string; gateway: string }): LocalNetwork =>
  ({ id: `id-${o.name}`, bridge: `mbr-${o.vni}`, internal: false, encrypted: true, mtu: 1420, ...o })

const a = local({ name: 'a', vni: 4100, subnet: '10.81.0.0/16', slice: '10.81.0.0/24', gateway: '10.81.0.1', encrypted: false, mtu: 1450 })
const b = local({ name: 'b', vni: 4101, subnet: '10.82.0.0/16', slice: '10.82.3.0/24', gateway: '10.82.3.1' })
const inside = local({ name: 'inside', vni: 4102, subnet: '10.83.0.0/16', slice: '10.83.1.0/24', gateway: '10.83.1.1', internal: true })

const spec: NetRulesSpec = {
  default: { bridge: 'mesh-br', slice: '10.77.4.0/24', gateway: '10.77.4.1', range: '10.77.0.0/16', tunnel: 'mesh0' },
  local: [a, b, inside], ranges: ['10.81.0.0/16', '10.82.0.0/16', '10.83.0.0/16', '10.84.0.0/16'],
  gateways: ['10.81.0.1', '10.81.1.1', '10.82.3.1', '10.83.1.1', '10.77.9.1'], multiHomed: [{ ip: '10.81.0.7', range: '10.82.0.0/16' }],
  vxlanPeers: ['192.168.77.13', '192.168.77.12'], vxlanDevices: ['mvx-4100'],
}
const ALL = '{ 10.77.0.0/16, 10.81.0.0/16, 10.82.0.0/16, 10.83.0.0/16, 10.84.0.0/16 }'

t.test('rules per network: anti-spoofing, own network only, internal has no way out, VXLAN only from peers', async (t) => {
  const r = netRules(spec)
  const has = (chain: string[], line: string, what: string) => t.ok(chain.includes(line), `${what}: ${line}`)
  has(r.input, 'udp dport 4789 ip saddr { 192.168.77.12, 192.168.77.13 } accept', 'VXLAN from registered peers')
  has(r.input, 'udp dport 4789 counter drop', 'VXLAN from anyone else')
  t.ok(r.input.indexOf('udp dport 4789 counter drop') > r.input.indexOf('udp dport 4789 ip saddr { 192.168.77.12, 192.168.77.13 } accept'))
  has(r.forward, 'iifname "mbr-4100" ip saddr != 10.81.0.0/24 counter drop', 'anti-spoofing: the slice')
  has(r.forward, 'iifname "mbr-4100" ip saddr 10.81.0.1 counter drop', 'anti-spoofing: never the gateway')
  has(r.forward, 'iifname "mesh-br" ip saddr != 10.77.4.0/24 counter drop', 'the default network too')
  has(r.forward, 'iifname "mbr-4100" ip daddr 10.81.0.0/16 accept', 'own network anywhere')
  has(r.forward, `iifname "mbr-4100" ip daddr ${ALL} counter drop`, 'never another network')
  has(r.forward, `iifname "mesh-br" ip daddr ${ALL} counter drop`, 'default network → other networks')
  has(r.forward, 'iifname "mbr-4102" counter drop', 'internal: nothing but its own network')
  has(r.forward, 'iifname { "mesh0", "mvx-4100" } oifname "mbr-4100" ip saddr 10.81.0.0/16 accept', 'unencrypted: from its VXLAN device or the tunnel')
  has(r.forward, 'iifname "mesh0" oifname "mbr-4101" ip saddr 10.82.0.0/16 accept', 'encrypted: from the tunnel')
  has(r.forward, 'iifname "mesh0" oifname "mbr-4101" ip saddr { 10.77.4.1, 10.77.9.1, 10.81.0.1, 10.81.1.1, 10.82.3.1, 10.83.1.1 } accept', 'nodes\' hosts')
  has(r.forward, 'iifname { "mesh0", "mvx-4100" } oifname "mbr-4100" ip saddr { 10.77.4.1, 10.77.9.1, 10.81.0.1, 10.81.1.1, 10.82.3.1, 10.83.1.1 } accept',
    'nodes\' hosts over VXLAN too on an unencrypted network (a node without a slice sends from its default gateway)')
  t.notOk(r.forward.some((l) => l.includes('"mvx-4100" } oifname "mbr-4101"')), 'never from a VXLAN device into an encrypted network')
  has(r.forward, 'oifname "mbr-4101" ct status dnat accept', 'this node\'s DNAT (ingress)')
  has(r.forward, 'oifname "mbr-4101" counter drop', 'nothing else into a bridge')
  has(r.forward, 'iifname "mvx-4100" counter drop', 'nothing else from a VXLAN device')
  has(r.forward, 'ip saddr 10.81.0.7 ip daddr 10.82.0.0/16 accept', 'a task on two networks')
  t.ok(r.forward.indexOf('ct state established,related accept') > r.forward.indexOf('iifname "mbr-4102" ip saddr 10.83.1.1 counter drop'), 'anti-spoofing before replies')
  has(r.input, 'iifname "mbr-4102" ip daddr { 10.83.1.1, 10.77.4.1 } meta l4proto { tcp, udp } th dport 53 accept', 'DNS at its gateway and the default one, internal too')
  has(r.input, 'iifname "mbr-4102" counter drop', 'internal: not the host either (the underlay)')
  has(r.input, `iifname "mbr-4100" ip daddr ${ALL} counter drop`, 'not another network\'s gateway on this host')
  t.same(r.postrouting, [
    `ip saddr 10.77.4.0/24 ip daddr ${ALL} accept`,
    `ip saddr 10.81.0.0/24 ip daddr != ${ALL} oifname != "mbr-4100" masquerade`,
    `ip saddr 10.82.3.0/24 ip daddr != ${ALL} oifname != "mbr-4101" masquerade`,
  ], 'the node\'s own connections to any network keep its gateway address; masquerade out, never for an internal network')
})

t.test('no VXLAN peers: 4789 is dropped from everyone', async (t) => {
  const r = netRules({ ...spec, vxlanPeers: [], local: [], vxlanDevices: [] })
  t.same(r.input, ['udp dport 4789 counter drop'])
})

t.test('a value that is not what its field allows is refused before nft', async (t) => {
  t.throws(() => netRules({ ...spec, vxlanPeers: ['1.2.3.4 } accept; #'] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => netRules({ ...spec, local: [{ ...a, bridge: 'mbr"x' }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => netRules({ ...spec, ranges: ['10.0.0.0/8; flush ruleset'] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
})

t.test('sets leave out networks inside another (nft refuses overlapping intervals)', async (t) => {
  t.equal(cidrSet(['10.77.0.0/16', '10.77.3.0/24', '10.81.0.0/16', '10.81.0.0/16']), '{ 10.77.0.0/16, 10.81.0.0/16 }')
  t.equal(cidrSet(['10.77.0.0/16']), '10.77.0.0/16')
})

t.test('the whole table passes nft\'s own check', { skip: !isRoot() && 'nft -c needs root' }, async (t) => {
  const text = nftRuleset({ ifname: 'mesh0', bridgeName: 'mesh-br', range: '10.77.0.0/16', subnet: '10.77.4.0/24', gateway: '10.77.4.1', nets: netRules(spec) })
  // In a fresh network namespace: nothing on this host is touched.
  t.doesNotThrow(() => execFileSync('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] }))
})
