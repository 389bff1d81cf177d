/**
 * End-to-end, the install issue on the seed lab's shape (1 manager + 3 workers, a dockerd each): mesh as it runs on
 * real hosts. One lab, shared by the parts in test/e2e/host/ (each exports `run(t, ctx)`), in this order:
 *   group    — a non-root user in the `mesh` group drives the CLI; a user outside it gets one permission line
 *   remote   — MESH_HOST=ssh://root@node1 and a context, from another namespace (sshd started inside node1)
 *   restart  — a rolling restart of every agent under a request loop through each node's published port
 *   install  — the packed tarball installed with `npm i -g` runs the agent that joins the cluster
 * `MESH_HOST_PARTS=restart,remote` runs only some parts (a developer's loop); CI runs them all.
 * The `mesh` group is created for the run when the host has none (and removed after), before any agent starts:
 * the agents open their sockets to it at start.
 * Addresses: only the lab's own namespaces.
 */
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { isRoot } from '../lab/index.ts'
import { meshLab } from '../support/mesh-lab.ts'
import type { HostContext } from './host/context.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000)

const PARTS = ['group', 'remote', 'restart', 'install'] as const
const wanted = (process.env.MESH_HOST_PARTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)
const parts = PARTS.filter((p) => wanted.length === 0 || wanted.includes(p))

const GROUP = 'mesh'
const hasGroup = (): boolean => { try { execFileSync('getent', ['group', GROUP]); return true } catch { return false } }
if (!hasGroup()) {
  execFileSync('groupadd', ['--system', GROUP])
  t.teardown(() => { try { execFileSync('groupdel', [GROUP]) } catch { /* already gone */ } })
}

const c = await meshLab(t, { nodes: 4, prefix: `hst${randomBytes(3).toString('hex')}` })
const ctx: HostContext = { c, group: GROUP }
for (const p of parts) {
  const file = new URL(`./host/${p}.ts`, import.meta.url)
  if (!existsSync(file)) continue
  const mod = await import(file.href) as { run(t: Test, ctx: HostContext): Promise<void> }
  await t.test(p, (tt) => mod.run(tt, ctx))
}
