/**
 * The managers as one manager sees them (manager-status.ts, pure): docker's ManagerStatus per node, the quorum
 * line's counts, whether a read may be stale; and `node ls`'s MANAGER STATUS column (mesh/views.ts).
 */
import t from 'tap'
import { managerStatusOf, mayBeStale, noQuorumLine, quorumCounts } from '../../../src/manager/manager-status.ts'
import type { ManagerHealth } from '../../../src/manager/leadership.ts'
import type { NodeRecord, NodeView } from '../../../src/api/types.ts'
import { renderList } from '../../../mesh/format/list.ts'
import { nodeList } from '../../../mesh/views.ts'

const node = (id: string, role: NodeRecord['role'], state: NodeRecord['state'] = 'ready', addr = '10.0.0.1'): NodeRecord => ({
  id, hostname: `h-${id}`, role, availability: 'active', labels: {}, addr, state, stateChangedAt: 0,
  resources: { nanoCpus: 0, memoryBytes: 0 }, createdAt: 0, updatedAt: 0,
})
const health = (members: string[], reachable: string[], quorum = true): ManagerHealth => ({ members, reachable, quorum })

t.test('ManagerStatus: leader, reachable, unreachable; none for a worker', async (t) => {
  const h = health(['m1', 'm2', 'm3'], ['m1', 'm2'])
  const cases = [
    { name: 'the leader', n: node('m1', 'manager'), o: { leader: 'm1', health: h }, want: { leader: true, reachability: 'reachable' } },
    { name: 'a ready manager whose member answers', n: node('m2', 'manager'), o: { leader: 'm1', health: h }, want: { leader: false, reachability: 'reachable' } },
    { name: 'a ready manager whose member does not answer', n: node('m3', 'manager'), o: { leader: 'm1', health: h }, want: { leader: false, reachability: 'unreachable' } },
    { name: 'a manager whose node is down', n: node('m2', 'manager', 'down'), o: { leader: 'm1', health: h }, want: { leader: false, reachability: 'unreachable' } },
    { name: 'not a member (external etcd): its node decides', n: node('m9', 'manager'), o: { leader: 'm1', health: h }, want: { leader: false, reachability: 'reachable' } },
    { name: 'no probe (SQLite): its node decides', n: node('m1', 'manager'), o: { leader: 'm1', health: undefined }, want: { leader: true, reachability: 'reachable' } },
  ] as const
  for (const c of cases) t.match(managerStatusOf(c.n, { ...c.o, apiPort: 7947 }), { ...c.want, addr: '10.0.0.1:7947' }, c.name)
  t.equal(managerStatusOf(node('w1', 'worker'), { leader: 'm1', health: h, apiPort: 7947 }), undefined, 'a worker has none')
  t.equal(managerStatusOf(node('m1', 'manager', 'ready', 'fd00::1'), { leader: 'm1', health: undefined, apiPort: 7947 })?.addr, '[fd00::1]:7947')
})

t.test('the quorum line counts the membership last seen, else the manager nodes', async (t) => {
  t.equal(noQuorumLine(quorumCounts([], health(['m1', 'm2', 'm3'], ['m1'], false))), 'no quorum: 1 of 3 managers reachable')
  t.equal(noQuorumLine(quorumCounts([node('m1', 'manager'), node('m2', 'manager', 'down'), node('w1', 'worker')], undefined)), 'no quorum: 1 of 2 managers reachable')
  t.equal(noQuorumLine({ reachable: 0, total: 1 }), 'no quorum: 0 of 1 manager reachable')
})

t.test('a read may be stale without a quorum or without a known leader, never without a probe', async (t) => {
  const cases = [
    { health: health(['m1'], ['m1']), leader: 'm1', probed: true, want: false },
    { health: health(['m1', 'm2', 'm3'], ['m1'], false), leader: 'm1', probed: true, want: true },
    { health: health(['m1'], ['m1']), leader: undefined, probed: true, want: true },
    { health: undefined, leader: 'm1', probed: true, want: false },
    { health: undefined, leader: undefined, probed: false, want: false },
  ]
  for (const c of cases) t.equal(mayBeStale(c.health, c.leader, c.probed), c.want, JSON.stringify(c))
})

t.test('node ls: MANAGER STATUS as docker prints it', async (t) => {
  const views: NodeView[] = [
    { ...node('m1', 'manager'), managerStatus: { leader: true, reachability: 'reachable', addr: '10.0.0.1:7947' } },
    { ...node('m2', 'manager'), managerStatus: { leader: false, reachability: 'reachable', addr: '10.0.0.2:7947' } },
    { ...node('m3', 'manager', 'down'), managerStatus: { leader: false, reachability: 'unreachable', addr: '10.0.0.3:7947' } },
    node('w1', 'worker'),
  ]
  t.equal(renderList(nodeList(views), { format: '{{.Hostname}}={{.ManagerStatus}}' }), 'h-m1=Leader\nh-m2=Reachable\nh-m3=Unreachable\nh-w1=\n')
  const table = renderList(nodeList(views), {}).split('\n')
  t.match(table[0], /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ROLE/)
  t.match(table[1], /^m1\s+h-m1\s+Ready\s+Active\s+Leader\s+Manager\s/)
  t.match(table[4], /^w1\s+h-w1\s+Ready\s+Active\s+Worker\s/, 'empty for a worker')
})
