/**
 * Part `isolation` of test/e2e/networks.test.ts: each node's side of networks.
 *   - network A (`encrypted=false`: kernel VXLAN), network B (encrypted: WireGuard), network C (`--internal`);
 *   - `isoa` (global, on A) and `isob` (global, on B): a task of each on every node, so pairs share a node and others
 *     do not; `isoab` (one task, on A and B); `isoin` (one task, on C);
 *   - A→A reaches (same node and across), A→B does not (same node and across, 2 s bounds), `isoab` reaches both,
 *     `isoin` cannot reach the underlay, A's cross-node path is the VXLAN device (no WireGuard hop), VXLAN from an
 *     unregistered address is dropped, and `network rm` leaves no bridge, device, route or rule (before/after).
 * Addresses: only the lab's own namespaces.
 */
import type { Test } from 'tap'
import type { LabNode } from '../../lab/index.ts'
import { waitFor } from '../../support/procs.ts'
import { expectNothingLeft, footprint } from './footprint.ts'
import type { NetworksContext } from './context.ts'

const SERVE = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

interface Placed { node: LabNode; container: string; ips: Record<string, string> }

export async function run(t: Test, { c }: NetworksContext): Promise<void> {
  const nodes = c.lab.nodes as LabNode[]
  const before = await Promise.all(nodes.map(footprint))
  const mesh = async (args: string[], timeoutMs = 120_000) => {
    const r = await c.mesh(args, timeoutMs)
    if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr.trim()}`)
    return r
  }
  await mesh(['network', 'create', '--opt', 'encrypted=false', 'isoa'])
  await mesh(['network', 'create', 'isob'])
  await mesh(['network', 'create', '--internal', 'isoc'])
  const create = (name: string, extra: string[]) =>
    mesh(['service', 'create', '--name', name, '--update-monitor', '1s', ...extra, 'mesh/busybox:latest', ...SERVE], 180_000)
  await Promise.all([
    create('isoa', ['--mode', 'global', '--network', 'isoa']),
    create('isob', ['--mode', 'global', '--network', 'isob']),
    create('isoab', ['--network', 'isoa', '--network', 'isob', '--constraint', `node.hostname==${nodes[1]?.name}`]),
    create('isoin', ['--network', 'isoc', '--constraint', `node.hostname==${nodes[2]?.name}`]),
  ])

  /** Every container of a service on every node, with its address per network. */
  const placed = async (service: string): Promise<Placed[]> => {
    const out: Placed[] = []
    for (const node of nodes) {
      const names = (await node.docker(['ps', '--filter', `label=mesh.service.name=${service}`, '--format', '{{.Names}}'])).stdout.trim().split('\n').filter(Boolean)
      for (const container of names) {
        const nets = JSON.parse((await node.docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', container])).stdout) as Record<string, { IPAddress: string }>
        out.push({ node, container, ips: Object.fromEntries(Object.entries(nets).map(([k, v]) => [k, v.IPAddress])) })
      }
    }
    return out
  }
  const [as, bs, [ab], [inside]] = await Promise.all([placed('isoa'), placed('isob'), placed('isoab'), placed('isoin')])
  t.equal(as.length, nodes.length, 'isoa: a task on every node')
  t.equal(bs.length, nodes.length, 'isob: a task on every node')
  if (!ab || !inside) throw new Error('isoab or isoin has no container')
  t.same(Object.keys(ab.ips).sort(), ['isoa', 'isob'], 'isoab: one container on both networks')
  t.same(Object.keys(inside.ips), ['isoc'], 'isoin: only on its network (not the default one)')

  /** From a container, GET http://ip/ with a 2 s bound (timeout(1): busybox 1.35 wget -T segfaults): the body, or "" when refused or timed out. */
  const get = async (from: Placed, ip: string) =>
    (await from.node.docker(['exec', from.container, 'sh', '-c', `timeout 2 wget -q -O - http://${ip}/ 2>/dev/null || true`], { timeoutMs: 15_000 })).stdout.trim()
  const on = (list: Placed[], n: LabNode | undefined) => list.find((p) => p.node === n) as Placed

  const a1 = on(as, nodes[1])
  const a2 = on(as, nodes[2])
  const b1 = on(bs, nodes[1])
  const b2 = on(bs, nodes[2])
  // The first fetch across nodes also waits for the other node's catalog, bridge and VXLAN entries to settle.
  await waitFor(async () => (await get(a1, a2.ips.isoa as string)) !== '' || null, 20_000, { intervalMs: 500, what: 'isoa across nodes' })
    .catch(async (err: Error) => {
      // What the data path looks like on both ends, for the post-mortem.
      for (const p of [a1, a2]) {
        const host = await p.node.exec(['sh', '-c', 'ip route; ip -d link show type vxlan; for d in $(ip -br link show type vxlan | cut -d" " -f1); do ' +
          'ip neigh show dev $d; bridge fdb show dev $d; done; nft list table inet mesh; iptables -S DOCKER-USER; sysctl net.ipv4.conf.all.rp_filter'])
        const ctr = await p.node.docker(['exec', p.container, 'sh', '-c', 'ip addr; ip route; ip neigh'])
        t.comment(`${p.node.name} host:\n${host.stdout}${host.stderr}\ncontainer ${p.container}:\n${ctr.stdout}`)
      }
      throw err
    })
  t.match(await get(a1, a2.ips.isoa as string), /^isoa\./, 'A → A across nodes (VXLAN)')
  t.match(await get(ab, a1.ips.isoa as string), /^isoa\./, 'A → A on the same node')
  t.equal(await get(a1, b2.ips.isob as string), '', 'A → B across nodes: refused or timed out')
  t.equal(await get(a1, b1.ips.isob as string), '', 'A → B on the same node: refused or timed out')
  t.equal(await get(b1, a1.ips.isoa as string), '', 'B → A on the same node: refused or timed out')
  t.match(await get(ab, a2.ips.isoa as string), /^isoa\./, 'a task on A and B reaches A across nodes')
  t.match(await get(ab, b2.ips.isob as string), /^isob\./, 'a task on A and B reaches B across nodes')
  t.match(await get(ab, b1.ips.isob as string), /^isob\./, 'a task on A and B reaches B on its node')

  // Internal: no way to the underlay (another node's address, and its own node's); a task of a network that is not
  // internal reaches both (the control: the probe itself works).
  const pings = async (from: Placed, ip: string) =>
    (await from.node.docker(['exec', from.container, 'sh', '-c', `ping -c 1 -W 2 ${ip} >/dev/null 2>&1; echo $?`], { timeoutMs: 15_000 })).stdout.trim() === '0'
  for (const target of [c.manager, inside.node]) {
    t.notOk(await pings(inside, target.ip), `internal network: ${target.name}'s underlay address ${target.ip} unreachable`)
    t.ok(await pings(on(as, inside.node), target.ip), `not internal: ${target.name}'s underlay address reachable (control)`)
  }

  // The unencrypted network's path: the kernel VXLAN device, not the WireGuard interface.
  const bridge = (await a1.node.docker(['network', 'inspect', '-f', '{{index .Options "com.docker.network.bridge.name"}}', 'isoa'])).stdout.trim()
  const vni = /^mbr-(\d+)$/.exec(bridge)?.[1]
  t.ok(vni, `isoa's bridge is named from its VNI (${bridge})`)
  const link = (await a1.node.exec(['ip', '-d', 'link', 'show', `mvx-${vni}`])).stdout
  t.match(link, new RegExp(`vxlan id ${vni} .*dstport 4789`), `mvx-${vni} is a kernel vxlan device on UDP 4789`)
  const path = (await a1.node.exec(['ip', 'route', 'get', a2.ips.isoa as string])).stdout
  t.match(path, new RegExp(`dev mvx-${vni}`), `${a1.node.name} → ${a2.ips.isoa} goes through mvx-${vni}`)
  t.notMatch(path, /mesh0/, 'no WireGuard hop')
  const encrypted = (await b1.node.exec(['ip', 'route', 'get', b2.ips.isob as string])).stdout
  t.match(encrypted, /dev mesh0/, 'the encrypted network rides WireGuard')

  // VXLAN from an address that is not a registered peer is dropped (the drop rule's counter moves).
  const dropped = async () => Number(/udp dport 4789 counter packets (\d+)/.exec((await a1.node.exec(['nft', 'list', 'chain', 'inet', 'mesh', 'input'])).stdout)?.[1] ?? NaN)
  const was = await dropped()
  await c.lab.client.exec(['bash', '-c', `for i in 1 2 3; do echo x > /dev/udp/${a1.node.ip}/4789; done`])
  t.ok(await dropped() >= was + 3, `VXLAN from the unregistered client dropped by ${a1.node.name} (${was} → ${await dropped()})`)

  // Cleanup: services, then networks; nothing is left on any node.
  for (const s of ['isoa', 'isob', 'isoab', 'isoin']) await mesh(['service', 'rm', s])
  for (const n of ['isoa', 'isob', 'isoc']) {
    const r = await waitFor(async () => { const x = await c.mesh(['network', 'rm', n]); return x.code === 0 ? x : null }, 30_000, { intervalMs: 1000, what: `network rm ${n}` })
      .catch((err: Error) => ({ code: 1, stderr: err.message }))
    t.equal(r.code, 0, `network rm ${n}`)
  }
  await expectNothingLeft(t, nodes, before, 'no Docker network, bridge, VXLAN device, route or rule left')
}
