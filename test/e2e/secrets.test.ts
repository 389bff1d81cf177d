/**
 * End-to-end, the secrets issue on the seed lab's shape (1 manager + 3 workers, a dockerd each). One lab, shared by
 * the parts in test/e2e/secrets/ (each exports `run(t, ctx)`), in this order:
 *   vault    — secrets and configs created, listed, inspected (never a value), removed; nothing secret at rest
 *   deliver  — a task reads /run/secrets/<target>; other tasks and nodes never get it; rotation under a request loop
 *   stack    — a compose stack with secrets: and configs: deploys, the app reads both, stack rm removes them
 * `MESH_SECRETS_PARTS=deliver,stack` runs only some parts (a developer's loop); CI runs them all.
 * Addresses: only the lab's own namespaces.
 */
import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { isRoot } from '../lab/index.ts'
import { meshLab } from '../support/mesh-lab.ts'
import type { SecretsContext } from './secrets/context.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000)

const PARTS = ['vault', 'deliver', 'stack'] as const
const wanted = (process.env.MESH_SECRETS_PARTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const parts = PARTS.filter((p) => wanted.length === 0 || wanted.includes(p))

const c = await meshLab(t, { nodes: 4, prefix: `sec${randomBytes(3).toString('hex')}` })
const ctx: SecretsContext = { c }
for (const p of parts) {
  const file = new URL(`./secrets/${p}.ts`, import.meta.url)
  if (!existsSync(file)) continue
  const mod = await import(file.href) as { run(t: Test, ctx: SecretsContext): Promise<void> }
  await t.test(p, (tt) => mod.run(tt, ctx))
}
