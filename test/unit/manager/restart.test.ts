import t from 'tap'
import { isEmptyPlan, nextWakeAt } from '../../../src/manager/orchestrator.ts'
import { restartDecision } from '../../../src/manager/restart.ts'
import type { RestartPolicy, TaskRecord, TaskStatus } from '../../../src/api/types.ts'
import { updateService } from '../../../src/manager/update.ts'
import { Sim, node, service, spec } from './sim.ts'

const policy = (o: Partial<RestartPolicy>): RestartPolicy => ({ condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0, ...o })

function oneTask(p: Partial<RestartPolicy>): { sim: Sim; task: TaskRecord } {
  const sim = new Sim({ nodes: [node('w1'), node('w2')], services: [service('job', { replicas: 1, restartPolicy: policy(p) })] })
  sim.settle()
  return { sim, task: sim.live('job')[0] as TaskRecord }
}

function end(sim: Sim, id: string, status: Partial<TaskStatus>): void {
  sim.state = {
    ...sim.state,
    tasks: sim.state.tasks.map((x) => (x.id === id ? { ...x, status: { ...x.status, timestamp: sim.now, ...status } } : x)),
  }
}

t.test('condition decides whether an ended task is replaced', async (t) => {
  const cases = [
    { condition: 'none', end: { state: 'complete', exitCode: 0 }, replaced: false },
    { condition: 'none', end: { state: 'failed', exitCode: 1 }, replaced: false },
    { condition: 'on-failure', end: { state: 'complete', exitCode: 0 }, replaced: false },
    { condition: 'on-failure', end: { state: 'complete' }, replaced: false },
    { condition: 'on-failure', end: { state: 'complete', exitCode: 3 }, replaced: true },
    { condition: 'on-failure', end: { state: 'failed', exitCode: 1 }, replaced: true },
    { condition: 'on-failure', end: { state: 'rejected' }, replaced: true },
    { condition: 'on-failure', end: { state: 'shutdown' }, replaced: true, why: 'shut down while desired running' },
    { condition: 'any', end: { state: 'complete', exitCode: 0 }, replaced: true },
    { condition: 'any', end: { state: 'failed', exitCode: 137 }, replaced: true },
  ] as const
  for (const c of cases) {
    const name = `${c.condition}, ${JSON.stringify(c.end)}`
    const { sim, task } = oneTask({ condition: c.condition })
    end(sim, task.id, c.end)
    const plan = sim.reconcile()
    t.equal(plan.create.length, c.replaced ? 1 : 0, name)
    if (c.replaced) {
      t.match(plan.create[0], { slot: task.slot, status: { state: 'assigned' } }, `${name}: same slot`)
      t.equal(sim.task(task.id).desiredState, 'shutdown', `${name}: the old task is retired`)
      t.match(plan.events.find((e) => e.type === 'taskCreated')?.message, `restart after task ${task.id}`)
    } else {
      const withheld = plan.events.filter((e) => e.type === 'restartWithheld')
      t.equal(withheld.length, 1, `${name}: the event says why`)
      t.match(withheld[0]?.message, new RegExp(`slot left empty: task ${task.id} .*restart condition is ${c.condition}`))
      t.equal(sim.live('job').length, 0, `${name}: the slot stays empty`)
    }
    sim.runtime()
    t.ok(isEmptyPlan(sim.reconcile()), `${name}: then converged (the event is not repeated)`)
  }
})

t.test('the replacement waits for the restart delay', async (t) => {
  const { sim, task } = oneTask({ delayMs: 5000 })
  const endedAt = sim.now + 100
  sim.crash(task.id, 1, 100)
  const early = sim.step(4000)
  t.ok(isEmptyPlan(early), 'nothing before the delay')
  t.equal(early.wakeAt, endedAt + 5000)
  t.equal(nextWakeAt(sim.state, sim.now), endedAt + 5000)
  sim.now = endedAt + 4999
  t.equal(sim.reconcile().create.length, 0)
  sim.now = endedAt + 5000
  const plan = sim.reconcile()
  t.equal(plan.create.length, 1, 'created once the delay has passed')
  t.equal(plan.create[0]?.slot, task.slot)
})

t.test('max attempts, counted per slot', async (t) => {
  const cases = [
    { name: 'maxAttempts 2 (all time)', p: { maxAttempts: 2 }, crashes: 5, gap: 1000, wantTasks: 3 },
    { name: 'maxAttempts 0 = unlimited', p: { maxAttempts: 0 }, crashes: 5, gap: 1000, wantTasks: 6 },
    { name: 'maxAttempts 2 within 10s, crashes 1s apart', p: { maxAttempts: 2, windowMs: 10_000 }, crashes: 5, gap: 1000, wantTasks: 3 },
    { name: 'maxAttempts 2 within 10s, crashes 6s apart', p: { maxAttempts: 2, windowMs: 10_000 }, crashes: 5, gap: 6000, wantTasks: 6 },
  ]
  for (const c of cases) {
    const { sim } = oneTask(c.p)
    for (let i = 0; i < c.crashes; i++) {
      const live = sim.live('job')[0]
      if (!live) break
      sim.crash(live.id, 1, c.gap)
      sim.step()
    }
    t.equal(sim.state.tasks.length, c.wantTasks, c.name)
  }
  const { sim } = oneTask({ maxAttempts: 1 })
  sim.crash((sim.live('job')[0] as TaskRecord).id, 1, 10)
  sim.step()
  sim.crash((sim.live('job')[0] as TaskRecord).id, 1, 10)
  const plan = sim.reconcile()
  t.equal(plan.create.length, 0)
  t.match(plan.events[0], { type: 'restartWithheld', message: /restart attempts exhausted \(1 of 1\)/ })
  t.equal(sim.live('job').length, 0, 'the slot stays empty')
  t.ok(isEmptyPlan(sim.reconcile()))
  t.equal(nextWakeAt(sim.state, sim.now + 1e9), undefined, 'for good: no window')
  const s = sim.service('job')
  sim.setService(updateService(s, { ...s.spec, image: 'img:2' }, sim.now))
  t.equal(sim.reconcile().create.length, 1, 'a new spec starts the count afresh')
})

t.test('with a window, the slot is refilled when the oldest counted end leaves it', async (t) => {
  const { sim } = oneTask({ maxAttempts: 2, windowMs: 10_000 })
  const ends: number[] = []
  for (let i = 0; i < 3; i++) {
    sim.crash((sim.live('job')[0] as TaskRecord).id, 1, 1000)
    ends.push(sim.now)
    sim.step()
  }
  t.equal(sim.live('job').length, 0, 'third end: withheld')
  const plan = sim.reconcile()
  t.ok(isEmptyPlan(plan))
  t.equal(plan.wakeAt, (ends[0] as number) + 10_000, 'wake when the first end leaves the window')
  sim.now = (ends[0] as number) + 10_000
  t.equal(sim.reconcile().create.length, 1, 'then one more attempt')
})

t.test('restartDecision table', async (t) => {
  const task = (id: string, state: TaskStatus['state'], at: number, exitCode?: number): TaskRecord => ({
    id, serviceId: 's', serviceName: 's', slot: 1, nodeId: 'n', specVersion: 1, spec: spec('s'), desiredState: 'running',
    status: { state, message: '', timestamp: at, ...(exitCode === undefined ? {} : { exitCode }) }, createdAt: at - 1, updatedAt: at,
  })
  const cases = [
    { name: 'any, no delay', p: policy({}), ended: task('c', 'failed', 100, 1), earlier: [], now: 100, want: { kind: 'replace' } },
    { name: 'delay pending', p: policy({ delayMs: 50 }), ended: task('c', 'failed', 100), earlier: [], now: 120, want: { kind: 'wait', until: 150 } },
    { name: 'none', p: policy({ condition: 'none' }), ended: task('c', 'failed', 100), earlier: [], now: 100, want: { kind: 'withhold' } },
    {
      name: 'attempts exhausted, window', p: policy({ maxAttempts: 2, windowMs: 1000 }), ended: task('c', 'failed', 900),
      earlier: [task('a', 'failed', 300), task('b', 'failed', 600)], now: 900, want: { kind: 'withhold', retryAt: 1300 },
    },
    {
      name: 'an old end has left the window', p: policy({ maxAttempts: 2, windowMs: 500 }), ended: task('c', 'failed', 900),
      earlier: [task('a', 'failed', 300), task('b', 'failed', 600)], now: 900, want: { kind: 'replace' },
    },
    {
      name: 'stopped tasks are not attempts', p: policy({ maxAttempts: 1 }), ended: task('c', 'failed', 900),
      earlier: [{ ...task('a', 'shutdown', 300), desiredState: 'shutdown' as const }], now: 900, want: { kind: 'replace' },
    },
  ]
  for (const c of cases) t.match(restartDecision(c.ended, c.earlier, c.p, c.now), c.want, c.name)
})
