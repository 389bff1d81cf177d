/**
 * The Docker API's shape conversions (pure, synthetic records): nodes, services, tasks and networks with moby's
 * field names (API 1.41), times in RFC 3339 with nanoseconds, durations in nanoseconds, addresses with prefixes.
 */
import t from 'tap'
import { STACK_LABEL } from '../../../../src/api/index.ts'
import { dockerNode, findNode, nodeMatches } from '../../../../src/manager/dockerapi/nodes.ts'
import { dockerService, findService, serviceMatches, serviceStatus } from '../../../../src/manager/dockerapi/services.ts'
import { dockerTask, taskFilter, taskName } from '../../../../src/manager/dockerapi/tasks.ts'
import { dockerNetwork, findDockerNetwork, gatewayOf, networkMatches } from '../../../../src/manager/dockerapi/networks.ts'
import { parseFilters, NETWORK_FILTERS, NODE_FILTERS, SERVICE_FILTERS, TASK_FILTERS } from '../../../../src/manager/dockerapi/filters.ts'
import { dockerTime } from '../../../../src/manager/dockerapi/shape.ts'
import { node } from '../sim.ts'
import { CTX, MESH_NET, T0, WEBNET, serviceRecord, taskRecord } from './records.ts'

const NC = { revision: 42, leaderId: 'mgr1', apiPort: 7947, engineVersion: '0.1.0' }

t.test('dockerTime: RFC 3339 with nanoseconds', async (t) => {
  t.equal(dockerTime(T0), '2026-12-07T10:00:00.123000000Z')
  t.equal(dockerTime(0), '1970-01-01T00:00:00.000000000Z')
})

t.test('nodes: swarm.Node; ManagerStatus for managers, Leader for the one answering', async (t) => {
  const mgr = node('mgr1', { hostname: 'manager1', role: 'manager', addr: '10.0.0.1', labels: { zone: 'a' }, createdAt: T0, updatedAt: T0 })
  const w = node('wrk1', { hostname: 'worker1', addr: '10.0.0.2', state: 'down', availability: 'drain' })
  t.same(dockerNode(mgr, NC), {
    ID: 'mgr1', Version: { Index: 42 }, CreatedAt: '2026-12-07T10:00:00.123000000Z', UpdatedAt: '2026-12-07T10:00:00.123000000Z',
    Spec: { Labels: { zone: 'a' }, Role: 'manager', Availability: 'active' },
    Description: {
      Hostname: 'manager1', Platform: { Architecture: '', OS: 'linux' }, Resources: { NanoCPUs: 4e9, MemoryBytes: 8 * 2 ** 30 },
      Engine: { EngineVersion: '0.1.0', Labels: {}, Plugins: [] },
    },
    Status: { State: 'ready', Message: '', Addr: '10.0.0.1' },
    ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '10.0.0.1:7947' },
  })
  const wv = dockerNode(w, NC)
  t.equal(wv.ManagerStatus, undefined, 'a worker has no ManagerStatus')
  t.match(wv, { Spec: { Role: 'worker', Availability: 'drain' }, Status: { State: 'down', Addr: '10.0.0.2' } })
  t.same(dockerNode(node('m2', { role: 'manager', addr: 'fd00::2', state: 'down' }), NC).ManagerStatus, { Leader: false, Reachability: 'unreachable', Addr: '[fd00::2]:7947' })

  const nodes = [mgr, w]
  const cases = [
    { f: '{"role":["manager"]}', want: ['mgr1'] },
    { f: '{"name":["work"]}', want: ['wrk1'] },
    { f: '{"id":["mg"]}', want: ['mgr1'] },
    { f: '{"label":["zone=a"]}', want: ['mgr1'] },
    { f: '{"node.label":["zone"]}', want: ['mgr1'] },
    { f: '{"membership":["accepted"]}', want: ['mgr1', 'wrk1'] },
    { f: '{"membership":["pending"]}', want: [] },
  ]
  for (const c of cases) t.same(nodes.filter((n) => nodeMatches(n, parseFilters(c.f, NODE_FILTERS))).map((n) => n.id), c.want, c.f)
  t.equal(findNode(nodes, 'worker1').id, 'wrk1', 'by hostname')
  t.equal(findNode(nodes, 'wr').id, 'wrk1', 'by unique id prefix')
  t.throws(() => findNode(nodes, 'nope'), { status: 404, message: 'node nope not found' })
})

t.test('services: swarm.Service; spec, mode, endpoint with VIPs per network, update and service status', async (t) => {
  const web = serviceRecord('svc-web', {
    replicas: 3, labels: { [STACK_LABEL]: 'shop' }, env: ['A=1'], command: ['nginx', '-g', 'daemon off;'], entrypoint: ['/init'],
    ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], networks: [{ target: 'webnet', aliases: ['www'] }],
    secrets: [{ id: 'sec1', name: 'db', target: 'db', uid: '0', gid: '0', mode: 0o444 }],
    registryAuth: { username: 'u', password: 'hunter2', serveraddress: 'reg:5000' },
    healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 },
  }, { vip: '10.78.0.5', virtualIps: [{ network: WEBNET.id, addr: '10.80.0.2' }], updateStatus: { state: 'completed', startedAt: T0, completedAt: T0 + 10, message: 'update completed' } })
  const v = dockerService(web, CTX)
  t.match(v, {
    ID: 'svc-web', Version: { Index: 42 },
    Spec: {
      Name: 'web', Labels: { [STACK_LABEL]: 'shop' }, Mode: { Replicated: { Replicas: 3 } },
      TaskTemplate: {
        ContainerSpec: { Image: 'img:1', Command: ['/init'], Args: ['nginx', '-g', 'daemon off;'], Env: ['A=1'], StopGracePeriod: 10e9, Healthcheck: { Interval: 1e9, Timeout: 5e8, Retries: 3 } },
        RestartPolicy: { Condition: 'any' },
        Networks: [{ Target: WEBNET.id, Aliases: ['www'] }],
      },
      UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Order: 'stop-first' },
      EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
    },
    Endpoint: {
      Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }],
      VirtualIPs: [{ NetworkID: MESH_NET.id, Addr: '10.78.0.5/16' }, { NetworkID: WEBNET.id, Addr: '10.80.0.2/20' }],
    },
    UpdateStatus: { State: 'completed', StartedAt: dockerTime(T0), CompletedAt: dockerTime(T0 + 10), Message: 'update completed' },
  })
  t.same((v.Spec.TaskTemplate as { ContainerSpec: { Secrets: unknown } }).ContainerSpec.Secrets, [{ File: { Name: 'db', UID: '0', GID: '0', Mode: 0o444 }, SecretID: 'sec1', SecretName: 'db' }])
  t.notMatch(JSON.stringify(v), /hunter2|RegistryAuth|registryAuth/, 'registry credentials never shown')
  t.equal(v.ServiceStatus, undefined, 'ServiceStatus only with status=true')
  const gone = dockerService(serviceRecord('api', {}, { virtualIps: [{ network: 'removed-net', addr: '10.90.0.2' }] }), CTX)
  t.equal(gone.Endpoint.VirtualIPs, undefined, 'a VIP on a network that is gone is left out (clients parse each Addr as a CIDR)')

  const modes = [
    { o: { global: true }, want: { Global: {} } },
    { o: { mode: { replicatedJob: { maxConcurrent: 2, totalCompletions: 5 } } }, want: { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 5 } } },
    { o: { mode: { globalJob: {} } }, want: { GlobalJob: {} } },
  ] as const
  for (const c of modes) t.same(dockerService(serviceRecord('x', c.o as never), CTX).Spec.Mode, c.want, JSON.stringify(c.want))

  const tasks = [
    taskRecord('t1', web), taskRecord('t2', web, { slot: 2, status: { state: 'starting', message: '', timestamp: T0 } }),
    taskRecord('t0', web, { desiredState: 'shutdown', status: { state: 'running', message: '', timestamp: T0 } }),
  ]
  t.same(serviceStatus(web, tasks), { RunningTasks: 1, DesiredTasks: 3, CompletedTasks: 0 }, 'replicated: desired = replicas')
  const g = serviceRecord('g', { global: true })
  t.same(serviceStatus(g, [taskRecord('g1', g, { slot: 0 }), taskRecord('g2', g, { slot: 0, nodeId: 'node-b' })]), { RunningTasks: 2, DesiredTasks: 2, CompletedTasks: 0 }, 'global: desired = live tasks')
  t.same(dockerService(web, CTX, tasks).ServiceStatus, { RunningTasks: 1, DesiredTasks: 3, CompletedTasks: 0 })

  const services = [web, g]
  const cases = [
    { f: '{"name":["we"]}', want: ['svc-web'] },
    { f: '{"mode":["global"]}', want: ['g'] },
    { f: `{"label":["${STACK_LABEL}=shop"]}`, want: ['svc-web'] },
    { f: '{"id":["svc"]}', want: ['svc-web'] },
  ]
  for (const c of cases) t.same(services.filter((s) => serviceMatches(s, parseFilters(c.f, SERVICE_FILTERS))).map((s) => s.id), c.want, c.f)
  t.throws(() => serviceMatches(web, parseFilters('{"mode":["sometimes"]}', SERVICE_FILTERS)), { status: 400, message: "invalid filter 'mode=sometimes'" })
  t.equal(findService(services, 'web').id, 'svc-web')
  t.throws(() => findService(services, 'api'), { status: 404, message: 'service api not found' })
})

t.test('tasks: swarm.Task with status, container, networks attachments (addresses with prefix length)', async (t) => {
  const web = serviceRecord('svc-web', { networks: [{ target: 'webnet', aliases: [] }], ports: [{ published: 9000, target: 90, protocol: 'udp', mode: 'host' }] })
  const task = taskRecord('t1', web, {
    status: { state: 'running', message: 'started', timestamp: T0 + 5, containerId: 'abc123' },
    networks: [{ network: WEBNET.id, name: 'webnet', aliases: [], ip: '10.80.0.66' }],
  })
  const v = dockerTask(task, CTX)
  t.match(v, {
    ID: 't1', ServiceID: 'svc-web', Slot: 1, NodeID: 'node-a', DesiredState: 'running', Labels: {},
    Status: { State: 'running', Message: 'started', Timestamp: dockerTime(T0 + 5), ContainerStatus: { ContainerID: 'abc123' },
      PortStatus: { Ports: [{ Protocol: 'udp', TargetPort: 90, PublishedPort: 9000, PublishMode: 'host' }] } },
    Spec: { ContainerSpec: { Image: 'img:1' } },
  })
  t.equal(v.NetworksAttachments?.length, 1)
  t.match(v.NetworksAttachments?.[0], {
    Network: { ID: WEBNET.id, Spec: { Name: 'webnet', Labels: { tier: 'front' }, DriverConfiguration: { Name: 'overlay' }, Scope: 'swarm' },
      IPAMOptions: { Configs: [{ Subnet: '10.80.0.0/20', Gateway: '10.80.0.1' }] } },
    Addresses: ['10.80.0.66/20'],
  })
  const onDefault = dockerTask(taskRecord('t2', serviceRecord('api'), { ip: '10.77.3.4', slot: 0, nodeId: '' }), CTX)
  t.same(onDefault.NetworksAttachments?.map((a) => [a.Network.ID, a.Addresses]), [[MESH_NET.id, ['10.77.3.4/16']]], 'the default network')
  t.equal(onDefault.Slot, undefined, 'a global task has no slot')
  t.equal(onDefault.NodeID, undefined, 'an unassigned task has no node')
  t.same(dockerTask(taskRecord('t3', web, { status: { state: 'pending', message: '', timestamp: 0 } }), CTX).Status.PortStatus, {}, 'host ports only while running')

  t.equal(taskName(task), 'web.1')
  t.equal(taskName(taskRecord('g', serviceRecord('mon'), { slot: 0, nodeId: 'node-b' })), 'mon.node-b')

  const api = serviceRecord('svc-api', { labels: { [STACK_LABEL]: 'shop' } })
  const tasks = [task, taskRecord('t2', web, { slot: 2, nodeId: 'node-b', desiredState: 'shutdown' }), taskRecord('t9', api)]
  const services = [web, api]
  const nodes = [node('node-a', { hostname: 'n-a' }), node('node-b', { hostname: 'n-b' })]
  const cases = [
    { f: '{"service":["web"]}', want: ['t1', 't2'] },
    { f: '{"service":["svc-api"]}', want: ['t9'] },
    { f: '{"node":["n-b"]}', want: ['t2'] },
    { f: '{"desired-state":["running"]}', want: ['t1', 't9'] },
    { f: '{"name":["web.2"]}', want: ['t2'] },
    { f: '{"id":["t9"]}', want: ['t9'] },
    { f: '{"service":["web"],"desired-state":["shutdown"]}', want: ['t2'] },
    { f: `{"label":["${STACK_LABEL}=shop"]}`, want: ['t9'] },
  ]
  for (const c of cases) t.same(tasks.filter(taskFilter(parseFilters(c.f, TASK_FILTERS), services, nodes)).map((x) => x.id), c.want, c.f)
  t.throws(() => taskFilter(parseFilters('{"service":["nope"]}', TASK_FILTERS), services, nodes), { status: 404, message: 'service nope not found' })
  t.throws(() => taskFilter(parseFilters('{"node":["nope"]}', TASK_FILTERS), services, nodes), { status: 404, message: 'node nope not found' })
})

t.test('networks: NetworkResource (overlay, swarm scope, IPAM config, options); filters; lookup', async (t) => {
  t.same(dockerNetwork(WEBNET), {
    Name: 'webnet', Id: WEBNET.id, Created: dockerTime(T0), Scope: 'swarm', Driver: 'overlay', EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: '10.80.0.0/20', Gateway: '10.80.0.1' }] },
    Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: {},
    Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, Labels: { tier: 'front' },
  })
  t.same(dockerNetwork(MESH_NET).Options, { encrypted: '' }, 'the default network: encrypted, no VXLAN id')
  t.equal(gatewayOf('10.0.255.0/24'), '10.0.255.1')
  t.equal(gatewayOf('10.0.0.0/32'), '', 'no gateway in a /32')
  const nets = [MESH_NET, WEBNET]
  const cases = [
    { f: '{"name":["net"]}', want: ['webnet'] },
    { f: '{"driver":["overlay"]}', want: ['mesh', 'webnet'] },
    { f: '{"scope":["local"]}', want: [] },
    { f: '{"type":["builtin"]}', want: ['mesh'] },
    { f: '{"label":["tier=front"]}', want: ['webnet'] },
    { f: `{"id":["${WEBNET.id.slice(0, 6)}"]}`, want: ['webnet'] },
  ]
  for (const c of cases) t.same(nets.filter((n) => networkMatches(n, parseFilters(c.f, NETWORK_FILTERS))).map((n) => n.spec.name), c.want, c.f)
  t.equal(findDockerNetwork(nets, 'mesh').id, MESH_NET.id)
  t.equal(findDockerNetwork(nets, 'webnet1').spec.name, 'webnet')
  t.throws(() => findDockerNetwork(nets, 'x'), { status: 404, message: 'network x not found' })
})

t.test('nodes: ManagerStatus as the manager sees its peers (etcd: the leader elected, a member that does not answer)', async (t) => {
  const status = (n: { id: string; role: string }) => n.role !== 'manager' ? undefined
    : { leader: n.id === 'm2', reachability: n.id === 'm3' ? 'unreachable' as const : 'reachable' as const, addr: `${n.id}:7947` }
  const c = { ...NC, leaderId: 'm2', managerStatus: status }
  t.same(dockerNode(node('m1', { role: 'manager' }), c).ManagerStatus, { Leader: false, Reachability: 'reachable', Addr: 'm1:7947' }, 'not the answering manager: the elected one leads')
  t.same(dockerNode(node('m2', { role: 'manager' }), c).ManagerStatus, { Leader: true, Reachability: 'reachable', Addr: 'm2:7947' })
  t.same(dockerNode(node('m3', { role: 'manager' }), c).ManagerStatus, { Leader: false, Reachability: 'unreachable', Addr: 'm3:7947' }, 'ready, but its member does not answer')
  t.equal(dockerNode(node('w1', { role: 'worker' }), c).ManagerStatus, undefined)
})
