/**
 * Gossip benchmark on the simulated network (virtual time, real gossip stack): for 100 and 1,000 nodes,
 *  - time until every live node knows of a death (and the ratio to the configured Lifeguard bound),
 *  - false failures at 10 % packet loss,
 *  - bytes sent per node per second in steady state.
 * Usage: npx tsx bench/gossip-sim.ts [sizes…]   (default 100 1000). Prints a markdown table for docs/benchmarks.md.
 */
import { suspicionTimeoutMs } from '../src/gossip/suspicion.ts'
import { SimCluster } from '../test/support/sim-cluster.ts'

interface Row {
  n: number
  joinMs: number
  suspectFirstMs: number
  deathAllMs: number
  boundMs: number
  falseFailures: number
  lossWindowS: number
  bytesPerNodePerS: number
  realS: number
}

async function run(n: number, seed: number): Promise<Row> {
  const t0 = performance.now()
  const c = new SimCluster({ nodes: n, seed })
  await c.startAll(2)
  // Convergence is O(n²) to check; on big clusters check once a virtual second.
  const joinMs = await c.until(() => c.fullyConverged(), 120_000, n >= 500 ? 1000 : 100)

  // Steady-state bandwidth over 30 s.
  const b0 = c.net.bytes
  await c.clock.advance(30_000)
  const bytesPerNodePerS = (c.net.bytes - b0) / n / 30

  // A death.
  const victim = c.nodes[Math.floor(n / 2)]!
  await c.kill(Math.floor(n / 2))
  const start = c.clock.now()
  let suspectFirstMs = -1
  const bound = 6 * suspicionTimeoutMs(4, n, 1000) + 10_000
  const deathAllMs = await c.until(() => {
    if (suspectFirstMs < 0 && c.live().some((x) => c.view(x, victim.name)?.state === 'suspect')) suspectFirstMs = c.clock.now() - start
    return c.everyLiveNodeSees(victim.name, ['dead'])
  }, bound * 2, 100)

  // False failures at 10 % loss.
  let falseFailures = 0
  for (const x of c.live()) x.gossip.on((e) => { if (e.type === 'fail' && e.member.name !== victim.name) falseFailures++ })
  c.net.loss = 0.1
  const lossWindowS = n >= 1000 ? 60 : 120
  await c.clock.advance(lossWindowS * 1000)
  await c.stopAll()
  return { n, joinMs, suspectFirstMs, deathAllMs, boundMs: bound, falseFailures, lossWindowS, bytesPerNodePerS, realS: (performance.now() - t0) / 1000 }
}

export {}
const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0)
const rows: Row[] = []
for (const n of sizes.length ? sizes : [100, 1000]) {
  const r = await run(n, 42)
  rows.push(r)
  console.error(`n=${n} done in ${r.realS.toFixed(1)} s real`)
}
console.log('| nodes | all alive after join | first suspect | all know of death | Lifeguard bound | death / bound | false failures at 10 % loss | bytes/node/s | wall time |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(`| ${r.n} | ${(r.joinMs / 1000).toFixed(1)} s | ${(r.suspectFirstMs / 1000).toFixed(1)} s | ${(r.deathAllMs / 1000).toFixed(1)} s | ${(r.boundMs / 1000).toFixed(0)} s | ${(r.deathAllMs / r.boundMs).toFixed(2)} | ${r.falseFailures} in ${r.lossWindowS} s | ${Math.round(r.bytesPerNodePerS)} | ${r.realS.toFixed(0)} s |`)
}
