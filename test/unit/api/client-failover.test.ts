/**
 * ManagerClient with several tcp:// managers against loopback TLS servers: a manager that refuses the connection is
 * passed over (for writes too), the one that answered is asked first from then on, an HTTP answer (503 "no quorum")
 * is the answer, a write whose answer never came is not sent again elsewhere (a read is), and streams fail over
 * when they could not connect.
 */
import t, { type Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import net, { type AddressInfo } from 'node:net'
import { ApiError, ManagerClient, managerCertificateCheck, type ClientTls } from '../../../src/api/index.ts'
import { ControlError } from '../../../src/base/errors.ts'
import { createClusterCa, createNodeKeyAndCsr, signNodeCsr, type CertRole } from '../../../src/pki/index.ts'

const clusterId = 'fa11'.repeat(6)
const ca = await createClusterCa({ clusterId, now: Date.now() })
async function issued(nodeId: string, role: CertRole): Promise<{ cert: string; key: string }> {
  const k = await createNodeKeyAndCsr()
  return { cert: await signNodeCsr(ca, k.csrPem, { nodeId, role, clusterId, now: Date.now(), ipSans: ['127.0.0.1'] }), key: k.keyPem }
}
const serverCert = await issued('mgr', 'manager')
const tls: ClientTls = { ca: [ca.certPem], ...(await issued('alice', 'admin')), checkServerIdentity: managerCertificateCheck }

interface Server { url: string; hits: string[] }

/** A manager API stand-in: records each request; `answer` decides (a status and body), or `null`: never answer. */
async function manager(t: Test, answer: (req: http.IncomingMessage) => { status: number; body: unknown } | null): Promise<Server> {
  const hits: string[] = []
  const server = https.createServer({ ...serverCert, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (req, res) => {
    hits.push(`${req.method} ${req.url}`)
    const a = answer(req)
    if (!a) return // hold the request: the client times out
    if (req.url === '/v1/events') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.end('{"n":1}\n{"n":2}\n')
      return
    }
    res.writeHead(a.status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(a.body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { url: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, hits }
}

/** A loopback port nothing listens on (connections are refused). */
async function deadUrl(): Promise<string> {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return `tcp://127.0.0.1:${port}`
}

const ok = () => ({ status: 200, body: { ok: true } })

t.test('a manager that refuses connections is passed over, for a write too; the one that answered is asked first after', async (t) => {
  const dead = await deadUrl()
  const b = await manager(t, ok)
  const c = await manager(t, ok)
  const client = new ManagerClient({ host: `${dead},${b.url},${c.url}`, tls, timeoutMs: 5000 })
  t.same(await client.request('POST', '/v1/services', { name: 'web' }), { ok: true })
  t.same(b.hits, ['POST /v1/services'], 'the second manager took the write')
  t.equal(client.where, b.url)
  await client.request('GET', '/v1/services')
  t.same(b.hits, ['POST /v1/services', 'GET /v1/services'], 'asked first from then on')
  t.same(c.hits, [], 'the third was never needed')
})

t.test('an HTTP error answer is the answer: no other manager is asked', async (t) => {
  const a = await manager(t, () => ({ status: 503, body: { error: { code: 'MESH_ERR_NO_QUORUM', message: 'no quorum: 1 of 3 managers reachable' } } }))
  const b = await manager(t, ok)
  const client = new ManagerClient({ host: `${a.url},${b.url}`, tls, timeoutMs: 5000 })
  await t.rejects(client.request('POST', '/v1/services', {}), new ApiError(503, 'MESH_ERR_NO_QUORUM', 'no quorum: 1 of 3 managers reachable'))
  await t.rejects(client.request('GET', '/v1/services'), { message: 'no quorum: 1 of 3 managers reachable' })
  t.same(b.hits, [])
})

t.test('no answer in time: a read goes to the next manager, a write is not sent twice', async (t) => {
  const a = await manager(t, () => null)
  const b = await manager(t, ok)
  const client = new ManagerClient({ host: `${a.url},${b.url}`, tls, timeoutMs: 300 })
  await t.rejects(client.request('POST', '/v1/services', {}), ControlError, 'the write: one line, not resent')
  t.same(b.hits, [], 'the next manager did not get the write')
  t.same(await client.request('GET', '/v1/services'), { ok: true }, 'the read: answered by the next manager')
  t.same(b.hits, ['GET /v1/services'])
})

t.test('no manager can be reached: one line naming them all', async (t) => {
  const [x, y] = [await deadUrl(), await deadUrl()]
  const client = new ManagerClient({ host: `${x},${y}`, tls, timeoutMs: 2000 })
  await t.rejects(client.request('GET', '/v1/nodes'), { message: new RegExp(`^cannot reach any of the managers at ${x}, ${y}: .*ECONNREFUSED`) })
})

t.test('a stream that could not connect goes to the next manager', async (t) => {
  const dead = await deadUrl()
  const b = await manager(t, ok)
  const client = new ManagerClient({ host: `${dead},${b.url}`, tls })
  const got: unknown[] = []
  t.equal(await client.stream('/v1/events', (v) => got.push(v)), 'ended')
  t.same(got, [{ n: 1 }, { n: 2 }])
})
