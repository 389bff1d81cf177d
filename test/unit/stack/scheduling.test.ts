/** Compose's scheduling keys → specs: deploy.mode (jobs), placement.preferences, placement.max_replicas_per_node. */
import t from 'tap'
import type { ServiceSpec } from '../../../src/api/types.ts'
import { errorOf, load } from './fixtures.ts'

const web = (deploy: string) => `version: "3.9"\nservices:\n  web:\n    image: nginx\n    deploy:\n${deploy.replace(/^/gm, '      ')}\n`
const spec = (deploy: string): ServiceSpec => load({ 'stack.yml': web(deploy) }).services[0] as ServiceSpec

t.test('deploy.mode: the job modes, with docker stack deploy\'s replicas rule', async (t) => {
  const cases = [
    { name: 'replicated-job: replicas is total and concurrency', deploy: 'mode: replicated-job\nreplicas: 3', want: { replicatedJob: { totalCompletions: 3, maxConcurrent: 3 } } },
    { name: 'replicated-job without replicas: one', deploy: 'mode: replicated-job', want: { replicatedJob: { totalCompletions: 1, maxConcurrent: 1 } } },
    { name: 'global-job', deploy: 'mode: global-job', want: { globalJob: {} } },
    { name: 'replicated still', deploy: 'mode: replicated\nreplicas: 2', want: { replicated: { replicas: 2 } } },
  ]
  for (const c of cases) t.same(spec(c.deploy).mode, c.want, c.name)
  t.equal(load({ 'stack.yml': web('mode: global-job') }).warnings.length, 0, 'no warning')
})

t.test('deploy.placement: preferences and max replicas per node', async (t) => {
  const s = spec('replicas: 4\nplacement:\n  preferences:\n    - spread: node.labels.zone\n    - spread: node.labels.rack\n  max_replicas_per_node: 2')
  t.same(s.placementPreferences, [{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }])
  t.equal(s.maxReplicasPerNode, 2)
  const r = load({ 'stack.yml': web('placement: {preferences: [{spread: node.labels.zone}]}') })
  t.same(r.warnings, [], 'preferences are no longer ignored')
})

t.test('refusals: one line naming the key, the same words as the CLI and the API', async (t) => {
  const cases = [
    { name: 'replicas with global-job', deploy: 'mode: global-job\nreplicas: 2', want: 'stack.yml: services.web.deploy.replicas: replicas can only be used with mode: replicated or replicated-job' },
    { name: 'unknown mode', deploy: 'mode: cron', want: /^stack\.yml: services\.web\.deploy\.mode: "cron" must be replicated, global, replicated-job or global-job/ },
    { name: 'engine labels', deploy: 'placement: {preferences: [{spread: engine.labels.zone}]}', want: /placement preference spread=engine\.labels\.zone: mesh nodes have no engine labels; use node\.labels\.<key>$/ },
    { name: 'not a label', deploy: 'placement: {preferences: [{spread: zone}]}', want: /placement preference spread=zone: want spread=node\.labels\.<key>/ },
    { name: 'another kind (schema)', deploy: 'placement: {preferences: [{pack: node.labels.zone}]}', want: /services\.web\.deploy\.placement\.preferences\[0\]/ },
    { name: 'max per node on a global service', deploy: 'mode: global\nplacement: {max_replicas_per_node: 1}', want: /replicas-max-per-node can only be used with replicated or replicated-job mode$/ },
    { name: 'a job with update_config', deploy: 'mode: replicated-job\nupdate_config: {parallelism: 2}', want: /update and rollback configuration is not supported for jobs$/ },
  ]
  for (const c of cases) {
    const msg = errorOf(() => load({ 'stack.yml': web(c.deploy) }))
    if (typeof c.want === 'string') t.equal(msg, c.want, c.name)
    else t.match(msg, c.want, c.name)
  }
})
