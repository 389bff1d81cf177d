import t from 'tap'
import { ProbeSchedule, tickMs, type ProbePolicyOptions } from '../../../src/ingress/index.ts'

/** The schedule on its own (pure): which probes are due when, and what a node's answers do. */
const opts = (o: Partial<ProbePolicyOptions> = {}): ProbePolicyOptions => ({
  nodeIntervalMs: 250, nodeTimeoutMs: 250, endpointIntervalMs: 2000, endpointTimeoutMs: 1000, maxConcurrent: 64,
  maxEndpointProbesPerSec: 500, jitter: 0.2, random: () => 0.5, ...o,
})
const node = (name: string, ip: string) => ({ name, ip, port: 7946 })
const endpoint = (ip: string) => ({ key: `${ip}:80`, ip, port: 80 })

t.test('first turns spread over the interval, then every interval ± jitter', async (t) => {
  const cases = [
    { name: 'random 0.5: half an interval in, then exactly the interval', random: [0.5, 0.5], first: 125, next: 250 },
    { name: 'random 0: at once, then interval × (1 - jitter)', random: [0, 0], first: 0, next: 200 },
    { name: 'random 0.999: almost a whole interval in, then × (1 + jitter)', random: [0.999, 0.999], first: 249, next: 300 },
  ]
  for (const c of cases) {
    const r = [...c.random]
    const s = new ProbeSchedule(opts({ random: () => r.shift() ?? 0.5 }))
    s.setNodes([node('b', '192.168.50.12')], 0)
    t.equal(s.nextAt(), c.first, `${c.name}: first turn`)
    t.same(s.due(c.first - 1), [], `${c.name}: nothing before it`)
    const [p] = s.due(c.first)
    t.match(p, { kind: 'node', key: 'b', target: { ip: '192.168.50.12', port: 7946 }, timeoutMs: 250 })
    t.equal(s.nextAt(), Infinity, `${c.name}: not again while in flight`)
    s.done(p!, true, c.first)
    t.equal(s.nextAt(), c.first + c.next, `${c.name}: next turn`)
  }
})

t.test('a node: one failed probe takes it down, one passing probe brings it back; a mark (gossip suspect) too', async (t) => {
  const s = new ProbeSchedule(opts({ random: () => 0 }))
  s.setNodes([node('b', '192.168.50.12'), node('c', '192.168.50.13')], 0)
  const steps: Array<{ name: string; run: () => unknown; want: unknown; down: string[] }> = []
  let [pb, pc] = s.due(0)
  steps.push({ name: 'b answers', run: () => s.done(pb!, true, 10), want: null, down: [] })
  steps.push({ name: 'c fails: down', run: () => s.done(pc!, false, 10), want: 'down', down: ['c'] })
  steps.push({ name: 'gossip suspects b: down', run: () => s.markDown('b'), want: 'down', down: ['b', 'c'] })
  steps.push({ name: 'marked twice: no news', run: () => s.markDown('b'), want: null, down: ['b', 'c'] })
  steps.push({ name: 'an unknown node cannot be marked', run: () => s.markDown('zz'), want: null, down: ['b', 'c'] })
  for (const st of steps) {
    t.equal(st.run(), st.want, st.name)
    t.same(s.downNodes(), st.down, `${st.name}: down nodes`)
  }
  ;[pb, pc] = s.due(1000)
  t.equal(s.done(pc!, false, 1000), null, 'c fails again: still down, no news')
  t.equal(s.done(pb!, true, 1000), 'up', 'b passes: back')
  t.same(s.downNodes(), ['c'])
  s.setNodes([node('b', '192.168.50.12')], 1000)
  t.notOk(s.isDown('c'), 'a node no longer listed is forgotten with its state')
})

t.test('endpoints: the interval stretches to keep within the probe budget; the in-flight cap holds, nodes first', async (t) => {
  const cases = [
    { name: '100 endpoints: the configured 2 s', endpoints: 100, want: 2000 },
    { name: '1,000 endpoints at 500/s: 2 s', endpoints: 1000, want: 2000 },
    { name: '10,000 endpoints at 500/s: every 20 s', endpoints: 10_000, want: 20_000 },
  ]
  for (const c of cases) {
    const s = new ProbeSchedule(opts())
    s.setEndpoints(Array.from({ length: c.endpoints }, (_, i) => endpoint(`10.77.${i >> 8}.${i & 255}`)), 0)
    t.equal(s.endpointIntervalMs(), c.want, c.name)
  }
  const s = new ProbeSchedule(opts({ random: () => 0, maxConcurrent: 3 }))
  s.setEndpoints([endpoint('10.77.1.2'), endpoint('10.77.1.3'), endpoint('10.77.1.4')], 0)
  s.setNodes([node('b', '192.168.50.12'), node('c', '192.168.50.13')], 0)
  const first = s.due(0)
  t.same(first.map((p) => p.key), ['b', 'c', '10.77.1.2:80'], 'at most 3 in flight, nodes first')
  t.same(s.due(0), [], 'none more until one answers')
  s.done(first[0]!, true, 5)
  t.same(s.due(5).map((p) => p.key), ['10.77.1.3:80'], 'one answered: one more starts')
  t.equal(s.inflight, 3)
  s.setEndpoints([endpoint('10.77.1.4')], 6)
  t.equal(s.inflight, 1, 'targets no longer listed free their places (10.77.1.2 and .3; node c stays in flight)')
  t.equal(s.done(first[2]!, false, 7), null, 'a late answer for one of them is ignored')
  t.equal(s.inflight, 1)
})

t.test('cost at 10,000 endpoints on 100 nodes: probes started per second on one node', async (t) => {
  const s = new ProbeSchedule(opts({ random: () => 0.5 }))
  s.setNodes(Array.from({ length: 99 }, (_, i) => node(`n${i}`, `192.168.${i >> 8}.${i & 255}`)), 0)
  s.setEndpoints(Array.from({ length: 10_000 }, (_, i) => endpoint(`10.77.${i >> 8}.${i & 255}`)), 0)
  let started = 0
  const tick = tickMs(opts())
  for (let now = 0; now < 60_000; now += tick) {
    const due = s.due(now)
    started += due.length
    for (const p of due) s.done(p, true, now)
  }
  const perSec = started / 60
  t.ok(perSec <= 99 * 4 + 500 + 1, `≤ 4 per node + 500 endpoint probes per second: ${perSec.toFixed(0)}/s (was 5 per endpoint: 50,000/s)`)
  t.equal(tick, 50, 'due probes are looked for every 50 ms')
})
