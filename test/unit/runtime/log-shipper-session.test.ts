import t, { type Test } from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogShipper } from '../../../src/runtime/index.ts'
import type { LogRequest } from '../../../src/api/watch.ts'
import { logFrame as frame } from './fixtures.ts'

/** A Docker engine on a unix socket: two mesh containers (t1 older than t2) and one foreign one. */
async function fakeEngine(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-engine-'))
  const socketPath = join(dir, 'docker.sock')
  const asked: string[] = []
  const server = http.createServer((req, res) => {
    asked.push(req.url ?? '')
    if (req.url?.startsWith('/containers/json')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([
        { Id: 'c2', Created: 20, Labels: { 'mesh.managed': 'true', 'mesh.task.id': 't2' } },
        { Id: 'c1', Created: 10, Labels: { 'mesh.managed': 'true', 'mesh.task.id': 't1' } },
        { Id: 'c9', Created: 5, Labels: { 'mesh.managed': 'true', 'mesh.task.id': 'other' } },
      ]))
    } else if (req.url?.startsWith('/containers/c1/logs')) {
      res.writeHead(200)
      res.write(frame(1, '2026-12-01T08:00:00Z hello\n'))
      res.end(frame(2, '2026-12-01T08:00:01Z oops'))
    } else if (req.url?.startsWith('/containers/c2/logs')) {
      res.writeHead(200).end(frame(1, '2026-12-01T08:00:02Z second\n'))
    } else res.writeHead(404).end()
  })
  server.listen(socketPath)
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { socketPath, asked }
}

/** The manager's upload endpoint: collects each upload's NDJSON body. */
async function fakeUploads(t: Test, status = 200) {
  const bodies = new Map<string, Promise<string>>()
  const server = http.createServer((req, res) => {
    bodies.set(req.url ?? '', new Promise((resolve) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => { body += c })
      req.on('end', () => { res.writeHead(status).end(); resolve(body) })
      req.on('close', () => resolve(body))
    }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  const upload = (path: string) => http.request({ host: '127.0.0.1', port, path, method: 'POST' })
  return { bodies, upload }
}

const request = (o: Partial<LogRequest> = {}): LogRequest =>
  ({ id: 'abc123', taskIds: ['t1', 't2'], tail: -1, follow: false, since: 0, timestamps: true, ...o })

/** Bounded (20 s: what is waited for takes milliseconds, a loaded CI machine can stall this process for seconds). */
async function until(ok: () => boolean): Promise<void> {
  for (const end = Date.now() + 20_000; !ok();) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

t.test('a request is answered with the tasks\' lines, oldest container first, as NDJSON', async (t) => {
  const engine = await fakeEngine(t)
  const m = await fakeUploads(t)
  const shipper = new LogShipper({ dockerSocket: engine.socketPath, upload: m.upload, log: () => undefined })
  t.teardown(() => shipper.stop())
  shipper.handle({ logs: request() })
  await until(() => m.bodies.has('/v1/agent/logs/abc123'))
  const lines = (await m.bodies.get('/v1/agent/logs/abc123')!).trim().split('\n').map((l) => JSON.parse(l) as unknown)
  t.same(lines, [
    { task: 't1', stream: 'stdout', line: 'hello', ts: '2026-12-01T08:00:00Z' },
    { task: 't1', stream: 'stderr', line: 'oops', ts: '2026-12-01T08:00:01Z' },
    { task: 't2', stream: 'stdout', line: 'second', ts: '2026-12-01T08:00:02Z' },
  ])
  t.notOk(engine.asked.some((u) => u.startsWith('/containers/c9')), 'a container of another task is not read')
  t.ok(engine.asked.includes('/containers/c1/logs?stdout=1&stderr=1&follow=0&tail=all&timestamps=1'))
})

t.test('refused requests: a bad id, a duplicate, too many sessions', async (t) => {
  const engine = await fakeEngine(t)
  const opened: string[] = []
  const logs: string[] = []
  const shipper = new LogShipper({
    dockerSocket: engine.socketPath, maxSessions: 1, log: (_l, msg) => logs.push(msg),
    upload: (path) => {
      opened.push(path)
      return http.request({ socketPath: join(tmpdir(), 'mesh-no-such.sock'), path, method: 'POST' }).on('error', () => undefined)
    },
  })
  t.teardown(() => shipper.stop())
  shipper.handle({ logs: request({ id: '../etc' }) })
  shipper.handle({ logs: request({ id: 'one', follow: true }) })
  shipper.handle({ logs: request({ id: 'one' }) })
  shipper.handle({ logs: request({ id: 'two' }) })
  t.same(opened, ['/v1/agent/logs/one'], 'only the first valid request opens an upload')
  t.equal(logs.filter((l) => l === 'log request refused').length, 3)
  shipper.handle({ logsCancel: 'one' })
  shipper.handle({ logs: request({ id: 'three' }) })
  t.same(opened, ['/v1/agent/logs/one', '/v1/agent/logs/three'], 'a cancelled session frees its place')
  shipper.stop()
  shipper.handle({ logs: request({ id: 'four' }) })
  t.equal(opened.length, 2, 'nothing after stop()')
})
