import t, { type Test } from 'tap'
import { EventLog, EventQueryError, matchesFilter, parseEventFilters, parseSince, type ClusterEvent } from '../../../src/manager/events.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore, type SqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { NodeRecord, ServiceRecord, TaskRecord, TaskState } from '../../../src/api/types.ts'

const node = (id: string, o: Partial<NodeRecord> = {}): NodeRecord => ({
  id, hostname: id, role: 'worker', availability: 'active', labels: {}, addr: '10.0.0.1', state: 'ready',
  stateChangedAt: 1, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, createdAt: 1, updatedAt: 1, ...o,
})
const service = (id: string, replicas = 1, o: Partial<ServiceRecord> = {}): ServiceRecord => {
  const spec = defaultServiceSpec(id, 'nginx:1')
  spec.mode = { replicated: { replicas } }
  return { id, spec, version: 1, createdAt: 1, updatedAt: 1, ...o }
}
const task = (id: string, serviceId: string, slot: number, nodeId: string, state: TaskState, o: Partial<TaskRecord> = {}): TaskRecord => ({
  id, serviceId, serviceName: serviceId, slot, nodeId, specVersion: 1, spec: defaultServiceSpec(serviceId, 'nginx:1'),
  desiredState: 'running', status: { state, message: `${state} msg`, timestamp: 1 }, createdAt: 1, updatedAt: 1, ...o,
})

function setup(t: Test, capacity?: number): { store: SqliteStore; log: EventLog; clock: { now: number } } {
  const store = openSqliteStore(':memory:', { onWatcherError: (err) => t.fail(`watcher threw: ${String(err)}`) })
  const clock = { now: 1_000 }
  const log = new EventLog(store, { now: () => clock.now, ...(capacity ? { capacity } : {}) })
  log.start()
  t.teardown(() => {
    log.stop()
    store.close()
  })
  return { store, log, clock }
}

const brief = (e: ClusterEvent) => `${e.type} ${e.action} ${e.subject}`

t.test('derivation from store changes', async (t) => {
  type Step = (s: SqliteStore) => void
  const cases: { name: string; before?: Step; change: Step; want: string[]; attrs?: Record<string, string>[] }[] = [
    { name: 'node joins', change: (s) => s.transact((tx) => tx.putNode(node('n1'))), want: ['node join n1'] },
    {
      name: 'node goes down, comes back', before: (s) => s.transact((tx) => tx.putNode(node('n1'))),
      change: (s) => {
        s.transact((tx) => tx.putNode(node('n1', { state: 'down' })))
        s.transact((tx) => tx.putNode(node('n1', { state: 'ready' })))
      },
      want: ['node down n1', 'node ready n1'], attrs: [{ from: 'ready' }, { from: 'down' }],
    },
    {
      name: 'node drained and labelled', before: (s) => s.transact((tx) => tx.putNode(node('n1'))),
      change: (s) => s.transact((tx) => tx.putNode(node('n1', { availability: 'drain', labels: { zone: 'a' } }))),
      want: ['node update n1'], attrs: [{ availability: 'drain', labels: 'zone=a' }],
    },
    { name: 'only updatedAt changes: nothing', before: (s) => s.transact((tx) => tx.putNode(node('n1'))), change: (s) => s.transact((tx) => tx.putNode(node('n1', { updatedAt: 99 }))), want: [] },
    { name: 'node removed', before: (s) => s.transact((tx) => tx.putNode(node('n1'))), change: (s) => s.transact((tx) => tx.deleteNode('n1')), want: ['node remove n1'] },
    { name: 'service created', change: (s) => s.transact((tx) => tx.putService(service('web', 2))), want: ['service create web'], attrs: [{ replicas: '2', image: 'nginx:1', mode: 'replicated' }] },
    {
      name: 'service scaled', before: (s) => s.transact((tx) => tx.putService(service('web', 2))),
      change: (s) => s.transact((tx) => tx.putService(service('web', 5))), want: ['service scale web'], attrs: [{ from: '2', replicas: '5' }],
    },
    {
      name: 'service image updated', before: (s) => s.transact((tx) => tx.putService(service('web', 2))),
      change: (s) => s.transact((tx) => tx.putService({ ...service('web', 2), version: 2, spec: { ...service('web', 2).spec, image: 'nginx:2' } })),
      want: ['service update web'], attrs: [{ image: 'nginx:2', version: '2' }],
    },
    {
      name: 'rollout completes', before: (s) => s.transact((tx) => tx.putService(service('web', 2, { updateStatus: { state: 'updating', startedAt: 1, message: '' } }))),
      change: (s) => s.transact((tx) => tx.putService(service('web', 2, { updateStatus: { state: 'completed', startedAt: 1, message: 'done' } }))),
      want: ['service update web'], attrs: [{ 'updatestate.old': 'updating', 'updatestate.new': 'completed' }],
    },
    { name: 'service removed', before: (s) => s.transact((tx) => tx.putService(service('web'))), change: (s) => s.transact((tx) => tx.deleteService('web')), want: ['service remove web'] },
    {
      name: 'task walks its states', before: (s) => s.transact((tx) => { tx.putNode(node('n1')); tx.putService(service('web')) }),
      change: (s) => {
        for (const st of ['new', 'assigned', 'preparing', 'starting', 'running'] as const) s.transact((tx) => tx.putTask(task('t1', 'web', 1, st === 'new' ? '' : 'n1', st)))
      },
      want: ['task new web.1', 'task assigned web.1', 'task preparing web.1', 'task starting web.1', 'task running web.1'],
      attrs: [{ from: '' }, { from: 'new', node: 'n1' }, { from: 'assigned' }, { from: 'preparing' }, { from: 'starting', slot: '1', service: 'web', message: 'running msg' }],
    },
    {
      name: 'task told to stop, then stops, then deleted', before: (s) => s.transact((tx) => { tx.putNode(node('n1')); tx.putService(service('web')); tx.putTask(task('t1', 'web', 1, 'n1', 'running')) }),
      change: (s) => {
        s.transact((tx) => tx.putTask(task('t1', 'web', 1, 'n1', 'running', { desiredState: 'shutdown' })))
        s.transact((tx) => tx.putTask(task('t1', 'web', 1, 'n1', 'shutdown', { desiredState: 'shutdown' })))
        s.transact((tx) => tx.deleteTask('t1'))
      },
      want: ['task desired web.1', 'task shutdown web.1', 'task delete web.1'], attrs: [{ from: 'running', desired: 'shutdown' }, { from: 'running' }, {}],
    },
    {
      name: 'global task is named after its node', before: (s) => s.transact((tx) => { tx.putNode(node('n7')); tx.putService(service('agent')) }),
      change: (s) => s.transact((tx) => tx.putTask(task('g1', 'agent', 0, 'n7', 'assigned'))), want: ['task assigned agent.n7'],
    },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const { store, log } = setup(t)
      c.before?.(store)
      const skip = log.lastId
      c.change(store)
      const got = log.since(0, {}, skip)
      t.same(got.map(brief), c.want)
      for (const [i, a] of (c.attrs ?? []).entries()) t.match(got[i]?.attributes, a, `attributes of ${c.want[i]}`)
      t.ok(got.every((e, i) => i === 0 || e.id === (got[i - 1] as ClusterEvent).id + 1), 'ids grow by one')
    })
  }
})

t.test('state present at start is the baseline, not events', async (t) => {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  store.transact((tx) => { tx.putNode(node('n1')); tx.putService(service('web')) })
  const log = new EventLog(store)
  log.start()
  t.teardown(() => log.stop())
  t.same(log.since(0), [])
  store.transact((tx) => tx.putService(service('web', 3)))
  t.same(log.since(0).map(brief), ['service scale web'])
})

t.test('since and filters', async (t) => {
  const { store, log, clock } = setup(t)
  store.transact((tx) => tx.putNode(node('n1')))
  clock.now = 2_000
  store.transact((tx) => tx.putService(service('web')))
  store.transact((tx) => tx.putService(service('api')))
  clock.now = 3_000
  store.transact((tx) => tx.putTask(task('t1', 'web', 1, 'n1', 'assigned')))
  store.transact((tx) => tx.putTask(task('t2', 'api', 1, 'n1', 'assigned')))
  const cases = [
    { name: 'everything', since: 0, filter: [], want: ['node join n1', 'service create web', 'service create api', 'task assigned web.1', 'task assigned api.1'] },
    { name: 'since a time', since: 2_000, filter: [], want: ['service create web', 'service create api', 'task assigned web.1', 'task assigned api.1'] },
    { name: 'type=service', since: 0, filter: ['type=service'], want: ['service create web', 'service create api'] },
    { name: 'type=node or type=task', since: 0, filter: ['type=node', 'type=task'], want: ['node join n1', 'task assigned web.1', 'task assigned api.1'] },
    { name: 'service=web', since: 0, filter: ['service=web'], want: ['service create web', 'task assigned web.1'] },
    { name: 'type=task and service=api', since: 0, filter: ['type=task', 'service=api'], want: ['task assigned api.1'] },
    { name: 'node=n1', since: 0, filter: ['node=n1'], want: ['node join n1', 'task assigned web.1', 'task assigned api.1'] },
    { name: 'action=create', since: 3_000, filter: ['action=create'], want: [] },
  ]
  for (const c of cases) t.same(log.since(c.since, parseEventFilters(c.filter)).map(brief), c.want, c.name)
  t.ok(matchesFilter(log.since(0)[0] as ClusterEvent, {}), 'empty filter matches')
})

t.test('subscribers hear new events in order; a throwing one is dropped', async (t) => {
  const { store, log } = setup(t)
  const heard: string[] = []
  const off = log.subscribe((e) => heard.push(brief(e)))
  let bad = 0
  log.subscribe(() => { bad++; throw new Error('boom') })
  store.transact((tx) => tx.putNode(node('n1')))
  store.transact((tx) => tx.putNode(node('n2')))
  off()
  store.transact((tx) => tx.putNode(node('n3')))
  t.same(heard, ['node join n1', 'node join n2'])
  t.equal(bad, 1)
})

t.test('ring buffer keeps the last `capacity` events', async (t) => {
  const { store, log } = setup(t, 5)
  for (let i = 0; i < 12; i++) store.transact((tx) => tx.putNode(node(`n${String(i).padStart(2, '0')}`)))
  const kept = log.since(0)
  t.equal(kept.length, 5)
  t.same(kept.map((e) => e.id), [8, 9, 10, 11, 12])
  t.same(kept.map((e) => e.subject), ['n07', 'n08', 'n09', 'n10', 'n11'])
  t.equal(log.lastId, 12)
  t.same(log.since(0, {}, 10).map((e) => e.id), [11, 12], 'after an id')
})

t.test('reschedules: replacements of failed tasks and of tasks on a down node, not scale-ups', async (t) => {
  const { store, log } = setup(t)
  store.transact((tx) => { tx.putNode(node('n1')); tx.putNode(node('n2')); tx.putService(service('web', 2)) })
  store.transact((tx) => { tx.putTask(task('a', 'web', 1, 'n1', 'running')); tx.putTask(task('b', 'web', 2, 'n2', 'running')) })
  store.transact((tx) => tx.putTask(task('c', 'web', 3, 'n1', 'assigned')))
  t.equal(log.counts.reschedules, 0, 'a new slot is not a reschedule')
  store.transact((tx) => tx.putTask(task('a', 'web', 1, 'n1', 'failed', { desiredState: 'shutdown' })))
  store.transact((tx) => tx.putTask(task('a2', 'web', 1, 'n2', 'assigned')))
  t.equal(log.counts.reschedules, 1, 'failed task replaced')
  store.transact((tx) => tx.putNode(node('n2', { state: 'down' })))
  store.transact((tx) => tx.putTask(task('b2', 'web', 2, 'n1', 'assigned')))
  t.equal(log.counts.reschedules, 2, 'task on a down node replaced')
  t.equal(log.counts.byAction.get('task assigned'), 3)
})

t.test('parseSince', async (t) => {
  const now = Date.parse('2026-12-01T10:00:00Z')
  const cases = [
    { in: '10m', want: now - 600_000 },
    { in: '1h30m', want: now - 5_400_000 },
    { in: '45s', want: now - 45_000 },
    { in: '500ms', want: now - 500 },
    { in: '2026-12-01T09:00:00Z', want: now - 3_600_000 },
    { in: '1796112000', want: 1796112000_000 },
  ]
  for (const c of cases) t.equal(parseSince(c.in, now), c.want, c.in)
  for (const bad of ['', 'yesterday', '10x', '-5m']) t.throws(() => parseSince(bad, now), EventQueryError, `"${bad}" refused`)
})

t.test('parseEventFilters refuses bad ones with the key named', async (t) => {
  t.same(parseEventFilters(['type=task', 'service=web', 'type=node']), { type: ['task', 'node'], service: ['web'] })
  const cases = [
    { in: 'type', re: /filter "type": want KEY=VALUE/ },
    { in: 'colour=red', re: /KEY one of type, action, service, node/ },
    { in: 'type=container', re: /type must be one of node, task, service, secret, config, network/ },
    { in: 'service=', re: /want KEY=VALUE/ },
  ]
  for (const c of cases) t.throws(() => parseEventFilters([c.in]), { name: 'EventQueryError', code: 'MESH_ERR_EVENT_QUERY', message: c.re }, c.in)
})

t.test('networks: create and remove, no event for a slice change', async (t) => {
  const { store, log } = setup(t)
  const rec = {
    id: 'net1', subnet: '10.80.0.0/20', vni: 4096, slices: {}, createdAt: 1, updatedAt: 1,
    spec: { name: 'webnet', driver: 'overlay' as const, attachable: false, internal: false, encrypted: true, labels: {} },
  }
  await store.transact((tx) => tx.putObject('network', rec))
  await store.transact((tx) => tx.putObject('network', { ...rec, slices: { n1: '10.80.0.64/26' } }))
  await store.transact((tx) => tx.deleteObject('network', 'net1'))
  t.same(log.since().map(brief), ['network create webnet', 'network remove webnet'])
  t.same(log.since()[0]?.attributes, { id: 'net1', driver: 'overlay', subnet: '10.80.0.0/20' })
  t.same(log.since(0, { type: ['network'] }).length, 2, '--filter type=network')
})
