/**
 * `mesh leave` through the real CLI and a real agent process (the leave of a cluster node needs the overlay and
 * Docker: the lab e2e covers it; agent/leave.ts's steps are unit-tested): a refusal is one `mesh: …` line, exit 1,
 * and the agent keeps running; no agent is one line too. Addresses: 127.0.57.0/24 only.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestCluster, meshStatus } from '../../support/agents.ts'
import { runMesh } from '../../support/procs.ts'

t.test('a gossip-only agent is in no cluster: mesh leave refuses in one line and the agent runs on', async (t) => {
  const c = new TestCluster(t, 'leave-bare')
  const a = await c.mesh({ name: 'l1', ip: '127.0.57.1' })
  for (const args of [['leave'], ['leave', '--force']]) {
    const r = await runMesh([...args, '--data-dir', a.dataDir], { timeoutMs: 60_000 })
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.equal(r.stderr, 'mesh: this node is not part of a cluster\n', `${args.join(' ')}: one line`)
    t.equal(r.stdout, '')
  }
  t.ok(a.proc.running(), 'the agent still runs')
  t.not(await meshStatus(a.dataDir), null, 'and answers')
})

t.test('no agent: one line naming the socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-leave-none-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const r = await runMesh(['leave', '--data-dir', dir], { timeoutMs: 60_000 })
  t.equal(r.code, 1)
  t.match(r.stderr, /^mesh: cannot reach the local agent at .*mesh\.sock: is the agent running\?.*\n$/)
  t.equal(r.stderr.split('\n').length, 2, 'one line')
})
