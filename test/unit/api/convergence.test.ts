import t from 'tap'
import { assessConvergence, GIVE_UP_AFTER_FAILURES, taskText } from '../../../src/api/convergence.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ServiceRecord, ServiceSpec, TaskRecord, TaskStatus } from '../../../src/api/types.ts'

/** The command began at 10 000 (manager time); the monitor period is 5 s. */
const SINCE = 10_000

function svc(o: Partial<ServiceSpec> = {}, rec: Partial<ServiceRecord> = {}): ServiceRecord {
  return { id: 's1', spec: { ...defaultServiceSpec('web', 'img:1'), ...o }, version: 2, createdAt: 0, updatedAt: SINCE, ...rec }
}

let n = 0
/** A task of `s` in `slot` (or on `node`), created at `at`, with status `st`. */
function task(s: ServiceRecord, slot: number, at: number, st: Partial<TaskStatus>, o: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: `t${++n}`, serviceId: s.id, serviceName: s.spec.name, slot, nodeId: 'node-aaaaaaaaaaaaaaa', specVersion: s.version, spec: s.spec,
    desiredState: 'running', status: { state: 'running', message: 'started', timestamp: at, ...st }, createdAt: at, updatedAt: at, ...o,
  }
}
const running = (s: ServiceRecord, slot: number, startedAt: number, o: Partial<TaskRecord> = {}) =>
  task(s, slot, startedAt - 100, { state: 'running', timestamp: startedAt, startedAt }, o)
const exited = (s: ServiceRecord, slot: number, at: number, code = 1, o: Partial<TaskRecord> = {}) =>
  task(s, slot, at, { state: 'failed', message: `task: non-zero exit (${code})`, err: `task: non-zero exit (${code})`, exitCode: code, timestamp: at + 50 }, o)
const crashLoop = (s: ServiceRecord, slot: number, times: number, o: Partial<TaskRecord> = {}) =>
  Array.from({ length: times }, (_, i) => exited(s, slot, SINCE + 100 + i * 1000, 1, o))

t.test('replicated: a task counts once it has run for the monitor period', async (t) => {
  const s = svc({ mode: { replicated: { replicas: 2 } } })
  const cases = [
    { name: 'nothing yet', tasks: [], now: SINCE + 100, want: { verdict: 'in progress', done: 0, total: 2 } },
    { name: 'both running 1 s: not counted, verify in 4 s', tasks: [running(s, 1, SINCE + 1000), running(s, 2, SINCE + 1000)], now: SINCE + 2000, want: { verdict: 'in progress', done: 0, verifyInMs: 4000 } },
    { name: 'one stable, one running 1 s', tasks: [running(s, 1, SINCE), running(s, 2, SINCE + 4000)], now: SINCE + 5000, want: { verdict: 'in progress', done: 1, verifyInMs: 4000 } },
    { name: 'both stable', tasks: [running(s, 1, SINCE), running(s, 2, SINCE + 100)], now: SINCE + 5100, want: { verdict: 'converged', done: 2, total: 2 } },
    { name: 'stable but one slot not running: no verify countdown', tasks: [running(s, 1, SINCE), task(s, 2, SINCE, { state: 'starting' })], now: SINCE + 9000, want: { verdict: 'in progress', done: 1, verifyInMs: undefined } },
  ]
  for (const c of cases) t.match(assessConvergence({ service: s, tasks: c.tasks, now: c.now, since: SINCE }), c.want, c.name)
})

t.test('the monitor period is the service update config (rollback config while rolling back)', async (t) => {
  const s = svc({ updateConfig: { ...defaultServiceSpec('x', 'y').updateConfig, monitorMs: 1000 } })
  t.equal(assessConvergence({ service: s, tasks: [running(s, 1, SINCE)], now: SINCE + 1000, since: SINCE }).verdict, 'converged')
  const back = svc({ rollbackConfig: { ...defaultServiceSpec('x', 'y').rollbackConfig, monitorMs: 20_000 } }, { updateStatus: { state: 'rollback_completed', startedAt: SINCE, message: 'rollback completed' } })
  t.equal(assessConvergence({ service: back, tasks: [running(back, 1, SINCE)], now: SINCE + 10_000, since: SINCE }).verdict, 'in progress')
})

t.test('not converged while anything is still moving', async (t) => {
  const s = svc()
  const old = { ...s.spec, image: 'img:0' }
  const cases = [
    { name: 'a task of the old spec runs (update not rolled yet)', s, tasks: [running(s, 1, 0, { spec: old })] },
    { name: 'rolling update in flight', s: svc({}, { updateStatus: { state: 'updating', startedAt: SINCE, message: '' } }), tasks: [running(s, 1, 0)] },
    { name: 'scale-down: slot 2 still desired running', s, tasks: [running(s, 1, 0), running(s, 2, 0)] },
    { name: 'unhealthy task', s, tasks: [task(s, 1, 0, { state: 'running', startedAt: 0, health: 'unhealthy' })] },
    { name: 'health still starting', s, tasks: [task(s, 1, 0, { state: 'running', startedAt: 0, health: 'starting' })] },
  ]
  for (const c of cases) t.equal(assessConvergence({ service: c.s, tasks: c.tasks, now: SINCE + 60_000, since: SINCE }).verdict, 'in progress', c.name)
})

t.test('failing: every unstable slot failed 3 times since the command began', async (t) => {
  const s = svc({ mode: { replicated: { replicas: 2 } } })
  const restarting = (slot: number) => task(s, slot, SINCE + 9000, { state: 'assigned', message: 'assigned' })
  const cases = [
    { name: 'slot 1 crash-loops 3 times, slot 2 stable', tasks: [...crashLoop(s, 1, 3), running(s, 2, SINCE)], want: 'failing' },
    { name: 'two failures are not enough', tasks: [...crashLoop(s, 1, 2), running(s, 2, SINCE)], want: 'in progress' },
    { name: 'failures before the command do not count', tasks: [exited(s, 1, SINCE - 5000), ...crashLoop(s, 1, 2), running(s, 2, SINCE)], want: 'in progress' },
    { name: 'failures of an old spec do not count', tasks: [...crashLoop(s, 1, 3, { spec: { ...s.spec, image: 'img:0' } }), running(s, 2, SINCE)], want: 'in progress' },
    { name: 'the replacement is being assigned: still failing', tasks: [...crashLoop(s, 1, 3), restarting(1), running(s, 2, SINCE)], want: 'failing' },
    { name: 'the replacement runs: given its chance', tasks: [...crashLoop(s, 1, 3), running(s, 1, SINCE + 9000), running(s, 2, SINCE)], want: 'in progress' },
    { name: 'one slot failing, the other still starting', tasks: [...crashLoop(s, 1, 3), task(s, 2, SINCE, { state: 'starting' })], want: 'in progress' },
    { name: 'both slots failing', tasks: [...crashLoop(s, 1, 3), ...crashLoop(s, 2, 4)], want: 'failing' },
    { name: 'pending (no suitable node) never fails', tasks: [task(s, 1, SINCE, { state: 'pending', message: 'no suitable node (1 node not satisfying constraint node.role==manager)' }), running(s, 2, SINCE)], want: 'in progress' },
  ]
  for (const c of cases) t.equal(assessConvergence({ service: s, tasks: c.tasks, now: SINCE + 10_000, since: SINCE }).verdict, c.want, c.name)
  t.equal(GIVE_UP_AFTER_FAILURES, 3)
})

t.test('failing names the task, its error and the count; slots show their state or error', async (t) => {
  const s = svc({ mode: { replicated: { replicas: 2 } } })
  const c = assessConvergence({ service: s, tasks: [...crashLoop(s, 1, 3), running(s, 2, SINCE + 8000)], now: SINCE + 9000, since: SINCE })
  t.equal(c.verdict, 'in progress', 'slot 2 is not yet stable and not failing')
  t.same(c.slots.map((x) => [x.id, x.task, x.text, x.failures]), [['1/2', 'web.1', 'task: non-zero exit (1)', 3], ['2/2', 'web.2', 'running', 0]])
  const f = assessConvergence({ service: s, tasks: [...crashLoop(s, 1, 3), running(s, 2, SINCE)], now: SINCE + 9000, since: SINCE })
  t.equal(f.reason, 'web.1: task: non-zero exit (1)')
  t.match(f.culprit, { task: 'web.1', failures: 3, lastError: 'task: non-zero exit (1)' })
  t.match(f, { done: 1, total: 2 })
})

t.test('the restart policy will not replace the task: one failure is enough', async (t) => {
  const policy = (o: Partial<ServiceSpec['restartPolicy']>) => svc({ restartPolicy: { ...defaultServiceSpec('x', 'y').restartPolicy, ...o } })
  const cases = [
    { name: 'condition none', s: policy({ condition: 'none' }), ends: 1, want: 'failing' },
    { name: 'max attempts 1 spent (2 ends)', s: policy({ maxAttempts: 1 }), ends: 2, want: 'failing' },
    { name: 'max attempts 1, first end: it restarts', s: policy({ maxAttempts: 1 }), ends: 1, want: 'in progress' },
    { name: 'condition any, one end', s: policy({ condition: 'any' }), ends: 1, want: 'in progress' },
  ]
  for (const c of cases) t.equal(assessConvergence({ service: c.s, tasks: crashLoop(c.s, 1, c.ends), now: SINCE + 10_000, since: SINCE }).verdict, c.want, c.name)
  const s = policy({ condition: 'on-failure' })
  const done = task(s, 1, SINCE, { state: 'complete', message: 'finished', exitCode: 0 })
  t.match(assessConvergence({ service: s, tasks: [done], now: SINCE + 10_000, since: SINCE }), { verdict: 'failing', reason: 'web.1: complete' }, 'a service task that exits 0 under on-failure')
})

t.test('paused update', async (t) => {
  const s = svc({}, { updateStatus: { state: 'paused', startedAt: SINCE, message: 'update paused due to failure or early termination of task t9' } })
  t.match(assessConvergence({ service: s, tasks: [], now: SINCE, since: SINCE }), { verdict: 'paused', reason: /update paused/ })
})

t.test('global: one slot per node, named by hostname', async (t) => {
  const s = svc({ mode: { global: {} } })
  const hostnames = new Map([['n1', 'node1'], ['n2', 'node2']])
  const tasks = [running(s, 0, SINCE, { nodeId: 'n1' }), ...crashLoop(s, 0, 3, { nodeId: 'n2' })]
  const c = assessConvergence({ service: s, tasks, now: SINCE + 9000, since: SINCE, hostnames })
  t.match(c, { verdict: 'failing', done: 1, total: 2, reason: 'web.node2: task: non-zero exit (1)' })
  t.same(c.slots.map((x) => x.id), ['node1', 'node2'])
  t.equal(assessConvergence({ service: s, tasks: [], now: SINCE + 100, since: SINCE }).verdict, 'in progress', 'no task yet: wait a moment')
  t.equal(assessConvergence({ service: s, tasks: [], now: SINCE + 2000, since: SINCE }).verdict, 'converged', 'no eligible node: nothing to run')
})

t.test('replicated job: converges when totalCompletions tasks completed; progress counts completed tasks', async (t) => {
  const s = svc({ mode: { replicatedJob: { maxConcurrent: 2, totalCompletions: 3 } } })
  const ok = (slot: number) => task(s, slot, SINCE, { state: 'complete', message: 'finished', exitCode: 0 })
  const cases = [
    { name: 'two running', tasks: [running(s, 1, SINCE), running(s, 2, SINCE)], want: { verdict: 'in progress', done: 0, total: 3 } },
    { name: 'two done, one running', tasks: [ok(1), ok(2), running(s, 3, SINCE)], want: { verdict: 'in progress', done: 2 } },
    { name: 'three done', tasks: [ok(1), ok(2), ok(3)], want: { verdict: 'converged', done: 3, total: 3 } },
    { name: 'slot 3 keeps failing', tasks: [ok(1), ok(2), ...crashLoop(s, 3, 3)], want: { verdict: 'failing', done: 2, reason: 'web.3: task: non-zero exit (1)' } },
  ]
  for (const c of cases) t.match(assessConvergence({ service: s, tasks: c.tasks, now: SINCE + 60_000, since: SINCE }), c.want, c.name)
  const earlier = [1, 2, 3].map((slot) => ({ ...ok(slot), specVersion: s.version - 1 }))
  t.match(assessConvergence({ service: s, tasks: earlier, now: SINCE + 60_000, since: SINCE }), { verdict: 'in progress', done: 0 }, 'completions of an earlier run do not count')
})

t.test('global job: every node holding a task completed one', async (t) => {
  const s = svc({ mode: { globalJob: {} } })
  const ok = (node: string) => task(s, 0, SINCE, { state: 'complete', message: 'finished', exitCode: 0 }, { nodeId: node })
  t.match(assessConvergence({ service: s, tasks: [ok('n1'), running(s, 0, SINCE, { nodeId: 'n2' })], now: SINCE + 60_000, since: SINCE }), { verdict: 'in progress', done: 1, total: 2 })
  t.match(assessConvergence({ service: s, tasks: [ok('n1'), ok('n2')], now: SINCE + 60_000, since: SINCE }), { verdict: 'converged', done: 2, total: 2 })
})

t.test('taskText: what service ps shows', async (t) => {
  const s = svc()
  const cases = [
    { st: { state: 'failed', err: 'task: non-zero exit (2)', message: 'task: non-zero exit (2); last log: boom' }, want: 'task: non-zero exit (2)' },
    { st: { state: 'rejected', message: 'No such image: nope:latest' }, want: 'No such image: nope:latest' },
    { st: { state: 'pending', message: 'no suitable node (1 node not available for new tasks)' }, want: 'no suitable node (1 node not available for new tasks)' },
    { st: { state: 'running', health: 'starting' }, want: 'running (starting)' },
    { st: { state: 'starting' }, want: 'starting' },
    { st: { state: 'complete', exitCode: 3 }, want: 'task: non-zero exit (3)' },
  ] as const
  for (const c of cases) t.equal(taskText(task(s, 1, 0, c.st as Partial<TaskStatus>)), c.want, c.want)
})
