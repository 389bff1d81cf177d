/**
 * The VIP rules in a real kernel (issue 17, build 1): in a throwaway network namespace (`unshare -n`, gone with its
 * process), the ruleset nftIngressRuleset writes for a service with NO published port balances new TCP connections
 * and UDP flows to the VIP on any port over its serving tasks, destination port unchanged, and a VIP whose only task
 * is stopping refuses at once (TCP RST → ECONNREFUSED, ICMP port unreachable → ECONNREFUSED) instead of timing out:
 * from a "container" (its own namespace behind the node's bridge: prerouting and forward hooks) and from the node
 * itself (output hooks).
 * Needs root, nft, ip and unshare; skipped (with the reason) otherwise.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { nftIngressRuleset, planNft } from '../../../src/ingress/index.ts'
import type { CatalogService, Endpoint } from '../../../src/catalog/index.ts'

const ep = (i: number, ip: string, o: Partial<Endpoint> = {}): Endpoint =>
  ({ taskId: `t${i}`, slot: i, taskName: `db.${i}`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none', ...o })
const svc = (id: string, vip: string, endpoints: Endpoint[]): CatalogService =>
  ({ id, name: id, shortName: id, endpointMode: 'vip', vip, ports: [], stopGracePeriodMs: 10_000, endpoints })

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v ip && command -v unshare']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, nft, ip and unshare' : false

t.test('a VIP balances ports nothing publishes (tcp and udp), and refuses when no task serves', { skip, timeout: 180_000 }, async (t) => {
  const rules = nftIngressRuleset(planNft({
    revision: 1, nodes: [], services: [
      svc('db', '10.78.0.5', [ep(1, '10.77.1.2'), ep(2, '10.77.1.3'), ep(3, '10.77.1.4', { health: 'unhealthy' })]),
      svc('gone', '10.78.0.6', [ep(4, '10.77.1.2', { state: 'stopping' })]),
    ],
  }))
  const child = fileURLToPath(new URL('./vip-child.mjs', import.meta.url))
  const r = spawnSync('unshare', ['-n', process.execPath, child], { env: { ...process.env, RULES: rules }, encoding: 'utf8', timeout: 150_000 })
  t.equal(r.status, 0, `child ran: ${r.stderr}`)
  type Answers = { tcp: string[]; udp: string[]; refusedTcp: string; refusedUdp: string }
  const got = JSON.parse(r.stdout) as { container: Answers; node: Answers }
  const both = ['10.77.1.2', '10.77.1.2', '10.77.1.3', '10.77.1.3']
  for (const from of ['container', 'node'] as const) {
    t.same([...got[from].tcp].sort(), both, `${from}: tcp db:5432 (not published) round-robins over both serving tasks, never the unhealthy one`)
    t.same([...got[from].udp].sort(), both, `${from}: udp db:5353 (not published): each new flow to the next task`)
    t.equal(got[from].refusedTcp, 'ECONNREFUSED', `${from}: no serving task, TCP is refused at once (RST)`)
  }
  t.equal(got.container.refusedUdp, 'ECONNREFUSED', 'container: no serving task, UDP gets ICMP port unreachable at once')
  t.equal(got.node.refusedUdp, 'EPERM', 'the node itself: the datagram is refused by its own output hook, so send() fails at once')
})
