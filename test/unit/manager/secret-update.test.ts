/**
 * `mesh service update --secret-add` / `--secret-rm` roll tasks like any update: a reference is part of what a task
 * runs with (its fingerprint), so an update that only adds a secret replaces every task, in update batches.
 */
import t from 'tap'
import { applySpecFlags } from '../../../mesh/service-flags.ts'
import { validateServiceSpec } from '../../../src/api/validate.ts'
import type { ServiceSpec, UpdateConfig } from '../../../src/api/types.ts'
import { updateService } from '../../../src/manager/update.ts'
import { Sim, node, service } from './sim.ts'

const upd: UpdateConfig = { parallelism: 1, delayMs: 0, failureAction: 'pause', order: 'start-first', monitorMs: 5000, maxFailureRatio: 0 }

for (const c of [
  { name: 'adding a secret', flags: { secretAdd: ['db_password'] }, want: ['db_password'] },
  { name: 'swapping one for another on the same file', flags: { secretRm: ['old'], secretAdd: ['source=new,target=old'] }, want: ['new'], start: ['old'] },
]) {
  t.test(`an update ${c.name} replaces every task`, async (t) => {
    const secrets = (c.start ?? []).map((name) => ({ id: `id-${name}`, name, target: name, uid: '0', gid: '0', mode: 0o444 }))
    const sim = new Sim({ nodes: [node('w1'), node('w2')], services: [service('web', { replicas: 3, updateConfig: upd, rollbackConfig: upd, ...(secrets.length ? { secrets } : {}) })] })
    sim.settle()
    const old = sim.live('web').map((x) => x.id)
    const s = sim.service('web')
    const spec = applySpecFlags(structuredClone(s.spec), c.flags, true) as ServiceSpec
    spec.secrets = spec.secrets?.map((r) => ({ ...r, id: r.id || `id-${r.name}` })) // the manager's resolution
    t.same(validateServiceSpec(spec), [])
    sim.setService(updateService(s, spec, sim.now))
    sim.settle({ follow: true })
    const live = sim.live('web')
    t.equal(live.length, 3)
    t.ok(live.every((x) => !old.includes(x.id)), 'every live task is new')
    t.ok(live.every((x) => x.spec.secrets?.map((r) => r.name).join() === c.want.join()), 'and carries the new references')
  })
}
