/**
 * The agent's control socket (agent/control.ts) with its client (src/api/control.ts): GET and POST routes, a
 * refusal (MeshError) as one line with its code, and `afterReply` running only once the client has its answer
 * (`mesh leave` stops the agent, this socket included, after answering). Real unix socket in a temp dir.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlServer } from '../../../agent/control.ts'
import { LeaveRefusedError } from '../../../agent/leave.ts'
import { controlGet, controlPost, jsonRequest } from '../../../src/api/index.ts'

t.test('GET and POST routes, refusals, and afterReply', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-control-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'mesh.sock')
  const events: string[] = []
  const server = new ControlServer(path, {
    '/v1/status': () => ({ node: 'n1' }),
    'POST /v1/leave': (q, reply) => {
      if (q.get('force') !== '1') throw new LeaveRefusedError("this node is a manager: leaving removes the cluster's only manager and its state (use --force to leave anyway)")
      reply.afterReply(() => events.push('after reply'))
      events.push('route done')
      return { message: 'Node left the swarm.', warnings: [], forgot: [] }
    },
    'POST /v1/broken': () => { throw new Error('boom') },
  })
  await server.start()
  t.teardown(() => server.stop())

  t.same(await controlGet(path, '/v1/status'), { node: 'n1' })
  t.equal((await jsonRequest({ socketPath: path }, { method: 'GET', path: '/v1/leave', timeoutMs: 30_000 })).status, 404, 'a POST route is not a GET route')
  t.equal((await jsonRequest({ socketPath: path }, { method: 'POST', path: '/v1/status', timeoutMs: 30_000 })).status, 404, 'nor the other way round')

  const refused = await jsonRequest({ socketPath: path }, { method: 'POST', path: '/v1/leave', timeoutMs: 30_000 })
  t.same(refused, { status: 409, body: { error: { code: 'MESH_ERR_LEAVE_REFUSED', message: "this node is a manager: leaving removes the cluster's only manager and its state (use --force to leave anyway)" } } })
  await t.rejects(controlPost(path, '/v1/leave', 30_000), { code: 'MESH_ERR_CONTROL', message: /^this node is a manager: leaving removes/ }, 'the CLI gets one line')
  t.same(events, [], 'a refused request runs no afterReply')
  await t.rejects(controlPost(path, '/v1/broken', 30_000), { message: 'boom' }, 'another error is a 500 with its message')

  t.same(await controlPost(path, '/v1/leave?force=1', 30_000), { message: 'Node left the swarm.', warnings: [], forgot: [] })
  for (const end = Date.now() + 20_000; events.length < 2 && Date.now() < end;) await new Promise((r) => setTimeout(r, 10))
  t.same(events, ['route done', 'after reply'], 'afterReply runs once the answer is written')
})
