import t from 'tap'
import type { TaskRecord } from '../../../src/api/types.ts'
import { LABEL, TaskRunner, type TaskReport } from '../../../src/runtime/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeDocker } from './fake-docker.ts'
import { task, type TaskOpts } from './fixtures.ts'

const NET = 'meshtest'

function setup(o: { concurrency?: number } = {}) {
  const docker = new FakeDocker()
  docker.images.add('mesh/busybox:latest')
  const clock = new FakeClock()
  const reports: { id: string; s: TaskReport }[] = []
  let wall = 1000
  const runner = new TaskRunner({ runtime: docker, network: NET, report: (id, s) => reports.push({ id, s }), clock, now: () => ++wall,
    ...(o.concurrency ? { concurrency: o.concurrency } : {}) })
  /** `state message` per report of one task. */
  const seq = (id: string) => reports.filter((r) => r.id === id).map((r) => `${r.s.state} ${r.s.message}`)
  const last = (id: string) => reports.filter((r) => r.id === id).at(-1)?.s
  return { docker, clock, runner, reports, seq, last }
}

/** The manager's view after it has recorded the runner's reports (what it pushes back). */
function asManager(tk: TaskRecord, s: TaskReport | undefined, over: Partial<TaskRecord> = {}): TaskRecord {
  return { ...tk, ...(s ? { status: s } : {}), ...over }
}

const T = (o: TaskOpts) => task(o)

t.test('success: preparing → starting → running with container id and IP', async (t) => {
  const { docker, runner, seq, last } = setup()
  docker.images.delete('mesh/busybox:latest')
  docker.pullProgress = [0, 3, 10, 12, 50, 100]
  await runner.start()
  runner.setAssignments([T({ id: 't1', slot: 1 })])
  await runner.idle()
  t.same(seq('t1'), ['preparing preparing', 'preparing pulling image 0%', 'preparing pulling image 10%', 'preparing pulling image 50%',
    'preparing pulling image 100%', 'starting starting', 'running started'], 'progress in ≥5% steps')
  const [c] = docker.byTask('t1')
  t.equal(c?.name, 'web.1.t1')
  t.equal(c?.config?.HostConfig?.NetworkMode, NET)
  t.equal(last('t1')?.containerId, c?.id)
  t.match(last('t1')?.ip, /^10\.0\.0\.\d+$/)
  t.ok((last('t1')?.timestamp ?? 0) > 1000, 'timestamps from the injected wall clock')
  await runner.stop()
  t.equal(c?.state, 'running', 'stop() leaves containers running')
})

t.test('exit 0 → complete; non-zero exit → failed with the code and the last log line', async (t) => {
  const { docker, runner, seq, last } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 'ok' }), T({ id: 'bad', slot: 2 })])
  await runner.idle()
  docker.exit(docker.byTask('ok')[0]?.id as string, 0)
  docker.exit(docker.byTask('bad')[0]?.id as string, 3, 'cannot open /etc/app.conf')
  await runner.idle()
  t.same(seq('ok').slice(-2), ['running started', 'complete finished'])
  t.equal(last('ok')?.exitCode, 0)
  const f = last('bad')
  t.equal(f?.state, 'failed')
  t.equal(f?.err, 'task: non-zero exit (3)')
  t.equal(f?.message, 'task: non-zero exit (3); last log: cannot open /etc/app.conf')
  t.equal(f?.exitCode, 3)
  runner.setAssignments([T({ id: 'ok' }), T({ id: 'bad', slot: 2 })]) // the manager has not caught up yet
  await runner.idle()
  t.equal(docker.calls.filter((c) => c.startsWith('start')).length, 2, 'never restarted by the runner')
  t.equal(docker.byTask('bad')[0]?.state, 'exited', 'the failed container stays for inspection until the task is shut down')
  await runner.stop()
})

t.test('a process that exits before start() returns still reads starting → running → complete/failed, in order', async (t) => {
  const { docker, runner, seq } = setup()
  docker.images.add('quick:1')
  docker.images.add('quickfail:1')
  docker.exitOnStart.set('quick:1', 0)
  docker.exitOnStart.set('quickfail:1', 1)
  await runner.start()
  runner.setAssignments([T({ id: 'q', spec: { image: 'quick:1' } }), T({ id: 'f', slot: 2, spec: { image: 'quickfail:1' } })])
  await runner.idle()
  t.same(seq('q'), ['preparing preparing', 'starting starting', 'running started', 'complete finished'])
  t.same(seq('f'), ['preparing preparing', 'starting starting', 'running started', 'failed task: non-zero exit (1); last log: bye'])
  await runner.stop()
})

t.test('pull failure → rejected with the engine\'s text, no container, not retried', async (t) => {
  const { docker, runner, seq, last } = setup()
  const text = "pull access denied for nosuch, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
  docker.pullErrors.set('nosuch:latest', text)
  await runner.start()
  const tk = T({ id: 't1', spec: { image: 'nosuch:latest' } })
  runner.setAssignments([tk])
  await runner.idle()
  t.same(seq('t1'), ['preparing preparing', `rejected ${text}`])
  t.equal(last('t1')?.err, text, 'err is exactly what the engine said')
  t.equal(docker.containers.size, 0)
  runner.setAssignments([tk]) // manager still shows it assigned
  await runner.idle()
  t.equal(docker.calls.filter((c) => c.startsWith('ensureImage')).length, 1, 'a rejected task is never retried')
  await runner.stop()
})

t.test('create failure (bad bind source) → rejected with the engine\'s text; start failure → failed', async (t) => {
  const { docker, runner, last } = setup()
  docker.images.add('noexec:1')
  docker.startErrors.set('noexec:1', 'OCI runtime create failed: exec: "nosuchcmd": executable file not found in $PATH: unknown')
  await runner.start()
  runner.setAssignments([
    T({ id: 'm', spec: { mounts: [{ type: 'bind', source: '/nonexistent/x', target: '/x', readOnly: false }] } }),
    T({ id: 's', slot: 2, spec: { image: 'noexec:1' } }),
  ])
  await runner.idle()
  t.equal(last('m')?.state, 'rejected')
  t.equal(last('m')?.err, 'invalid mount config for type "bind": bind source path does not exist: /nonexistent/x')
  t.equal(last('s')?.state, 'failed')
  t.match(last('s')?.err, /^OCI runtime create failed/)
  t.ok(last('s')?.containerId, 'failed at start: the container exists')
  await runner.stop()
})

t.test('desired shutdown: stop with the task\'s grace period, remove, report shutdown', async (t) => {
  const { docker, runner, seq, last } = setup()
  await runner.start()
  const tk = T({ id: 't1', spec: { stopGracePeriodMs: 2500 } })
  runner.setAssignments([tk])
  await runner.idle()
  const c = docker.byTask('t1')[0]
  runner.setAssignments([asManager(tk, last('t1'), { desiredState: 'shutdown' })])
  await runner.idle()
  t.same(seq('t1').slice(-2), ['running started', 'shutdown shutdown'], 'shutdown, not failed (exit 143 is ours)')
  t.equal(c?.stopGraceMs, 2500)
  t.equal(docker.containers.size, 0, 'removed')
  await runner.stop()
})

t.test('setAssignments([]) stops and removes every task container, reporting nothing for unknown tasks', async (t) => {
  const { docker, runner, reports } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 'a' }), T({ id: 'b', slot: 2 })])
  await runner.idle()
  const n = reports.length
  runner.setAssignments([])
  await runner.idle()
  t.equal(docker.containers.size, 0)
  t.equal(reports.length, n, 'no task, no report')
  await runner.stop()
})

t.test('desired shutdown before it ever started → shutdown, no container', async (t) => {
  const { docker, runner, seq } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 't1', desired: 'shutdown' })])
  await runner.idle()
  t.same(seq('t1'), ['shutdown shutdown'])
  t.equal(docker.calls.filter((c) => c.startsWith('create')).length, 0)
  await runner.stop()
})

t.test('a task shut down while its image is pulling never gets a container', async (t) => {
  const { docker, runner, seq } = setup()
  docker.images.delete('mesh/busybox:latest')
  let open!: () => void
  docker.pullGate = new Promise((r) => { open = r })
  await runner.start()
  const tk = T({ id: 't1' })
  runner.setAssignments([tk])
  await new Promise((r) => setImmediate(r))
  runner.setAssignments([{ ...tk, desiredState: 'shutdown' }])
  open()
  await runner.idle()
  t.same(seq('t1'), ['preparing preparing', 'preparing pulling image 0%', 'preparing pulling image 100%', 'shutdown shutdown'])
  t.equal(docker.containers.size, 0)
  await runner.stop()
})

t.test('adoption after an agent restart: running containers reported (not recreated), orphans removed, missed exits seen', async (t) => {
  const { docker, runner, seq, last, reports } = setup()
  const labels = (id: string, slot: number) => ({ [LABEL.managed]: 'true', [LABEL.taskId]: id, [LABEL.slot]: String(slot) })
  const a = docker.add({ name: 'web.1.a', labels: labels('a', 1), ips: { [NET]: '10.0.0.7' } })
  const b = docker.add({ name: 'web.2.b', labels: labels('b', 2), state: 'exited', exitCode: 2, logs: ['oops'] })
  const orphan = docker.add({ name: 'web.3.gone', labels: labels('gone', 3) })
  const foreign = docker.add({ name: 'not-mesh', labels: { [LABEL.managed]: 'true' } })
  await runner.start()
  await runner.idle()
  t.equal(reports.length, 0, 'nothing happens before the first setAssignments')
  t.ok(docker.containers.has(orphan.id), 'the orphan is not removed before the runner knows its assignments')
  runner.setAssignments([
    T({ id: 'a', slot: 1, state: 'running', containerId: a.id }),
    T({ id: 'b', slot: 2, state: 'running', containerId: b.id }),
  ])
  await runner.idle()
  t.same(seq('a'), ['running started'], 'the running task reports its current state')
  t.equal(last('a')?.containerId, a.id)
  t.equal(last('a')?.ip, '10.0.0.7')
  t.same(seq('b'), ['failed task: non-zero exit (2); last log: oops'], 'the exit that happened while the agent was down')
  t.notOk(docker.containers.has(orphan.id), 'orphan removed')
  t.ok(docker.containers.has(foreign.id), 'a container without mesh.task.id is never touched')
  t.equal(docker.calls.filter((c) => c.startsWith('create') || c.startsWith('start')).length, 0, 'nothing created or started')
  await runner.stop()
})

t.test('a running task whose container vanished → failed', async (t) => {
  const { runner, last } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 't1', state: 'running', containerId: 'deadbeefcafe0000' })])
  await runner.idle()
  t.equal(last('t1')?.state, 'failed')
  t.equal(last('t1')?.err, 'task: container deadbeefcafe no longer exists (removed outside mesh?)')
})

t.test('healthcheck: running with health starting → healthy → unhealthy', async (t) => {
  const { docker, runner, seq, last } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 't1', spec: { healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 } } })])
  await runner.idle()
  const id = docker.byTask('t1')[0]?.id as string
  docker.setHealth(id, 'healthy')
  await runner.idle()
  docker.setHealth(id, 'unhealthy')
  await runner.idle()
  t.same(seq('t1').slice(-3), ['running starting', 'running healthy', 'running unhealthy'])
  t.equal(last('t1')?.health, 'unhealthy')
  await runner.stop()
})

t.test('event stream drops: resubscribe after the retry delay and catch what was missed', async (t) => {
  const { docker, clock, runner, last } = setup()
  await runner.start()
  runner.setAssignments([T({ id: 't1' })])
  await runner.idle()
  docker.dropEvents()
  docker.exit(docker.byTask('t1')[0]?.id as string, 1) // nobody listening
  await runner.idle()
  t.equal(last('t1')?.state, 'running', 'not seen yet')
  await clock.advance(1000)
  await runner.idle()
  t.equal(docker.subscribers, 1, 'subscribed again')
  t.equal(last('t1')?.state, 'failed', 'the missed exit is found by re-observing')
  await runner.stop()
  t.equal(docker.subscribers, 0)
})

t.test('an engine error on remove is retried with back-off', async (t) => {
  const { docker, clock, runner } = setup()
  docker.add({ labels: { [LABEL.managed]: 'true', [LABEL.taskId]: 'x' } })
  docker.failNext.set('remove', 2)
  await runner.start()
  runner.setAssignments([])
  await runner.idle()
  t.equal(docker.containers.size, 1, 'first attempt failed')
  await clock.advance(1000)
  await runner.idle()
  t.equal(docker.containers.size, 1, 'second failed (next retry in 2 s)')
  await clock.advance(1999)
  await runner.idle()
  t.equal(docker.containers.size, 1)
  await clock.advance(1)
  await runner.idle()
  t.equal(docker.containers.size, 0, 'third succeeded')
  await runner.stop()
})

t.test('tasks run concurrently up to the limit; one pull per image', async (t) => {
  const { docker, runner, last } = setup({ concurrency: 3 })
  let open!: () => void
  docker.pullGate = new Promise((r) => { open = r })
  const tasks = Array.from({ length: 8 }, (_, i) => T({ id: `t${i}`, slot: i + 1, spec: { image: `img${i % 6}:1` } }))
  await runner.start()
  runner.setAssignments(tasks)
  await new Promise((r) => setImmediate(r))
  t.equal(docker.inFlightPulls, 3, 'three at once')
  open()
  await runner.idle()
  t.equal(docker.maxInFlightPulls, 3)
  for (const tk of tasks) t.equal(last(tk.id)?.state, 'running', `${tk.id} runs`)
  await runner.stop()
})

t.test('registry auth is passed to the pull', async (t) => {
  const docker = new FakeDocker()
  const auth = { username: 'u', password: 'p', serveraddress: 'registry:5000' }
  const runner = new TaskRunner({ runtime: docker, network: NET, report: () => {}, clock: new FakeClock(),
    registryAuth: (tk) => (tk.spec.image.startsWith('registry:5000/') ? auth : undefined) })
  await runner.start()
  runner.setAssignments([T({ id: 'a', spec: { image: 'registry:5000/app:1' } }), T({ id: 'b', slot: 2, spec: { image: 'other:1' } })])
  await runner.idle()
  t.same(docker.pullAuth, [auth, undefined])
  await runner.stop()
})

t.test('bad options are refused at construction', async (t) => {
  const docker = new FakeDocker()
  t.throws(() => new TaskRunner({ runtime: docker, network: NET, report: () => {}, concurrency: 0 }), { code: 'MESH_ERR_CONFIG' })
  t.throws(() => new TaskRunner({ runtime: docker, network: '', report: () => {} }), { code: 'MESH_ERR_CONFIG' })
})

t.test('networks: the container is created only once its networks are up on the node; the address reported is the first network\'s', async (t) => {
  const docker = new FakeDocker()
  docker.images.add('mesh/busybox:latest')
  const reports: { id: string; s: TaskReport }[] = []
  const asked: string[][] = []
  let open: (() => void) | null = null
  const runner = new TaskRunner({
    runtime: docker, network: NET, report: (id, s) => reports.push({ id, s }), clock: new FakeClock(),
    networksReady: (names) => {
      asked.push(names)
      return names.includes('down') ? Promise.reject(new Error('network "down" is not set up on this node after 60000 ms'))
        : new Promise<void>((r) => { open = r })
    },
  })
  await runner.start()
  const nets = (names: string[]) => names.map((name, i) => ({ network: `id${i}`, name, aliases: [] }))
  runner.setAssignments([{ ...T({ id: 'multi' }), networks: nets(['front', 'back']) }, { ...T({ id: 'bad', slot: 2 }), networks: nets(['down']) }])
  // Until the runner asks for the networks (bounded), not a fixed 20 ms.
  for (const end = Date.now() + 20_000; open === null && Date.now() < end;) await new Promise((r) => setTimeout(r, 5))
  t.same(docker.byTask('multi'), [], 'no container while the networks are not up')
  ;(open as unknown as () => void)()
  await runner.idle()
  t.same(asked.find((a) => a.includes('front')), ['front', 'back'])
  const [c] = docker.byTask('multi')
  t.same(Object.keys(c?.config?.NetworkingConfig?.EndpointsConfig ?? {}), ['front', 'back'], 'created on both networks')
  const last = (id: string) => reports.filter((r) => r.id === id).at(-1)?.s
  t.equal(last('multi')?.state, 'running')
  t.equal(last('multi')?.ip, c?.ips.front, 'the address on the first network')
  t.same(last('multi')?.addresses, [{ network: 'id0', ip: c?.ips.front }, { network: 'id1', ip: c?.ips.back }], 'and its address on each network, by id')
  t.equal(last('bad')?.state, 'rejected', 'a network that never comes up rejects the task')
  t.match(last('bad')?.err, /network "down" is not set up/)
  t.same(docker.byTask('bad'), [])
  await runner.stop()
})
