/**
 * The Jepsen-style checker of the 3-manager lab test (test/e2e/ha/history.ts): what a history of acknowledged and
 * failed writes allows the final state to be. Pure: no lab.
 */
import t from 'tap'
import { checkHistory, type ContainerState, type Op, type OpSpec, type ServiceState, type TaskState } from '../../e2e/ha/history.ts'

const ops = (...xs: [OpSpec, boolean][]): Op[] => xs.map(([s, ok], i) => ({ ...s, i, via: 'node1', ok, err: ok ? '' : 'mesh: lost', startMs: i, endMs: i }))
const svc = (name: string, replicas: number, env: string[] = []): ServiceState => ({ name, replicas, env })
const running = (name: string, n: number): TaskState[] => Array.from({ length: n }, (_, k) => ({ serviceName: name, slot: k + 1, desiredState: 'running', state: 'running' }))
const boxes = (name: string, n: number): ContainerState[] => Array.from({ length: n }, (_, k) => ({ node: `node${k + 1}`, name: `${name}.${k + 1}.t${k}` }))
const create = (s: string, replicas = 1): OpSpec => ({ kind: 'create', service: s, replicas })
const scale = (s: string, replicas: number): OpSpec => ({ kind: 'scale', service: s, replicas })

const cases: { name: string; ops: Op[]; services: ServiceState[]; tasks: TaskState[]; containers: ContainerState[]; want: RegExp[] }[] = [
  { name: 'acknowledged writes all present: consistent', ops: ops([create('a'), true], [scale('a', 2), true]), services: [svc('a', 2)], tasks: running('a', 2), containers: boxes('a', 2), want: [] },
  { name: 'an acknowledged create missing', ops: ops([create('a'), true]), services: [], tasks: [], containers: [], want: [/created \(op 0, acknowledged\) but missing/] },
  { name: 'a failed create may or may not be there', ops: ops([create('a'), false]), services: [], tasks: [], containers: [], want: [] },
  { name: 'a failed scale after the last acknowledged one may have applied', ops: ops([create('a'), true], [scale('a', 3), false]), services: [svc('a', 3)], tasks: running('a', 3), containers: boxes('a', 3), want: [] },
  { name: 'an acknowledged scale lost', ops: ops([create('a'), true], [scale('a', 3), true]), services: [svc('a', 1)], tasks: running('a', 1), containers: boxes('a', 1), want: [/1 replicas, expected 3/] },
  { name: 'a service twice', ops: ops([create('a'), true]), services: [svc('a', 1), svc('a', 1)], tasks: running('a', 1), containers: boxes('a', 1), want: [/exists twice/] },
  { name: 'two running containers in one slot', ops: ops([create('a'), true]), services: [svc('a', 1)], tasks: running('a', 1), containers: [...boxes('a', 1), { node: 'node2', name: 'a.1.tx' }], want: [/slot 1: 2 running containers/, /2 running containers, expected 1/] },
  { name: 'a container of a removed service', ops: ops([create('a'), true], [{ kind: 'rm', service: 'a' }, true]), services: [], tasks: [], containers: boxes('a', 1), want: [/orphan/] },
  { name: 'an acknowledged update lost', ops: ops([create('a'), true], [{ kind: 'update', service: 'a', envKey: 'U1' }, true]), services: [svc('a', 1)], tasks: running('a', 1), containers: boxes('a', 1), want: [/update op 1 \(acknowledged\) lost/] },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = checkHistory(c.ops, c.services, c.tasks, c.containers)
    t.equal(got.length, c.want.length, got.join('; '))
    for (const w of c.want) t.ok(got.some((p) => w.test(p)), `${w}`)
  })
}
