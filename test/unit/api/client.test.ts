/**
 * src/api's one HTTP client against small loopback servers (TLS 1.3 with a test CA, as the manager API serves):
 * JSON requests with a client certificate, `{error}` answers, bodies that are not JSON, unreachable sockets, NDJSON
 * streams (heartbeats, refusals, cancel, a connection that drops mid-stream), the client certificate bundle
 * (MESH_CERT_PATH) and the server check, and the control-socket client.
 */
import t, { type Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import type { TLSSocket } from 'node:tls'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { ApiError, CLIENT_BUNDLE, ManagerClient, NotJsonError, controlGet, jsonRequest, managerCertificateCheck, type ClientTls } from '../../../src/api/index.ts'
import { ControlError, MeshError } from '../../../src/base/errors.ts'
import { createClusterCa, createNodeKeyAndCsr, signNodeCsr, type CertRole } from '../../../src/pki/index.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-client-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

// A test CA, a manager certificate for the servers (127.0.0.1) and an admin client certificate.
const clusterId = 'c0ffee'.repeat(4)
const ca = await createClusterCa({ clusterId, now: Date.now() })
async function issued(nodeId: string, role: CertRole): Promise<{ cert: string; key: string }> {
  const k = await createNodeKeyAndCsr()
  return { cert: await signNodeCsr(ca, k.csrPem, { nodeId, role, clusterId, now: Date.now(), ipSans: ['127.0.0.1'] }), key: k.keyPem }
}
const serverCert = await issued('mgr', 'manager')
const clientCert = await issued('alice', 'admin')
const tls: ClientTls = { ca: [ca.certPem], ...clientCert, checkServerIdentity: managerCertificateCheck }

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void
async function serve(t: Test, handler: Handler, cert = serverCert): Promise<{ host: string; port: number }> {
  const server = https.createServer({ ...cert, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port }
}
const hostOf = (a: { host: string; port: number }): string => `tcp://${a.host}:${a.port}`

t.test('request: JSON in and out, the client certificate (no bearer), an {error} answer is an ApiError', async (t) => {
  const seen: { auth?: string; cn?: string; body?: string }[] = []
  const addr = await serve(t, (req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const cn = (req.socket as TLSSocket).getPeerCertificate().subject?.CN as string | undefined
      seen.push({ ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(cn ? { cn } : {}), body })
      if (req.url === '/v1/bad') {
        res.writeHead(409, { 'content-type': 'application/json' })
        return res.end(JSON.stringify({ error: { code: 'MESH_ERR_CONFLICT', message: 'service "web" already exists' } }))
      }
      if (req.url === '/v1/html') {
        res.writeHead(502)
        return res.end('<html>bad gateway</html>')
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ echo: JSON.parse(body || 'null') }))
    })
  })
  const c = new ManagerClient({ host: hostOf(addr), tls })
  t.same(await c.request('POST', '/v1/ok', { a: 1 }), { echo: { a: 1 } })
  t.same(seen[0], { cn: 'alice', body: '{"a":1}' }, 'the admin client certificate, and no Authorization header')
  const err = await c.request('GET', '/v1/bad').catch((e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.match(err, { status: 409, code: 'MESH_ERR_CONFLICT', message: 'service "web" already exists' })
  await t.rejects(c.request('GET', '/v1/html'), { code: 'MESH_ERR_CONTROL', message: `manager at ${hostOf(addr)} answered 502 with something that is not JSON` })
  const raw = await jsonRequest({ ...addr, tls }, { method: 'GET', path: '/v1/html', timeoutMs: 30_000 }).catch((e: unknown) => e)
  t.ok(raw instanceof NotJsonError && raw instanceof MeshError, 'NotJsonError is a MeshError')
  t.match(raw, { code: 'MESH_ERR_NOT_JSON', status: 502 })
})

t.test('request: an unreachable manager is one line that says what to do', async (t) => {
  const sock = join(dir, 'manager.sock')
  const c = new ManagerClient({ dataDir: dir })
  t.equal(c.where, sock)
  await t.rejects(c.request('GET', '/v1/info'), {
    code: 'MESH_ERR_CONTROL', message: `cannot reach the manager at ${sock}: is this a manager node running \`mesh agent --init\` (or set MESH_HOST)?`,
  })
  // ssh:// is a host form too now, so the line names both (and a bad value is a config error)
  t.throws(() => new ManagerClient({ host: 'http://x:1', tls }), { code: 'MESH_ERR_CONFIG', message: 'MESH_HOST "http://x:1": want tcp://HOST:PORT (the manager API, e.g. tcp://10.0.0.1:7947) or ssh://[USER@]HOST[:PORT]' })
})

t.test('MESH_HOST needs a client certificate bundle: none is one line, a bundle dir is read, a server that is not a manager is refused', async (t) => {
  const saved = process.env.MESH_CERT_PATH
  delete process.env.MESH_CERT_PATH
  t.teardown(() => { if (saved !== undefined) process.env.MESH_CERT_PATH = saved })
  t.throws(() => new ManagerClient({ host: 'tcp://127.0.0.1:7947' }), {
    code: 'MESH_ERR_CONTROL',
    message: 'MESH_HOST tcp://127.0.0.1:7947 needs a client certificate: on a manager run `mesh ca issue-client NAME --out DIR`, ' +
      'copy DIR here and set MESH_CERT_PATH=DIR (a join token is not an admin credential)',
  })
  const bundle = join(dir, 'bundle')
  t.throws(() => new ManagerClient({ host: 'tcp://127.0.0.1:7947', certPath: bundle }), { code: 'MESH_ERR_CONTROL', message: /^MESH_CERT_PATH .*bundle: cannot read ca\.pem \(ENOENT\)/ })
  mkdirSync(bundle, { mode: 0o700 })
  writeFileSync(join(bundle, CLIENT_BUNDLE.ca), ca.certPem, { mode: 0o600 })
  writeFileSync(join(bundle, CLIENT_BUNDLE.cert), clientCert.cert, { mode: 0o600 })
  writeFileSync(join(bundle, CLIENT_BUNDLE.key), clientCert.key, { mode: 0o600 })
  const addr = await serve(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ cn: (req.socket as TLSSocket).getPeerCertificate().subject?.CN }))
  })
  process.env.MESH_CERT_PATH = bundle
  t.same(await new ManagerClient({ host: hostOf(addr) }).request('GET', '/v1/info'), { cn: 'alice' }, 'MESH_CERT_PATH: the bundle\'s certificate')
  const worker = await serve(t, (_req, res) => res.end('{}'), await issued('w1', 'worker'))
  const err = await new ManagerClient({ host: hostOf(worker), certPath: bundle }).request('GET', '/v1/info').catch((e: unknown) => e as Error)
  t.match(err, { code: 'MESH_ERR_CONTROL', message: /^cannot reach the manager at tcp:\/\/127\.0\.0\.1:\d+: the server's certificate is not a manager's \(OU=worker\)$/ },
    'a server with a worker certificate of the same CA: refused, one line')
})

t.test('stream: values in order, heartbeats and bad lines skipped, the end and a refusal', async (t) => {
  const addr = await serve(t, (req, res) => {
    if (req.url === '/v1/refused') {
      res.writeHead(404, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ error: { code: 'MESH_ERR_NOT_FOUND', message: 'service "x" not found' } }))
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    res.write('{"id":1}\n{}\nnot json\n{"id"')
    setTimeout(() => res.end(':2}\n'), 20)
  })
  const c = new ManagerClient({ host: hostOf(addr), tls })
  const got: unknown[] = []
  t.equal(await c.stream('/v1/events', (v) => got.push(v)), 'ended')
  t.same(got, [{ id: 1 }, {}, { id: 2 }])
  await t.rejects(c.stream('/v1/refused', () => undefined), { code: 'MESH_ERR_NOT_FOUND', message: 'service "x" not found', status: 404 })
})

t.test('stream: the caller cancels; the server drops the connection', async (t) => {
  const addr = await serve(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    res.write('{"id":1}\n')
    if (req.url === '/v1/drop') setTimeout(() => res.socket?.destroy(), 20)
  })
  const c = new ManagerClient({ host: hostOf(addr), tls })
  const ac = new AbortController()
  const got: unknown[] = []
  t.equal(await c.stream('/v1/follow', (v) => { got.push(v); ac.abort() }, ac.signal), 'cancelled')
  t.same(got, [{ id: 1 }])
  await t.rejects(c.stream('/v1/drop', () => undefined), { code: 'MESH_ERR_CONTROL', message: `the manager at ${hostOf(addr)} closed the stream` })
})

t.test('controlGet: a document, an error answer, no agent', async (t) => {
  const sock = join(dir, 'mesh.sock')
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === '/v1/status' ? 200 : 500, { 'content-type': 'application/json' })
    res.end(JSON.stringify(req.url === '/v1/status' ? { node: 'n1' } : { error: { code: 'internal', message: 'this agent serves no DNS' } }))
  })
  await new Promise<void>((r) => server.listen(sock, r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  t.same(await controlGet(sock, '/v1/status'), { node: 'n1' })
  await t.rejects(controlGet(sock, '/v1/dns/lookup'), { code: 'MESH_ERR_CONTROL', message: 'this agent serves no DNS' })
  const none = join(dir, 'none.sock')
  const err = await controlGet(none, '/v1/status').catch((e: unknown) => e)
  t.ok(err instanceof ControlError)
  t.equal((err as Error).message, `cannot reach the local agent at ${none}: is the agent running? (start it with \`mesh agent\`, or pass the same --data-dir)`)
})

t.test('jsonRequest: a body on a GET goes with its length (Node does not chunk GETs), over a unix socket too', async (t) => {
  const sock = join(dir, 'get-body.sock')
  const seen: { length?: string; body: string }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      seen.push({ ...(req.headers['content-length'] ? { length: req.headers['content-length'] } : {}), body })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"ok":true}')
    })
  })
  await new Promise<void>((r) => server.listen(sock, r))
  t.teardown(() => server.close())
  const first = await jsonRequest({ socketPath: sock }, { method: 'GET', path: '/a', body: { q: 1 }, timeoutMs: 30_000 })
  const second = await jsonRequest({ socketPath: sock }, { method: 'GET', path: '/b', timeoutMs: 30_000 })
  t.same([first.status, second.status], [200, 200], 'both answered (the body was not read as a second request)')
  t.same(seen, [{ length: '7', body: '{"q":1}' }, { body: '' }])
})
