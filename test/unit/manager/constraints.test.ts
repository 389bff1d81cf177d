import t from 'tap'
import { constraintMatches } from '../../../src/manager/constraints.ts'
import { parseConstraint, parseConstraints, validateConstraints } from '../../../src/api/constraints.ts'
import * as errors from '../../../src/manager/errors.ts'
import * as apiErrors from '../../../src/api/errors.ts'
import { ConstraintError, ServiceSpecError } from '../../../src/api/errors.ts'
import { assertServiceSpec, validateServiceSpec } from '../../../src/api/validate.ts'
import type { ServiceSpec } from '../../../src/api/types.ts'
import { node, spec } from './sim.ts'

t.test('parse: good constraints, whitespace tolerant', async (t) => {
  const cases = [
    { input: 'node.role==manager', want: { field: 'node.role', op: '==', value: 'manager', key: 'node.role==manager' } },
    { input: '  node.role   ==   worker ', want: { field: 'node.role', op: '==', value: 'worker', key: 'node.role==worker' } },
    { input: 'node.hostname != n2', want: { field: 'node.hostname', op: '!=', value: 'n2', key: 'node.hostname!=n2' } },
    { input: 'node.id == 7f3a', want: { field: 'node.id', op: '==', value: '7f3a', key: 'node.id==7f3a' } },
    { input: 'node.labels.zone == eu-1', want: { field: 'node.labels', label: 'zone', value: 'eu-1', key: 'node.labels.zone==eu-1' } },
    { input: 'NODE.Labels.Disk!=hdd', want: { field: 'node.labels', label: 'Disk', op: '!=', value: 'hdd' } },
    { input: 'Node.Role == Manager', want: { field: 'node.role', value: 'Manager' } },
  ]
  for (const c of cases) t.match(parseConstraint(c.input), c.want, c.input)
})

t.test('parse: bad constraints are ConstraintErrors that name the constraint and the fix', async (t) => {
  const cases = [
    { input: 'node.colour == red', want: 'constraint "node.colour == red": unknown field node.colour; use node.id, node.hostname, node.role or node.labels.<key>' },
    { input: 'node.role manager', want: /constraint "node.role manager": expected <field> == <value> or <field> != <value>/ },
    { input: 'node.role = manager', want: /expected <field> == <value>/ },
    { input: '== manager', want: /expected <field> == <value>/ },
    { input: 'node.role ==', want: /missing value after ==/ },
    { input: 'node.role == boss', want: /node.role must be manager or worker, not "boss"/ },
    { input: 'node.labels == ssd', want: /missing label key; use node.labels.<key>/ },
    { input: 'node.labels. == ssd', want: /missing label key/ },
    { input: 'engine.labels.os == linux', want: /engine labels are not supported .*use node.labels.<key>/ },
    { input: 'node.role == manager == worker', want: /more than one operator/ },
    { input: '', want: /expected <field> == <value>/ },
  ]
  for (const c of cases) {
    t.throws(() => parseConstraint(c.input), typeof c.want === 'string' ? { message: c.want } : { message: c.want }, c.input)
    try {
      parseConstraint(c.input)
    } catch (err) {
      t.ok(err instanceof ConstraintError, `${c.input}: a ConstraintError`)
      t.equal((err as ConstraintError).code, 'MESH_ERR_CONSTRAINT')
    }
  }
})

t.test('validateConstraints lists every bad one; parseConstraints throws on the first', async (t) => {
  t.same(validateConstraints(['node.role==manager', 'node.labels.zone!=a']), [])
  const problems = validateConstraints(['node.role==manager', 'node.colour==red', 'node.role manager'])
  t.equal(problems.length, 2)
  t.match(problems[0], /node.colour/)
  t.match(problems[1], /node.role manager/)
  t.throws(() => parseConstraints(['node.role==worker', 'bogus']), ConstraintError)
})

t.test('match: == and != on role, hostname, id and labels', async (t) => {
  const m1 = node('m1', { hostname: 'alpha', role: 'manager', labels: { zone: 'eu', Disk: 'ssd' } })
  const w1 = node('w1', { hostname: 'beta', labels: { zone: 'us' } })
  const cases = [
    { c: 'node.role == manager', m1: true, w1: false },
    { c: 'node.role != manager', m1: false, w1: true },
    { c: 'node.role == MANAGER', m1: true, w1: false },
    { c: 'node.hostname == beta', m1: false, w1: true },
    { c: 'node.hostname != beta', m1: true, w1: false },
    { c: 'node.id == m1', m1: true, w1: false },
    { c: 'node.id != m1', m1: false, w1: true },
    { c: 'node.labels.zone == eu', m1: true, w1: false },
    { c: 'node.labels.zone != eu', m1: false, w1: true },
    { c: 'node.labels.Disk == ssd', m1: true, w1: false, why: 'label missing on w1: == fails' },
    { c: 'node.labels.Disk != ssd', m1: false, w1: true, why: 'label missing on w1: != holds' },
    { c: 'node.labels.disk == ssd', m1: false, w1: false, why: 'label keys are case-sensitive' },
  ]
  for (const c of cases) {
    const parsed = parseConstraint(c.c)
    t.equal(constraintMatches(parsed, m1), c.m1, `${c.c} on m1 ${c.why ?? ''}`)
    t.equal(constraintMatches(parsed, w1), c.w1, `${c.c} on w1 ${c.why ?? ''}`)
  }
})

t.test('validateServiceSpec lists every problem', async (t) => {
  const base = spec('web', { replicas: 2 })
  const port = (published: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ published, target: 80, protocol, mode: 'ingress' as const })
  const cases: Array<{ name: string; spec: ServiceSpec; want: Array<string | RegExp> }> = [
    { name: 'the defaults are valid', spec: base, want: [] },
    { name: 'scale to 0 is valid', spec: spec('web', { replicas: 0 }), want: [] },
    { name: 'negative replicas', spec: spec('web', { replicas: -1 }), want: ['replicas must be ≥ 0'] },
    { name: 'fractional replicas', spec: spec('web', { replicas: 1.5 }), want: ['replicas must be a whole number'] },
    { name: 'empty image', spec: { ...base, image: ' ' }, want: ['image must not be empty'] },
    { name: 'empty name', spec: { ...base, name: '' }, want: ['name must not be empty'] },
    { name: 'port published twice', spec: { ...base, ports: [port(80), port(80)] }, want: ['published port 80 used twice'] },
    { name: 'same port tcp and udp is fine', spec: { ...base, ports: [port(53), port(53, 'udp')] }, want: [] },
    { name: 'udp port twice', spec: { ...base, ports: [port(53, 'udp'), port(53, 'udp')] }, want: ['published port 53/udp used twice'] },
    { name: 'port out of range', spec: { ...base, ports: [port(70000)] }, want: ['published port 70000 must be 1-65535'] },
    {
      name: 'bad constraints', spec: { ...base, constraints: ['node.role==manager', 'node.colour == red'] },
      want: [/^constraint "node.colour == red": unknown field node.colour/],
    },
    {
      name: 'reservations above limits',
      spec: { ...base, resources: { limits: { nanoCpus: 1e8, memoryBytes: 50e6 }, reservations: { nanoCpus: 5e8, memoryBytes: 100e6 } } },
      want: ['memory reservation (100000000 bytes) exceeds the memory limit (50000000 bytes)', 'CPU reservation (0.5) exceeds the CPU limit (0.1)'],
    },
    {
      name: 'no limit means no ceiling',
      spec: { ...base, resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 5e8, memoryBytes: 100e6 } } },
      want: [],
    },
    {
      name: 'update and rollback settings',
      spec: {
        ...base, updateConfig: { ...base.updateConfig, parallelism: -1, maxFailureRatio: 2 },
        rollbackConfig: { ...base.rollbackConfig, failureAction: 'rollback' },
      },
      want: ['update parallelism must be a whole number ≥ 0', 'update max failure ratio must be between 0 and 1', 'rollback failure action "rollback" must be pause or continue'],
    },
    { name: 'restart policy', spec: { ...base, restartPolicy: { ...base.restartPolicy, delayMs: -5 } }, want: ['restart delay must be ≥ 0'] },
    {
      name: 'several at once', spec: { ...base, image: '', mode: { replicated: { replicas: -3 } } },
      want: ['image must not be empty', 'replicas must be ≥ 0'],
    },
  ]
  for (const c of cases) {
    const got = validateServiceSpec(c.spec)
    t.equal(got.length, c.want.length, `${c.name}: ${JSON.stringify(got)}`)
    c.want.forEach((w, i) => t.match(got[i], w, c.name))
  }
  t.throws(() => assertServiceSpec(spec('web', { replicas: -1 })), { message: 'service "web": replicas must be ≥ 0', code: 'MESH_ERR_SERVICE_SPEC' })
  t.throws(() => assertServiceSpec(spec('web', { replicas: -1 })), ServiceSpecError)
  t.doesNotThrow(() => assertServiceSpec(base))
})

t.test('manager and spec error classes have unique codes', async (t) => {
  const codes = [...Object.values(errors), ...Object.values(apiErrors)].map((E) => new (E as new (a: string, b: string[]) => { code: string })('x', ['y']).code)
  t.equal(new Set(codes).size, codes.length)
  t.ok(codes.every((c) => /^MESH_ERR_[A-Z_]+$/.test(c)))
})
