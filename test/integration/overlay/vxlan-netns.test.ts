/**
 * The networks' data path in a real kernel, without Docker: two "nodes" (network namespaces joined by a veth as the
 * underlay), each with a network's bridge `mbr-4100` (gateway on the network's whole range, as the Docker network
 * has it) and a "container" behind it; node 1 also has a second network's bridge `mbr-4101` with a container. Each
 * node applies its plan (planNetworks on a synthetic catalog) with NodeNetworks and the real iproute2 adapter
 * (vxlan-child.ts), and the isolation rules with nft. Then: the containers of the unencrypted network reach each
 * other across nodes through `mvx-4100` (VXLAN, no tunnel); the other network's container reaches neither, nor do
 * they reach it; applying the same plan again changes nothing (adoption); a plan without the network removes the
 * device with its entries and routes.
 * Needs root, ip, bridge, nft; skipped (with the reason) otherwise. Namespaces are removed in teardown.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { planNetworks } from '../../../src/overlay/net-plan.ts'
import { netRules } from '../../../src/overlay/net-rules.ts'
import { nftRuleset } from '../../../src/overlay/firewall.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v ip && command -v bridge']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, ip, bridge and nft' : false
const P = `vx${randomBytes(2).toString('hex')}`
const sh = (script: string) => execFileSync('sh', ['-ec', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const ok = (script: string) => spawnSync('sh', ['-c', script], { stdio: 'ignore', timeout: 10_000 }).status === 0

const A: CatalogNetwork = { id: 'a', name: 'a', subnet: '10.81.0.0/16', encrypted: false, internal: false, attachable: false, vni: 4100, slices: [
  { nodeId: 'n1', subnet: '10.81.0.0/24' }, { nodeId: 'n2', subnet: '10.81.1.0/24' }] }
const B: CatalogNetwork = { id: 'b', name: 'b', subnet: '10.82.0.0/16', encrypted: false, internal: false, attachable: false, vni: 4101, slices: [
  { nodeId: 'n1', subnet: '10.82.0.0/24' }] }
const node = [
  { id: 'n1', ns: `${P}u1`, under: '192.168.200.1', peer: { nodeId: 'n2', node: 'u2', underlay: '192.168.200.2' } },
  { id: 'n2', ns: `${P}u2`, under: '192.168.200.2', peer: { nodeId: 'n1', node: 'u1', underlay: '192.168.200.1' } },
]

/** `hosts`: the nodes' default gateways known (10.77.N.1): host-only devices and the peers' hosts over VXLAN. */
function apply(n: typeof node[number], networks: CatalogNetwork[], hosts = false): { changed: string[]; errors: string[] } {
  const gw = (id: string) => (id === 'n1' ? '10.77.1.1' : '10.77.2.1')
  const plan = planNetworks({ selfId: n.id, networks, peers: [hosts ? { ...n.peer, gateway: gw(n.peer.nodeId) } : n.peer], tunnelMtu: 1420, underlayMtu: 1500,
    ...(hosts ? { selfGateway: gw(n.id) } : {}) })
  const rules = netRules({
    default: { bridge: 'mesh-br', slice: n.id === 'n1' ? '10.77.1.0/24' : '10.77.2.0/24', gateway: gw(n.id), range: '10.77.0.0/16', tunnel: 'mesh0' },
    local: plan.local, ranges: plan.ranges, gateways: [...plan.gateways, gw(n.peer.nodeId)], multiHomed: plan.multiHomed, vxlanPeers: plan.vxlanPeers, vxlanDevices: plan.vxlans.map((v) => v.name),
  })
  const text = nftRuleset({ ifname: 'mesh0', bridgeName: 'mesh-br', range: '10.77.0.0/16', subnet: n.id === 'n1' ? '10.77.1.0/24' : '10.77.2.0/24',
    gateway: n.id === 'n1' ? '10.77.1.1' : '10.77.2.1', nets: rules })
  const child = fileURLToPath(new URL('./vxlan-child.ts', import.meta.url))
  const r = spawnSync('ip', ['netns', 'exec', n.ns, process.execPath, child], {
    env: { ...process.env, PLAN: JSON.stringify({ ...plan, allowedIps: {} }), RULES: text, UNDERLAY: n.under }, encoding: 'utf8', timeout: 30_000,
  })
  if (r.status !== 0) throw new Error(`child in ${n.ns}: ${r.stderr}`)
  return JSON.parse(r.stdout) as { changed: string[]; errors: string[] }
}

function build(): void {
  sh(`for n in u1 u2 c1 c2 c3; do ip netns add ${P}$n; done
    ip link add ${P}a netns ${P}u1 type veth peer name ${P}b netns ${P}u2
    ip -n ${P}u1 addr add 192.168.200.1/24 dev ${P}a; ip -n ${P}u1 link set ${P}a up
    ip -n ${P}u2 addr add 192.168.200.2/24 dev ${P}b; ip -n ${P}u2 link set ${P}b up
    bridge_ct() { # node bridge gateway/prefix container address
      ip netns exec $1 sysctl -qw net.ipv4.ip_forward=1
      ip -n $1 link show $2 >/dev/null 2>&1 || { ip -n $1 link add $2 type bridge; ip -n $1 addr add $3 dev $2; ip -n $1 link set $2 up; }
      ip -n $1 link add $4h type veth peer name eth0 netns $4
      ip -n $1 link set $4h master $2 up
      ip -n $4 addr add $5 dev eth0; ip -n $4 link set eth0 up; ip -n $4 route add default via \${3%/*}
    }
    bridge_ct ${P}u1 mbr-4100 10.81.0.1/16 ${P}c1 10.81.0.2/16
    bridge_ct ${P}u2 mbr-4100 10.81.1.1/16 ${P}c2 10.81.1.2/16
    bridge_ct ${P}u1 mbr-4101 10.82.0.1/16 ${P}c3 10.82.0.2/16
    for i in 1 2; do ip -n ${P}u$i link add mesh-br type bridge; ip -n ${P}u$i addr add 10.77.$i.1/24 dev mesh-br; ip -n ${P}u$i link set mesh-br up; done`)
}
const teardown = () => { for (const n of ['u1', 'u2', 'c1', 'c2', 'c3']) spawnSync('ip', ['netns', 'del', `${P}${n}`]) }

t.test('unencrypted network across two nodes over kernel VXLAN, isolated from another network', { skip, timeout: 90_000 }, async (t) => {
  t.teardown(teardown)
  build()
  const first = node.map((n) => apply(n, [A, B]))
  t.same(first.map((f) => f.errors), [[], []], 'no adapter errors')
  t.same(first[0]?.changed, ['vxlan mvx-4100', 'fdb mvx-4100 0a:58:0a:51:01:01 192.168.200.2', 'neigh mvx-4100 10.81.1.1 0a:58:0a:51:01:01',
    'route 10.81.1.0/24 10.81.1.1 mvx-4100 10.81.0.1', 'vxlan mvx-4101', 'rule 10.81.0.0/24', 'rule 10.82.0.0/24'], 'node 1: a device per unencrypted network, with its peers\' entries (b has no peer slice yet)')
  const link = sh(`ip -n ${P}u1 -d link show mvx-4100`)
  t.match(link, /vxlan id 4100 local 192\.168\.200\.1 .*dstport 4789/, 'kernel vxlan: VNI, local underlay address, UDP 4789')
  t.match(sh(`ip -n ${P}u1 route get 10.81.1.2`), /via 10\.81\.1\.1 dev mvx-4100/, 'the peer slice goes through the VXLAN device')
  t.ok(ok(`ip netns exec ${P}c1 ping -c 2 -W 2 10.81.1.2`), 'a → a across nodes (proxy ARP on the bridge, VXLAN between nodes)')
  t.ok(ok(`ip netns exec ${P}c2 ping -c 1 -W 2 10.81.0.2`), 'and back')
  t.notOk(ok(`ip netns exec ${P}c3 ping -c 1 -W 1 10.81.1.2`), 'b → a across nodes: dropped')
  t.notOk(ok(`ip netns exec ${P}c3 ping -c 1 -W 1 10.81.0.2`), 'b → a on the same node: dropped')
  t.notOk(ok(`ip netns exec ${P}c1 ping -c 1 -W 1 10.82.0.2`), 'a → b on the same node: dropped')
  t.notOk(ok(`ip netns exec ${P}c2 ping -c 1 -W 1 10.82.0.2`), 'a → b across nodes: dropped')
  const again = node.map((n) => apply(n, [A, B]))
  t.same(again.map((f) => f.changed), [[], []], 'the same plan again changes nothing (a restarted agent adopts)')
  const gone = apply(node[0] as typeof node[number], [B])
  t.same(gone.changed, ['vxlan rm mvx-4100', 'rule rm 10.81.0.0/24'], 'the network left: its device and rule go (b\'s stay)')
  t.notOk(ok(`ip -n ${P}u1 link show mvx-4100`), 'no device')
  t.notMatch(sh(`ip -n ${P}u1 route show`), /10\.81\.1\.0/, 'no route')
  t.notMatch(sh(`ip -n ${P}u1 neigh show`), /10\.81\.1\.1/, 'no neighbour entry')
})

t.test('a node with no slice of an unencrypted network reaches its tasks over VXLAN both ways, from its default gateway', { skip, timeout: 90_000 }, async (t) => {
  t.teardown(teardown)
  build()
  const [n1, n2] = node as [typeof node[number], typeof node[number]]
  const r1 = apply(n1, [A, B], true)
  const r2 = apply(n2, [A, B], true)
  t.same([r1.errors, r2.errors], [[], []], 'no adapter errors')
  t.ok(r1.changed.includes('rule 10.82.0.0/24'), 'node 1 (slice of b): a rule from its slice')
  t.ok(r1.changed.includes('table route 10.77.2.1/32 10.77.2.1 mvx-4101'), 'and node 2\'s host in b\'s table')
  t.ok(r2.changed.includes('vxlan mvx-4101'), 'node 2 (no slice of b): a host-only device')
  t.match(sh(`ip -n ${P}u2 route get 10.82.0.2`), /via 10\.82\.0\.1 dev mvx-4101 .*src 10\.77\.2\.1/, 'node 2 → b: VXLAN, from its default gateway')
  t.match(sh(`ip -n ${P}u1 route get 10.77.2.1 from 10.82.0.2 iif mbr-4101`), /dev mvx-4101/, 'b\'s task → node 2\'s host: back over VXLAN')
  t.notMatch(sh(`ip -n ${P}u1 route get 10.77.2.1 2>&1 || true`), /mvx-4101/, 'node 1\'s host itself does not use b\'s table')
  t.ok(ok(`ip netns exec ${P}u2 ping -c 2 -W 2 10.82.0.2`), 'node 2\'s host reaches b\'s task (and the reply comes back)')
  t.notOk(ok(`ip netns exec ${P}c2 ping -c 1 -W 1 10.82.0.2`), 'a\'s container on node 2 still does not reach b')
  const again = [apply(n1, [A, B], true), apply(n2, [A, B], true)]
  t.same(again.map((f) => f.changed), [[], []], 'the same plan again changes nothing')
})
