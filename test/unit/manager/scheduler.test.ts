import t from 'tap'
import { NoSuitableNodeError } from '../../../src/manager/errors.ts'
import { isEmptyPlan } from '../../../src/manager/orchestrator.ts'
import { assertPlaceable, explainPlacement, schedule, scheduleTasks } from '../../../src/manager/scheduler.ts'
import type { NodeRecord, TaskRecord } from '../../../src/api/types.ts'
import { GiB, MiB, Sim, node, service, spec } from './sim.ts'

const workers = (n: number, o: Partial<NodeRecord> = {}) => Array.from({ length: n }, (_, i) => node(`w${i + 1}`, o))
const manager = node('m1', { role: 'manager' })

t.test('spread: fewest tasks of the service, then fewest overall, then workers before managers, then node id', async (t) => {
  const cases = [
    { name: '3 replicas on 3 workers: one each', nodes: workers(3), replicas: 3, want: { w1: 1, w2: 1, w3: 1 } },
    { name: '6 replicas on 3 workers: two each', nodes: workers(3), replicas: 6, want: { w1: 2, w2: 2, w3: 2 } },
    { name: '4 replicas: ties go to the smaller node id', nodes: workers(3), replicas: 4, want: { w1: 2, w2: 1, w3: 1 } },
    { name: 'a manager is a node like any other', nodes: [manager, ...workers(3)], replicas: 4, want: { m1: 1, w1: 1, w2: 1, w3: 1 } },
    { name: 'the seed lab: 3 replicas on 1 manager + 3 workers, one per worker', nodes: [manager, ...workers(3)], replicas: 3, want: { w1: 1, w2: 1, w3: 1 } },
    {
      name: 'node.role==worker excludes the manager', nodes: [manager, ...workers(3)], replicas: 6,
      constraints: ['node.role==worker'], want: { w1: 2, w2: 2, w3: 2 },
    },
    {
      name: 'node.role==manager keeps everything on the manager', nodes: [manager, ...workers(3)], replicas: 2,
      constraints: ['node.role == manager'], want: { m1: 2 },
    },
    {
      name: 'labels and hostname', nodes: [node('a', { labels: { zone: 'x' } }), node('b', { labels: { zone: 'x' } }), node('c')],
      replicas: 3, constraints: ['node.labels.zone==x', 'node.hostname!=b'], want: { a: 3 },
    },
  ]
  for (const c of cases) {
    const sim = new Sim({ nodes: c.nodes, services: [service('web', { replicas: c.replicas, constraints: c.constraints ?? [] })] })
    const plan = sim.reconcile()
    t.equal(plan.create.length, c.replicas, `${c.name}: tasks created`)
    t.ok(plan.create.every((x) => x.status.state === 'assigned'), `${c.name}: created and assigned in one plan`)
    t.same(sim.spread('web'), c.want, c.name)
  }
})

t.test('spread counts the tasks of other services only as a tie-break', async (t) => {
  const sim = new Sim({ nodes: workers(3), services: [service('a', { replicas: 2 })] })
  sim.settle()
  t.same(sim.spread('a'), { w1: 1, w2: 1 })
  sim.state = { ...sim.state, services: [...sim.state.services, service('b', { replicas: 1 })] }
  sim.settle()
  t.same(sim.spread('b'), { w3: 1 }, 'the emptiest node overall wins when no node has a task of b')
  sim.setService({ ...sim.service('b'), spec: spec('b', { replicas: 3 }) })
  sim.settle()
  t.same(sim.spread('b'), { w1: 1, w2: 1, w3: 1 }, 'then one of b per node before any doubling')
})

t.test('spread goes by tasks of the service first, however loaded a node is with others', async (t) => {
  const sim = new Sim({ nodes: workers(3), services: [service('a', { replicas: 3, constraints: ['node.hostname==w1'] }), service('b', { replicas: 3 })] })
  sim.settle()
  t.same(sim.spread('a'), { w1: 3 })
  t.same(sim.spread('b'), { w1: 1, w2: 1, w3: 1 }, 'w1 carries 3 of a but still gets its one of b')
})

t.test('reservations: a node too small is skipped, and the explanation says so', async (t) => {
  const reservations = { nanoCpus: 0, memoryBytes: 512 * MiB }
  const nodes = [node('w1', { resources: { nanoCpus: 4e9, memoryBytes: 256 * MiB } }), ...['w2', 'w3'].map((id) => node(id, { resources: { nanoCpus: 4e9, memoryBytes: 1 * GiB } }))]
  const sim = new Sim({ nodes, services: [service('db', { replicas: 5, resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations } })] })
  sim.settle()
  t.same(sim.spread('db'), { w2: 2, w3: 2, '': 1 }, 'w1 never gets one; the fifth waits')
  const waiting = sim.live('db').find((x) => x.nodeId === '') as TaskRecord
  t.equal(waiting.status.state, 'pending')
  t.equal(waiting.status.message, 'no suitable node (3 nodes have insufficient memory)')
  t.ok(isEmptyPlan(sim.reconcile()), 'the same explanation is not rewritten: converged')
  sim.addNode(node('w4', { resources: { nanoCpus: 4e9, memoryBytes: 1 * GiB } }))
  sim.settle()
  t.same(sim.spread('db'), { w2: 2, w3: 2, w4: 1 }, 'a new node takes the waiting task')
})

t.test('the explanation counts failures per filter, worst first', async (t) => {
  const small = { nanoCpus: 1e9, memoryBytes: 64 * MiB }
  const cases = [
    {
      name: 'constraint, availability and memory',
      nodes: [node('m1', { role: 'manager', resources: small }), node('w1', { availability: 'drain' }), node('w2'), node('w3')],
      spec: { constraints: ['node.role==manager'], resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 128 * MiB } } },
      want: 'no suitable node (2 nodes not satisfying constraint node.role==manager; 1 node not available for new tasks; 1 node has insufficient memory)',
    },
    {
      name: 'down, paused and drained nodes are all unavailable',
      nodes: [node('a', { state: 'down' }), node('b', { availability: 'pause' }), node('c', { availability: 'drain' }), node('d', { state: 'unknown' })],
      spec: {}, want: 'no suitable node (4 nodes not available for new tasks)',
    },
    {
      name: 'CPU', nodes: [node('a', { resources: small })],
      spec: { resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 2e9, memoryBytes: 0 } } },
      want: 'no suitable node (1 node has insufficient CPU)',
    },
    {
      name: 'the first unmet constraint is named', nodes: [node('a', { labels: { zone: 'x' } }), node('b')],
      spec: { constraints: ['node.labels.zone==x', 'node.role==manager'] },
      want: 'no suitable node (1 node not satisfying constraint node.labels.zone==x; 1 node not satisfying constraint node.role==manager)',
    },
    { name: 'no nodes', nodes: [], spec: {}, want: 'no suitable node (no nodes in the cluster)' },
  ]
  for (const c of cases) {
    const sim = new Sim({ nodes: c.nodes, services: [service('x', c.spec)] })
    const plan = sim.reconcile()
    t.equal(plan.create[0]?.status.state, 'pending', c.name)
    t.equal(plan.create[0]?.status.message, c.want, c.name)
    t.equal(explainPlacement(sim.state, spec('x', c.spec)), c.want, `${c.name}: explainPlacement`)
    t.throws(() => assertPlaceable(sim.state, spec('x', c.spec)), NoSuitableNodeError)
  }
  t.equal(explainPlacement({ nodes: workers(1), services: [], tasks: [] }, spec('x')), null)
})

t.test('host-mode ports: one task per node and port', async (t) => {
  const ports = [{ published: 8080, target: 80, protocol: 'tcp' as const, mode: 'host' as const }]
  const sim = new Sim({ nodes: workers(2), services: [service('h', { replicas: 3, ports })] })
  sim.settle()
  t.same(sim.spread('h'), { w1: 1, w2: 1, '': 1 })
  t.equal(sim.live('h').find((x) => x.nodeId === '')?.status.message, 'no suitable node (host-mode port 8080/tcp already in use on 2 nodes)')
})

t.test('paused nodes take no new tasks; global tasks are checked against their own node', async (t) => {
  const sim = new Sim({ nodes: [node('a', { availability: 'pause' }), node('b')], services: [service('web', { replicas: 2 })] })
  sim.settle()
  t.same(sim.spread('web'), { b: 2 })
  const tiny = node('t', { resources: { nanoCpus: 1e9, memoryBytes: 10 * MiB } })
  const g = new Sim({ nodes: [tiny, node('u')], services: [service('agent', { global: true, resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 100 * MiB } } })] })
  g.settle()
  t.same(g.spread('agent'), { t: 1, u: 1 }, 'one per node, node preset')
  t.equal(g.live('agent').find((x) => x.nodeId === 't')?.status.state, 'pending', 'never moved elsewhere')
  t.equal(g.live('agent').find((x) => x.nodeId === 't')?.status.message, 'no suitable node (1 node has insufficient memory)')
  t.equal(g.live('agent').find((x) => x.nodeId === 'u')?.status.state, 'running')
})

t.test('schedule alone: pure, a plan of assignments', async (t) => {
  const pending = (id: string, slot: number): TaskRecord => ({
    id, serviceId: 's', serviceName: 's', slot, nodeId: '', specVersion: 1, spec: spec('s'), desiredState: 'running',
    status: { state: 'pending', message: '', timestamp: 0 }, createdAt: 0, updatedAt: 0,
  })
  const state = { nodes: workers(2), services: [service('s', { replicas: 3 })], tasks: [pending('x', 1), pending('y', 2), pending('z', 3)] }
  const before = JSON.stringify(state)
  const plan = schedule(state, 5)
  t.equal(JSON.stringify(state), before, 'input untouched')
  t.same(plan.update.map((x) => [x.id, x.nodeId, x.status.state, x.status.timestamp]), [['x', 'w1', 'assigned', 5], ['y', 'w2', 'assigned', 5], ['z', 'w1', 'assigned', 5]])
  t.equal(plan.update[0]?.status.message, 'assigned to node w1')
  t.same(scheduleTasks(workers(2), [{ ...pending('x', 1), desiredState: 'shutdown' }], 5).changed, [], 'a task desired shutdown is not placed')
})
