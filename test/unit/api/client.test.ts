/**
 * src/api's one HTTP client against small loopback servers: JSON requests, `{error}` answers, bodies that are not
 * JSON, unreachable sockets, NDJSON streams (heartbeats, refusals, cancel, a connection that drops mid-stream), and
 * the control-socket client.
 */
import t, { type Test } from 'tap'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { ApiError, ManagerClient, NotJsonError, controlGet, jsonRequest } from '../../../src/api/index.ts'
import { ControlError, MeshError } from '../../../src/base/errors.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-client-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void
async function serve(t: Test, handler: Handler): Promise<{ host: string; port: number }> {
  const server = http.createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()) }))
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port }
}
const hostOf = (a: { host: string; port: number }): string => `tcp://${a.host}:${a.port}`

t.test('request: JSON in and out, the bearer token, an {error} answer is an ApiError', async (t) => {
  const seen: { auth?: string; body?: string }[] = []
  const addr = await serve(t, (req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      seen.push({ ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body })
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
  const c = new ManagerClient({ host: hostOf(addr), token: 'tok' })
  t.same(await c.request('POST', '/v1/ok', { a: 1 }), { echo: { a: 1 } })
  t.same(seen[0], { auth: 'Bearer tok', body: '{"a":1}' })
  const err = await c.request('GET', '/v1/bad').catch((e: unknown) => e)
  t.ok(err instanceof ApiError)
  t.match(err, { status: 409, code: 'MESH_ERR_CONFLICT', message: 'service "web" already exists' })
  await t.rejects(c.request('GET', '/v1/html'), { code: 'MESH_ERR_CONTROL', message: `manager at ${hostOf(addr)} answered 502 with something that is not JSON` })
  const raw = await jsonRequest(addr, { method: 'GET', path: '/v1/html', timeoutMs: 1000 }).catch((e: unknown) => e)
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
  t.throws(() => new ManagerClient({ host: 'http://x:1' }), { code: 'MESH_ERR_CONTROL', message: 'MESH_HOST "http://x:1": want tcp://HOST:PORT, e.g. tcp://10.0.0.1:7947' })
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
  const c = new ManagerClient({ host: hostOf(addr) })
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
  const c = new ManagerClient({ host: hostOf(addr) })
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
