import t from 'tap'
import { RollbackError } from '../../../src/manager/errors.ts'
import { isEmptyPlan } from '../../../src/manager/orchestrator.ts'
import type { ServiceSpec, TaskRecord, UpdateConfig } from '../../../src/api/types.ts'
import { rollbackService, taskSpecDiffers, updateService } from '../../../src/manager/update.ts'
import { Sim, node, service, spec } from './sim.ts'

const workers = (n: number) => Array.from({ length: n }, (_, i) => node(`w${i + 1}`))
const upd = (o: Partial<UpdateConfig>): UpdateConfig => ({
  parallelism: 1, delayMs: 0, failureAction: 'pause', order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, ...o,
})

/** A converged service of `replicas` tasks running img:1 on 3 workers, then `service update --image img:2`. */
function updating(replicas: number, cfg: Partial<UpdateConfig>, o: { image?: string; global?: boolean; failStart?: (t: TaskRecord) => boolean; slowStart?: boolean } = {}): Sim {
  const svc = service('web', { replicas, global: o.global ?? false, updateConfig: upd(cfg), rollbackConfig: upd(cfg) })
  const sim = new Sim({ nodes: workers(3), services: [svc] }, { slowStart: o.slowStart ?? false, ...(o.failStart ? { failStart: o.failStart } : {}) })
  sim.settle()
  const s = sim.service('web')
  sim.setService(updateService(s, { ...s.spec, image: o.image ?? 'img:2' }, sim.now))
  return sim
}

/** Per round: tasks running, slots holding no running task, running tasks by image. */
function observe(sim: Sim, slots: number[]) {
  const running = sim.running('web')
  return {
    running: running.length,
    down: slots.filter((s) => !running.some((x) => x.slot === s)).length,
    images: running.map((x) => x.spec.image),
  }
}

t.test('stop-first: never more than parallelism slots down, all slots end on the new image', async (t) => {
  const cases = [
    { name: 'parallelism 1, 3 replicas', replicas: 3, parallelism: 1, wantMaxDown: 1 },
    { name: 'parallelism 2, 5 replicas', replicas: 5, parallelism: 2, wantMaxDown: 2 },
    { name: 'parallelism 0 = all at once', replicas: 4, parallelism: 0, wantMaxDown: 4 },
  ]
  for (const c of cases) {
    const sim = updating(c.replicas, { parallelism: c.parallelism })
    const slots = Array.from({ length: c.replicas }, (_, i) => i + 1)
    let maxDown = 0
    let mixed = false
    sim.settle({
      follow: true,
      each: (s) => {
        const o = observe(s, slots)
        maxDown = Math.max(maxDown, o.down)
        if (new Set(o.images).size > 1) mixed = true
        t.ok(o.running <= c.replicas, `${c.name}: stop-first never runs more than ${c.replicas}`)
      },
    })
    t.equal(maxDown, c.wantMaxDown, `${c.name}: at most (and at some point exactly) ${c.wantMaxDown} down`)
    if (c.parallelism > 0) t.ok(mixed, `${c.name}: old and new images served side by side during the update`)
    t.same(sim.running('web').map((x) => x.spec.image), Array(c.replicas).fill('img:2'))
    t.match(sim.service('web').updateStatus, { state: 'completed', message: 'update completed' })
    t.ok(isEmptyPlan(sim.reconcile()), `${c.name}: converged`)
  }
})

t.test('stop-first sequence, plan by plan', async (t) => {
  const sim = updating(3, { parallelism: 1 })
  const p1 = sim.step()
  t.equal(sim.service('web').updateStatus?.state, 'updating')
  t.same(p1.events.map((e) => e.type), ['updateStarted', 'taskShutdown'], 'one old task stops')
  t.same(p1.update.map((x) => [x.slot, x.desiredState]), [[1, 'shutdown']])
  const p2 = sim.step()
  t.same(p2.create.map((x) => [x.slot, x.spec.image, x.status.state]), [[1, 'img:2', 'assigned']], 'slot 1 refilled once the old task has stopped')
  t.equal(p2.update.length, 0, 'nothing else moves while slot 1 is in flight')
  const p3 = sim.step()
  t.same(p3.update.map((x) => [x.slot, x.desiredState]), [[2, 'shutdown']], 'the new task runs: next slot')
})

t.test('start-first: the new task runs before the old one stops (overlap, no slot down)', async (t) => {
  const sim = updating(3, { parallelism: 1, order: 'start-first' }, { slowStart: true })
  const setup = sim.plans.length
  let maxRunning = 0
  let maxDown = 0
  let early = 0
  let runningNew = new Set<number>()
  sim.settle({
    follow: true,
    before: (s) => {
      runningNew = new Set(s.running('web').filter((x) => x.spec.image === 'img:2').map((x) => x.slot))
    },
    each: (s) => {
      // An old task may only be told to stop by a plan made when its slot's new task was already running.
      const stops = (s.plans.at(-1)?.events ?? []).filter((e) => e.type === 'taskShutdown')
      early += stops.filter((e) => !runningNew.has(e.slot as number)).length
      const o = observe(s, [1, 2, 3])
      maxRunning = Math.max(maxRunning, o.running)
      maxDown = Math.max(maxDown, o.down)
    },
  })
  t.equal(maxRunning, 4, 'old and new overlap in one slot at a time')
  t.equal(early, 0, 'no old task stopped before its replacement ran')
  t.equal(maxDown, 0, 'never a slot without a running task')
  t.same(sim.running('web').map((x) => x.spec.image), ['img:2', 'img:2', 'img:2'])
  t.equal(sim.service('web').updateStatus?.state, 'completed')
  const first = sim.plans.slice(setup).find((p) => p.create.length > 0)
  t.same(first?.create.map((x) => x.slot), [1], 'the new task is created in the same slot')
  t.equal(first?.update.length, 0, 'the old one untouched until the new one runs')
})

t.test('start-first: a new task that fails is retried under the restart policy while the old one keeps serving', async (t) => {
  const sim = updating(2, { order: 'start-first', failureAction: 'continue' }, { image: 'img:bad', failStart: (x) => x.spec.image === 'img:bad' })
  const setup = sim.plans.length
  sim.rounds(6, 1000)
  const slot1 = sim.state.tasks.filter((x) => x.slot === 1)
  t.same(sim.running('web').map((x) => [x.slot, x.spec.image]), [[1, 'img:1'], [2, 'img:1']], 'the old tasks never stopped')
  t.ok(slot1.filter((x) => x.spec.image === 'img:bad').length >= 5, 'slot 1 retried the new spec every round (restart delay 0)')
  const retries = sim.plans.slice(setup).flatMap((p) => p.events).filter((e) => e.type === 'taskCreated' && e.slot === 1)
  t.match(retries.at(-1)?.message, /^restart after task t\d+ failed/)
})

t.test('delay between batches, then monitor before completed', async (t) => {
  const sim = updating(2, { parallelism: 1, delayMs: 10_000, monitorMs: 3000 })
  const t0 = sim.now
  sim.step()
  sim.step()
  const started = sim.running('web').find((x) => x.spec.image === 'img:2') as TaskRecord
  t.ok(started, 'slot 1 updated')
  const wait = sim.step()
  t.ok(isEmptyPlan(wait), 'slot 2 waits for the delay')
  t.equal(wait.wakeAt, (started.status.startedAt as number) + 3000, 'the monitor of slot 1 ends first')
  sim.now = (started.status.startedAt as number) + 9999
  t.ok(isEmptyPlan(sim.reconcile()))
  t.equal(sim.reconcile().wakeAt, (started.status.startedAt as number) + 10_000)
  sim.now = (started.status.startedAt as number) + 10_000
  t.same(sim.reconcile().update.map((x) => x.slot), [2], 'slot 2 after the delay')
  sim.runtime()
  sim.settle({ follow: true })
  t.match(sim.service('web').updateStatus, { state: 'completed', startedAt: t0 })
  const last = sim.running('web').find((x) => x.slot === 2) as TaskRecord
  t.equal(sim.service('web').updateStatus?.completedAt, (last.status.startedAt as number) + 3000, 'completed once the last task has run monitorMs')
})

t.test('failure action pause: nothing more until the spec changes', async (t) => {
  const sim = updating(3, { failureAction: 'pause' }, { image: 'img:bad', failStart: (x) => x.spec.image === 'img:bad' })
  sim.rounds(10, 1000) // the failed slot crash-loops under its restart policy; the update itself stops
  const st = sim.service('web').updateStatus
  t.equal(st?.state, 'paused')
  t.match(st?.message, /^update paused due to failure or early termination of task t\d+$/)
  t.same(sim.running('web').map((x) => [x.slot, x.spec.image]), [[2, 'img:1'], [3, 'img:1']], 'slots 2 and 3 keep the old image')
  const s = sim.service('web')
  sim.setService(updateService(s, { ...s.spec, image: 'img:3' }, sim.now))
  sim.failStart = () => false
  sim.settle({ follow: true })
  t.equal(sim.service('web').updateStatus?.state, 'completed', 'a new spec resumes')
  t.same(sim.running('web').map((x) => x.spec.image), ['img:3', 'img:3', 'img:3'])
})

t.test('failure action continue: failures do not stop the update', async (t) => {
  const sim = updating(3, { failureAction: 'continue' }, { image: 'img:bad', failStart: (x) => x.spec.image === 'img:bad' })
  sim.rounds(30, 1000)
  const bad = new Set(sim.state.tasks.filter((x) => x.spec.image === 'img:bad').map((x) => x.slot))
  t.same([...bad].sort(), [1, 2, 3], 'every slot was tried')
  t.equal(sim.service('web').updateStatus?.state, 'completed', 'restarts of failed slots do not hold the update')
})

t.test('failure ratio: failures / slots above maxFailureRatio', async (t) => {
  const cases = [
    { name: 'ratio 0.5, 1 of 4 fails: continues', ratio: 0.5, failSlots: [1], want: 'completed' },
    { name: 'ratio 0.2, 1 of 4 fails: pauses', ratio: 0.2, failSlots: [1], want: 'paused' },
  ]
  for (const c of cases) {
    const failed = new Set<number>()
    const sim = updating(4, { maxFailureRatio: c.ratio, parallelism: 0 }, {
      failStart: (x) => {
        if (x.spec.image !== 'img:2' || !c.failSlots.includes(x.slot) || failed.has(x.slot)) return false
        failed.add(x.slot)
        return true
      },
    })
    sim.settle({ follow: true })
    t.equal(sim.service('web').updateStatus?.state, c.want, c.name)
  }
})

t.test('a task that fails after its monitor period is not an update failure', async (t) => {
  const sim = updating(1, { monitorMs: 1000, delayMs: 0 })
  sim.settle()
  const task = sim.live('web')[0] as TaskRecord
  sim.crash(task.id, 1, 2000)
  sim.settle({ follow: true })
  t.equal(sim.service('web').updateStatus?.state, 'completed')
  const early = updating(1, { monitorMs: 1000 })
  early.settle()
  early.crash((early.live('web')[0] as TaskRecord).id, 1, 500)
  early.settle()
  t.equal(early.service('web').updateStatus?.state, 'paused', 'within the monitor it is')
})

t.test('failure action rollback: back to the previous spec with the rollback config', async (t) => {
  const sim = updating(3, { failureAction: 'rollback' }, { image: 'img:bad', failStart: (x) => x.spec.image === 'img:bad' })
  const before = sim.service('web')
  sim.settle({ follow: true })
  const after = sim.service('web')
  t.match(after.updateStatus, { state: 'rollback_completed', message: 'rollback completed' })
  t.equal(after.spec.image, 'img:1')
  t.equal(after.previousSpec?.image, 'img:bad')
  t.equal(after.version, before.version + 1)
  const rolled = sim.plans.flatMap((p) => p.events).find((e) => e.type === 'rollbackStarted')
  t.match(rolled?.message, /^update rolled back due to failure or early termination of task t\d+$/)
  t.same(sim.running('web').map((x) => x.spec.image), ['img:1', 'img:1', 'img:1'])
  t.equal(sim.state.tasks.filter((x) => x.spec.image === 'img:bad').length, 1, 'only the one failed slot was touched')
  t.ok(isEmptyPlan(sim.reconcile()))
})

t.test('explicit rollback (mesh service rollback)', async (t) => {
  const sim = updating(3, { parallelism: 2 })
  sim.settle({ follow: true })
  t.equal(sim.service('web').updateStatus?.state, 'completed')
  const s = sim.service('web')
  const r = rollbackService(s, sim.now)
  t.match(r, { spec: { image: 'img:1' }, previousSpec: { image: 'img:2' }, version: s.version + 1, updateStatus: { state: 'rollback_started', message: 'manually requested rollback' } })
  sim.setService(r)
  sim.settle({ follow: true })
  t.equal(sim.service('web').updateStatus?.state, 'rollback_completed')
  t.same(sim.running('web').map((x) => x.spec.image), ['img:1', 'img:1', 'img:1'])
  t.throws(() => rollbackService(service('fresh'), 0), RollbackError)
  t.throws(() => rollbackService(service('fresh'), 0), { message: 'service "fresh": no previous spec to roll back to', code: 'MESH_ERR_ROLLBACK' })
})

t.test('global services roll node by node', async (t) => {
  const sim = updating(0, { parallelism: 1 }, { global: true })
  let maxDown = 0
  sim.settle({
    follow: true,
    each: (s) => {
      const nodes = new Set(s.running('web').map((x) => x.nodeId))
      maxDown = Math.max(maxDown, 3 - nodes.size)
    },
  })
  t.equal(maxDown, 1)
  t.same(sim.running('web').map((x) => [x.nodeId, x.spec.image]).sort(), [['w1', 'img:2'], ['w2', 'img:2'], ['w3', 'img:2']])
  t.equal(sim.service('web').updateStatus?.state, 'completed')
})

t.test('what counts as a change of the task spec', async (t) => {
  const base = spec('web', { replicas: 3 })
  const cases: Array<{ name: string; change: Partial<ServiceSpec>; differs: boolean }> = [
    { name: 'image', change: { image: 'img:2' }, differs: true },
    { name: 'env', change: { env: ['A=1'] }, differs: true },
    { name: 'constraints', change: { constraints: ['node.role==worker'] }, differs: true },
    { name: 'replicas', change: { mode: { replicated: { replicas: 9 } } }, differs: false },
    { name: 'update config', change: { updateConfig: upd({ parallelism: 5 }) }, differs: false },
    { name: 'service labels', change: { labels: { team: 'x' } }, differs: false },
    { name: 'same content, other key order', change: JSON.parse(JSON.stringify({ stopGracePeriodMs: base.stopGracePeriodMs, image: base.image })), differs: false },
  ]
  for (const c of cases) t.equal(taskSpecDiffers(base, { ...base, ...c.change }), c.differs, c.name)
})
