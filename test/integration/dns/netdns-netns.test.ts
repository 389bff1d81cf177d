/**
 * Network DNS in a real kernel (issue 18): in throwaway network namespaces (`unshare -n`, gone with their processes),
 * a container on user network a asks the resolver its engine would forward to (an address outside the network) and
 * is answered by the agent's DnsServer on the network's gateway, through the ruleset nftIngressRuleset writes for the
 * node's network bridges: over UDP and TCP, with network a's names only (a service of network b is NXDOMAIN), the
 * reply coming back from the address it asked. DNS to an address of its own network (a task serving DNS) is not
 * redirected. Run on both UDP paths (batched addon, node:dgram). Needs root, nft, ip and unshare; skipped (with the reason) otherwise.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { nftIngressRuleset, planNft } from '../../../src/ingress/index.ts'
import type { CatalogSnapshot } from '../../../src/catalog/index.ts'

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v ip && command -v unshare']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, nft, ip and unshare' : false

const snap: CatalogSnapshot = {
  revision: 1, nodes: [],
  networks: [
    { id: 'na', name: 'a', subnet: '10.80.0.0/20', encrypted: true, internal: false, attachable: true, vni: 4097, slices: [{ nodeId: 'n1', subnet: '10.80.0.64/26' }] },
    { id: 'nb', name: 'b', subnet: '10.80.16.0/20', encrypted: true, internal: false, attachable: false, vni: 4098, slices: [{ nodeId: 'n1', subnet: '10.80.16.64/26' }] },
  ],
  services: [
    { id: 's1', name: 'shop', shortName: 'shop', endpointMode: 'vip', ports: [], stopGracePeriodMs: 10_000, networks: [{ network: 'na', vip: '10.80.0.2', aliases: [] }],
      endpoints: [{ taskId: 't1', slot: 1, taskName: 'shop.1', nodeId: 'n1', node: 'node1', ip: '10.80.0.66', state: 'running', health: 'none', addresses: [{ network: 'na', ip: '10.80.0.66' }] }] },
    { id: 's2', name: 'other', shortName: 'other', endpointMode: 'vip', ports: [], stopGracePeriodMs: 10_000, networks: [{ network: 'nb', vip: '10.80.16.2', aliases: [] }],
      endpoints: [{ taskId: 't2', slot: 1, taskName: 'other.1', nodeId: 'n1', node: 'node1', ip: '10.80.16.66', state: 'running', health: 'none', addresses: [{ network: 'nb', ip: '10.80.16.66' }] }] },
  ],
}

for (const udp of ['batched', 'dgram']) {
  t.test(`a network's container is answered by the DNS on its gateway whatever resolver it asks (UDP path ${udp})`, { skip, timeout: 180_000 }, async (t) => {
    const rules = nftIngressRuleset(planNft(snap), { networkBridges: [{ bridge: 'mbr-4097', gateway: '10.80.0.65', subnet: '10.80.0.0/20' }] })
    const child = fileURLToPath(new URL('./netdns-child.mjs', import.meta.url))
    const r = spawnSync('unshare', ['-n', process.execPath, child], { env: { ...process.env, RULES: rules, CATALOG: JSON.stringify(snap), DNS_UDP: udp }, encoding: 'utf8', timeout: 150_000 })
    t.equal(r.status, 0, `child ran: ${r.stderr}`)
    const got = JSON.parse(r.stdout) as Record<string, string>
    t.equal(got.outsideUdp, 'NOERROR 10.80.0.2 from 192.0.2.53', "UDP to a resolver outside the network: network a's VIP, from the address asked")
    t.equal(got.outsideHidden, 'NXDOMAIN from 192.0.2.53', "a service of network b: NXDOMAIN")
    t.equal(got.outsideTcp, 'NOERROR 10.80.0.2', 'TCP too')
    t.equal(got.ownTask, 'NOERROR 192.0.2.66 from 10.80.0.66', 'DNS to a task of its own network is that task\'s')
  })
}
