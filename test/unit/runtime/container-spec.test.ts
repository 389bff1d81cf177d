import t from 'tap'
import { containerCreateOptions, containerName, LABEL, taskNetworks } from '../../../src/runtime/index.ts'
import { healthTest, taskHostname } from '../../../src/runtime/container-spec.ts'
import { taskSpecDiffers, type ServiceSpec } from '../../../src/api/index.ts'
import { spec, task } from './fixtures.ts'

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

t.test('hostname, user, workdir, entrypoint, healthcheck NONE and tmpfs reach the engine', async (t) => {
  const tk = task({ id: 'tid9', slot: 3, nodeId: 'n0de', spec: {
    hostname: '{{.Node.Hostname}}-{{.Task.Slot}}', user: '1000:1000', workdir: '/srv', entrypoint: ['/bin/tini', '--'],
    healthcheck: { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 },
    mounts: [
      { type: 'tmpfs', source: '', target: '/cache', readOnly: false, tmpfs: { sizeBytes: 64 * 2 ** 20, mode: 0o1777 } },
      { type: 'tmpfs', source: '', target: '/run', readOnly: true },
      { type: 'tmpfs', source: '', target: '/small', readOnly: false, tmpfs: { sizeBytes: 1024 } },
    ],
  } })
  const o = containerCreateOptions(tk, 'mesh', [], 'node2')
  t.equal(o.Hostname, 'node2-3')
  t.equal(o.User, '1000:1000')
  t.equal(o.WorkingDir, '/srv')
  t.same(o.Entrypoint, ['/bin/tini', '--'])
  t.same(o.Healthcheck, { Test: ['NONE'], Interval: 0, Timeout: 0, Retries: 0, StartPeriod: 0 }, 'NONE disables the image HEALTHCHECK')
  t.same(o.HostConfig?.Mounts, [
    { Type: 'tmpfs', Source: '', Target: '/cache', ReadOnly: false, TmpfsOptions: { SizeBytes: 64 * 2 ** 20, Mode: 0o1777 } },
    { Type: 'tmpfs', Source: '', Target: '/run', ReadOnly: true },
    { Type: 'tmpfs', Source: '', Target: '/small', ReadOnly: false, TmpfsOptions: { SizeBytes: 1024, Mode: 0 } },
  ], 'no options = the engine defaults; 0 = the default of one option')
  const bare = containerCreateOptions(task({ id: 't' }), 'mesh')
  t.equal(bare.User, undefined)
  t.equal(bare.WorkingDir, undefined)
  t.equal(containerCreateOptions(task({ id: 't', spec: { entrypoint: [] } }), 'mesh').Entrypoint, undefined, 'an empty entrypoint is the image one')
})

t.test('hostname placeholders are filled per task', async (t) => {
  const tk = task({ id: 'abc', slot: 2, nodeId: 'n1' })
  const cases = [
    { template: 'web', want: 'web' },
    { template: '{{.Service.Name}}-{{.Task.Slot}}', want: 'web-2' },
    { template: '{{ .Task.ID }}.{{.Service.ID}}', want: 'abc.svc-web' },
    { template: '{{.Node.ID}}-{{.Node.Hostname}}', want: 'n1-worker1' },
  ]
  for (const c of cases) t.equal(taskHostname(c.template, tk, 'worker1'), c.want, c.template)
  t.equal(taskHostname('{{.Node.Hostname}}', tk), 'n1', 'unknown node name: the node id')
})

t.test('a change of any container field replaces the tasks', async (t) => {
  const base = spec()
  const changes: Partial<ServiceSpec>[] = [
    { hostname: 'h' }, { user: 'nobody' }, { workdir: '/x' }, { entrypoint: ['/init'] },
    { healthcheck: { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 } },
    { mounts: [{ type: 'tmpfs', source: '', target: '/x', readOnly: false }] },
  ]
  for (const c of changes) t.ok(taskSpecDiffers(base, { ...base, ...c }), Object.keys(c).join())
  const sized = { ...base, mounts: [{ type: 'tmpfs' as const, source: '', target: '/x', readOnly: false, tmpfs: { sizeBytes: 1 } }] }
  t.ok(taskSpecDiffers(sized, { ...sized, mounts: [{ ...sized.mounts[0]!, tmpfs: { sizeBytes: 2 } }] }), 'tmpfs size')
})

t.test('a task on several networks: created on the first, all of them in taskNetworks; without networks, the default one', async (t) => {
  const nets = (names: string[]) => names.map((name, i) => ({ network: `id${i}`, name, aliases: [] }))
  const cases = [
    { desc: 'no networks: the default', networks: undefined, mode: 'mesh', endpoints: ['mesh'] },
    { desc: 'one network: only it (not the default)', networks: nets(['app_back']), mode: 'app_back', endpoints: ['app_back'] },
    { desc: 'two networks: the first is NetworkMode', networks: nets(['app_front', 'app_back']), mode: 'app_front', endpoints: ['app_front', 'app_back'] },
  ]
  for (const c of cases) {
    const tk = { ...task({ id: 'n1' }), ...(c.networks ? { networks: c.networks } : {}) }
    const o = containerCreateOptions(tk, 'mesh')
    t.equal(o.HostConfig?.NetworkMode, c.mode, `${c.desc}: NetworkMode`)
    t.same(Object.keys(o.NetworkingConfig?.EndpointsConfig ?? {}), c.endpoints.slice(0, 1), `${c.desc}: created on the first (the others are connected before start)`)
    t.same(taskNetworks(tk, 'mesh'), c.endpoints, `${c.desc}: taskNetworks`)
  }
})
