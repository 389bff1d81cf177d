/**
 * What the docker-api part (docker-api.ts: the docker CLI's lists, writes' 501, live events, Prometheus) leaves
 * out: the real agent's `<data-dir>/docker-api.sock` is root's (or root:mesh 0660), and `docker events --since`
 * replays the service events since the lab began from the manager's buffer (bounded by --until).
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

  const now = Math.floor(Date.now() / 1000)
  const events = await docker(['events', '--filter', 'type=service', '--since', String(now - 900), '--until', String(now + 1), '--format', '{{.Action}} {{.Actor.Attributes.name}}'])
  t.match(events.stdout, /^create hello$/m, 'docker events: hello\'s create, from the manager\'s buffer')
}
