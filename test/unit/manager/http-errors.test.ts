/**
 * How the API answers what the Manager refuses (RequestRefusedError codes → HTTP status) and what the HTTP layer
 * refuses itself (RequestError), on the real app at 127.0.0.1:0: `{error: {code, message}}`, nothing applied.
 */
import t from 'tap'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { jsonRequest } from '../../../src/api/index.ts'
import { testCsr, tlsApi } from '../../support/pki.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store, clock: new FakeClock() })
await manager.init()
await manager.createService({ ...defaultServiceSpec('web', 'nginx'), ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }] })
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
const remote = await tlsApi(t, manager) // the TCP listener: TLS 1.3, as agents serve it
t.teardown(() => {
  server.closeAllConnections()
  server.close()
  store.close()
})

/** A request to the TLS listener without a client certificate (a joining node), `token` as the bearer. */
async function remoteCall(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return jsonRequest(remote.target(remote.anonymous), { method, path, body, headers: { authorization: `Bearer ${token}` }, timeoutMs: 30_000 })
}

const cases = [
  { desc: 'unknown service', method: 'POST', path: '/v1/services/nope/rollback', status: 404, code: 'MESH_ERR_NOT_FOUND', message: 'service "nope" not found' },
  { desc: 'name taken', method: 'POST', path: '/v1/services', body: { name: 'web', image: 'nginx' }, status: 409, code: 'MESH_ERR_CONFLICT', message: 'service "web" already exists' },
  {
    desc: 'port taken', method: 'POST', path: '/v1/services', body: { name: 'api', image: 'nginx', ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }] },
    status: 409, code: 'MESH_ERR_CONFLICT', message: 'port 8080/tcp is already published by service "web"',
  },
  { desc: 'bad availability', method: 'PATCH', path: '/v1/nodes/x', body: { availability: 'gone' }, status: 400, code: 'MESH_ERR_INVALID', message: 'availability "gone" must be active, pause or drain' },
  {
    desc: 'bad join token (TCP listener)', method: 'POST', path: '/v1/agent/join', body: { hostname: 'n1', addr: '10.0.0.1' }, remote: true,
    status: 401, code: 'MESH_ERR_TOKEN', message: 'invalid join token (check `mesh token show worker` on a manager)',
  },
  { desc: 'body not an object (RequestError)', method: 'POST', path: '/v1/services', body: [1], status: 400, code: 'MESH_ERR_INVALID', message: 'request body must be a JSON object' },
  { desc: 'scaling a global service (RequestError inside the transaction)', method: 'POST', path: '/v1/services/g/scale', body: { replicas: 2 }, status: 400, code: 'MESH_ERR_INVALID', message: 'service "g": scale can only be used with replicated or replicated-job mode', global: true },
]

for (const c of cases) {
  t.test(c.desc, async (t) => {
    if (c.global && !manager.getService('g')) await manager.createService({ ...defaultServiceSpec('g', 'nginx'), mode: { global: {} } })
    const revision = manager.revision
    let status: number
    let body: { error: { code: string; message: string } }
    if (c.remote) {
      const r = await remoteCall(c.method, c.path, 'SWMTKN-wrong', c.body)
      status = r.status
      body = r.body as typeof body
    } else {
      const res = await fetch(`${base}${c.path}`, {
        method: c.method, headers: { 'content-type': 'application/json' }, ...(c.body ? { body: JSON.stringify(c.body) } : {}),
      })
      status = res.status
      body = (await res.json()) as typeof body
    }
    t.equal(status, c.status)
    t.equal(body.error.code, c.code)
    if (c.message) t.equal(body.error.message, c.message)
    t.equal(manager.revision, revision, 'nothing applied')
  })
}

t.test('store failures: a uniqueness conflict answers 409, a closed or unusable store 503 (agents retry 5xx)', async (t) => {
  const { statusOf } = await import('../../../src/manager/http/request-error.ts')
  const { StoreConflictError, StoreError, StoreCompactedError } = await import('../../../src/manager/index.ts')
  t.equal(statusOf(new StoreConflictError('service name taken')), 409)
  t.equal(statusOf(new StoreError('the store is not open')), 503)
  t.equal(statusOf(new StoreCompactedError('revision 3 is compacted')), 503)
  // Through the real app: a closed store answers 503 with its code, not 400.
  const s2 = openSqliteStore(':memory:')
  const m2 = new Manager({ store: s2, clock: new FakeClock() })
  await m2.init()
  const srv = await listen(createApp({ manager: m2, local: true }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  s2.close()
  const res = await fetch(`http://127.0.0.1:${(srv.address() as { port: number }).port}/v1/services`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'web', image: 'nginx' }),
  })
  t.equal(res.status, 503)
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'MESH_ERR_STORE')
})

t.test('the join route: spelled with a trailing slash or in capitals it still needs a join token; resources are checked', async (t) => {
  const worker = manager.tokens().worker
  const n8 = await remote.joinNode('n8', { addr: '10.0.0.8' })
  type Reply = { status: number; body: { error?: { code: string; message: string }; role?: string } }
  const join = async (path: string, token: string, body: unknown) => (await remoteCall('POST', path, token, body)) as Reply
  for (const path of ['/v1/agent/join/', '/V1/AGENT/JOIN']) {
    const r = await jsonRequest(remote.target(n8.tls), { method: 'POST', path, body: { hostname: 'sneaky', addr: '10.0.0.9' }, timeoutMs: 30_000 }) as Reply
    t.equal(r.status, 401, `${path} with a node certificate (not a join token): refused, not a 500`)
    t.equal(r.body.error?.code, 'MESH_ERR_TOKEN')
    const s = await join(path, 'MESHTKN-2-nope', { hostname: 'sneaky', addr: '10.0.0.9' })
    t.equal(s.status, 401, `${path} with a bad join token: refused, not a 500`)
    t.equal(s.body.error?.code, 'MESH_ERR_TOKEN')
  }
  t.notOk(manager.getNode('sneaky'), 'no node was created')
  const csr = await testCsr()
  const bad = await join('/v1/agent/join', worker, { hostname: 'n9', addr: '10.0.0.9', csr, resources: { nanoCpus: -1, memoryBytes: 'lots' } })
  t.equal(bad.status, 400)
  t.match(bad.body.error?.message, /resources must be/)
  t.notOk(manager.getNode('n9'), 'nothing stored for a refused join')
  const ok = await join('/v1/agent/join/', worker, { hostname: 'n9', addr: '10.0.0.9', csr, resources: { nanoCpus: 2e9, memoryBytes: 2 ** 30 } })
  t.equal(ok.status, 200, 'the same route with a trailing slash and the worker token joins')
  t.equal(ok.body.role, 'worker')
})

t.test('scale: a replicated job\'s replicas are its total completions; a global job refuses as docker does', async (t) => {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() as { spec?: { mode: unknown }; version?: number; error?: { message: string } } }
  }
  await manager.createService({ ...defaultServiceSpec('batch', 'nginx'), mode: { replicatedJob: { totalCompletions: 5, maxConcurrent: 2 } } })
  const r = await post('/v1/services/batch/scale', { replicas: 8 })
  t.equal(r.status, 200)
  t.same(r.body.spec?.mode, { replicatedJob: { totalCompletions: 8, maxConcurrent: 2 } })
  t.equal(r.body.version, 2, 'a new version: the job runs again')
  await manager.createService({ ...defaultServiceSpec('once', 'nginx'), mode: { globalJob: {} } })
  const g = await post('/v1/services/once/scale', { replicas: 2 })
  t.equal(g.status, 400)
  t.equal(g.body.error?.message, 'service "once": scale can only be used with replicated or replicated-job mode')
  const listed = await (await fetch(`${base}/v1/services/batch`)).json() as { completed?: number }
  t.equal(listed.completed, 0, 'a job service shows its completions')
})
