/**
 * The dockerapi part of the lab: the real agent serves the Docker API on `<data-dir>/docker-api.sock`
 * (root, or root:mesh 0660), and the docker CLI on the manager's host reads the lab's cluster through it: both
 * nodes Ready, `web` and `hello` with their replicas, hello's running task; the service events since the lab
 * began (bounded by --until); a write answers the 501 line. A few seconds, every command bounded.
 */
import type { Test } from 'tap'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { DOCKER_API_SOCKET } from '../../../src/api/index.ts'
import type { UiLab } from './context.ts'

const DOCKER = ['/usr/local/bin/docker', '/usr/bin/docker'].find((p) => existsSync(p)) ?? 'docker'

export async function run(t: Test, ctx: UiLab): Promise<void> {
  const socket = join(ctx.dataDir(ctx.mgr), DOCKER_API_SOCKET)
  const mode = statSync(socket).mode & 0o777
  t.ok(statSync(socket).isSocket() && (mode === 0o600 || mode === 0o660), `docker-api.sock is a socket, root only or the mesh group (${mode.toString(8)})`)
  const docker = (args: string[]) => ctx.mgr.exec(['env', `DOCKER_HOST=unix://${socket}`, DOCKER, ...args], { timeoutMs: 20_000 })

  const nodes = await docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'])
  t.equal(nodes.code, 0, nodes.stderr)
  t.same(nodes.stdout.trim().split('\n').map((l) => l.trim()).sort(), [`${ctx.mgr.name} Ready Leader`, `${ctx.w1.name} Ready`].sort(), 'docker node ls')
  const services = await docker(['service', 'ls', '--format', '{{.Name}} {{.Mode}} {{.Replicas}}'])
  t.equal(services.code, 0, services.stderr)
  t.match(services.stdout, /^hello replicated 1\/1$/m, 'docker service ls: hello 1/1')
  t.match(services.stdout, /^web replicated (\d+)\/\1$/m, 'docker service ls: web converged')
  const ps = await docker(['service', 'ps', 'hello', '--filter', 'desired-state=running', '--format', '{{.Name}} {{.Node}} {{.CurrentState}}'])
  t.match(ps.stdout.trim(), new RegExp(`^hello\\.1 (${ctx.mgr.name}|${ctx.w1.name}) Running`), 'docker service ps hello')
  const now = Math.floor(Date.now() / 1000)
  const events = await docker(['events', '--filter', 'type=service', '--since', String(now - 900), '--until', String(now + 1), '--format', '{{.Action}} {{.Actor.Attributes.name}}'])
  t.match(events.stdout, /^create hello$/m, 'docker events: hello\'s create, from the manager\'s buffer')
  const write = await docker(['service', 'create', '--name', 'nope', '--detach', 'mesh/busybox:latest'])
  t.not(write.code, 0)
  t.match(write.stderr, "mesh's Docker API is read-only: use the mesh CLI (mesh service create …)", 'a write: 501 with the mesh command')
}
