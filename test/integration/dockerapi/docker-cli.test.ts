/**
 * The real docker CLI (28.x at /usr/local/bin/docker, else Debian's docker.io) against mesh's Docker API on a unix socket, served by an
 * in-process manager (cluster.ts): it negotiates API 1.41 from /_ping, lists nodes, services, tasks and networks,
 * inspects a service, shows Swarm in `docker info`, follows `docker events`, and is refused writes with the 501 line.
 * What is asserted is what docker prints.
 */
import t from 'tap'
import http from 'node:http'
import { join } from 'node:path'
import { MANAGER_SOCKET, defaultServiceSpec, jsonRequest } from '../../../src/api/index.ts'
import { createApp, listen } from '../../../src/manager/index.ts'
import { stop, waitFor } from '../../support/procs.ts'
import { DOCKER, dockerCluster } from './cluster.ts'


const c = await dockerCluster(t)
const rows = (out: string): string[][] => out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s{2,}/))

/** A raw request on the socket: status and body. */
function raw(method: string, path: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: c.socket, method, path }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('docker node ls: both nodes, the manager as Leader and as this node (*)', async (t) => {
  const r = await c.docker(['node', 'ls'])
  t.equal(r.code, 0, r.err)
  t.match(r.out.split('\n')[0], /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION/)
  const self = c.manager.getNode('manager1')?.id as string
  t.same(rows(r.out).map((x) => x.slice(0, 5)).sort(), [
    [`${self} *`, 'manager1', 'Ready', 'Active', 'Leader'],
    [c.manager.getNode('worker1')?.id as string, 'worker1', 'Ready', 'Active', '0.1.0'],
  ].sort())
  const managers = await c.docker(['node', 'ls', '--filter', 'role=manager', '--format', '{{.Hostname}}'])
  t.equal(managers.out, 'manager1\n', '--filter role=manager')
  const bad = await c.docker(['node', 'ls', '--filter', 'colour=red'])
  t.not(bad.code, 0)
  t.match(bad.err, "invalid filter 'colour'")
})

t.test('docker service ls: web, replicated, 2/2, its image and port', async (t) => {
  const r = await c.docker(['service', 'ls'])
  t.equal(r.code, 0, r.err)
  const [row] = rows(r.out)
  t.same(row?.slice(1), ['web', 'replicated', '2/2', 'nginx:1.27', '*:8080->80/tcp'])
  t.equal(row?.[0], c.manager.getService('web')?.id.slice(0, 12), 'the id as docker truncates it')
  const stack = await c.docker(['service', 'ls', '--filter', 'label=com.docker.stack.namespace=shop', '-q'])
  t.equal(stack.out.trim(), c.manager.getService('web')?.id.slice(0, 12), 'the stack label filter')
})

t.test('docker service ps web: two running tasks web.1 and web.2 on the cluster\'s nodes', async (t) => {
  const r = await c.docker(['service', 'ps', 'web'])
  t.equal(r.code, 0, r.err)
  t.match(r.out.split('\n')[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE/)
  const got = rows(r.out).map((x) => [x[1], x[2], x[3], x[4], (x[5] ?? '').split(' ')[0]]).sort()
  const nodeOf = (slot: number) => c.manager.getNode(c.manager.listTasks().find((x) => x.slot === slot)?.nodeId as string)?.hostname
  t.same(got, [['web.1', 'nginx:1.27', nodeOf(1), 'Running', 'Running'], ['web.2', 'nginx:1.27', nodeOf(2), 'Running', 'Running']])
  const none = await c.docker(['service', 'ps', 'nope'])
  t.not(none.code, 0)
  t.match(none.err, 'no such service: nope')
})

t.test('docker service inspect web: docker\'s Spec with the stack label, env, networks and VIPs', async (t) => {
  const r = await c.docker(['service', 'inspect', 'web'])
  t.equal(r.code, 0, r.err)
  const [s] = JSON.parse(r.out)
  const net = c.manager.networks.get('webnet')
  t.match(s, {
    ID: c.manager.getService('web')?.id,
    Spec: {
      Name: 'web', Labels: { 'com.docker.stack.namespace': 'shop' }, Mode: { Replicated: { Replicas: 2 } },
      TaskTemplate: { ContainerSpec: { Image: 'nginx:1.27', Env: ['MODE=prod'] }, Networks: [{ Target: net?.id }] },
      EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
    },
  })
  t.match(s.Endpoint.VirtualIPs, [{ NetworkID: net?.id, Addr: /^10\.80\.\d+\.\d+\/\d+$/ }])
  const pretty = await c.docker(['service', 'inspect', '--pretty', 'web'])
  t.match(pretty.out, /Name:\s+web/)
  t.match(pretty.out, /Replicas:\s+2/)
})

t.test('docker network ls: the default network and webnet, overlay, swarm', async (t) => {
  const r = await c.docker(['network', 'ls'])
  t.equal(r.code, 0, r.err)
  t.same(rows(r.out).map((x) => x.slice(1)), [['mesh', 'overlay', 'swarm'], ['webnet', 'overlay', 'swarm']])
  const i = await c.docker(['network', 'inspect', 'webnet', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.tier}}'])
  t.equal(i.out.trim(), `${c.manager.networks.get('webnet')?.subnet} front`)
  const created = await c.docker(['network', 'inspect', 'mesh', '--format', '{{.Created}}'])
  t.notMatch(created.out, /^1970/, 'the default network is dated with the cluster')
})

t.test('docker info: Swarm active, a manager, the cluster\'s nodes and managers', async (t) => {
  const r = await c.docker(['info'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /Swarm: active\n\s+NodeID: \S+\n\s+Is Manager: true\n\s+ClusterID: \S+\n\s+Managers: 1\n\s+Nodes: 2\n/)
  t.match(r.out, `ClusterID: ${c.manager.clusterInfo().clusterId}`)
  const v = await c.docker(['version', '--format', '{{.Server.APIVersion}}'])
  t.equal(v.out.trim(), '1.41', 'the CLI negotiated 1.41')
})

t.test('docker events --filter type=service: history since, then a service created through mesh\'s API (POST /v1/services)', async (t) => {
  const since = String(Math.floor((Date.now() - 3_600_000) / 1000))
  const p = c.spawnDocker(['events', '--filter', 'type=service', '--since', since, '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'])
  t.teardown(() => stop(p, 'SIGKILL'))
  await waitFor(() => p.stdout().includes('service create web'), 30_000)
  // Through mesh's own API, as `mesh service create` sends it (POST /v1/services on manager.sock).
  const local = await listen(createApp({ manager: c.manager, local: true }, defaultServiceSpec), { socketPath: join(c.dir, MANAGER_SOCKET) })
  t.teardown(() => new Promise<void>((r) => { local.closeAllConnections(); local.close(() => r()) }))
  const created = await jsonRequest({ socketPath: join(c.dir, MANAGER_SOCKET) }, { method: 'POST', path: '/v1/services?resolveImage=never', body: { name: 'api', image: 'nginx:1.27' }, timeoutMs: 30_000 })
  t.equal(created.status, 201, JSON.stringify(created.body))
  await waitFor(() => p.stdout().includes('service create api'), 30_000)
  t.same(p.stdout().trim().split('\n'), ['service create web', 'service create api'], 'only service events (no node, network, task)')
  const plain = c.spawnDocker(['events', '--since', since, '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=network'])
  t.teardown(() => stop(plain, 'SIGKILL'))
  const done = await plain.exited
  t.equal(done.code, 0, '--until ends the stream')
  t.match(plain.stdout(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\S* network create \w+ \(name=webnet, type=overlay\)$/m, 'docker\'s own line format')
})

t.test('writes: docker service create / node update answer 501 with the mesh command', async (t) => {
  const r = await c.docker(['service', 'create', '--name', 'x', '--detach', 'nginx:1.27'])
  t.not(r.code, 0)
  t.match(r.err, "Error response from daemon: mesh's Docker API is read-only: use the mesh CLI (mesh service create …)")
  t.equal(c.manager.getService('x'), undefined, 'nothing created')
  const n = await c.docker(['node', 'update', '--availability', 'drain', 'worker1'])
  t.match(n.err, "use the mesh CLI (mesh node update …)")
  t.equal(c.manager.getNode('worker1')?.availability, 'active', 'nothing changed')
  const logs = await c.docker(['service', 'logs', 'web'])
  t.match(logs.err, "mesh's Docker API does not serve /services/web/logs: use the mesh CLI (mesh service logs …)", 'a read it does not serve points to mesh too')
})

t.test('the wire: /_ping headers, versioned paths, dockerd\'s errors', async (t) => {
  const ping = await raw('HEAD', '/_ping')
  t.equal(ping.status, 200)
  t.match(ping.headers, { 'api-version': '1.41', 'docker-experimental': 'false', ostype: 'linux', swarm: 'active/manager' })
  t.equal((await raw('GET', '/_ping')).body, 'OK')
  t.equal((await raw('GET', '/v1.24/nodes')).status, 200)
  const tooNew = await raw('GET', '/v1.99/nodes')
  t.same([tooNew.status, JSON.parse(tooNew.body)], [400, { message: 'client version 1.99 is too new. Maximum supported API version is 1.41' }])
  const missing = await raw('GET', '/v1.41/nodes/nope')
  t.same([missing.status, JSON.parse(missing.body)], [404, { message: 'node nope not found' }])
  const unknown = await raw('GET', '/v1.41/containers/json')
  t.equal(unknown.status, 404)
  const tasks = JSON.parse((await raw('GET', `/tasks?filters=${encodeURIComponent('{"service":{"web":true},"desired-state":{"running":true}}')}`)).body)
  t.equal(tasks.length, 2)
  for (const x of tasks) t.match(x.NetworksAttachments, [{ Network: { Spec: { Name: 'webnet' } }, Addresses: [/^10\.80\.\d+\.\d+\/\d+$/] }])
})
