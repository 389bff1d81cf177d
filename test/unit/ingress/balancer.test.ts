import t from 'tap'
import { Balancer } from '../../../src/ingress/index.ts'
import { ep } from './helpers.ts'

const three = [ep(1, '10.0.0.1'), ep(2, '10.0.0.2'), ep(3, '10.0.0.3')]

function picks(b: Balancer, n: number, exclude?: Set<string>): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(b.pick(exclude)?.ip ?? '-')
  return out
}

t.test('eligibility: running and healthy|none only', async (t) => {
  const cases = [
    { name: 'all serving', eps: three, want: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1'] },
    { name: 'unhealthy skipped', eps: [ep(1, '10.0.0.1'), ep(2, '10.0.0.2', { health: 'unhealthy' }), ep(3, '10.0.0.3')], want: ['10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.3'] },
    { name: 'starting skipped', eps: [ep(1, '10.0.0.1', { health: 'starting' }), ep(2, '10.0.0.2', { health: 'healthy' })], want: ['10.0.0.2', '10.0.0.2', '10.0.0.2', '10.0.0.2'] },
    { name: 'stopping skipped', eps: [ep(1, '10.0.0.1', { state: 'stopping' }), ep(2, '10.0.0.2')], want: ['10.0.0.2', '10.0.0.2', '10.0.0.2', '10.0.0.2'] },
    { name: 'none serving', eps: [ep(1, '10.0.0.1', { state: 'stopping' })], want: ['-', '-', '-', '-'] },
    { name: 'empty', eps: [], want: ['-', '-', '-', '-'] },
  ]
  for (const c of cases) {
    const b = new Balancer(() => 0)
    b.setEndpoints(c.eps, 80)
    t.same(picks(b, 4), c.want, c.name)
  }
})

t.test('passive ejection: exponential backoff, capped; success resets', async (t) => {
  let now = 0
  const b = new Balancer(() => now, { ejectBaseMs: 1000, ejectMaxMs: 5000, warmupMs: 0 })
  b.setEndpoints(three, 80)
  const two = b.get('10.0.0.2:80')!
  const steps = [1000, 2000, 4000, 5000, 5000]
  for (const want of steps) t.equal(b.failed(two), want, `ejected for ${want} ms`)
  t.equal(two.ejections, 5)
  t.same(picks(b, 4), ['10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.3'], 'ejected one skipped')
  now = 5000
  t.same(picks(b, 3), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'back after the backoff')
  b.succeeded(two)
  t.equal(b.failed(two), 1000, 'a success resets the backoff')
})

t.test('warm-up: a new backend that refuses before it listens sits out 100 ms, not a full backoff', async (t) => {
  let now = 0
  const b = new Balancer(() => now)
  b.setEndpoints(three, 80)
  const two = b.get('10.0.0.2:80')!
  t.same([b.failed(two), b.failed(two), b.failed(two), b.failed(two)], [100, 200, 400, 400], 'short, capped ejections while starting')
  now = 450
  b.succeeded(two)
  t.equal(b.failed(two), 1000, 'once it has accepted a connection, failures count in full')
  now = 6000
  b.setEndpoints([...three, ep(4, '10.0.0.4')], 80)
  const four = b.get('10.0.0.4:80')!
  t.equal(b.failed(four), 100, 'a backend listed later gets its own warm-up')
  now = 12_000
  t.equal(b.failed(b.get('10.0.0.1:80')!), 1000, 'an old backend that never took a connection is past its warm-up')
})

t.test('panic mode: all ejected → the one whose ejection ends first; exclude is honoured', async (t) => {
  const now = 0
  const b = new Balancer(() => now)
  b.setEndpoints(three, 80)
  b.failed(b.get('10.0.0.1:80')!)
  b.failed(b.get('10.0.0.1:80')!)
  b.failed(b.get('10.0.0.1:80')!)
  b.failed(b.get('10.0.0.2:80')!)
  b.failed(b.get('10.0.0.3:80')!)
  b.failed(b.get('10.0.0.3:80')!)
  t.equal(b.pick()?.ip, '10.0.0.2')
  t.same(picks(b, 2, new Set(['10.0.0.2:80'])), ['10.0.0.3', '10.0.0.3'], 'exclude: of 1 (4 s) and 3 (2 s), 3')
  t.equal(b.pick(new Set(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'])), null, 'all excluded')
})

t.test('least-connections prefers fewest open, ties in round-robin order', async (t) => {
  const b = new Balancer(() => 0, { policy: 'least-connections' })
  b.setEndpoints(three, 80)
  const a = b.pick()!
  b.acquire(a)
  const c = b.pick()!
  b.acquire(c)
  t.same([a.ip, c.ip], ['10.0.0.1', '10.0.0.2'])
  const d = b.pick()!
  b.acquire(d)
  t.equal(d.ip, '10.0.0.3')
  b.release(c)
  t.equal(b.pick()?.ip, '10.0.0.2', 'the one with 0 open')
})

t.test('setEndpoints keeps state, reports retired backends, forgets gone ones once idle', async (t) => {
  const b = new Balancer(() => 0)
  t.same(b.setEndpoints(three, 80), [])
  const one = b.get('10.0.0.1:80')!
  b.acquire(one)
  b.failed(b.get('10.0.0.2:80')!)
  const retired = b.setEndpoints([ep(1, '10.0.0.1', { state: 'stopping' }), ep(2, '10.0.0.2'), ep(4, '10.0.0.4')], 80)
  t.same(retired.map((x) => x.key).sort(), ['10.0.0.1:80', '10.0.0.3:80'], 'stopping and gone')
  t.equal(b.get('10.0.0.2:80')?.failures, 1, 'ejection kept across updates')
  t.equal(b.get('10.0.0.3:80'), undefined, 'gone and idle: forgotten')
  b.setEndpoints([ep(2, '10.0.0.2'), ep(4, '10.0.0.4')], 80)
  t.ok(b.get('10.0.0.1:80'), 'gone but still has an open connection: kept')
  b.release(one)
  t.equal(b.get('10.0.0.1:80'), undefined, 'forgotten after its last connection')
  t.same(picks(b, 2), ['10.0.0.4', '10.0.0.4'], '10.0.0.2 still ejected')
})

t.test('prefer local: eligible tasks on this node first, the others only when it has none', async (t) => {
  const mixed = [ep(1, '10.0.0.1', { nodeId: 'a' }), ep(2, '10.0.0.2', { nodeId: 'b' }), ep(3, '10.0.0.3', { nodeId: 'a' }), ep(4, '10.0.0.4', { nodeId: 'c' })]
  const cases = [
    { name: 'two local: round robin over them', self: 'a', eps: mixed, want: ['10.0.0.1', '10.0.0.3', '10.0.0.1', '10.0.0.3'] },
    { name: 'one local', self: 'b', eps: mixed, want: ['10.0.0.2', '10.0.0.2', '10.0.0.2'] },
    { name: 'no local task: every node alike', self: 'z', eps: mixed, want: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
    { name: 'node id not known yet: every node alike', self: null, eps: mixed, want: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'] },
    { name: 'local task unhealthy: falls back', self: 'b', eps: [ep(1, '10.0.0.1', { nodeId: 'a' }), ep(2, '10.0.0.2', { nodeId: 'b', health: 'unhealthy' })], want: ['10.0.0.1', '10.0.0.1'] },
    { name: 'local task stopping: falls back', self: 'b', eps: [ep(1, '10.0.0.1', { nodeId: 'a' }), ep(2, '10.0.0.2', { nodeId: 'b', state: 'stopping' })], want: ['10.0.0.1', '10.0.0.1'] },
  ]
  for (const c of cases) {
    const b = new Balancer(() => 0, { localNodeId: () => c.self })
    b.setEndpoints(c.eps, 80)
    t.same(picks(b, c.want.length), c.want, c.name)
  }
})

t.test('prefer local: an ejected local task sends to the others until its ejection ends; exclude (retry) too', async (t) => {
  let now = 0
  const b = new Balancer(() => now, { localNodeId: () => 'a', ejectBaseMs: 1000 })
  b.setEndpoints([ep(1, '10.0.0.1', { nodeId: 'b' }), ep(2, '10.0.0.2', { nodeId: 'a' }), ep(3, '10.0.0.3', { nodeId: 'c' })], 80)
  const local = b.pick() as NonNullable<ReturnType<Balancer['pick']>>
  t.equal(local.ip, '10.0.0.2')
  b.succeeded(local)
  t.same(picks(b, 2, new Set([local.key])), ['10.0.0.3', '10.0.0.1'], 'a retry excluding the local task goes to another node')
  b.failed(local)
  t.same(picks(b, 3), ['10.0.0.3', '10.0.0.1', '10.0.0.3'], 'ejected: the other nodes, round robin')
  now = 1000
  t.same(picks(b, 2), ['10.0.0.2', '10.0.0.2'], 'back once the ejection ended')
})

t.test('prefer local with least-connections: the least loaded local task', async (t) => {
  const b = new Balancer(() => 0, { policy: 'least-connections', localNodeId: () => 'a' })
  b.setEndpoints([ep(1, '10.0.0.1', { nodeId: 'b' }), ep(2, '10.0.0.2', { nodeId: 'a' }), ep(3, '10.0.0.3', { nodeId: 'a' })], 80)
  const first = b.pick() as NonNullable<ReturnType<Balancer['pick']>>
  b.acquire(first)
  const second = b.pick() as NonNullable<ReturnType<Balancer['pick']>>
  t.same([first.ip, second.ip], ['10.0.0.2', '10.0.0.3'], 'the remote task (0 connections) is not chosen')
})
