import t from 'tap'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ServiceRecord, ServiceSpec } from '../../../src/api/types.ts'
import { StackError, planStack, sameSpec, updateBody } from '../../../src/stack/index.ts'
import { TUTORIAL, load } from './fixtures.ts'

const desired = load({ 'docker-compose.yml': TUTORIAL }).services

function record(spec: ServiceSpec, id = `id-${spec.name}`): ServiceRecord {
  return { id, spec: structuredClone(spec), version: 1, createdAt: 0, updatedAt: 0 }
}

function named(specs: readonly ServiceSpec[], name: string): ServiceSpec {
  return structuredClone(specs.find((s) => s.name === `getstartedlab_${name}`) as ServiceSpec)
}

const summary = (p: ReturnType<typeof planStack>) => ({
  create: p.create.map((s) => s.name), update: p.update.map((u) => u.spec.name), unchanged: p.unchanged, remove: p.remove.map((r) => r.name),
  ...(p.kept.length > 0 ? { kept: p.kept } : {}),
})

t.test('planner table', async (t) => {
  const other = defaultServiceSpec('monitoring', 'prom/prometheus')
  const otherStack = { ...defaultServiceSpec('blog_web', 'ghost'), labels: { 'com.docker.stack.namespace': 'blog' } }
  const scaled = named(desired, 'web')
  scaled.mode = { replicated: { replicas: 2 } }
  const oldKeyOrder = Object.fromEntries(Object.entries(named(desired, 'redis')).reverse()) as unknown as ServiceSpec
  const cases: { name: string; current: ServiceRecord[]; prune?: boolean; want: ReturnType<typeof summary> }[] = [
    { name: 'first deploy creates everything', current: [record(other), record(otherStack)],
      want: { create: ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'], update: [], unchanged: [], remove: [] } },
    { name: 'redeploy of the same file changes nothing', current: desired.map((s) => record(s)),
      want: { create: [], update: [], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'], remove: [] } },
    { name: 'key order and fields the manager adds do not count', current: [record({ ...oldKeyOrder, registryAuth: undefined } as ServiceSpec), ...desired.slice(1).map((s) => record({ ...s, extra: 'x' } as ServiceSpec))],
      want: { create: [], update: [], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'], remove: [] } },
    { name: 'only the changed service is updated', current: [record(named(desired, 'redis')), record(named(desired, 'visualizer')), record(scaled)],
      want: { create: [], update: ['getstartedlab_web'], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer'], remove: [] } },
    { name: '--prune: a service no longer in the file is removed; others stacks and services untouched', prune: true,
      current: [...desired.map((s) => record(s)), record({ ...named(desired, 'web'), name: 'getstartedlab_old', ports: [] }), record(other), record(otherStack)],
      want: { create: [], update: [], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'], remove: ['getstartedlab_old'] } },
    { name: 'no --prune: a service no longer in the file stays, untouched (docker)',
      current: [...desired.map((s) => record(s)), record({ ...named(desired, 'web'), name: 'getstartedlab_old', ports: [] }), record(other), record(otherStack)],
      want: { create: [], update: [], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'], remove: [], kept: ['getstartedlab_old'] } },
    { name: 'missing one is created', current: [record(named(desired, 'redis'))],
      want: { create: ['getstartedlab_visualizer', 'getstartedlab_web'], update: [], unchanged: ['getstartedlab_redis'], remove: [] } },
  ]
  for (const c of cases) t.same(summary(planStack('getstartedlab', desired, c.current, { prune: c.prune ?? false })), c.want, c.name)
})

t.test('an update clears optional fields the file dropped', async (t) => {
  const cur = named(desired, 'redis')
  cur.healthcheck = { test: ['CMD', 'true'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 }
  const want = named(desired, 'redis')
  delete want.command
  t.notOk(sameSpec(cur, want))
  const body = updateBody(cur, want)
  t.equal(body.command, null)
  t.equal(body.healthcheck, null)
  t.notOk('entrypoint' in body, 'a field neither has is not sent')
  const p = planStack('getstartedlab', [want], [record(cur)])
  t.same(p.update[0]?.body, body)
  t.ok(sameSpec({ ...want, command: null, healthcheck: null } as unknown as ServiceSpec, want), 'after the update the stored nulls compare equal')
})

t.test('an update clears the placement preferences and max per node the file dropped', async (t) => {
  const cur = { ...named(desired, 'redis'), placementPreferences: [{ spread: 'node.labels.zone' }], maxReplicasPerNode: 2 }
  const want = named(desired, 'redis')
  t.notOk(sameSpec(cur, want), 'dropping them is a change')
  const body = updateBody(cur, want)
  t.equal(body.placementPreferences, null)
  t.equal(body.maxReplicasPerNode, null)
})

t.test('refusals before anything is deployed', async (t) => {
  const taken = record(defaultServiceSpec('getstartedlab_web', 'nginx'))
  t.throws(() => planStack('getstartedlab', desired, [taken]), new StackError('service "getstartedlab_web" already exists and is not part of stack "getstartedlab"; remove it or choose another stack name'))
  const port = defaultServiceSpec('proxy', 'haproxy')
  port.ports = [{ published: 4000, target: 80, protocol: 'tcp', mode: 'ingress' }]
  t.throws(() => planStack('getstartedlab', desired, [record(port)]), { code: 'MESH_ERR_STACK', message: 'service "getstartedlab_web": port 4000/tcp is already published by service "proxy"' })
  port.ports = [{ published: 4000, target: 80, protocol: 'udp', mode: 'ingress' }]
  t.doesNotThrow(() => planStack('getstartedlab', desired, [record(port)]), 'another protocol is fine')
})

t.test('a port held by a service the deploy keeps (no --prune) is refused; --prune frees it', async (t) => {
  const old = record({ ...named(desired, 'web'), name: 'getstartedlab_old' })
  const current = [record(named(desired, 'redis')), record(named(desired, 'visualizer')), old]
  t.throws(() => planStack('getstartedlab', desired, current), {
    code: 'MESH_ERR_STACK',
    message: 'service "getstartedlab_web": port 4000/tcp is already published by service "getstartedlab_old", which is no longer in the files (deploy with --prune to remove it)',
  })
  const p = planStack('getstartedlab', desired, current, { prune: true })
  t.same(summary(p), { create: ['getstartedlab_web'], update: [], unchanged: ['getstartedlab_redis', 'getstartedlab_visualizer'], remove: ['getstartedlab_old'] })
})

t.test('hostname, user and workdir dropped from the file are cleared by the update', async (t) => {
  const cur = { ...named(desired, 'redis'), hostname: 'db', user: 'redis', workdir: '/data' }
  const want = named(desired, 'redis')
  t.notOk(sameSpec(cur, want))
  const body = updateBody(cur, want)
  t.same([body.hostname, body.user, body.workdir], [null, null, null])
})
