import t from 'tap'
import { isEmptyPlan } from '../../../src/manager/orchestrator.ts'
import { completedTasks } from '../../../src/manager/jobs.ts'
import { rollbackService, updateService } from '../../../src/manager/update.ts'
import type { ServiceRecord, ServiceSpec } from '../../../src/api/types.ts'
import { Sim, node, service } from './sim.ts'

const onFailure = { condition: 'on-failure' as const, delayMs: 0, maxAttempts: 0, windowMs: 0 }
const replicatedJob = (total: number, maxConcurrent: number, o: Partial<ServiceSpec> = {}): ServiceRecord =>
  service('job', { mode: { replicatedJob: { totalCompletions: total, maxConcurrent } }, restartPolicy: onFailure, ...o })
const globalJob = (o: Partial<ServiceSpec> = {}): ServiceRecord => service('gjob', { mode: { globalJob: {} }, restartPolicy: onFailure, ...o })
const workers = (n: number) => Array.from({ length: n }, (_, i) => node(`w${i + 1}`))

/** Complete (exit 0) or fail (exit 1) every running task of the service. */
function finishRunning(sim: Sim, serviceId: string, exitCode: (id: string) => number = () => 0): number {
  const running = sim.running(serviceId)
  for (const x of running) sim.crash(x.id, exitCode(x.id))
  return running.length
}

t.test('replicated job: 5 completions, 2 at once, a failure retried, nothing after the 5th', async (t) => {
  const sim = new Sim({ nodes: workers(3), services: [replicatedJob(5, 2)] })
  let maxLive = 0
  let failedOnce = ''
  const track = (s: Sim) => { maxLive = Math.max(maxLive, s.live('job').length) }
  for (let round = 0; round < 20; round++) {
    sim.settle({ each: track })
    if (sim.running('job').length === 0) break
    // The first task of slot 2 fails once; every other task completes.
    finishRunning(sim, 'job', (id) => {
      if (failedOnce === '' && sim.task(id).slot === 2) {
        failedOnce = id
        return 1
      }
      return 0
    })
  }
  t.equal(maxLive, 2, 'never more than 2 live tasks')
  const tasks = sim.state.tasks.filter((x) => x.serviceId === 'job')
  t.equal(tasks.filter((x) => x.status.state === 'complete').length, 5, 'exactly 5 completed tasks')
  t.same([...new Set(tasks.filter((x) => x.status.state === 'complete').map((x) => x.slot))].sort(), [1, 2, 3, 4, 5], 'one per slot')
  t.equal(tasks.length, 6, 'the failed task was retried once: 6 tasks in all')
  t.equal(sim.task(failedOnce).status.state, 'failed')
  t.ok(tasks.some((x) => x.slot === 2 && x.status.state === 'complete'), 'its slot completed on the retry')
  t.ok(tasks.every((x) => x.desiredState === 'shutdown'), 'ended tasks want nothing more')
  t.equal(completedTasks(sim.service('job'), sim.state.tasks), 5)
  const p = sim.step(60_000)
  t.ok(isEmptyPlan(p), 'nothing is restarted after the 5th completion, however long we wait')
})

t.test('replicated job: condition any still never restarts a completed task; none leaves a failed slot failed', async (t) => {
  const any = new Sim({ nodes: workers(2), services: [replicatedJob(1, 1, { restartPolicy: { ...onFailure, condition: 'any' } })] })
  any.settle()
  finishRunning(any, 'job')
  any.settle()
  t.equal(any.state.tasks.length, 1, 'the completed task is not replaced')
  const none = new Sim({ nodes: workers(2), services: [replicatedJob(2, 2, { restartPolicy: { ...onFailure, condition: 'none' } })] })
  none.settle()
  finishRunning(none, 'job', (id) => (none.task(id).slot === 1 ? 1 : 0))
  const p = none.reconcile()
  t.equal(none.state.tasks.length, 2, 'no retry of the failed slot')
  t.match(p.events, [{ type: 'restartWithheld', slot: 1 }])
  t.ok(isEmptyPlan(none.step()), 'and the decision is recorded once')
})

t.test('replicated job: restart delay holds the slot\'s concurrency place', async (t) => {
  const sim = new Sim({ nodes: workers(2), services: [replicatedJob(3, 1, { restartPolicy: { ...onFailure, delayMs: 5000 } })] })
  sim.settle()
  finishRunning(sim, 'job', () => 1)
  const p = sim.reconcile()
  t.equal(p.create.length, 0, 'no new slot starts while the failed one waits for its restart')
  t.equal(p.wakeAt, sim.now + 5000)
  sim.now += 5000
  t.match(sim.reconcile().create, [{ slot: 1 }], 'then the same slot is retried')
})

t.test('global job: once on each eligible node, and on a node that joins later', async (t) => {
  const sim = new Sim({ nodes: [...workers(3), node('d1', { availability: 'drain' })], services: [globalJob()] })
  sim.settle()
  t.same(sim.spread('gjob'), { w1: 1, w2: 1, w3: 1 }, 'one task per active node')
  finishRunning(sim, 'gjob')
  sim.settle()
  t.equal(sim.live('gjob').length, 0, 'completed tasks are not restarted')
  sim.addNode(node('w4'))
  sim.settle()
  t.same(sim.spread('gjob'), { w4: 1 }, 'the new node runs the job too')
  finishRunning(sim, 'gjob')
  sim.setNode('d1', { availability: 'active' })
  sim.settle()
  t.same(sim.spread('gjob'), { d1: 1 }, 'a node activated later as well')
  finishRunning(sim, 'gjob')
  sim.settle()
  t.equal(sim.state.tasks.filter((x) => x.status.state === 'complete').length, 5, 'one completion per node')
  t.ok(isEmptyPlan(sim.step(60_000)))
})

t.test('a job runs again after any update (a new iteration); live tasks of the old one stop', async (t) => {
  const sim = new Sim({ nodes: workers(2), services: [replicatedJob(2, 2)] })
  sim.settle()
  finishRunning(sim, 'job')
  sim.settle()
  t.equal(sim.state.tasks.length, 2)
  sim.setService(updateService(sim.service('job'), { ...sim.service('job').spec, forceUpdate: 1 }, sim.now))
  sim.settle()
  const v2 = sim.state.tasks.filter((x) => x.specVersion === 2)
  t.equal(v2.length, 2, 'two fresh tasks for the new run')
  t.ok(v2.every((x) => x.status.state === 'running'))
  t.equal(completedTasks(sim.service('job'), sim.state.tasks), 0, 'completions start afresh')
  sim.setService(updateService(sim.service('job'), { ...sim.service('job').spec, env: ['A=1'] }, sim.now))
  sim.settle()
  t.ok(v2.every((x) => sim.task(x.id).status.state === 'shutdown'), 'the unfinished run is stopped')
  t.equal(sim.live('job').filter((x) => x.specVersion === 3).length, 2, 'the third run has started')
})

t.test('a job task evicted from a drained node is replaced at once', async (t) => {
  const sim = new Sim({ nodes: workers(2), services: [replicatedJob(1, 1)] })
  sim.settle()
  const first = sim.live('job')[0]
  sim.setNode(first?.nodeId as string, { availability: 'drain' })
  sim.settle()
  t.equal(sim.task(first?.id as string).status.state, 'shutdown')
  t.equal(sim.running('job').length, 1, 'running elsewhere')
  t.not(sim.running('job')[0]?.nodeId, first?.nodeId)
})

t.test('a regular replicated service is not a job: a completed task is restarted under condition any', async (t) => {
  const sim = new Sim({ nodes: workers(1), services: [service('web', { mode: { replicated: { replicas: 1 } }, restartPolicy: { ...onFailure, condition: 'any' } })] })
  sim.settle()
  finishRunning(sim, 'web')
  sim.settle()
  t.equal(sim.running('web').length, 1)
})

t.test('rollback of a job: a new run of the previous spec, no rolling status left behind', async (t) => {
  const sim = new Sim({ nodes: workers(2), services: [replicatedJob(1, 1)] })
  sim.settle()
  finishRunning(sim, 'job')
  sim.setService(updateService(sim.service('job'), { ...sim.service('job').spec, env: ['A=1'] }, sim.now))
  sim.settle()
  finishRunning(sim, 'job')
  sim.settle()
  sim.setService(rollbackService(sim.service('job'), sim.now))
  const p = sim.reconcile()
  t.equal(sim.service('job').updateStatus?.state, 'rollback_completed')
  t.match(p.events, [{ type: 'rollbackCompleted' }, { type: 'taskCreated' }])
  t.same(p.create[0]?.spec.env, [], 'the new run has the previous spec')
  sim.runtime()
  finishRunning(sim, 'job')
  sim.settle()
  t.equal(completedTasks(sim.service('job'), sim.state.tasks), 1)
  t.ok(isEmptyPlan(sim.step(60_000)))
})
