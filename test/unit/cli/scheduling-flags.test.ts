/**
 * `mesh service create|update` scheduling flags → the request body (mode, job counts, placement preferences, max
 * per node), and how `service ls` shows modes and job progress.
 */
import t from 'tap'
import { applySpecFlags } from '../../../mesh/service-flags.ts'
import { replicasColumn, type ServiceView } from '../../../mesh/service-mode.ts'
import { defaultServiceSpec, type ServiceSpec, type ServiceSpecRequest } from '../../../src/api/index.ts'

const create = (flags: Record<string, unknown>): ServiceSpecRequest => applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx' }, flags, false)
const update = (cur: ServiceSpec, flags: Record<string, unknown>): ServiceSpec => applySpecFlags(cur, flags, true)
const base = defaultServiceSpec('web', 'nginx')

t.test('create: --mode, --replicas, --max-concurrent as docker', async (t) => {
  const cases: { name: string; flags: Record<string, unknown>; want: Partial<ServiceSpecRequest> }[] = [
    { name: 'replicated is the default and sends nothing', flags: { mode: 'replicated' }, want: {} },
    { name: 'global', flags: { mode: 'global' }, want: { mode: { global: {} } } },
    { name: 'replicated-job: max-concurrent defaults to replicas', flags: { mode: 'replicated-job', replicas: '5' }, want: { mode: { replicatedJob: { totalCompletions: 5, maxConcurrent: 5 } } } },
    { name: 'replicated-job with max-concurrent', flags: { mode: 'replicated-job', replicas: '5', maxConcurrent: '2' }, want: { mode: { replicatedJob: { totalCompletions: 5, maxConcurrent: 2 } } } },
    { name: 'replicated-job without replicas: one completion', flags: { mode: 'replicated-job' }, want: { mode: { replicatedJob: { totalCompletions: 1, maxConcurrent: 1 } } } },
    { name: 'global-job', flags: { mode: 'global-job' }, want: { mode: { globalJob: {} } } },
    { name: 'placement preferences, in order', flags: { placementPref: ['spread=node.labels.zone', 'spread=node.labels.rack'] }, want: { placementPreferences: [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }] } },
    { name: 'max replicas per node', flags: { replicas: '5', replicasMaxPerNode: '2' }, want: { mode: { replicated: { replicas: 5 } }, maxReplicasPerNode: 2 } },
  ]
  for (const c of cases) t.same(create(c.flags), { name: 'web', image: 'nginx', ...c.want }, c.name)
})

t.test('create: refusals, one line each, docker\'s words', async (t) => {
  const cases = [
    { flags: { mode: 'global', replicas: '2' }, want: 'replicas can only be used with replicated or replicated-job mode' },
    { flags: { mode: 'global-job', replicas: '2' }, want: 'replicas can only be used with replicated or replicated-job mode' },
    { flags: { mode: 'replicated', maxConcurrent: '2' }, want: 'max-concurrent can only be used with replicated-job mode' },
    { flags: { maxConcurrent: '2' }, want: 'max-concurrent can only be used with replicated-job mode' },
    { flags: { mode: 'cron' }, want: 'unknown mode: cron, want replicated, global, replicated-job or global-job' },
    { flags: { placementPref: ['pack=node.labels.zone'] }, want: 'unsupported placement preference pack (only spread is supported)' },
    { flags: { placementPref: ['node.labels.zone'] }, want: 'placement preference "node.labels.zone" must be of the format "<strategy>=<arg>", e.g. spread=node.labels.zone' },
    { flags: { replicasMaxPerNode: '-1' }, want: '--replicas-max-per-node "-1": want a whole number ≥ 0' },
    { flags: { mode: 'replicated-job', maxConcurrent: 'two' }, want: '--max-concurrent "two": want a whole number ≥ 0' },
  ]
  for (const c of cases) t.throws(() => create(c.flags), { message: c.want, code: 'MESH_ERR_CONFIG' }, c.want)
})

t.test('update: counts go to the mode the service has; preferences add and remove', async (t) => {
  const job = { ...base, mode: { replicatedJob: { totalCompletions: 5, maxConcurrent: 2 } } }
  t.same(update(job, { replicas: '8' }).mode, { replicatedJob: { totalCompletions: 8, maxConcurrent: 2 } })
  t.same(update(job, { maxConcurrent: '3' }).mode, { replicatedJob: { totalCompletions: 5, maxConcurrent: 3 } })
  t.same(update(base, { replicas: '4' }).mode, { replicated: { replicas: 4 } })
  t.throws(() => update(base, { maxConcurrent: '3' }), { message: 'max-concurrent can only be used with replicated-job mode' })
  t.throws(() => update({ ...base, mode: { globalJob: {} } }, { replicas: '3' }), { message: '--replicas only applies to replicated services' })
  const zoned = { ...base, placementPreferences: [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }] }
  t.same(update(zoned, { placementPrefRm: ['spread=node.labels.zone'] }).placementPreferences, [{ spread: 'node.labels.rack' }])
  t.same(update(zoned, { placementPrefAdd: ['spread=node.labels.dc'] }).placementPreferences,
    [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }, { spread: 'node.labels.dc' }])
  t.same(update(zoned, { placementPrefRm: ['spread=node.labels.zone', 'spread=node.labels.rack'] }).placementPreferences, [], 'all removed')
  t.same(update(base, { replicasMaxPerNode: '0' }).maxReplicasPerNode, 0, '0: no limit')
  t.same(update(zoned, {}), zoned, 'no flags: unchanged')
})

t.test('service ls: MODE and REPLICAS as docker prints them', async (t) => {
  const view = (mode: ServiceSpec['mode'], running: number, desired: number, o: Partial<ServiceView> = {}): ServiceView =>
    ({ id: 'x', spec: { ...base, mode, ...o.spec }, version: 1, createdAt: 0, updatedAt: 0, running, desired, ...o }) as ServiceView
  const cases = [
    { name: 'replicated', v: view({ replicated: { replicas: 3 } }, 2, 3), want: '2/3' },
    { name: 'replicated, max per node', v: view({ replicated: { replicas: 3 } }, 3, 3, { spec: { ...base, maxReplicasPerNode: 1 } }), want: '3/3 (max 1 per node)' },
    { name: 'global', v: view({ global: {} }, 4, 4), want: '4/4' },
    { name: 'replicated job running', v: view({ replicatedJob: { totalCompletions: 5, maxConcurrent: 2 } }, 2, 2, { completed: 1 }), want: '2/2 (1/5 completed)' },
    { name: 'replicated job done', v: view({ replicatedJob: { totalCompletions: 5, maxConcurrent: 5 } }, 0, 0, { completed: 5 }), want: '0/5 (5/5 completed)' },
    { name: 'global job', v: view({ globalJob: {} }, 1, 1, { completed: 2 }), want: '1/1 (2/3 completed)' },
  ]
  for (const c of cases) t.equal(replicasColumn(c.v), c.want, c.name)
  t.equal(replicasColumn(view({ replicated: { replicas: 3 } }, 1, 1), 3), '1/3', 'stack services passes its target')
})
