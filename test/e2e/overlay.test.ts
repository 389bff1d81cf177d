/**
 * End-to-end: the WireGuard container overlay on a 3-node lab (test/lab). Each node runs `mesh agent --overlay on`;
 * containers on the `mesh` network of any node reach containers of every other node by overlay IP, encrypted.
 * Addresses: only the lab's own namespaces (192.168.77.0/24 underlay, 10.77.0.0/16 overlay).
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createLab, isRoot, type Lab, type LabNode } from '../lab/index.ts'
import { MESH_BIN, stop, waitFor, killAndReap, type Proc } from '../support/procs.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}

interface Status {
  members: { name: string; state: string }[]
  overlay: { subnet: string | null; held: boolean; peers: { node: string; subnet: string }[] }
}

const dataDir = (n: LabNode) => join(n.dir, 'mesh')
const GOSSIP_KEY = Buffer.alloc(32, 7).toString('base64')

function startAgent(lab: Lab, n: LabNode, extra: string[] = []): Proc {
  const join0 = n.index === 1 ? [] : ['--join', (lab.nodes[0] as LabNode).ip]
  // Gossip-only agents (no cluster): gossip is encrypted by default, so they share a key (by environment, not argv).
  return n.spawn(['env', `MESH_GOSSIP_KEY=${GOSSIP_KEY}`, 'node', MESH_BIN, 'agent', '--bind', n.ip, '--name', n.name, '--data-dir', dataDir(n),
    '--overlay', 'on', ...join0, ...extra], { name: `agent ${n.name}` })
}

async function status(n: LabNode): Promise<Status> {
  const r = await n.exec(['node', MESH_BIN, 'status', '--json', '--data-dir', dataDir(n)], { timeoutMs: 15_000 })
  if (r.code !== 0) throw new Error(`mesh status on ${n.name}: ${r.stderr}`)
  return JSON.parse(r.stdout) as Status
}

async function waitPeers(n: LabNode, count: number, what: string): Promise<Status> {
  return waitFor(async () => {
    const s = await status(n)
    return s.overlay.held && s.overlay.peers.length === count ? s : null
  }, 45_000, { intervalMs: 300, what })
}

async function containerIp(n: LabNode, name: string): Promise<string> {
  const r = await n.docker(['inspect', '-f', '{{.NetworkSettings.Networks.mesh.IPAddress}}', name])
  return r.stdout.trim()
}

async function counts(n: LabNode): Promise<Record<string, string>> {
  const r = await n.exec(['sh', '-c',
    'echo "routes=$(ip route | wc -l) nft=$(nft list ruleset | wc -l) ipt=$(iptables-save 2>/dev/null | grep -vc "^#") ' +
    'peers=$(wg show mesh0 peers | wc -l) links=$(ip -o link | wc -l)"'])
  return Object.fromEntries(r.stdout.trim().split(' ').map((kv) => kv.split('=') as [string, string]))
}

const lab = await createLab({ nodes: 3 })
t.teardown(() => lab.down())
const [n1, n2, n3] = lab.nodes as [LabNode, LabNode, LabNode]
const agents = new Map<string, Proc>()
t.teardown(async () => { for (const a of agents.values()) await killAndReap(a).catch(() => undefined) })

for (const n of lab.nodes) {
  agents.set(n.name, startAgent(lab, n))
  await waitFor(async () => (await status(n)).overlay.held, 30_000, { intervalMs: 300, what: `${n.name} holds a subnet` })
}
const s1 = await waitPeers(n1, 2, 'node1 has two WireGuard peers')
for (const n of lab.nodes) {
  await n.docker(['run', '-d', '--name', `web-${n.name}`, '--restart', 'always', '--network', 'mesh', 'mesh/busybox:latest',
    'sh', '-c', `echo hello-from-${n.name} > /index.html && exec httpd -f -p 80 -h /`])
}
const ip2 = await containerIp(n2, `web-${n2.name}`)
const ip3 = await containerIp(n3, `web-${n3.name}`)

t.test('each node holds its own subnet and peers with the others', async (t) => {
  const subnets = await Promise.all(lab.nodes.map(async (n) => (await status(n)).overlay.subnet))
  t.equal(new Set(subnets).size, 3, `three distinct subnets: ${subnets.join(', ')}`)
  t.same(s1.overlay.peers.map((p) => p.node).sort(), [n2.name, n3.name].sort())
  t.match(ip2, /^10\.77\.\d+\.\d+$/, 'containers get overlay addresses')
})

t.test('a container on node1 reaches containers on node2 and node3 by overlay IP; the underlay only carries WireGuard', async (t) => {
  const pcap = join(lab.nodes[0]?.dir ?? '/tmp', '..', 'underlay.pcap')
  const capture = lab.client.exec(['timeout', '12', 'tcpdump', '-i', 'lab0', '-nn', '-U', '-w', pcap], { timeoutMs: 20_000 })
  await new Promise((r) => setTimeout(r, 1500))
  const r = await n1.docker(['run', '--rm', '--network', 'mesh', 'mesh/busybox:latest', 'sh', '-c',
    `ping -c 2 -W 3 ${ip2} && ping -c 2 -W 3 ${ip3} && timeout 5 wget -qO- http://${ip2}/ && timeout 5 wget -qO- http://${ip3}/`], { timeoutMs: 30_000 })
  t.equal(r.code, 0, `ping and HTTP succeed (${r.stderr.trim()})`)
  t.match(r.stdout, /2 packets received/, 'ping node2 container')
  t.match(r.stdout, new RegExp(`hello-from-${n2.name}`), 'HTTP from node2 container')
  t.match(r.stdout, new RegExp(`hello-from-${n3.name}`), 'HTTP from node3 container')
  await capture
  const plain = await lab.client.exec(['tcpdump', '-nn', '-r', pcap, 'net', '10.77.0.0/16'])
  const wg = await lab.client.exec(['tcpdump', '-nn', '-r', pcap, 'udp', 'port', '51820'])
  const wgLines = wg.stdout.trim().split('\n').filter(Boolean).length
  t.equal(plain.stdout.trim(), '', 'no packet on the underlay carries a container address in the clear')
  t.ok(wgLines >= 8, `the traffic crossed the underlay as WireGuard UDP 51820 (${wgLines} packets)`)
})

t.test('path MTU: a DF ping of 1392 bytes passes, 1393 fails with an MTU error', async (t) => {
  const id = (await n1.docker(['run', '-d', '--network', 'mesh', 'mesh/busybox:latest', 'sleep', '300'])).stdout.trim()
  t.teardown(() => n1.docker(['rm', '-f', id]))
  const pid = (await n1.docker(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim()
  const ok = await n1.exec(['nsenter', '-t', pid, '-n', 'ping', '-c', '1', '-W', '3', '-M', 'do', '-s', '1392', ip2])
  t.equal(ok.code, 0, `1392-byte DF ping from inside a container passes (${ok.stdout.split('\n')[1] ?? ''})`)
  const big = await n1.exec(['nsenter', '-t', pid, '-n', 'ping', '-c', '1', '-W', '3', '-M', 'do', '-s', '1393', ip2])
  t.not(big.code, 0, '1393 bytes do not pass')
  t.match(big.stdout + big.stderr, /message too long, mtu=1420/, 'and the sender gets an MTU error, not silence')
})

t.test('restarting an agent twice leaves the same routes, rules and peers', async (t) => {
  const before = await counts(n2)
  for (const how of ['SIGKILL', 'SIGTERM'] as const) {
    const a = agents.get(n2.name) as Proc
    await stop(a, how, 15_000)
    agents.set(n2.name, startAgent(lab, n2))
    await waitPeers(n2, 2, `node2 back with two peers after ${how}`)
    await waitPeers(n1, 2, 'node1 sees node2 again')
  }
  t.same(await counts(n2), before, `same counts: ${JSON.stringify(before)}`)
  const r = await n1.docker(['run', '--rm', '--network', 'mesh', 'mesh/busybox:latest', 'timeout', '5', 'wget', '-qO-', `http://${ip2}/`])
  t.match(r.stdout, /hello-from/, 'node2 container still reachable')
})

t.test('a dead node is dropped; when it comes back it gets its old subnet and its containers are reachable again', async (t) => {
  const oldSubnet = (await status(n3)).overlay.subnet
  await killAndReap(agents.get(n3.name) as Proc).catch(() => undefined)
  await lab.killNode(n3)
  const s = await waitFor(async () => {
    const st = await status(n1)
    return st.members.find((m) => m.name === n3.name)?.state === 'dead' && st.overlay.peers.length === 1 ? st : null
  }, 40_000, { intervalMs: 300, what: 'node1 declares node3 dead and drops its peer' })
  t.same(s.overlay.peers.map((p) => p.node), [n2.name], 'only node2 is left as a peer')
  const routes = (await n1.exec(['ip', 'route', 'show', 'dev', 'mesh0'])).stdout
  t.notMatch(routes, oldSubnet ?? 'none', 'the route to node3 is gone')

  await lab.restartNode(n3)
  agents.set(n3.name, startAgent(lab, n3))
  const back = await waitPeers(n3, 2, 'node3 is back with two peers')
  t.equal(back.overlay.subnet, oldSubnet, `node3 got its old subnet ${oldSubnet}`)
  await waitPeers(n1, 2, 'node1 peers with node3 again')
  const r = await waitFor(async () => {
    const x = await n1.docker(['run', '--rm', '--network', 'mesh', 'mesh/busybox:latest', 'timeout', '5', 'wget', '-qO-', `http://${ip3}/`])
    return /hello-from/.test(x.stdout) ? x : null
  }, 30_000, { intervalMs: 1000, what: 'node3 container reachable again' })
  t.match(r.stdout, new RegExp(`hello-from-${n3.name}`))
})

t.test('bad input: one clear error at start naming the fix', async (t) => {
  await n1.docker(['network', 'create', '--subnet', '10.99.1.0/24', 'other'])
  t.teardown(() => n1.docker(['network', 'rm', 'other']))
  const cfg = join(n1.dir, 'nowg.yaml')
  writeFileSync(cfg, 'overlay:\n  ifname: meshx\n  wireguardGo: /nonexistent/wireguard-go\n  range: 10.88.0.0/16\n')
  const cases = [
    { name: 'range overlaps a Docker network', args: ['--overlay-range', '10.99.0.0/16'], re: /overlaps Docker network "other" \(10\.99\.1\.0\/24\).*--overlay-range/ },
    { name: 'range overlaps a route (the underlay)', args: ['--overlay-range', '192.168.0.0/16'], re: /overlaps the route 192\.168\.77\.0\/24.*--overlay-range/ },
    { name: 'no WireGuard at all', args: ['--config', cfg], re: /neither kernel WireGuard .* nor wireguard-go .*install it: apt-get install wireguard-go/ },
  ]
  for (const c of cases) {
    const r = await n1.exec(['env', `MESH_GOSSIP_KEY=${GOSSIP_KEY}`, 'node', MESH_BIN, 'agent', '--bind', `${n1.ip}:7950`, '--name', 'bad', '--data-dir', join(n1.dir, 'bad'),
      '--overlay', 'on', ...c.args], { timeoutMs: 30_000 })
    t.equal(r.code, 1, `${c.name}: exit 1`)
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, `${c.name}: one line (${r.stderr.trim()})`)
    t.match(lines[0], /^mesh: /)
    t.match(lines[0], c.re, `${c.name}: names the problem and the fix`)
  }
})
