/**
 * The API server's limits (src/manager/http/limits.ts) against the real app on 127.0.0.1:0, with short timeouts:
 * authentication comes before any body is read (401 before 400, the refused connection closed at once), slow
 * clients are closed after the head or body timeout while an authenticated request still works, streaming routes
 * are exempt, and connections are capped per source address and overall.
 */
import t from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { apiLimits } from '../../../src/config/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { testCsr } from '../../support/pki.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store, clock: new FakeClock() })
await manager.init()
const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }
const { credential } = await manager.join({ csr: await testCsr(), token: manager.tokens().worker, hostname: 'w1', addr: '10.0.0.2', resources })
const admin = manager.tokens().manager
const limits = { ...apiLimits(), headersTimeoutMs: 600, bodyTimeoutMs: 1200, idleTimeoutMs: 1600, maxConnections: 100, maxConnectionsPerSource: 60 }
const server = await listen(createApp({ manager, local: false }, defaultServiceSpec), { host: '127.0.0.1', port: 0 }, limits)
const port = (server.address() as AddressInfo).port
const capped = await listen(createApp({ manager, local: false }, defaultServiceSpec), { host: '127.0.0.1', port: 0 }, { ...limits, headersTimeoutMs: 5000, maxConnections: 5, maxConnectionsPerSource: 3 })
t.teardown(() => {
  for (const s of [server, capped]) {
    s.closeAllConnections()
    s.close()
  }
  store.close()
})

/** A raw client: what it received and when the server closed it (ms after connecting), or null while open. */
interface Raw {
  socket: net.Socket
  received: () => string
  closed: Promise<number>
}
function raw(p: number, first: string, localAddress = '127.0.0.1'): Raw {
  const started = Date.now()
  const socket = net.connect({ host: '127.0.0.1', port: p, localAddress })
  let text = ''
  socket.on('data', (d) => { text += d.toString() })
  socket.on('error', () => {})
  socket.write(first)
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)))
  return { socket, received: () => text, closed }
}

/** Keep writing `chunk` every `ms` until the socket closes (a client that sends its body or head slowly). */
function drip(c: Raw, chunk: string, ms: number): void {
  const timer = setInterval(() => { if (!c.socket.destroyed) c.socket.write(chunk) }, ms)
  void c.closed.then(() => clearInterval(timer))
}

/** Resolves with the close time, or with Infinity if still open after `ms` (then the socket is destroyed). */
async function closedWithin(c: Raw, ms: number): Promise<number> {
  const waited = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(Infinity), ms))])
  if (waited === Infinity) c.socket.destroy()
  return waited
}

const MB = 1024 * 1024
const head = (auth: string | null, len = MB): string =>
  `POST /v1/services HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n${auth ? `Authorization: Bearer ${auth}\r\n` : ''}\r\n`

t.test('401 before 400: an unauthenticated client with a bad body is refused for its credential, not its JSON', async (t) => {
  const cases = [
    { desc: 'no token', path: '/v1/services', headers: {} as Record<string, string>, code: 'MESH_ERR_UNAUTHORIZED' },
    { desc: 'wrong token', path: '/v1/services', headers: { authorization: 'Bearer nope' }, code: 'MESH_ERR_UNAUTHORIZED' },
    { desc: 'wrong join token', path: '/v1/agent/join', headers: { authorization: 'Bearer nope' }, code: 'MESH_ERR_TOKEN' },
  ]
  for (const c of cases) {
    const res = await fetch(`http://127.0.0.1:${port}${c.path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...c.headers }, body: '{not json' })
    t.equal(res.status, 401, c.desc)
    t.equal(((await res.json()) as { error: { code: string } }).error.code, c.code, c.desc)
  }
  const ok = await fetch(`http://127.0.0.1:${port}/v1/services`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: '{not json' })
  t.equal(ok.status, 400, 'the admin gets 400 for the same body')
})

t.test('40 slow unauthenticated clients with 1 MB bodies are closed; an authenticated request works meanwhile', async (t) => {
  const started = Date.now()
  const clients: Raw[] = []
  for (let i = 0; i < 20; i++) { // whole head without a token, then the body one KB at a time: 401 at once, closed
    const c = raw(port, head(i % 2 ? 'wrong-token' : null))
    drip(c, 'x'.repeat(1024), 20)
    clients.push(c)
  }
  for (let i = 0; i < 20; i++) { // the head itself one line at a time: closed after headersTimeoutMs
    const c = raw(port, 'POST /v1/services HTTP/1.1\r\n')
    drip(c, `X-Slow-${i}: ${'y'.repeat(100)}\r\n`, 20)
    clients.push(c)
  }
  const authed = raw(port, head(admin)) // an admin sending its body slowly: closed after bodyTimeoutMs
  drip(authed, 'x'.repeat(1024), 20)

  await new Promise((r) => setTimeout(r, 100))
  const info = await fetch(`http://127.0.0.1:${port}/v1/info`, { headers: { authorization: `Bearer ${admin}` } })
  t.equal(info.status, 200, 'an authenticated request is answered while the slow clients wait')

  const times = await Promise.all(clients.map((c) => closedWithin(c, 4000)))
  t.ok(times.slice(0, 20).every((ms) => ms < 500), `refused clients closed at once (${Math.max(...times.slice(0, 20))} ms)`)
  t.ok(clients.slice(0, 20).every((c) => c.received().startsWith('HTTP/1.1 401')), 'each got 401')
  t.ok(times.slice(20).every((ms) => ms < 2500), `slow heads closed after the head timeout (${Math.max(...times.slice(20))} ms)`)
  const slowBody = await closedWithin(authed, 4000)
  t.ok(slowBody >= 1100 && slowBody < 3000, `a slow body is closed after the body timeout (${slowBody} ms)`)
  t.ok(Date.now() - started < 4500)
})

t.test('streaming routes are exempt from the body and idle timeouts', async (t) => {
  const watch = raw(port, `GET /v1/agent/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${credential}\r\n\r\n`)
  // Loopback is not trusted: the observe streams want an admin caller (or a dashboard session).
  const events = raw(port, `GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n\r\n`)
  const sse = raw(port, `GET /v1/ui/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\n\r\n`)
  const plain = raw(port, `GET /v1/info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Length: 10\r\n\r\n`)
  t.equal(await closedWithin(plain, 4000) < 3000, true, 'a request that never finishes its body is closed')
  t.equal(await closedWithin(watch, 3500), Infinity, 'the watch stream stays open past the idle timeout')
  t.match(watch.received(), /^HTTP\/1.1 200/)
  for (const [name, c] of [['events', events], ['dashboard SSE', sse]] as const) {
    t.equal(await closedWithin(c, 10), Infinity, `${name} stays open past the idle timeout`)
  }
  t.match(sse.received(), /^HTTP\/1.1 200/, 'the SSE answered (events sends its head with the first line)')
})

t.test('connections are capped per source address and overall', async (t) => {
  const idle = (from: string): Raw => raw((capped.address() as AddressInfo).port, 'GET /v1/info HTTP/1.1\r\nHost: x\r\n', from)
  const first = [idle('127.0.0.1'), idle('127.0.0.1'), idle('127.0.0.1')]
  await new Promise((r) => setTimeout(r, 100))
  const extra = idle('127.0.0.1')
  t.ok(await closedWithin(extra, 400) < 400, 'the 4th connection from one address is closed at once')
  t.match(extra.received(), '', 'without an answer')
  const other = [idle('127.0.0.2'), idle('127.0.0.2')]
  await new Promise((r) => setTimeout(r, 100))
  const stillOpen = await Promise.race([(other[0] as Raw).closed, new Promise<number>((r) => setTimeout(() => r(Infinity), 100))])
  t.equal(stillOpen, Infinity, 'another address still gets in')
  const over = idle('127.0.0.3')
  t.ok(await closedWithin(over, 400) < 400, 'the connection past maxConnections is closed at once')
  for (const c of [...first, ...other]) c.socket.destroy()
})
