import t from 'tap'
import type { ContainerStatus } from '../../../src/runtime/index.ts'
import { KeyedQueue } from '../../../src/runtime/keyed-queue.ts'
import { exitStatus, lostStatus, runningStatus } from '../../../src/runtime/statuses.ts'

const st = (o: Partial<ContainerStatus>): ContainerStatus =>
  ({ id: 'c0ffee0123456789', name: 'web.1.t', state: 'exited', exitCode: 0, error: '', oomKilled: false, ips: {}, ...o })

t.test('status texts', async (t) => {
  const cases = [
    { desc: 'exit 0', got: exitStatus(st({})), want: { state: 'complete', message: 'finished', exitCode: 0 } },
    { desc: 'exit 3, no log', got: exitStatus(st({ exitCode: 3 })), want: { state: 'failed', message: 'task: non-zero exit (3)', err: 'task: non-zero exit (3)', exitCode: 3 } },
    { desc: 'exit 3 with a log line', got: exitStatus(st({ exitCode: 3 }), 'no config'),
      want: { state: 'failed', message: 'task: non-zero exit (3); last log: no config', err: 'task: non-zero exit (3)' } },
    { desc: 'OOM', got: exitStatus(st({ exitCode: 137, oomKilled: true })),
      want: { state: 'failed', message: 'task: non-zero exit (137); OOM killed', err: 'task: non-zero exit (137)' } },
    { desc: 'engine error at start', got: exitStatus(st({ exitCode: 127, error: 'exec: "x": executable file not found in $PATH' })),
      want: { state: 'failed', err: 'exec: "x": executable file not found in $PATH' } },
    { desc: 'running with health and IP', got: runningStatus(st({ state: 'running', health: 'healthy', ips: { mesh: '10.77.3.4', lab: '172.31.1.2' } }), 'mesh'),
      want: { state: 'running', message: 'healthy', health: 'healthy', ip: '10.77.3.4', containerId: 'c0ffee0123456789' } },
    { desc: 'running, no healthcheck, not on the network', got: runningStatus(st({ state: 'running' }), 'mesh'), want: { state: 'running', message: 'started' } },
    { desc: 'lost', got: lostStatus('c0ffee0123456789'), want: { state: 'failed', err: 'task: container c0ffee012345 no longer exists (removed outside mesh?)' } },
  ]
  for (const c of cases) t.match(c.got, c.want, c.desc)
  t.notOk('ip' in runningStatus(st({ state: 'running' }), 'mesh'), 'no ip field without an address')
})

t.test('KeyedQueue: one at a time per key, at most `limit` keys at once, failures reported per operation', async (t) => {
  const settled: string[] = []
  const q = new KeyedQueue(2, (key, failure) => settled.push(`${key}:${failure ? 'err' : 'ok'}`))
  let running = 0
  let peak = 0
  const order: string[] = []
  const op = (name: string, fail = false) => async () => {
    running++
    peak = Math.max(peak, running)
    order.push(`${name}+`)
    await new Promise((r) => setTimeout(r, 5))
    order.push(`${name}-`)
    running--
    if (fail) throw new Error(name)
  }
  q.push('a', op('a1', true))
  q.push('a', op('a2'))
  q.push('b', op('b1'))
  q.push('c', op('c1'))
  t.ok(q.has('a'))
  await Promise.all(q.pending())
  await Promise.all(q.pending())
  t.equal(peak, 2, 'limit respected')
  t.ok(order.indexOf('a1-') < order.indexOf('a2+'), 'a2 waits for a1 even though a1 failed')
  t.same(settled.sort(), ['a:err', 'a:ok', 'b:ok', 'c:ok'])
  t.notOk(q.has('a'))
})
