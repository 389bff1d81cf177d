/**
 * Attack tests for the manager API's mutual TLS (security review #1 and #6, the issue's "Must show"): the real app
 * on 127.0.0.1:0 with TLS 1.3, driven as each kind of attacker would. A join token is not an admin credential; a
 * worker certificate reaches only the agent routes and an admin certificate none of them; a certificate of another
 * cluster CA, of a removed node or of a revoked admin client is refused (401) and a removed node's open watch
 * stream ends; plain HTTP and TLS 1.2 get no HTTP answer; a join is refused before its body is read and otherwise
 * returns a certificate naming the new node id and role, chained to the root GET /v1/ca hands out.
 */
import t, { type Test } from 'tap'
import net from 'node:net'
import tls from 'node:tls'
import { createHash, X509Certificate } from 'node:crypto'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { jsonRequest, requestFor, type ClientTls } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { testCsr, testKey, tlsApi, type TlsApi } from '../../support/pki.ts'
import { FakeMembers } from '../../support/fake-members.ts'

async function cluster(t: Test): Promise<{ m: Manager; api: TlsApi; clock: FakeClock }> {
  const store = openSqliteStore(':memory:')
  const clock = new FakeClock()
  // Managers with their own etcd members (faked): the manager token joins a manager (a SQLite cluster refuses it).
  const m = new Manager({ store, clock, members: new FakeMembers({ name: 'm1', peerUrl: 'https://10.0.0.1:2380' }) })
  await m.init()
  t.teardown(() => store.close())
  return { m, api: await tlsApi(t, m), clock }
}

type Reply = { status: number; body: { error?: { code: string; message: string } } & Record<string, unknown> }

async function call(api: TlsApi, as: ClientTls, method: string, path: string, o: { body?: unknown; bearer?: string } = {}): Promise<Reply> {
  const headers = o.bearer ? { authorization: `Bearer ${o.bearer}` } : undefined
  return await jsonRequest(api.target(as), { method, path, body: o.body, timeoutMs: 30_000, ...(headers ? { headers } : {}) }) as Reply
}

/** A watch stream: its status, the lines so far, and a promise settled when the server ends it. */
function watch(api: TlsApi, as: ClientTls): Promise<{ status: number; lines: unknown[]; ended: Promise<void>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = requestFor(api.target(as), { method: 'GET', path: '/v1/agent/watch' }, (res) => {
      const lines: unknown[] = []
      const ended = new Promise<void>((r) => res.once('close', () => r()))
      res.setEncoding('utf8')
      res.on('data', (c: string) => { for (const l of c.split('\n').filter(Boolean)) lines.push(JSON.parse(l)) })
      res.on('error', () => undefined)
      resolve({ status: res.statusCode ?? 0, lines, ended, close: () => req.destroy() })
    })
    req.on('error', reject)
    req.end()
  })
}

/** Resolves true when `p` settles within `ms`. */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])

t.test('the manager join token as a bearer on admin routes: 401, nothing applied; the admin certificate works', async (t) => {
  const { m, api } = await cluster(t)
  const token = m.tokens().manager
  const cases = [
    { method: 'GET', path: '/v1/nodes' },
    { method: 'POST', path: '/v1/services', body: { name: 'pwn', image: 'alpine' } },
    { method: 'POST', path: '/v1/tokens/worker/rotate' },
    { method: 'POST', path: '/v1/ca/clients', body: { name: 'mallory', csr: 'x' } },
  ]
  for (const c of cases) {
    const r = await call(api, api.anonymous, c.method, c.path, { body: c.body, bearer: token })
    t.equal(r.status, 401, `${c.method} ${c.path}`)
    t.equal(r.body.error?.code, 'MESH_ERR_UNAUTHORIZED', `${c.method} ${c.path}: code`)
  }
  t.same(m.listServices(), [], 'no service created')
  t.equal(m.tokens().manager, token, 'no token rotated')
  t.same(m.ca.adminClients().map((c) => c.name), ['test-admin'], 'no admin client issued')
  t.equal((await call(api, api.admin, 'GET', '/v1/nodes')).status, 200, 'the admin client certificate is admin')
})

t.test('a worker certificate on admin routes: 403, nothing applied', async (t) => {
  const { m, api } = await cluster(t)
  const w1 = await api.joinNode('w1')
  const cases = [
    { method: 'GET', path: '/v1/nodes' },
    { method: 'GET', path: '/v1/services' },
    { method: 'POST', path: '/v1/services', body: { name: 'pwn', image: 'alpine' } },
    { method: 'PATCH', path: '/v1/nodes/w1', body: { availability: 'drain' } },
    { method: 'GET', path: '/v1/ca/status' },
    { method: 'POST', path: '/v1/ca/rotate' },
  ]
  for (const c of cases) {
    const r = await call(api, w1.tls, c.method, c.path, { body: c.body })
    t.same([r.status, r.body.error?.code], [403, 'MESH_ERR_FORBIDDEN'], `${c.method} ${c.path}`)
  }
  t.same(m.listServices(), [], 'no service created')
  t.equal(m.getNode('w1')?.availability, 'active', 'the node is not drained')
  t.equal(m.ca.status().rotating, false, 'no CA rotation started')
  const own = await call(api, w1.tls, 'POST', '/v1/agent/status', { body: { updates: [] } })
  t.same([own.status, own.body], [200, { applied: 0 }], 'the worker routes answer it')
})

t.test('an admin client certificate on the agent routes: 403', async (t) => {
  const { api } = await cluster(t)
  const w = await watch(api, api.admin)
  t.equal(w.status, 403, 'GET /v1/agent/watch')
  w.close()
  const r = await call(api, api.admin, 'POST', '/v1/agent/status', { body: { updates: [] } })
  t.same([r.status, r.body.error?.code], [403, 'MESH_ERR_FORBIDDEN'], 'POST /v1/agent/status')
})

t.test('certificates of another cluster CA are refused with 401, even naming a member of this cluster', async (t) => {
  const a = await cluster(t)
  const b = await cluster(t)
  const w1 = await a.api.joinNode('w1')
  const bw = await b.api.joinNode('w1')
  const clusterB = b.m.clusterInfo().clusterId
  const key = await testKey()
  const forged = await b.m.ca.issue(key.csrPem, { nodeId: w1.node.id, role: 'worker', clusterId: clusterB })
  const forgedTls: ClientTls = { ...bw.tls, cert: forged, key: key.keyPem }
  const cases = [
    { desc: 'the other cluster\'s admin certificate on an admin route', as: b.api.admin, method: 'GET', path: '/v1/nodes' },
    { desc: 'the other cluster\'s node certificate on an agent route', as: bw.tls, method: 'POST', path: '/v1/agent/status' },
    { desc: 'a certificate of the other CA naming our w1', as: forgedTls, method: 'POST', path: '/v1/agent/status' },
  ]
  for (const c of cases) {
    // The client trusts cluster a's root (it wants to talk to a), but presents b's certificate.
    const r = await call(a.api, { ...c.as, ca: a.api.anonymous.ca }, c.method, c.path, c.method === 'POST' ? { body: { updates: [] } } : {})
    t.same([r.status, r.body.error?.code], [401, 'MESH_ERR_UNAUTHORIZED'], c.desc)
    t.match(r.body.error?.message, /^client certificate refused: /, `${c.desc}: one line`)
  }
  const wb = await watch(a.api, { ...bw.tls, ca: a.api.anonymous.ca })
  t.equal(wb.status, 401, 'the watch stream too')
  wb.close()
})

t.test('mesh node rm: the node\'s next request is 401 and its open watch stream ends', async (t) => {
  const { m, api, clock } = await cluster(t)
  const w1 = await api.joinNode('w1')
  const w = await watch(api, w1.tls)
  t.teardown(w.close)
  t.equal(w.status, 200)
  await m.removeNode('w1', true)
  await clock.advance(10) // the stream's coalescing window
  t.ok(await within(w.ended, 2000), 'the open stream was ended by the manager')
  const r = await call(api, w1.tls, 'POST', '/v1/agent/status', { body: { updates: [] } })
  t.same([r.status, r.body.error?.code], [401, 'MESH_ERR_UNAUTHORIZED'], 'its certificate is refused at once')
  t.match(r.body.error?.message, /is not a member of this cluster/)
  const again = await watch(api, w1.tls)
  t.equal(again.status, 401, 'and it cannot open a new stream')
  again.close()
})

t.test('a revoked admin client certificate: 401 from the next request', async (t) => {
  const { m, api } = await cluster(t)
  t.equal((await call(api, api.admin, 'GET', '/v1/services')).status, 200, 'accepted before')
  t.equal(await m.ca.revokeAdminClient('test-admin'), 1)
  const r = await call(api, api.admin, 'GET', '/v1/services')
  t.same([r.status, r.body.error?.code], [401, 'MESH_ERR_UNAUTHORIZED'])
  t.equal(r.body.error?.message, 'client certificate "test-admin" was revoked')
  const w = await call(api, api.admin, 'POST', '/v1/services', { body: { name: 'late', image: 'alpine' } })
  t.equal(w.status, 401, 'a write too')
  t.same(m.listServices(), [], 'nothing applied')
})

t.test('plain HTTP to the TLS port gets no HTTP answer and the connection closes', async (t) => {
  const { api } = await cluster(t)
  for (const path of ['/v1/ca', '/v1/info']) {
    const socket = net.connect({ host: '127.0.0.1', port: api.port })
    let got = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]) })
    socket.on('error', () => undefined)
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    t.ok(await within(closed, 3000), `GET ${path}: the server closed the connection`)
    socket.destroy()
    t.notOk(got.includes('HTTP/1.1'), `GET ${path}: no HTTP/1.1 bytes (got ${got.length} bytes)`)
    t.notOk(got.includes('BEGIN CERTIFICATE'), `GET ${path}: nothing of the API's answers`)
  }
})

t.test('a TLS 1.2 client is refused in the handshake', async (t) => {
  const { api } = await cluster(t)
  const outcome = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: api.port, ...api.admin, maxVersion: 'TLSv1.2' })
    s.once('secureConnect', () => { resolve(`connected with ${s.getProtocol()}`); s.destroy() })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(`refused: ${err.code ?? err.message}`))
  })
  t.match(outcome, /^refused: /, outcome)
  const ok = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: api.port, ...api.admin })
    s.once('secureConnect', () => { resolve(String(s.getProtocol())); s.destroy() })
    s.once('error', reject)
  })
  t.equal(ok, 'TLSv1.3', 'the same client with TLS 1.3 is let in')
})

t.test('join: a wrong token is refused before the body is read', async (t) => {
  const { m, api } = await cluster(t)
  const socket = tls.connect({ host: '127.0.0.1', port: api.port, ...api.anonymous, minVersion: 'TLSv1.3' })
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (d: string) => { text += d })
  socket.on('error', () => undefined)
  const closed = new Promise<void>((r) => socket.once('close', () => r()))
  await new Promise<void>((r) => socket.once('secureConnect', () => r()))
  const wrong = `${m.tokens().worker.slice(0, -4)}0000`
  socket.write(`POST /v1/agent/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\nAuthorization: Bearer ${wrong}\r\n\r\n{"hostname":`)
  t.ok(await within(closed, 2000), 'answered and closed without waiting for the 1 MB body')
  socket.destroy()
  t.match(text, /^HTTP\/1.1 401 /, '401')
  t.match(text, /"code":"MESH_ERR_TOKEN"/)
  t.same(m.listNodes(), [], 'no node')
})

t.test('join: the certificate names the new node id (CN) and role (OU) and chains to GET /v1/ca\'s root', async (t) => {
  const { m, api } = await cluster(t)
  const ca = await call(api, api.anonymous, 'GET', '/v1/ca')
  t.equal(ca.status, 200, 'GET /v1/ca needs no certificate')
  const root = new X509Certificate(ca.body.certificate as string)
  t.equal(ca.body.digest, createHash('sha256').update(root.raw).digest('hex'), 'its digest is the sha256 of the root (what tokens pin)')
  t.ok(m.tokens().worker.includes(ca.body.digest as string), 'the worker token pins it')
  const cases = [
    { hostname: 'w1', token: m.tokens().worker, role: 'worker' },
    { hostname: 'm2', token: m.tokens().manager, role: 'manager' },
  ]
  for (const c of cases) {
    const j = await api.joinNode(c.hostname, { token: c.token })
    const leaf = new X509Certificate(j.tls.cert as string)
    t.not(j.node.id, c.hostname, `${c.hostname}: a fresh node id`)
    t.match(leaf.subject, new RegExp(`(^|\\n)CN=${j.node.id}(\\n|$)`), `${c.hostname}: CN is the new node id`)
    t.match(leaf.subject, new RegExp(`(^|\\n)OU=${c.role}(\\n|$)`), `${c.hostname}: OU is the token's role`)
    t.equal(j.node.role, c.role)
    t.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey), `${c.hostname}: issued and signed by the root GET /v1/ca answers`)
  }
})

t.test('the join reply carries a certificate and the roots, no bearer credential and no key', async (t) => {
  const { m, api } = await cluster(t)
  const r = await call(api, api.anonymous, 'POST', '/v1/agent/join', { bearer: m.tokens().worker, body: { hostname: 'w7', addr: '10.0.0.7', resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, csr: await testCsr() } })
  t.equal(r.status, 200)
  t.same(Object.keys(r.body).sort(), ['ca', 'certificate', 'cluster', 'nodeId', 'role'], 'no credential field')
  t.notOk(JSON.stringify(r.body).includes('PRIVATE KEY'), 'no key: the node made its own')
})
