/**
 * The Docker API on the manager's TLS API (7947 in the agent; 127.0.0.1:0 here): the docker CLI with the bundle
 * `mesh ca issue-client NAME --out DIR` writes (ca.pem, cert.pem, key.pem: DOCKER_CERT_PATH's layout) and
 * DOCKER_TLS_VERIFY=1 lists the nodes; a node certificate is refused, and so is a caller without one.
 */
import t from 'tap'
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import https from 'node:https'
import { CLIENT_BUNDLE, MANAGER_SOCKET, defaultServiceSpec, jsonRequest } from '../../../src/api/index.ts'
import { createApp, listen } from '../../../src/manager/index.ts'
import { tlsApi } from '../../support/pki.ts'
import { runMesh } from '../../support/procs.ts'
import { dockerCluster } from './cluster.ts'

const c = await dockerCluster(t)
const api = await tlsApi(t, c.manager)
const local = await listen(createApp({ manager: c.manager, local: true }, defaultServiceSpec), { socketPath: join(c.dir, MANAGER_SOCKET) })
t.teardown(() => new Promise<void>((r) => { local.closeAllConnections(); local.close(() => r()) }))
const tcp = (certPath: string): NodeJS.ProcessEnv => ({ ...c.env, DOCKER_HOST: `tcp://127.0.0.1:${api.port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath })

t.test('an admin bundle from `mesh ca issue-client`: docker node ls and service ls over TLS', async (t) => {
  const bundle = join(c.dir, 'ops')
  const issued = await runMesh(['ca', 'issue-client', 'ops', '--out', bundle], { env: { PATH: process.env.PATH, HOME: c.dir, MESH_DATA_DIR: c.dir } })
  t.equal(issued.code, 0, issued.stderr)
  t.match(issued.stdout, `DOCKER_HOST=tcp://<manager>:7947 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${bundle} docker node ls`, 'the bundle says how docker uses it')
  const nodes = await c.docker(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'], { env: tcp(bundle) })
  t.equal(nodes.code, 0, nodes.err)
  t.same(nodes.out.trim().split('\n').map((l) => l.trim()).sort(), ['manager1 Leader', 'worker1'])
  const services = await c.docker(['service', 'ls', '--format', '{{.Name}} {{.Replicas}}'], { env: tcp(bundle) })
  t.equal(services.out.trim(), 'web 2/2')
  const mesh = await c.docker(['version', '--format', '{{.Server.APIVersion}}'], { env: tcp(bundle) })
  t.equal(mesh.out.trim(), '1.41')
})

t.test('a node certificate is refused (403), no certificate is refused (401); mesh\'s /v1/ routes unchanged', async (t) => {
  const w = await api.joinNode('worker9')
  const dir = join(c.dir, 'node-cert')
  mkdirSync(dir)
  writeFileSync(join(dir, CLIENT_BUNDLE.ca), (w.tls.ca as string[]).join(''))
  writeFileSync(join(dir, CLIENT_BUNDLE.cert), w.tls.cert as string)
  writeFileSync(join(dir, CLIENT_BUNDLE.key), w.tls.key as string, { mode: 0o600 })
  const r = await c.docker(['node', 'ls'], { env: tcp(dir) })
  t.not(r.code, 0)
  t.match(r.err, 'the Docker API wants an admin client certificate')
  const anonymous = await new Promise<number>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: api.port, path: '/v1.41/nodes', ca: api.anonymous.ca, checkServerIdentity: () => undefined }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject)
  })
  t.equal(anonymous, 401)
  const meshNodes = await jsonRequest(api.target(api.admin), { method: 'GET', path: '/v1/nodes', timeoutMs: 30_000 })
  t.equal(meshNodes.status, 200)
  t.match(meshNodes.body, [{ hostname: String }], 'mesh\'s own /v1/nodes keeps its shape next to docker\'s /v1.41/nodes')
})
