/** Which paths are docker's, the API versions served, the 501 for writes, /_ping's headers, /info's Swarm (pure); the lock. */
import t from 'tap'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDockerApp } from '../../../../src/manager/dockerapi/index.ts'
import { listen } from '../../../../src/manager/http/api.ts'
import { dockerPath, versionProblem } from '../../../../src/manager/dockerapi/router.ts'
import { notServedMessage, readOnlyMessage } from '../../../../src/manager/dockerapi/writes.ts'
import { dockerInfo, dockerVersion, pingHeaders } from '../../../../src/manager/dockerapi/system.ts'
import { node } from '../sim.ts'

t.test('docker\'s paths vs mesh\'s /v1/…', async (t) => {
  const cases = [
    { path: '/nodes', want: { path: '/nodes' } },
    { path: '/v1.41/nodes', want: { path: '/nodes', version: [1, 41] } },
    { path: '/v1.24/services/web', want: { path: '/services/web', version: [1, 24] } },
    { path: '/v1.50/_ping', want: { path: '/_ping', version: [1, 50] } },
    { path: '/_ping', want: { path: '/_ping' } },
    { path: '/v1/nodes', want: null },
    { path: '/v1/info', want: null },
    { path: '/v1/events', want: null },
    { path: '/ui', want: null },
    { path: '/metrics', want: null },
  ]
  for (const c of cases) t.same(dockerPath(c.path), c.want, c.path)
})

t.test('API versions: 1.24 … 1.41, dockerd\'s words outside', async (t) => {
  t.equal(versionProblem([1, 41]), null)
  t.equal(versionProblem([1, 24]), null)
  t.equal(versionProblem([1, 50]), 'client version 1.50 is too new. Maximum supported API version is 1.41')
  t.match(versionProblem([1, 12]), /^client version 1.12 is too old. Minimum supported API version is 1.24/)
  t.match(versionProblem([2, 0]), /too new/)
})

t.test('writes: 501 naming the mesh command', async (t) => {
  const cases = [
    { m: 'POST', p: '/services/create', want: 'mesh service create' },
    { m: 'POST', p: '/services/abc/update', want: 'mesh service update' },
    { m: 'DELETE', p: '/services/web', want: 'mesh service rm' },
    { m: 'POST', p: '/nodes/n1/update', want: 'mesh node update' },
    { m: 'DELETE', p: '/networks/webnet/', want: 'mesh network rm' },
    { m: 'POST', p: '/secrets/create', want: 'mesh secret create' },
    { m: 'POST', p: '/swarm/leave', want: 'mesh leave' },
  ]
  for (const c of cases) t.equal(readOnlyMessage(c.m, c.p), `mesh's Docker API is read-only: use the mesh CLI (${c.want} …)`, `${c.m} ${c.p}`)
  t.equal(readOnlyMessage('POST', '/containers/create'), "mesh's Docker API is read-only: use the mesh CLI", 'no mesh command')
  t.equal(notServedMessage('/services/web/logs'), "mesh's Docker API does not serve /services/web/logs: use the mesh CLI (mesh service logs …)")
  t.equal(notServedMessage('/secrets'), "mesh's Docker API does not serve /secrets: use the mesh CLI (mesh secret ls …)")
  t.equal(notServedMessage('/containers/json'), null, 'docker\'s engine routes: a plain 404')
})

t.test('/_ping headers, /version, /info\'s Swarm section', async (t) => {
  t.match(pingHeaders(), { 'API-Version': '1.41', 'Docker-Experimental': 'false', 'OSType': 'linux', 'Swarm': 'active/manager' })
  const host = { arch: 'x86_64', goArch: 'amd64', kernel: '6.1.0', hostname: 'h', meshVersion: '0.1.0' }
  t.match(dockerVersion(host), { ApiVersion: '1.41', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64', Version: '0.1.0', Components: [{ Name: 'Engine' }] })
  const nodes = [node('m1', { hostname: 'manager1', role: 'manager', addr: '10.0.0.1' }), node('w1'), node('m2', { role: 'manager', addr: '10.0.0.3' })]
  const info = dockerInfo({
    host, nodes, selfId: 'm1', apiPort: 7947,
    cluster: { id: 'c1', revision: 9, createdAt: 0, trustRoot: 'PEM', nodeCertLifetimeMs: 3600_000, rootRotationInProgress: false, autolock: true },
  })
  t.match(info, {
    Name: 'manager1', OSType: 'linux', Architecture: 'x86_64', NCPU: 4,
    Swarm: {
      NodeID: 'm1', NodeAddr: '10.0.0.1', LocalNodeState: 'active', ControlAvailable: true, Nodes: 3, Managers: 2,
      RemoteManagers: [{ NodeID: 'm1', Addr: '10.0.0.1:7947' }, { NodeID: 'm2', Addr: '10.0.0.3:7947' }],
      Cluster: { ID: 'c1', Version: { Index: 9 }, Spec: { CAConfig: { NodeCertExpiry: 3600e9 }, EncryptionConfig: { AutoLockManagers: true } }, TLSInfo: { TrustRoot: 'PEM' } },
    },
  })
  t.match(dockerInfo({ host, nodes: [], selfId: null, apiPort: 7947, cluster: { id: 'c1', revision: 1, createdAt: 0, trustRoot: '', nodeCertLifetimeMs: 0, rootRotationInProgress: false, autolock: false } }),
    { Name: 'h', Swarm: { NodeID: '', Nodes: 0 } }, 'before the manager registered its node')
})

t.test('a locked manager (autolock) answers 503 `run mesh unlock` on the socket; /_ping still answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-dockerapi-lock-'))
  // Only the vault is read before a locked manager answers: a fake of that one field.
  const manager = { vault: { locked: true } } as unknown as Parameters<typeof createDockerApp>[0]['manager']
  const server = await listen(createDockerApp({ manager, apiPort: 7947, host: { arch: 'x86_64', goArch: 'amd64', kernel: 'k', hostname: 'h', meshVersion: '0' } }), { socketPath: join(dir, 'docker-api.sock') })
  t.teardown(() => { server.close(); rmSync(dir, { recursive: true, force: true }) })
  const get = (path: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ socketPath: join(dir, 'docker-api.sock'), path }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
  t.same(await get('/v1.41/nodes'), { status: 503, body: '{"message":"the manager is locked: run mesh unlock"}\n' })
  t.same(await get('/_ping'), { status: 200, body: 'OK' })
})
