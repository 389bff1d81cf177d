import t, { type Test } from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { MeshError } from '../../../src/base/errors.ts'
import { HttpManagerTransport, WorkerLink, type WatchHandlers } from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

/** A fake manager on 127.0.0.1:0: records requests; `route` answers them. */
async function fakeManager(t: Test, route: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void) {
  const seen: { method: string; url: string; auth: string; body: string }[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization ?? '', body })
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
  return { seen, port, transport: new HttpManagerTransport({ host: '127.0.0.1', port }) }
}

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

t.test('join and status: JSON with the bearer token; error bodies become the message', async (t) => {
  const m = await fakeManager(t, (req, _body, res) => {
    if (req.url === '/v1/agent/join') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ nodeId: 'n1', credential: 'c1', role: 'worker' }))
    else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'MESH_ERR_STORE', message: 'store busy' } }))
  })
  const j = await m.transport.join('TOKEN', { hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1, memoryBytes: 2 } })
  t.same(j, { status: 200, body: { nodeId: 'n1', credential: 'c1', role: 'worker' }, message: 'HTTP 200' })
  const s = await m.transport.postStatus('c1', [{ taskId: 't1', status: { state: 'running', message: '', timestamp: 1 } }])
  t.same({ status: s.status, message: s.message }, { status: 503, message: 'store busy' })
  t.same(m.seen.map((r) => [r.method, r.url, r.auth]), [['POST', '/v1/agent/join', 'Bearer TOKEN'], ['POST', '/v1/agent/status', 'Bearer c1']])
  t.same(JSON.parse(m.seen[1]!.body), { updates: [{ taskId: 't1', status: { state: 'running', message: '', timestamp: 1 } }] })
})

t.test('an unreachable manager is a ConfigError naming it', async (t) => {
  const m = await fakeManager(t, () => undefined)
  const closed = new HttpManagerTransport({ host: '127.0.0.1', port: 1 })
  const err = await closed.join('T', { hostname: 'w1', addr: 'a', resources: { nanoCpus: 1, memoryBytes: 1 } }).then(() => null, (e: unknown) => e)
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
  m.transport.watch('c1', r.h)
  await r.closed
  t.same(r.messages, [{ tasks: [{ id: 'é' }] }, { catalog: { revision: 2 } }, {}])
  t.same(r.events, ['opened', 'bad', 'closed'])
  t.equal(m.seen[0]!.auth, 'Bearer c1')
})

t.test('watch: a refused stream, and a manager that is not there, both end in closed', async (t) => {
  const m = await fakeManager(t, (_req, _body, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad credential"}}'))
  const r = recorder()
  m.transport.watch('wrong', r.h)
  await r.closed
  t.same(r.events, ['refused 401', 'closed'])
  const gone = recorder()
  new HttpManagerTransport({ host: '127.0.0.1', port: 1 }).watch('c', gone.h)
  await gone.closed
  t.same(gone.events, ['closed'])
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
  const link = new WorkerLink({
    transport: m.transport, clock, dataDir: '/nonexistent', hostname: 'w1', addr: '127.0.0.1', resources: { nanoCpus: 1, memoryBytes: 1 },
    onAssignments: (list) => { tasks.push(list); wake() }, log: () => undefined,
  })
  link.useIdentity({ nodeId: 'n1', credential: 'c1', role: 'worker', manager: m.transport.address })
  t.teardown(() => link.stop())
  const next = () => new Promise<void>((r) => { wake = r })
  let got = next()
  link.start()
  await got
  t.equal(link.connected, true)
  got = next()
  streams[0]!.destroy() // the manager goes away
  while (clock.pending === 0) await new Promise((r) => setTimeout(r, 5)) // the link has seen the drop
  t.equal(link.connected, false)
  await clock.advance(250)
  await got
  t.same(tasks, [[{ id: 't0' }], [{ id: 't1' }]])
  link.report('t1', { state: 'running', message: 'up', timestamp: 1 })
  await clock.advance(50)
  while (m.seen.filter((r) => r.url === '/v1/agent/status').length === 0) await new Promise((r) => setTimeout(r, 5))
  t.same(JSON.parse(m.seen.find((r) => r.url === '/v1/agent/status')!.body).updates.map((u: { taskId: string }) => u.taskId), ['t1'])
})
