import t from 'tap'
import { defaultServiceSpec, defaultUpdateConfig } from '../../../src/api/spec.ts'
import { validateServiceSpec } from '../../../src/api/validate.ts'
import { isGlobalMode, isJobMode, modeFlag, modeFromFlags, modeName, replicasOf } from '../../../src/api/mode.ts'
import type { ServiceSpec } from '../../../src/api/types.ts'

const base = defaultServiceSpec('web', 'img:1')
const job = (totalCompletions: number, maxConcurrent: number): ServiceSpec['mode'] => ({ replicatedJob: { totalCompletions, maxConcurrent } })

t.test('validateServiceSpec: placement preferences, max replicas per node, jobs', async (t) => {
  const cases: Array<{ name: string; spec: ServiceSpec; want: string[] }> = [
    { name: 'spread over a node label', spec: { ...base, placementPreferences: [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }] }, want: [] },
    {
      name: 'engine labels: mesh has none', spec: { ...base, placementPreferences: [{ spread: 'engine.labels.zone' }] },
      want: ['placement preference spread=engine.labels.zone: mesh nodes have no engine labels; use node.labels.<key>'],
    },
    {
      name: 'not a label', spec: { ...base, placementPreferences: [{ spread: 'node.hostname' }] },
      want: ['placement preference spread=node.hostname: want spread=node.labels.<key>, e.g. spread=node.labels.zone'],
    },
    {
      name: 'another kind than spread', spec: { ...base, placementPreferences: [{ pack: 'node.labels.zone' } as never] },
      want: ['placement preference {"pack":"node.labels.zone"}: unsupported (only spread is supported, e.g. spread=node.labels.zone)'],
    },
    { name: 'not a list', spec: { ...base, placementPreferences: 'spread=node.labels.zone' as never }, want: ['placementPreferences must be a list of {spread: "node.labels.<key>"}'] },
    { name: 'max replicas per node', spec: { ...base, maxReplicasPerNode: 2 }, want: [] },
    { name: 'max replicas per node negative', spec: { ...base, maxReplicasPerNode: -1 }, want: ['replicas-max-per-node must be a whole number ≥ 0'] },
    {
      name: 'max replicas per node on a global service', spec: { ...base, mode: { global: {} }, maxReplicasPerNode: 1 },
      want: ['replicas-max-per-node can only be used with replicated or replicated-job mode'],
    },
    { name: 'a replicated job', spec: { ...base, mode: job(5, 2), maxReplicasPerNode: 1 }, want: [] },
    { name: 'a replicated job of 0', spec: { ...base, mode: job(0, 0) }, want: [] },
    { name: 'a global job', spec: { ...base, mode: { globalJob: {} } }, want: [] },
    { name: 'negative completions', spec: { ...base, mode: job(-1, 1) }, want: ['replicas (total completions) of a replicated job must be a whole number ≥ 0'] },
    { name: 'zero concurrency', spec: { ...base, mode: job(3, 0) }, want: ['max-concurrent must be ≥ 1 for a job with replicas to complete'] },
    { name: 'fractional concurrency', spec: { ...base, mode: job(3, 1.5) }, want: ['max-concurrent must be a whole number ≥ 0'] },
    {
      name: 'a job with an update config', spec: { ...base, mode: { globalJob: {} }, updateConfig: { ...defaultUpdateConfig(), parallelism: 2 } },
      want: ['update and rollback configuration is not supported for jobs'],
    },
    {
      name: 'a job with a rollback config', spec: { ...base, mode: job(1, 1), rollbackConfig: { ...defaultUpdateConfig(), order: 'start-first' } },
      want: ['update and rollback configuration is not supported for jobs'],
    },
    { name: 'an unknown mode', spec: { ...base, mode: { cron: {} } as never }, want: ['mode must be {replicated: {replicas: N}}, {global: {}}, {replicatedJob: {maxConcurrent: N, totalCompletions: N}} or {globalJob: {}}'] },
  ]
  for (const c of cases) t.same(validateServiceSpec(c.spec), c.want, c.name)
})

t.test('modes: names, flags and counts as docker has them', async (t) => {
  const cases = [
    { mode: { replicated: { replicas: 3 } }, flag: 'replicated', name: 'replicated', job: false, global: false, replicas: 3 },
    { mode: { global: {} }, flag: 'global', name: 'global', job: false, global: true, replicas: undefined },
    { mode: job(5, 2), flag: 'replicated-job', name: 'replicated job', job: true, global: false, replicas: 5 },
    { mode: { globalJob: {} }, flag: 'global-job', name: 'global job', job: true, global: true, replicas: undefined },
  ] as const
  for (const c of cases) {
    t.equal(modeFlag(c.mode), c.flag)
    t.equal(modeName(c.mode), c.name)
    t.equal(isJobMode(c.mode), c.job, `${c.flag} is a job: ${c.job}`)
    t.equal(isGlobalMode(c.mode), c.global, `${c.flag} is per node: ${c.global}`)
    t.equal(replicasOf(c.mode), c.replicas)
  }
})

t.test('modeFromFlags: docker\'s defaults and refusals', async (t) => {
  t.same(modeFromFlags('replicated', undefined, undefined), { replicated: { replicas: 1 } })
  t.same(modeFromFlags('replicated-job', 5, undefined), job(5, 5), 'max-concurrent defaults to replicas')
  t.same(modeFromFlags('replicated-job', 5, 2), job(5, 2))
  t.same(modeFromFlags('replicated-job', undefined, undefined), job(1, 1))
  t.same(modeFromFlags('global-job', undefined, undefined), { globalJob: {} })
  const refused = [
    { args: ['global', 3, undefined], want: 'replicas can only be used with replicated or replicated-job mode' },
    { args: ['global-job', 3, undefined], want: 'replicas can only be used with replicated or replicated-job mode' },
    { args: ['replicated', 3, 2], want: 'max-concurrent can only be used with replicated-job mode' },
    { args: ['global-job', undefined, 2], want: 'max-concurrent can only be used with replicated-job mode' },
    { args: ['cron', undefined, undefined], want: 'unknown mode: cron, want replicated, global, replicated-job or global-job' },
  ] as const
  for (const r of refused) t.throws(() => modeFromFlags(...(r.args as [string, number | undefined, number | undefined])), { message: r.want, code: 'MESH_ERR_CONFIG' })
})
