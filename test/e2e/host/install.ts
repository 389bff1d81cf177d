/**
 * Part `install` of test/e2e/host.test.ts: the npm package as a host gets it. `npm pack` (after `npm run build`),
 * then the lab's last worker leaves (`mesh leave`), is removed on the manager (`mesh node rm`), installs the tarball
 * with `npm i -g --offline` inside its own namespace (no registry route, an empty npm cache: only the bundled
 * dependencies can satisfy it) and starts the installed `mesh agent` with a fresh data dir and the worker token in
 * its environment. It must come back Ready, and the installed `mesh version` must say 0.1.0 on Node v24.
 * The prefix and the tarball are removed after; the agent is killed by PID first (and by the lab at the latest).
 */
import type { Test } from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run as runCmd, waitFor } from '../../support/procs.ts'
import type { Node } from '../../support/mesh-lab.ts'
import type { HostContext } from './context.ts'

export async function run(t: Test, { c }: HostContext): Promise<void> {
  const w = c.workers.at(-1)!
  const tmp = mkdtempSync(join(tmpdir(), 'mesh-install-'))
  t.teardown(async () => {
    await c.killAgent(w)
    rmSync(tmp, { recursive: true, force: true })
  })

  const build = await runCmd(process.execPath, ['scripts/build.mjs'], { timeoutMs: 300_000 })
  t.equal(build.code, 0, build.code === 0 ? 'npm run build' : `npm run build: ${build.stderr}`)
  const pack = await runCmd('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { timeoutMs: 300_000 })
  t.equal(pack.code, 0, pack.code === 0 ? 'npm pack' : `npm pack: ${pack.stderr.slice(-500)}`)
  const tarball = join(tmp, readdirSync(tmp).find((f) => f.endsWith('.tgz'))!)
  t.match(tarball, /mesh-0\.1\.0\.tgz$/, 'the tarball')

  const before = await c.json<Node[]>(['node', 'ls'])
  const oldId = before.find((n) => n.hostname === w.name)!.id
  const left = await c.mesh(['leave'], 60_000, w)
  t.equal(left.code, 0, `mesh leave on ${w.name} ${left.stderr}`.trim())
  t.match(left.stdout, /Node left the swarm\./, 'Node left the swarm.')
  await waitFor(() => !c.agents.get(w.name)!.running(), 30_000, { intervalMs: 250, what: `${w.name}'s agent to exit` })
  await c.killAgent(w)
  await waitFor(async () => (await c.mesh(['node', 'rm', w.name])).code === 0, 60_000,
    { intervalMs: 1000, what: `mesh node rm ${w.name}` })
  t.notOk((await c.json<Node[]>(['node', 'ls'])).some((n) => n.hostname === w.name), `${w.name} is out of node ls`)

  // Inside the node: no route to any registry, and an npm cache that has never seen a package.
  const prefix = join(tmp, 'prefix')
  const install = await w.exec(['npm', 'install', '--global', '--offline', '--no-audit', '--no-fund', '--loglevel=error',
    '--prefix', prefix, '--cache', join(tmp, 'npm-cache'), tarball], { timeoutMs: 600_000 })
  t.equal(install.code, 0, `npm i -g --offline inside ${w.name} ${install.code === 0 ? '' : install.stderr.slice(-1000)}`.trim())
  const mesh = join(prefix, 'bin', 'mesh')

  const version = await w.exec([mesh, 'version'])
  t.equal(version.code, 0, `installed mesh version ${version.stderr}`.trim())
  t.match(version.stdout, /^ Version:\s+0\.1\.0$/m, 'installed mesh version: 0.1.0')
  t.match(version.stdout, /^ Node version:\s+v24\./m, 'on Node v24')
  t.equal(version.stderr, '', 'no warning')

  const agent = w.spawn([mesh, 'agent', '--bind', w.ip, '--name', w.name, '--data-dir', join(tmp, 'data'),
    '--overlay', 'on', ...c.agentArgs, '--join', c.manager.ip],
  { name: `installed agent ${w.name}`, env: { ...process.env, MESH_JOIN_TOKEN: c.token } })
  c.agents.set(w.name, agent)
  const nodes = await c.waitReady(c.lab.nodes.length, 120_000)
  const back = nodes.find((n) => n.hostname === w.name)
  t.ok(back, `${w.name} is Ready again in mesh node ls`)
  t.not(back?.id, oldId, 'as a new node (fresh data dir, joined with the token)')
  t.notMatch(agent.stderr(), /ExperimentalWarning|DeprecationWarning/, 'the installed agent prints no warning')
}
