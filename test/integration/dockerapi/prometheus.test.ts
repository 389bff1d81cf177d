/**
 * Debian's Prometheus (2.42) with `dockerswarm_sd_configs` against mesh's Docker API socket, as a Swarm user
 * configures it: a real manager in-process (in-memory store, two nodes), its Docker API on a unix socket, a
 * service with 2 running tasks (task reports as the agents send them, with overlay addresses), Prometheus with
 * roles tasks (relabelled as the Prometheus docs' Swarm example: keep desired state running) and nodes, refresh 5 s.
 * Evidence: Prometheus's own /api/v1/targets — every running task a target with its service, slot, node, service
 * labels and network; each node a target; a task stopped by a scale down gone at the next refresh.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listen } from '../../../src/manager/http/api.ts'
import { createDockerApp } from '../../../src/manager/dockerapi/index.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { NodeRecord, TaskRecord } from '../../../src/api/types.ts'
import { testCsr } from '../../support/pki.ts'
import { waitFor } from '../../support/procs.ts'
import { KEEP_RUNNING_TASKS, havePrometheus, jobTargets, startPrometheus, swarmJob, type ActiveTarget } from '../../support/prometheus.ts'

if (!havePrometheus()) {
  t.plan(0, 'no /usr/bin/prometheus (test/setup.sh installs it)')
  process.exit(0)
}
t.setTimeout(300_000) // a guard against a hang, not a goal: ~20 s in CI, longer on a loaded machine

const dir = mkdtempSync(join(tmpdir(), 'mesh-promsd-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
manager.start()
const resources = { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 }
const nodes: NodeRecord[] = [
  (await manager.registerSelf({ hostname: 'manager1', addr: '10.0.0.1', resources }, { csr: await testCsr() })).node,
  (await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: 'worker1', addr: '10.0.0.2', resources })).node,
]
const sock = join(dir, 'docker-api.sock')
const server = await listen(createDockerApp({ manager, apiPort: 7947 }), { socketPath: sock })

/** Agents as the worker link reports: an assigned task runs with an overlay address (10.77.<node>.<slot+10>), a task told to stop stops. */
const STARTING = new Set(['new', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting'])
const ENDED = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'])
const agents = setInterval(() => {
  for (const [i, node] of nodes.entries()) {
    const updates = manager.listTasks({ nodeId: node.id }).flatMap((task: TaskRecord) => {
      const now = manager.now()
      if (task.desiredState === 'running' && STARTING.has(task.status.state) && task.status.state !== 'new' && task.status.state !== 'pending') {
        return [{ taskId: task.id, ip: `10.77.${i + 1}.${task.slot + 10}`, status: { state: 'running', message: 'started', timestamp: now, containerId: `c${task.id}` } }]
      }
      if (task.desiredState !== 'running' && !ENDED.has(task.status.state)) return [{ taskId: task.id, status: { state: 'shutdown', message: 'stopped', timestamp: now } }]
      return []
    })
    if (updates.length > 0) void manager.reportTasks(node, updates)
  }
}, 50)

const prom = await startPrometheus({
  config: {
    global: { scrape_interval: '1m', evaluation_interval: '1m' },
    scrape_configs: [
      swarmJob({ name: 'tasks', host: `unix://${sock}`, role: 'tasks', refreshSeconds: 5, port: 9100, relabel: KEEP_RUNNING_TASKS }),
      swarmJob({ name: 'nodes', host: `unix://${sock}`, role: 'nodes', refreshSeconds: 5, port: 9947 }),
    ],
  },
})

t.teardown(async () => {
  await prom.stop()
  clearInterval(agents)
  manager.stop()
  server.closeAllConnections?.()
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

const spec = defaultServiceSpec('api', 'mesh/busybox:latest')
spec.mode = { replicated: { replicas: 2 } }
spec.labels = { 'prometheus.job': 'api', 'com.example.team': 'core' }
const service = await manager.createService(spec)
const running = () => manager.listTasks({ serviceId: service.id }).filter((x) => x.desiredState === 'running' && x.status.state === 'running' && x.ip)
await waitFor(() => running().length === 2, 20_000, { what: '2 running api tasks' })

const apiTargets = async (): Promise<ActiveTarget[]> =>
  jobTargets(await prom.targets(), 'tasks').filter((x) => x.discoveredLabels.__meta_dockerswarm_service_name === 'api')
const slotsOf = (ts: ActiveTarget[]) => ts.map((x) => x.discoveredLabels.__meta_dockerswarm_task_slot).sort()

t.test('tasks role: every running task is a target with its service, slot, node, labels and network', async (t) => {
  const tasks = running()
  const got = await waitFor(async () => {
    const ts = await apiTargets()
    return slotsOf(ts).join() === '1,2' ? ts : null
  }, 30_000, { intervalMs: 500, what: 'two api targets' })
  for (const task of tasks) {
    const target = got.find((x) => x.discoveredLabels.__meta_dockerswarm_task_id === task.id)
    const node = nodes.find((n) => n.id === task.nodeId) as NodeRecord
    t.ok(target, `task ${task.slot} is a target`)
    t.match(target?.discoveredLabels, {
      __address__: `${task.ip}:9100`,
      __meta_dockerswarm_service_id: service.id,
      __meta_dockerswarm_service_name: 'api',
      __meta_dockerswarm_service_mode: 'replicated',
      __meta_dockerswarm_service_label_prometheus_job: 'api',
      __meta_dockerswarm_service_label_com_example_team: 'core',
      __meta_dockerswarm_task_slot: String(task.slot),
      __meta_dockerswarm_task_desired_state: 'running',
      __meta_dockerswarm_task_state: 'running',
      __meta_dockerswarm_task_container_id: `c${task.id}`,
      __meta_dockerswarm_node_id: node.id,
      __meta_dockerswarm_node_hostname: node.hostname,
      __meta_dockerswarm_node_address: node.addr,
      __meta_dockerswarm_node_role: node.hostname === 'manager1' ? 'manager' : 'worker',
      __meta_dockerswarm_network_name: 'mesh',
      __meta_dockerswarm_network_scope: 'swarm',
    }, `api.${task.slot} on ${node.hostname}`)
    t.equal(target?.labels.job, 'tasks')
  }
})

t.test('nodes role: each node a target at its address', async (t) => {
  const got = await waitFor(async () => {
    const ts = jobTargets(await prom.targets(), 'nodes')
    return ts.length === 2 ? ts : null
  }, 30_000, { intervalMs: 500, what: 'two node targets' })
  const byHost = new Map(got.map((x) => [x.discoveredLabels.__meta_dockerswarm_node_hostname, x.discoveredLabels]))
  t.match(byHost.get('manager1'), {
    __address__: '10.0.0.1:9947', __meta_dockerswarm_node_role: 'manager', __meta_dockerswarm_node_status: 'ready',
    __meta_dockerswarm_node_availability: 'active', __meta_dockerswarm_node_manager_leader: 'true', __meta_dockerswarm_node_platform_os: 'linux',
  })
  t.match(byHost.get('worker1'), { __address__: '10.0.0.2:9947', __meta_dockerswarm_node_role: 'worker', __meta_dockerswarm_node_status: 'ready' })
  t.notOk('__meta_dockerswarm_node_manager_leader' in (byHost.get('worker1') ?? {}), 'a worker has no manager status')
})

t.test('a task stopped by a scale down leaves the targets at the next refresh; a stopped task is dropped by the relabelling', async (t) => {
  await manager.updateService('api', (s) => ({ ...s, mode: { replicated: { replicas: 1 } } }))
  await waitFor(() => running().length === 1, 20_000, { what: 'one running api task' })
  const left = String(running()[0]?.slot)
  const started = Date.now()
  await waitFor(async () => slotsOf(await apiTargets()).join() === left, 20_000, { intervalMs: 500, what: `api targets down to slot ${left}` })
  t.pass(`gone from the active targets after ${Date.now() - started} ms (refresh 5 s)`)
  const dropped = (await prom.targets()).dropped.filter((d) => d.discoveredLabels.__meta_dockerswarm_service_name === 'api')
  t.ok(dropped.some((d) => d.discoveredLabels.__meta_dockerswarm_task_desired_state === 'shutdown'), 'the stopped task is still listed (docker keeps task history), dropped')
  t.ok(dropped.every((d) => d.discoveredLabels.__meta_dockerswarm_task_desired_state !== 'running'), 'only tasks not meant to run are dropped')
})
