/**
 * A restarted manager waits for its quorum without stopping the node (issue 15), with real `etcd` 3.4 members run
 * by the agent's own wiring on 127.0.0.9-11 (agents.ts): three managers stop; one starts again alone — its start
 * returns with the worker side up (no exit, no manager yet), its member runs and it logs
 * `manager waiting for quorum: …` (every 2 s here, 30 s by default); a second one comes back, and both open their
 * managers on the restored quorum and serve, the third shown Unreachable. Every wait is bounded; nothing asserts a
 * duration.
 */
import t from 'tap'
import type { Manager } from '../../../src/manager/index.ts'
import { defaultServiceSpec, type NodeView } from '../../../src/api/index.ts'
import { stopControlPlane } from '../../../agent/cluster.ts'
import { freePort } from '../../support/etcd.ts'
import { waitFor } from '../../support/procs.ts'
import { local, logged, startAgent, testAgent } from './agents.ts'

const WAIT_MS = 90_000

t.test('a manager restarted without its quorum waits, then opens when another manager is back', async (t) => {
  const apiPort = await freePort('127.0.0.9')
  const m1 = await testAgent(t, 'm1', '127.0.0.9', { init: true, store: 'etcd', apiPort })
  await startAgent(m1)
  const ma = m1.parts.manager as Manager
  const m2 = await testAgent(t, 'm2', '127.0.0.10', { token: ma.tokens().manager, apiPort })
  m2.config.gossip.join = ['127.0.0.9:7946']
  await startAgent(m2)
  const m3 = await testAgent(t, 'm3', '127.0.0.11', { token: ma.tokens().manager, apiPort })
  m3.config.gossip.join = ['127.0.0.9:7946']
  await startAgent(m3)
  await ma.createService(defaultServiceSpec('web', 'mesh/busybox:1'))
  for (const a of [m3, m2, m1]) await stopControlPlane(a.parts)

  t.test('alone, m3 starts its worker side and waits for a quorum', async (t) => {
    m3.lines.length = 0
    await startAgent(m3, { quorumLogMs: 2_000 })
    t.equal(m3.parts.manager, null, 'no manager without a quorum')
    t.ok(m3.parts.link, 'the worker side runs (its link to the other managers)')
    await waitFor(() => logged(m3, 'manager waiting for quorum: '), WAIT_MS, { what: 'm3 says it waits for a quorum' })
    t.ok(m3.parts.etcd === null || m3.parts.etcd === undefined, 'the manager half is not open')
    t.equal(m3.parts.manager, null, 'still no manager')
  })

  t.test('m1 comes back: both open their managers; node ls shows m2 Unreachable', async (t) => {
    await startAgent(m1, { quorumLogMs: 2_000 })
    await waitFor(() => m1.parts.manager && m3.parts.manager && logged(m3, 'the manager opened'), WAIT_MS, { what: 'm1 and m3 open their managers' })
    t.same((m3.parts.manager as Manager).listServices().map((s) => s.spec.name), ['web'], 'm3 reads the cluster\'s state')
    const view = await waitFor(async () => {
      const r = await local(m3, '/v1/nodes')
      const nodes = r.body as NodeView[]
      const m2 = nodes.find((n) => n.hostname === 'm2')
      return r.status === 200 && m2?.managerStatus?.reachability === 'unreachable' && nodes.filter((n) => n.managerStatus?.reachability === 'reachable').length === 2 ? nodes : undefined
    }, WAIT_MS, { what: 'node ls on m3: m1 and m3 reachable, m2 unreachable' })
    t.equal(view.length, 3)
    await waitFor(() => m3.parts.link?.connected, WAIT_MS, { what: 'm3\'s link reaches a manager' })
    t.pass('m3\'s worker link reached a manager')
  })
})
