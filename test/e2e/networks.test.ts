/**
 * End-to-end, the networks issue on the seed lab's shape (1 manager + 3 workers, a dockerd each). One lab, shared by
 * the parts in test/e2e/networks/ (each exports `run(t, ctx)`), in this order:
 *   control   — `mesh network create|ls|inspect|rm`, services and stacks on networks, stack rm leaves nothing
 *   isolation — two stacks cannot reach each other across nodes and on one node; internal; encrypted=false (VXLAN)
 *   dns       — names, aliases and VIPs per network; an attachable network serves `docker run --network NAME`
 * `MESH_NETWORKS_PARTS=isolation,dns` runs only some parts (a developer's loop); CI runs them all.
 * Addresses: only the lab's own namespaces.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { isRoot } from '../lab/index.ts'
import { meshLab } from '../support/mesh-lab.ts'
import type { NetworksContext } from './networks/context.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000)

const PARTS = ['control', 'isolation', 'dns'] as const
const wanted = (process.env.MESH_NETWORKS_PARTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const parts = PARTS.filter((p) => wanted.length === 0 || wanted.includes(p))

const c = await meshLab(t, { nodes: 4, prefix: `net${randomBytes(3).toString('hex')}` })
const ctx: NetworksContext = { c }
for (const p of parts) {
  const file = new URL(`./networks/${p}.ts`, import.meta.url)
  if (!existsSync(file)) continue
  const mod = await import(file.href) as { run(t: Test, ctx: NetworksContext): Promise<void> }
  await t.test(p, (tt) => mod.run(tt, ctx))
}
