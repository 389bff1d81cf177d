// Runs inside a lab-less network namespace (`ip netns exec`), started by vxlan-netns.test.ts: applies a network plan
// ($PLAN, JSON) with NodeNetworks and the real iproute2 adapter (Docker's part is the test's: it made the bridges),
// then the nft table of the plan's isolation rules ($RULES). Prints the adapter calls that changed something.
// Started any other way it would touch the host's own namespace: without $PLAN it does nothing and says why.
import { execFileSync } from 'node:child_process'
import { NodeNetworks, type NetOps } from '../../../src/overlay/networks.ts'
import * as vx from '../../../src/overlay/vxlan.ts'
import { deleteRoute } from '../../../src/overlay/links.ts'

if (process.env.PLAN === undefined) {
  process.stderr.write('vxlan-child.ts: no $PLAN: vxlan-netns.test.ts starts it in a throwaway namespace\n')
  process.exit(0)
}
const raw = JSON.parse(process.env.PLAN) as Record<string, unknown>
const plan = { ...raw, allowedIps: new Map() } as unknown as Parameters<NodeNetworks['apply']>[0]
const changed: string[] = []
const log = (what: string) => <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A) => { changed.push(`${what} ${a.filter((x) => typeof x === 'string').join(' ')}`); return f(...a) }
const ops: NetOps = {
  listDockerNetworks: async () => [], ensureDockerNetwork: async () => 'kept', removeDockerNetwork: async () => false,
  enableProxyArp: vx.enableProxyArp, listVxlans: vx.listVxlans,
  ensureVxlan: async (d, existing) => { const r = await vx.ensureVxlan(d, existing); if (r === 'created') changed.push(`vxlan ${d.name}`); return r },
  deleteVxlan: log('vxlan rm')(vx.deleteVxlan), fdb: vx.fdbEntries, replaceFdb: log('fdb')(vx.replaceFdb), deleteFdb: log('fdb rm')(vx.deleteFdb),
  neighbours: vx.neighbours, replaceNeighbour: log('neigh')(vx.replaceNeighbour), deleteNeighbour: log('neigh rm')(vx.deleteNeighbour),
  routes: vx.routesThrough, replaceRoute: log('route')(vx.replaceOnlinkRoute), deleteRoute: log('route rm')((dst: string, dev: string) => deleteRoute(dst, dev)),
  tableRoutes: vx.tableRoutes, replaceTableRoute: log('table route')(vx.replaceTableRoute), deleteTableRoute: log('table route rm')(vx.deleteTableRoute),
  rules: vx.vxlanRules, addRule: log('rule')(vx.addRule), deleteRule: log('rule rm')(vx.deleteRule),
}
const errors: string[] = []
await new NodeNetworks({ ops, underlay: process.env.UNDERLAY as string, log: (level, msg, f) => { if (level === 'error') errors.push(`${msg} ${JSON.stringify(f)}`) } }).apply(plan)
if (process.env.RULES) execFileSync('nft', ['-f', '-'], { input: process.env.RULES })
process.stdout.write(JSON.stringify({ changed, errors }))
