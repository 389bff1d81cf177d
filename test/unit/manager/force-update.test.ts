/**
 * `mesh service update --force` (swarmkit's ForceUpdate): the CLI bumps `forceUpdate`; the rolling update sees a
 * changed task spec and replaces every task once, following the update config; an update that changes nothing
 * replaces none.
 */
import t, { type Test } from 'tap'
import { applySpecFlags } from '../../../mesh/service-flags.ts'
import { validateServiceSpec } from '../../../src/api/validate.ts'
import { taskSpecDiffers } from '../../../src/api/task-spec.ts'
import type { ServiceSpec, UpdateConfig } from '../../../src/api/types.ts'
import { updateService } from '../../../src/manager/update.ts'
import { Sim, node, service } from './sim.ts'

const upd = (o: Partial<UpdateConfig> = {}): UpdateConfig => ({
  parallelism: 2, delayMs: 0, failureAction: 'pause', order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0, ...o,
})

/** A converged service of 4 tasks on 3 workers. */
function converged(cfg: Partial<UpdateConfig> = {}): Sim {
  const sim = new Sim({ nodes: [node('w1'), node('w2'), node('w3')], services: [service('web', { replicas: 4, updateConfig: upd(cfg), rollbackConfig: upd(cfg) })] })
  sim.settle()
  return sim
}

/** `mesh service update [flags] web` as the CLI builds it from the current spec, then stored by the manager. */
function cliUpdate(t: Test, sim: Sim, flags: Record<string, unknown>): void {
  const s = sim.service('web')
  const spec = applySpecFlags(structuredClone(s.spec), flags, true) as ServiceSpec
  t.same(validateServiceSpec(spec), [], 'the manager accepts the spec')
  sim.setService(updateService(s, spec, sim.now))
}

/** Settle the update (following wake-ups); per round, how many of the 4 slots hold no running task. */
function roll(sim: Sim): { maxDown: number; created: string[] } {
  const before = new Set(sim.state.tasks.map((x) => x.id))
  let maxDown = 0
  sim.settle({
    follow: true,
    each: (s) => {
      const up = new Set(s.running('web').filter((x) => x.desiredState === 'running').map((x) => x.slot))
      maxDown = Math.max(maxDown, [1, 2, 3, 4].filter((slot) => !up.has(slot)).length)
    },
  })
  return { maxDown, created: sim.state.tasks.filter((x) => !before.has(x.id)).map((x) => x.id) }
}

t.test('--force on an unchanged spec replaces every task once, in batches of the update parallelism', async (t) => {
  const sim = converged({ parallelism: 2 })
  const old = sim.live('web').map((x) => x.id).sort()
  const version = sim.service('web').version
  cliUpdate(t, sim, { force: true })
  t.equal(sim.service('web').spec.forceUpdate, 1, 'the CLI sends forceUpdate = current + 1')
  const r = roll(sim)
  t.equal(r.created.length, 4, 'one new task per slot, no more')
  t.equal(r.maxDown, 2, 'stop-first, parallelism 2: two slots at a time')
  t.same(sim.live('web').map((x) => x.slot).sort(), [1, 2, 3, 4])
  t.ok(sim.live('web').every((x) => x.spec.forceUpdate === 1 && !old.includes(x.id)), 'every live task is new and carries forceUpdate 1')
  t.ok(old.every((id) => sim.task(id).status.state === 'shutdown'), 'every old task was stopped')
  t.equal(sim.service('web').version, version + 1, 'a new version is recorded')
  t.match(sim.service('web').updateStatus, { state: 'completed' })

  cliUpdate(t, sim, { force: true })
  t.equal(sim.service('web').spec.forceUpdate, 2, 'a second --force bumps it again')
  t.equal(roll(sim).created.length, 4, 'and replaces every task again')
})

t.test('an update that changes nothing replaces no task', async (t) => {
  const sim = converged()
  const version = sim.service('web').version
  cliUpdate(t, sim, {})
  const r = roll(sim)
  t.same(r.created, [], 'no task created')
  t.equal(r.maxDown, 0)
  t.equal(sim.service('web').version, version + 1)
  t.notOk(sim.service('web').updateStatus, 'no rolling update started')
})

t.test('--force with other flags is one update: each task replaced once', async (t) => {
  const sim = converged({ parallelism: 1, order: 'start-first' })
  cliUpdate(t, sim, { force: true, image: 'img:2', envAdd: ['A=1'] })
  const r = roll(sim)
  t.equal(r.created.length, 4)
  t.equal(r.maxDown, 0, 'start-first: no slot down')
  t.ok(sim.live('web').every((x) => x.spec.image === 'img:2' && x.spec.forceUpdate === 1 && x.spec.env.includes('A=1')))
})

t.test('forceUpdate is part of what a task runs with; the manager refuses a bad value', async (t) => {
  const spec = service('web').spec
  t.ok(taskSpecDiffers(spec, { ...spec, forceUpdate: 1 }), 'absent → 1 differs')
  t.ok(taskSpecDiffers({ ...spec, forceUpdate: 1 }, { ...spec, forceUpdate: 2 }), '1 → 2 differs')
  t.notOk(taskSpecDiffers({ ...spec, forceUpdate: 2 }, { ...spec, forceUpdate: 2 }), 'same counter: same task')
  t.same(validateServiceSpec({ ...spec, forceUpdate: -1 }), ['forceUpdate must be a whole number ≥ 0'])
  t.same(validateServiceSpec({ ...spec, forceUpdate: 'x' as unknown as number }), ['forceUpdate must be a whole number ≥ 0'])
  t.same(applySpecFlags(spec, { force: true }, false).forceUpdate, undefined, 'create has no --force')
})
