import t from 'tap'
import { applyPlan, isEmptyPlan, nextWakeAt, prunable, reconcile } from '../../../src/manager/orchestrator.ts'
import { updateService } from '../../../src/manager/update.ts'
import type { TaskRecord } from '../../../src/api/types.ts'
import { Sim, deepFreeze, node, service, spec } from './sim.ts'

const workers = (n: number) => Array.from({ length: n }, (_, i) => node(`w${i + 1}`))
const slotsOf = (tasks: TaskRecord[]) => tasks.map((x) => x.slot).sort((a, b) => a - b)

t.test('replicated: one task per slot 1..replicas, pending then assigned', async (t) => {
  const sim = new Sim({ nodes: workers(3), services: [service('web', { replicas: 3 })] })
  const plan = sim.reconcile()
  t.same(plan.create.map((x) => x.slot), [1, 2, 3])
  t.match(plan.create[0], { serviceId: 'web', serviceName: 'web', specVersion: 1, desiredState: 'running', status: { state: 'assigned' } })
  t.same(plan.events.filter((e) => e.type === 'taskCreated').map((e) => e.message), ['slot 1 has no task', 'slot 2 has no task', 'slot 3 has no task'])
  sim.runtime()
  t.equal(sim.running('web').length, 3)
  t.ok(isEmptyPlan(sim.reconcile()), 'converged: an empty plan')
})

t.test('scale up, down and to 0', async (t) => {
  const cases = [
    { name: 'up 3 → 5', from: 3, to: 5, wantSlots: [1, 2, 3, 4, 5], kept: 3, shutdown: [] as number[] },
    { name: 'down 5 → 2: the highest slots go', from: 5, to: 2, wantSlots: [1, 2], kept: 2, shutdown: [5, 4, 3] },
    { name: 'to 0', from: 3, to: 0, wantSlots: [], kept: 0, shutdown: [3, 2, 1] },
    { name: 'from 0', from: 0, to: 2, wantSlots: [1, 2], kept: 0, shutdown: [] },
  ]
  for (const c of cases) {
    const sim = new Sim({ nodes: workers(3), services: [service('web', { replicas: c.from })] })
    sim.settle()
    const before = new Set(sim.live('web').map((x) => x.id))
    const s = sim.service('web')
    const scaled = updateService(s, { ...s.spec, mode: { replicated: { replicas: c.to } } }, sim.now)
    sim.setService(scaled)
    const plan = sim.reconcile()
    t.same(plan.events.filter((e) => e.type === 'taskShutdown').map((e) => e.slot), c.shutdown, `${c.name}: shut down, highest slot first`)
    sim.runtime()
    sim.settle()
    t.same(slotsOf(sim.live('web')), c.wantSlots, c.name)
    t.equal(sim.live('web').filter((x) => before.has(x.id)).length, c.kept, `${c.name}: surviving tasks are not replaced`)
    t.equal(sim.service('web').updateStatus, undefined, `${c.name}: scaling is not a rolling update`)
    t.ok(isEmptyPlan(sim.reconcile()), `${c.name}: converged`)
  }
})

t.test('global: one task per eligible node', async (t) => {
  const sim = new Sim({ nodes: [node('a'), node('b', { labels: { gpu: 'yes' } }), node('c', { labels: { gpu: 'yes' } })], services: [service('mon', { global: true })] })
  sim.settle()
  t.same(sim.spread('mon'), { a: 1, b: 1, c: 1 })
  t.ok(sim.live('mon').every((x) => x.slot === 0))
  sim.addNode(node('d'))
  const plan = sim.reconcile()
  t.same(plan.create.map((x) => [x.nodeId, x.status.state]), [['d', 'assigned']], 'a new node gets one')
  sim.runtime()
  sim.setNode('a', { availability: 'drain' })
  const drained = sim.reconcile()
  t.same(drained.update.map((x) => [x.nodeId, x.desiredState]), [['a', 'shutdown']], 'a drained node loses its task')
  t.equal(drained.create.length, 0, 'and it is not replaced')
  sim.runtime()
  sim.setNode('b', { availability: 'pause' })
  t.ok(isEmptyPlan(sim.reconcile()), 'a paused node keeps its task')
  sim.setService({ ...sim.service('mon'), spec: spec('mon', { global: true, constraints: ['node.labels.gpu==yes'] }) })
  sim.settle()
  t.same(sim.spread('mon'), { b: 1, c: 1 }, 'constraint no longer met on d: its task stops')
  sim.setNode('c', { labels: {} })
  sim.settle()
  t.same(sim.spread('mon'), { b: 1 }, 'a label removed: the task on c stops')
  sim.setNode('a', { availability: 'active', labels: { gpu: 'yes' } })
  sim.settle()
  t.same(sim.spread('mon'), { a: 1, b: 1 }, 'a node that becomes eligible gets one')
  const fresh = new Sim({ nodes: [node('a', { availability: 'pause' }), node('b', { state: 'down' }), node('c')], services: [service('mon', { global: true })] })
  fresh.settle()
  t.same(fresh.spread('mon'), { c: 1 }, 'no new global task on a paused or down node')
})

t.test('drain moves replicated tasks now; pause keeps them but takes no new ones', async (t) => {
  const sim = new Sim({ nodes: workers(3), services: [service('web', { replicas: 3 })] })
  sim.settle()
  const onW1 = sim.live('web').find((x) => x.nodeId === 'w1') as TaskRecord
  sim.setNode('w1', { availability: 'drain' })
  const plan = sim.reconcile()
  t.same(plan.update.map((x) => [x.id, x.desiredState]), [[onW1.id, 'shutdown']])
  t.equal(plan.create.length, 1, 'replaced in the same plan, before the old one has stopped')
  t.match(plan.create[0], { slot: onW1.slot, status: { state: 'assigned' } })
  t.not(plan.create[0]?.nodeId, 'w1')
  sim.runtime()
  sim.settle()
  t.equal(sim.spread('web').w1, undefined, 'nothing left on the drained node')
  t.equal(sim.running('web').length, 3)
  sim.setNode('w2', { availability: 'pause' })
  t.ok(isEmptyPlan(sim.reconcile()), 'pause keeps the existing tasks')
  const s = sim.service('web')
  sim.setService(updateService(s, { ...s.spec, mode: { replicated: { replicas: 5 } } }, sim.now))
  const before = sim.spread('web').w2
  sim.settle()
  t.equal(sim.spread('web').w2, before, 'and the new ones go elsewhere')
  t.equal(sim.spread('web').w3, 5 - (before ?? 0))
})

t.test('node down: left alone within the grace period, then orphaned and replaced', async (t) => {
  const cases = [
    { name: 'default grace 5000', grace: undefined, wait: 5000 },
    { name: 'grace 20000', grace: 20000, wait: 20000 },
  ]
  for (const c of cases) {
    const sim = new Sim({ nodes: workers(3), services: [service('web', { replicas: 3 })] }, c.grace === undefined ? {} : { nodeDownGraceMs: c.grace })
    sim.settle()
    const onW1 = sim.live('web').find((x) => x.nodeId === 'w1') as TaskRecord
    const downAt = sim.now
    sim.setNode('w1', { state: 'down', stateChangedAt: downAt })
    sim.now = downAt + c.wait - 1
    const early = sim.reconcile()
    t.ok(isEmptyPlan(early), `${c.name}: nothing within the grace period`)
    t.equal(early.wakeAt, downAt + c.wait, `${c.name}: wake when it ends`)
    t.equal(nextWakeAt(sim.state, sim.now, c.grace === undefined ? {} : { nodeDownGraceMs: c.grace }), downAt + c.wait)
    sim.now = downAt + c.wait
    const plan = sim.reconcile()
    t.match(sim.task(onW1.id), { desiredState: 'shutdown', status: { state: 'orphaned', message: `node w1 down for ${c.wait / 1000}s` } })
    t.same(plan.events.filter((e) => e.type === 'taskOrphaned').map((e) => e.taskId), [onW1.id])
    t.equal(plan.create.length, 1, `${c.name}: replaced`)
    t.match(plan.create[0], { slot: onW1.slot, status: { state: 'assigned' } })
    t.not(plan.create[0]?.nodeId, 'w1')
    sim.runtime()
    t.equal(sim.running('web').filter((x) => x.nodeId !== 'w1').length, 3, `${c.name}: three running elsewhere`)
    t.ok(isEmptyPlan(sim.reconcile()), `${c.name}: converged`)
    t.equal(nextWakeAt(sim.state, sim.now), undefined)
  }
})

t.test('a node that leaves the cluster orphans its tasks; a removed service stops its tasks', async (t) => {
  const sim = new Sim({ nodes: workers(2), services: [service('web', { replicas: 2 }), service('db', { replicas: 1 })] })
  sim.settle()
  sim.state = { ...sim.state, nodes: sim.state.nodes.filter((n) => n.id !== 'w2') }
  sim.reconcile()
  t.ok(sim.state.tasks.filter((x) => x.nodeId === 'w2').every((x) => x.status.state === 'orphaned'))
  t.same(sim.spread('web'), { w1: 2 })
  sim.runtime()
  sim.state = { ...sim.state, services: sim.state.services.filter((s) => s.id !== 'db') }
  const plan = sim.reconcile()
  t.same(plan.events.map((e) => e.message), ['service db was removed'])
  sim.runtime()
  t.equal(sim.live('db').length, 0)
  t.ok(isEmptyPlan(sim.reconcile()))
})

t.test('a replicated task whose node no longer meets its constraints moves', async (t) => {
  const sim = new Sim({ nodes: [node('a', { labels: { ssd: '1' } }), node('b', { labels: { ssd: '1' } })], services: [service('db', { replicas: 1, constraints: ['node.labels.ssd==1'] })] })
  sim.settle()
  t.same(sim.spread('db'), { a: 1 })
  sim.setNode('a', { labels: {} })
  const plan = sim.reconcile()
  t.match(plan.events.find((e) => e.type === 'taskShutdown')?.message, 'node a no longer satisfies constraint node.labels.ssd==1')
  sim.runtime()
  sim.settle()
  t.same(sim.spread('db'), { b: 1 })
})

t.test('reconcile is pure and idempotent', async (t) => {
  const state = deepFreeze({ nodes: workers(3), services: [service('web', { replicas: 4 }), service('mon', { global: true })], tasks: [] })
  let n = 0
  const plan = reconcile(state, 10, { newId: () => `id${n++}` })
  t.equal(plan.create.length, 7)
  const next = applyPlan(state, plan)
  t.equal(state.tasks.length, 0, 'applyPlan leaves its input alone')
  t.ok(isEmptyPlan(reconcile(next, 10, { newId: () => 'x' })), 'its own output gives an empty plan')
  t.ok(isEmptyPlan(reconcile(next, 99999, { newId: () => 'x' })), 'and later too: nothing depends on time alone')
  const again = reconcile(state, 10, { newId: () => `id${n++ - 7}` })
  t.same(again.create.map((x) => [x.slot, x.nodeId]), plan.create.map((x) => [x.slot, x.nodeId]), 'deterministic')
})

t.test('prunable keeps the newest ended tasks of each slot', async (t) => {
  const sim = new Sim({ nodes: workers(1), services: [service('web', { replicas: 2 })] })
  sim.settle()
  for (let i = 0; i < 8; i++) {
    const task = sim.live('web').find((x) => x.slot === 1) as TaskRecord
    sim.crash(task.id, 1, 10)
    sim.settle()
  }
  const slot1 = sim.state.tasks.filter((x) => x.slot === 1)
  t.equal(slot1.length, 9)
  const ids = prunable(sim.state)
  t.same(ids, slot1.slice(0, 3).map((x) => x.id), 'the three oldest of 8 ended tasks go; 5 stay')
  t.same(prunable(sim.state, 10), [])
  const withAttempts = { ...sim.state, services: sim.state.services.map((s) => ({ ...s, spec: { ...s.spec, restartPolicy: { ...s.spec.restartPolicy, maxAttempts: 6 } } })) }
  t.equal(prunable(withAttempts).length, 1, 'restart maxAttempts + 1 are kept so attempts still count')
  const gone = { ...sim.state, services: [] }
  t.equal(prunable(gone).length, 8, 'ended tasks of a removed service all go; live ones never')
})
