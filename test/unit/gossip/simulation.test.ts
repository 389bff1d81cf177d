import t, { type Test } from 'tap'
import { suspicionTimeoutMs } from '../../../src/gossip/suspicion.ts'
import { SimCluster, type SimNode } from '../../support/sim-cluster.ts'

// Deterministic SWIM simulations: the real gossip stack (memberlist + serf layers, real codec) on a FakeNetwork
// with virtual time and seeded randomness. A failing seed replays exactly.

const N = 100
const PROBE_MS = 1000

/** Upper bound for "every live node marks a killed node dead": a full probe round trip to find it plus the
 * maximum suspicion timeout (Lifeguard: suspicionMaxTimeoutMult × suspicionMult × log10(n) × probe interval),
 * plus gossip time to spread the death. */
function deathBoundMs(n: number): number {
  const min = suspicionTimeoutMs(4, n, PROBE_MS)
  return 6 * min + 10 * PROBE_MS
}

async function converged(t: Test, c: SimCluster): Promise<void> {
  const took = await c.until(() => c.fullyConverged(), 60_000)
  t.ok(took >= 0, `all ${c.live().length} nodes see each other alive (${took} virtual ms)`)
}

t.test(`${N} nodes: a killed node is marked dead by every live node within the bound`, async (t) => {
  const c = new SimCluster({ nodes: N, seed: 11 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  const victim = c.nodes[42] as SimNode
  await c.kill(42)
  const bound = deathBoundMs(N)
  const took = await c.until(() => c.everyLiveNodeSees(victim.name, ['dead']), bound)
  t.ok(took >= 0, `every live node marks ${victim.name} dead within ${bound} ms (took ${took} virtual ms)`)
  // And nobody else was harmed on the way.
  const others = c.live().every((n) => n.gossip.members().filter((m) => m.state === 'dead').length === 1)
  t.ok(others, 'exactly one dead member in every live view')
})

t.test(`${N} nodes at 10 % packet loss: no live node is ever declared dead`, async (t) => {
  const c = new SimCluster({ nodes: N, seed: 23 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  const falseFailures: string[] = []
  for (const n of c.nodes) {
    n.gossip.on((e) => { if (e.type === 'fail') falseFailures.push(`${n.name} saw ${e.member.name} fail`) })
  }
  c.net.loss = 0.1
  await c.clock.advance(120_000)
  t.same(falseFailures, [], 'no failure events in 120 s of virtual time at 10 % loss')
  t.ok(c.fullyConverged(), 'every node still sees every node alive')
})

t.test('a partitioned-then-healed cluster converges', async (t) => {
  const n = 40
  const c = new SimCluster({ nodes: n, seed: 37 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  const left = c.nodes.slice(0, n / 2).map((x) => x.addr)
  c.net.partition([left])
  // Long enough for each side to declare the other dead.
  const split = await c.until(() => c.live().every((x) => x.gossip.members().filter((m) => m.state === 'alive').length === n / 2), 120_000, 500)
  t.ok(split >= 0, `each side sees only its own ${n / 2} nodes alive after the split (${split} ms)`)
  c.net.heal()
  const healed = await c.until(() => c.fullyConverged(), 300_000, 500)
  t.ok(healed >= 0, `after healing every node sees all ${n} alive again (${healed} virtual ms)`)
})

t.test('graceful leave is seen as left, not failed', async (t) => {
  const c = new SimCluster({ nodes: 10, seed: 5 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  const leaver = c.nodes[3] as SimNode
  const fails: string[] = []
  for (const n of c.nodes) n.gossip.on((e) => { if (e.type === 'fail') fails.push(e.member.name) })
  leaver.alive = false
  await c.settle(leaver.gossip.leave(), 10, 20_000)
  const took = await c.until(() => c.everyLiveNodeSees(leaver.name, ['left']), 10_000)
  t.ok(took >= 0, `every node lists ${leaver.name} as left`)
  t.same(fails, [], 'nobody saw it fail')
})

t.test('a suspected node refutes by bumping its incarnation', async (t) => {
  const c = new SimCluster({ nodes: 5, seed: 9 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  // Cut node 4 off just long enough to be suspected, then let it answer again before the suspicion expires.
  c.net.partition([[(c.nodes[4] as SimNode).addr]])
  const suspected = await c.until(() => c.live().some((n) => c.view(n, 'n4')?.state === 'suspect'), 20_000)
  t.ok(suspected >= 0, 'n4 becomes suspect')
  c.net.heal()
  const back = await c.until(() => c.everyLiveNodeSees('n4', ['alive']), 20_000)
  t.ok(back >= 0, 'n4 is alive again everywhere')
  const inc = c.view(c.nodes[0] as SimNode, 'n4')?.incarnation ?? 0
  t.ok(inc > 1, `n4 refuted with a higher incarnation (${inc})`)
})

t.test('a restarted node with the same name and address rejoins and refutes its old death', async (t) => {
  const c = new SimCluster({ nodes: 6, seed: 13 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  await c.kill(2)
  await c.until(() => c.everyLiveNodeSees('n2', ['dead']), 60_000)
  await c.restart(2)
  const took = await c.until(() => c.fullyConverged(), 60_000)
  t.ok(took >= 0, `n2 is alive in every view again (${took} ms)`)
})

t.test('a node that claims a live member\'s name from another address is not accepted', async (t) => {
  const c = new SimCluster({ nodes: 4, seed: 17 })
  t.teardown(() => c.stopAll())
  await c.startAll()
  await converged(t, c)
  const conflicts: string[] = []
  ;(c.nodes[0] as SimNode).gossip.on((e) => { if (e.type === 'conflict') conflicts.push(e.name) })
  const impostor = c.extraNode('n1', 99)
  await impostor.gossip.start()
  await c.settle(impostor.gossip.join([`${c.nodes[0]?.addr.ip}:7946`]).catch(() => 0))
  await c.clock.advance(3000)
  const seen = c.view(c.nodes[0] as SimNode, 'n1')
  t.equal(seen?.ip, c.nodes[1]?.addr.ip, 'n1 keeps its original address')
  t.ok(conflicts.includes('n1'), 'the conflict is reported')
  await impostor.gossip.stop()
})
