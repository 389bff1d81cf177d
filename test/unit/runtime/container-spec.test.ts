import t from 'tap'
import { containerCreateOptions, containerName, LABEL } from '../../../src/runtime/index.ts'
import { healthTest } from '../../../src/runtime/container-spec.ts'
import { task } from './fixtures.ts'

t.test('names follow Swarm: <service>.<slot>.<task>, global <service>.<node>.<task>', async (t) => {
  const cases = [
    { desc: 'replicated', task: task({ id: 'abc123', slot: 3 }), want: 'web.3.abc123' },
    { desc: 'global', task: task({ id: 'abc123', slot: 0, nodeId: 'n0d3', spec: { mode: { global: {} } } }), want: 'web.n0d3.abc123' },
  ]
  for (const c of cases) t.equal(containerName(c.task), c.want, c.desc)
})

t.test('a full spec maps onto the create request', async (t) => {
  const tk = task({ id: 'tid1', slot: 2, spec: {
    image: 'registry:5000/app:1', env: ['A=1'], command: ['sh', '-c', 'echo hi'], entrypoint: ['/bin/tini', '--'],
    mounts: [{ type: 'bind', source: '/srv/data', target: '/data', readOnly: true }, { type: 'volume', source: 'cache', target: '/cache', readOnly: false }],
    resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 1000, timeoutMs: 500, retries: 2, startPeriodMs: 3000 },
    stopGracePeriodMs: 2500,
    ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'host' }, { published: 9090, target: 90, protocol: 'tcp', mode: 'ingress' }],
  } })
  const o = containerCreateOptions(tk, 'mesh')
  t.equal(o.name, 'web.2.tid1')
  t.equal(o.Image, 'registry:5000/app:1')
  t.same(o.Env, ['MESH_SERVICE_NAME=web', 'MESH_TASK_NAME=web.2.tid1', 'MESH_TASK_SLOT=2', `MESH_NODE_ID=${tk.nodeId}`, 'A=1'], 'the task identity, then the spec env')
  t.same(o.Cmd, ['sh', '-c', 'echo hi'])
  t.same(o.Entrypoint, ['/bin/tini', '--'])
  t.same(o.Labels, { [LABEL.managed]: 'true', [LABEL.serviceId]: 'svc-web', [LABEL.serviceName]: 'web', [LABEL.taskId]: 'tid1',
    [LABEL.slot]: '2', [LABEL.nodeId]: 'node1', [LABEL.version]: '1' })
  t.equal(o.StopTimeout, 3, 'grace rounded up to whole seconds')
  t.equal(o.Hostname, undefined, 'hostname left to Docker (container id prefix)')
  t.same(o.HostConfig?.RestartPolicy, { Name: 'no' })
  t.equal(o.HostConfig?.NetworkMode, 'mesh')
  t.same(o.NetworkingConfig, { EndpointsConfig: { mesh: {} } })
  t.equal(o.HostConfig?.NanoCpus, 500_000_000)
  t.equal(o.HostConfig?.Memory, 64 * 1024 * 1024)
  t.same(o.HostConfig?.Mounts, [{ Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true },
    { Type: 'volume', Source: 'cache', Target: '/cache', ReadOnly: false }])
  t.same(o.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 1e9, Timeout: 5e8, Retries: 2, StartPeriod: 3e9 })
  t.same(o.ExposedPorts, { '80/tcp': {} }, 'only host-mode ports are published by the runtime')
  t.same(o.HostConfig?.PortBindings, { '80/tcp': [{ HostPort: '8080' }] })
})

t.test('a minimal spec leaves the image defaults alone', async (t) => {
  const o = containerCreateOptions(task({ id: 't' }), 'n')
  t.equal(o.Cmd, undefined)
  t.equal(o.Entrypoint, undefined)
  t.equal(o.Healthcheck, undefined)
  t.equal(o.HostConfig?.NanoCpus, undefined, 'no limit = no field (0 would also mean none)')
  t.equal(o.HostConfig?.Memory, undefined)
  t.equal(o.ExposedPorts, undefined)
  t.equal(o.HostConfig?.Dns, undefined, 'no resolver given = the engine default')
})

t.test('task containers resolve through the agent DNS when it is given', async (t) => {
  const o = containerCreateOptions(task({ id: 't' }), 'mesh', ['10.77.3.1'])
  t.same(o.HostConfig?.Dns, ['10.77.3.1'])
})

t.test('a task knows its own name, slot and node from its environment; the spec env comes after (and wins)', async (t) => {
  const tk = task({ id: 'abc', spec: { env: ['A=1'] } })
  const o = containerCreateOptions(tk, 'mesh')
  t.same(o.Env?.slice(0, 4), [`MESH_SERVICE_NAME=${tk.serviceName}`, `MESH_TASK_NAME=${tk.serviceName}.${tk.slot}.abc`, `MESH_TASK_SLOT=${tk.slot}`, `MESH_NODE_ID=${tk.nodeId}`])
  t.equal(o.Env?.at(-1), 'A=1')
})

t.test('healthcheck test forms', async (t) => {
  const cases = [
    { test: ['CMD', 'true'], want: ['CMD', 'true'] },
    { test: ['CMD-SHELL', 'wget -q localhost'], want: ['CMD-SHELL', 'wget -q localhost'] },
    { test: ['NONE'], want: ['NONE'] },
    { test: ['/bin/check', '--fast'], want: ['CMD', '/bin/check', '--fast'] },
    { test: [], want: [] },
  ]
  for (const c of cases) t.same(healthTest(c.test), c.want, c.test.join(' ') || '(empty)')
})
