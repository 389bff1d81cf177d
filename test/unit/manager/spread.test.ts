import t from 'tap'
import { spreadCounts, spreadLabels } from '../../../src/manager/spread.ts'
import { emptyLoad } from '../../../src/manager/placement.ts'
import type { NodeRecord } from '../../../src/api/types.ts'
import { Sim, node, service } from './sim.ts'

const zoned = (id: string, zone?: string, rack?: string): NodeRecord =>
  node(id, { labels: { ...(zone ? { zone } : {}), ...(rack ? { rack } : {}) } })
const spreadZone = [{ spread: 'node.labels.zone' }]

/** Live tasks of the service per value of a node label (`-` for nodes without it). */
function byLabel(sim: Sim, serviceId: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [nodeId, n] of Object.entries(sim.spread(serviceId))) {
    const v = sim.state.nodes.find((x) => x.id === nodeId)?.labels[label] ?? '-'
    out[v] = (out[v] ?? 0) + n
  }
  return out
}

t.test('spread over a label: even over its values, whatever the node count per value', async (t) => {
  const cases = [
    { name: 'zone a: 1 node, zone b: 3 nodes, 4 replicas → 2 + 2', nodes: [zoned('a1', 'a'), zoned('b1', 'b'), zoned('b2', 'b'), zoned('b3', 'b')], replicas: 4, want: { a: 2, b: 2 }, nodesWant: { a1: 2, b1: 1, b2: 1 } },
    { name: '5 replicas: the extra one to the first tie (fewest overall, then node id)', nodes: [zoned('a1', 'a'), zoned('b1', 'b'), zoned('b2', 'b'), zoned('b3', 'b')], replicas: 5, want: { a: 2, b: 3 } },
    { name: 'nodes without the label form one more group', nodes: [zoned('a1', 'a'), zoned('b1', 'b'), zoned('x1'), zoned('x2')], replicas: 6, want: { a: 2, b: 2, '-': 2 } },
  ]
  for (const c of cases) {
    const sim = new Sim({ nodes: c.nodes, services: [service('web', { replicas: c.replicas, placementPreferences: spreadZone })] })
    sim.settle()
    t.same(byLabel(sim, 'web', 'zone'), c.want, c.name)
    if (c.nodesWant) t.same(sim.spread('web'), c.nodesWant, `${c.name}: within zone b the usual spread`)
  }
  const plain = new Sim({ nodes: [zoned('a1', 'a'), zoned('b1', 'b'), zoned('b2', 'b'), zoned('b3', 'b')], services: [service('web', { replicas: 4 })] })
  plain.settle()
  t.same(byLabel(plain, 'web', 'zone'), { a: 1, b: 3 }, 'without the preference: one per node')
})

t.test('two preferences nest: zones first, then racks inside each zone', async (t) => {
  const nodes = [zoned('a1', 'a', 'r1'), zoned('a2', 'a', 'r1'), zoned('a3', 'a', 'r2'), zoned('b1', 'b', 'r1'), zoned('b2', 'b', 'r1')]
  const sim = new Sim({ nodes, services: [service('web', { replicas: 4, placementPreferences: [...spreadZone, { spread: 'node.labels.rack' }] })] })
  sim.settle()
  t.same(byLabel(sim, 'web', 'zone'), { a: 2, b: 2 }, 'even over zones')
  const inA = sim.live('web').filter((x) => x.nodeId.startsWith('a')).map((x) => sim.state.nodes.find((n) => n.id === x.nodeId)?.labels.rack).sort()
  t.same(inA, ['r1', 'r2'], 'inside zone a, one per rack although r1 has two nodes')
})

t.test('constraints filter before the spread: a zone with no eligible node takes nothing', async (t) => {
  const nodes = [zoned('a1', 'a'), zoned('b1', 'b'), node('c1', { labels: { zone: 'c' }, availability: 'drain' })]
  const sim = new Sim({ nodes, services: [service('web', { replicas: 4, placementPreferences: spreadZone, constraints: ['node.hostname!=b1'] })] })
  sim.settle()
  t.same(byLabel(sim, 'web', 'zone'), { a: 4 })
})

t.test('spread counts only the tasks on nodes that pass the filters', async (t) => {
  const nodes = [zoned('a1', 'a'), zoned('b1', 'b')]
  const loads = new Map(nodes.map((n) => [n.id, emptyLoad()]))
  loads.get('a1')?.byService.set('s', 3)
  t.same(spreadCounts(['zone'], nodes, loads, 's'), new Map([['a1', [3]], ['b1', [0]]]))
  t.same(spreadCounts(['zone'], [nodes[1] as NodeRecord], loads, 's'), new Map([['b1', [0]]]))
  t.same(spreadLabels([{ spread: 'node.labels.zone' }, { spread: 'node.labels.rack' }]), ['zone', 'rack'])
})

t.test('max replicas per node: a full node is refused, with swarmkit\'s explanation', async (t) => {
  const sim = new Sim({ nodes: [node('w1'), node('w2')], services: [service('web', { replicas: 5, maxReplicasPerNode: 2 })] })
  sim.settle()
  t.same(sim.spread('web'), { w1: 2, w2: 2, '': 1 }, '4 running, 1 pending')
  t.equal(sim.running('web').length, 4)
  const pending = sim.live('web').filter((x) => x.status.state === 'pending')
  t.equal(pending.length, 1)
  t.equal(pending[0]?.status.message, 'no suitable node (max replicas per node limit exceed)')
  sim.addNode(node('w3'))
  sim.settle()
  t.same(sim.spread('web'), { w1: 2, w2: 2, w3: 1 }, 'a new node takes the pending task')
})

t.test('max replicas per node among other failures: counted like any filter', async (t) => {
  const sim = new Sim({
    nodes: [node('w1'), node('w2', { availability: 'drain' }), node('w3', { availability: 'drain' })],
    services: [service('web', { replicas: 2, maxReplicasPerNode: 1 })],
  })
  sim.settle()
  const pending = sim.live('web').find((x) => x.status.state === 'pending')
  t.equal(pending?.status.message, 'no suitable node (2 nodes not available for new tasks; max replicas per node limit exceed)')
})
