/**
 * HttpManagerTransport against small TLS 1.3 servers on 127.0.0.1:0 playing the manager (a manager certificate of a
 * test CA): the CA fetch, the join pinned to the CA it is given, calls with the node's client certificate (never a
 * bearer credential), NDJSON watch streams, unreachable managers; then a WorkerLink over real sockets.
 */
import t, { type Test } from 'tap'
import type http from 'node:http'
import https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshError } from '../../../src/base/errors.ts'
import { createClusterCa, createNodeKeyAndCsr, signNodeCsr } from '../../../src/pki/index.ts'
import { HttpManagerTransport, WorkerLink, type WatchHandlers } from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FAKE_CLUSTER_ID, fakeCa, fakeNodeTls } from './fake-manager.ts'

/** The fake manager's API certificate (OU=manager, IP SAN 127.0.0.1) and a node's client TLS, both of fakeCa. */
async function managerCert(ca = fakeCa, clusterId = FAKE_CLUSTER_ID): Promise<{ cert: string; key: string }> {
  const k = await createNodeKeyAndCsr()
  return { cert: await signNodeCsr(ca, k.csrPem, { nodeId: 'mgr', role: 'manager', clusterId, now: Date.now(), ipSans: ['127.0.0.1'] }), key: k.keyPem }
}
const serverCert = await managerCert()
const node = await fakeNodeTls('n1')

/** A fake manager on 127.0.0.1:0 (TLS 1.3): records requests and the client certificate's CN; `route` answers them. */
async function fakeManager(t: Test, route: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void, cert = serverCert) {
  const seen: { method: string; url: string; auth: string; cn: string; body: string }[] = []
  const server = https.createServer({ ...cert, ca: [fakeCa.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, (req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      const cn = String((req.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '')
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization ?? '', cn, body })
      route(req, body, res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  const transport = new HttpManagerTransport({ host: '127.0.0.1', port })
  transport.setTls(node)
  return { seen, port, transport }
}

const joinReq = { hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1, memoryBytes: 2 }, csr: 'CSR' }

function recorder(): { events: string[]; messages: unknown[]; closed: Promise<void>; h: WatchHandlers } {
  const events: string[] = []
  const messages: unknown[] = []
  let done = (): void => undefined
  const closed = new Promise<void>((r) => { done = r })
  return {
    events, messages, closed,
    h: {
      opened: () => events.push('opened'),
      message: (m) => messages.push(m),
      badLine: () => events.push('bad'),
      refused: (s) => events.push(`refused ${s}`),
      closed: () => { events.push('closed'); done() },
    },
  }
}

t.test('CA, join and status: the join token as bearer only on the join, then the client certificate; error bodies become the message', async (t) => {
  const m = await fakeManager(t, (req, _body, res) => {
    if (req.url === '/v1/ca') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ certificate: fakeCa.certPem }))
    else if (req.url === '/v1/agent/join') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ nodeId: 'n1', role: 'worker', certificate: 'C', ca: ['R'] }))
    else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'MESH_ERR_STORE', message: 'store busy' } }))
  })
  const fresh = new HttpManagerTransport({ host: '127.0.0.1', port: m.port }) // a joining node: no certificate yet
  t.equal(await fresh.fetchCa(), fakeCa.certPem, 'the CA, fetched before the server can be trusted')
  const j = await fresh.join('TOKEN', fakeCa.certPem, joinReq)
  t.same(j, { status: 200, body: { nodeId: 'n1', role: 'worker', certificate: 'C', ca: ['R'] }, message: 'HTTP 200' })
  const s = await m.transport.postStatus([{ taskId: 't1', status: { state: 'running', message: '', timestamp: 1 } }])
  t.same({ status: s.status, message: s.message }, { status: 503, message: 'store busy' })
  t.same(m.seen.map((r) => [r.method, r.url, r.auth, r.cn]), [
    ['GET', '/v1/ca', '', ''], ['POST', '/v1/agent/join', 'Bearer TOKEN', ''], ['POST', '/v1/agent/status', '', 'n1'],
  ], 'no bearer credential after the join: the node certificate (CN=node id)')
  t.same(JSON.parse(m.seen[1]!.body), joinReq)
  t.same(JSON.parse(m.seen[2]!.body), { updates: [{ taskId: 't1', status: { state: 'running', message: '', timestamp: 1 } }] })
})

t.test('the join trusts only the CA it is given: a server of another CA never receives the token', async (t) => {
  const other = await createClusterCa({ clusterId: 'a0'.repeat(16), now: Date.now() })
  const m = await fakeManager(t, (_req, _body, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), await managerCert(other, 'a0'.repeat(16)))
  const fresh = new HttpManagerTransport({ host: '127.0.0.1', port: m.port })
  const err = await fresh.join('TOKEN', fakeCa.certPem, joinReq).then(() => null, (e: unknown) => e)
  t.ok(err instanceof MeshError, 'a MeshError')
  t.match((err as Error).message, new RegExp(`^the manager at 127\\.0\\.0\\.1:${m.port} failed the TLS check: `))
  t.same(m.seen, [], 'no request reached it')
  t.throws(() => fresh.watch(recorder().h), { code: 'MESH_ERR_CONFIG', message: 'this node has no certificate yet: it must join first' }, 'no call before a certificate')
})

t.test('a server with a worker certificate of the right CA is not the manager', async (t) => {
  const k = await createNodeKeyAndCsr()
  const workerCert = { cert: await signNodeCsr(fakeCa, k.csrPem, { nodeId: 'w9', role: 'worker', clusterId: FAKE_CLUSTER_ID, now: Date.now(), ipSans: ['127.0.0.1'] }), key: k.keyPem }
  const m = await fakeManager(t, (_req, _body, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'), workerCert)
  const err = await m.transport.postStatus([]).then(() => null, (e: unknown) => e)
  t.match((err as Error).message, /failed the TLS check: the server's certificate is not a manager's \(OU=worker\)$/)
  t.same(m.seen, [], 'nothing sent')
})

t.test('an unreachable manager is a ConfigError naming it', async (t) => {
  const m = await fakeManager(t, () => undefined)
  const closed = new HttpManagerTransport({ host: '127.0.0.1', port: 1 })
  const err = await closed.join('T', fakeCa.certPem, { ...joinReq, addr: 'a' }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof MeshError)
  t.match((err as Error).message, /^cannot reach the manager at 127\.0\.0\.1:1: ECONNREFUSED$/)
  t.equal(m.seen.length, 0)
})

t.test('watch: NDJSON split across writes, a character split across chunks, a bad line, then the drop', async (t) => {
  const m = await fakeManager(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    const line = Buffer.from('{"tasks":[{"id":"é"}]}\n{"catal')
    res.write(line.subarray(0, 18)) // inside the two bytes of "é"
    setTimeout(() => {
      res.write(line.subarray(18))
      res.write('og":{"revision":2}}\nnot json\n{}\n')
      setTimeout(() => res.destroy(), 20)
    }, 20)
  })
  const r = recorder()
  m.transport.watch(r.h)
  await r.closed
  t.same(r.messages, [{ tasks: [{ id: 'é' }] }, { catalog: { revision: 2 } }, {}])
  t.same(r.events, ['opened', 'bad', 'closed'])
  t.same([m.seen[0]!.auth, m.seen[0]!.cn], ['', 'n1'], 'with the node certificate')
})

t.test('watch: a refused stream, and a manager that is not there, both end in closed', async (t) => {
  const m = await fakeManager(t, (_req, _body, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad credential"}}'))
  const r = recorder()
  m.transport.watch(r.h)
  await r.closed
  t.same(r.events, ['refused 401', 'closed'])
  const gone = recorder()
  const nowhere = new HttpManagerTransport({ host: '127.0.0.1', port: 1 })
  nowhere.setTls(node)
  nowhere.watch(gone.h)
  await gone.closed
  t.same(gone.events, ['closed'])
})

t.test('watch: a stream that brings nothing (not even a heartbeat) for the idle limit is closed as dropped', async (t) => {
  const m = await fakeManager(t, (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    res.write('{"tasks":[]}\n') // then silence
  })
  const quiet = new HttpManagerTransport({ host: '127.0.0.1', port: m.port, watchIdleMs: 300 })
  quiet.setTls(node)
  const r = recorder()
  quiet.watch(r.h)
  await r.closed
  t.same(r.events, ['opened', 'closed'], 'opened, then closed by the client: the manager never ended it')
  t.same(r.messages, [{ tasks: [] }])
})

t.test('the link over real sockets: a manager restart is survived, status reaches it', async (t) => {
  const streams: http.ServerResponse[] = []
  const m = await fakeManager(t, (req, _body, res) => {
    if (req.url === '/v1/agent/watch') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' })
      res.write(`${JSON.stringify({ tasks: [{ id: `t${streams.length}` }] })}\n`)
      streams.push(res)
    } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"applied":1}')
  })
  const clock = new FakeClock()
  const tasks: unknown[] = []
  let wake = (): void => undefined
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-transport-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const link = new WorkerLink({
    transport: m.transport, clock, dataDir, hostname: 'w1', addr: '127.0.0.1', resources: { nanoCpus: 1, memoryBytes: 1 },
    onAssignments: (list) => { tasks.push(list); wake() }, log: () => undefined,
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: m.transport.address }, node)
  t.teardown(() => link.stop())
  const next = () => new Promise<void>((r) => { wake = r })
  let got = next()
  link.start()
  await got
  t.equal(link.connected, true)
  got = next()
  streams[0]!.destroy() // the manager goes away
  while (link.connected) await new Promise((r) => setTimeout(r, 5)) // the link has seen the drop (the certificate keeper holds a timer too)
  t.equal(link.connected, false)
  await clock.advance(250)
  await got
  t.same(tasks, [[{ id: 't0' }], [{ id: 't1' }]])
  link.report('t1', { state: 'running', message: 'up', timestamp: 1 })
  await clock.advance(50)
  while (m.seen.filter((r) => r.url === '/v1/agent/status').length === 0) await new Promise((r) => setTimeout(r, 5))
  t.same(JSON.parse(m.seen.find((r) => r.url === '/v1/agent/status')!.body).updates.map((u: { taskId: string }) => u.taskId), ['t1'])
})
