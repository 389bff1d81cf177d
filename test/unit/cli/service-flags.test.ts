/**
 * `mesh service create|update` flags → the request body: create sends only what the user gave (the manager fills
 * the defaults); update starts from the current spec and keeps everything the flags do not touch.
 */
import t from 'tap'
import { applySpecFlags } from '../../../mesh/service-flags.ts'
import { defaultServiceSpec, type ServiceSpecRequest } from '../../../src/api/index.ts'

const create = (flags: Record<string, unknown>): ServiceSpecRequest => applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx' }, flags, false)

t.test('create: only what the flags set', async (t) => {
  const cases: { name: string; flags: Record<string, unknown>; want: ServiceSpecRequest }[] = [
    { name: 'no flags', flags: {}, want: { name: 'web', image: 'nginx' } },
    { name: 'replicas', flags: { replicas: '3' }, want: { name: 'web', image: 'nginx', mode: { replicated: { replicas: 3 } } } },
    {
      name: 'publish and env', flags: { publish: ['8080:80'], env: ['A=1', 'B=2'] },
      want: { name: 'web', image: 'nginx', ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], env: ['A=1', 'B=2'] },
    },
    {
      name: 'one limit, one restart setting, one update setting', flags: { limitMemory: '50M', restartCondition: 'none', updateOrder: 'start-first' },
      want: {
        name: 'web', image: 'nginx', resources: { limits: { memoryBytes: 50 * 2 ** 20 } }, restartPolicy: { condition: 'none' },
        updateConfig: { order: 'start-first' },
      },
    },
    { name: 'labels and constraints', flags: { label: ['a=b'], constraint: ['node.role==manager'] }, want: { name: 'web', image: 'nginx', labels: { a: 'b' }, constraints: ['node.role==manager'] } },
  ]
  for (const c of cases) t.same(create(c.flags), c.want, c.name)
  t.throws(() => applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx', mode: { global: {} } }, { replicas: '2' }, false), { message: '--replicas only applies to replicated services' })
  t.throws(() => create({ updateOrder: 'sideways' }), { message: '--update-order "sideways": want stop-first or start-first' })
})

t.test('update: the current spec with the flags applied', async (t) => {
  const cur = { ...defaultServiceSpec('web', 'nginx'), env: ['A=1', 'B=2'], ports: [{ published: 8080, target: 80, protocol: 'tcp' as const, mode: 'ingress' as const }] }
  const next = applySpecFlags(cur, { envAdd: ['A=3'], envRm: ['B'], publishRm: ['8080'], limitCpu: '0.5', image: 'nginx:2' }, true)
  t.same(next, { ...cur, image: 'nginx:2', env: ['A=3'], ports: [], resources: { ...cur.resources, limits: { nanoCpus: 5e8, memoryBytes: 0 } } })
  t.same(cur.env, ['A=1', 'B=2'], 'the current spec is not changed')
})
