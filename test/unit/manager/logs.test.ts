import t from 'tap'
import { EventEmitter } from 'node:events'
import type { Request, Response } from 'express'
import { LogBroker, taskName, type LogMessage } from '../../../src/manager/logs.ts'
import { parseLogQuery } from '../../../src/manager/http/logs.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import type { NodeRecord, TaskRecord } from '../../../src/api/types.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'

const node = (id: string, state: NodeRecord['state'] = 'ready'): NodeRecord => ({
  id, hostname: `host-${id}`, role: 'worker', availability: 'active', labels: {}, addr: '10.0.0.1', state, stateChangedAt: 0,
  resources: { nanoCpus: 0, memoryBytes: 0 }, createdAt: 0, updatedAt: 0,
})
const task = (id: string, nodeId: string, slot = 1): TaskRecord => ({
  id, serviceId: 's', serviceName: 'web', slot, nodeId, specVersion: 1, spec: defaultServiceSpec('web', 'img'), desiredState: 'running',
  status: { state: 'running', message: 'started', timestamp: 0 }, createdAt: 0, updatedAt: 0,
})

/** The CLI side: collects messages; `full` makes write() report a full socket. */
function sink() {
  const got: LogMessage[] = []
  const s = { got, ended: false, full: false, drain: [] as (() => void)[],
    write: (m: LogMessage) => { got.push(m); return !s.full }, onDrain: (fn: () => void) => { s.drain.push(fn) }, end: () => { s.ended = true } }
  return s
}

/** A node's upload request (an express Request is a Readable; only what the broker uses). */
function upload() {
  const req = Object.assign(new EventEmitter(), { paused: false, setEncoding() {}, pause() { req.paused = true }, resume() { req.paused = false }, destroy() { req.emit('close') } })
  const res = { code: 0, status(c: number) { res.code = c; return res }, end() {}, json() {} }
  return { req, res, asReq: req as unknown as Request, asRes: res as unknown as Response }
}

const q = { tail: -1, follow: false, since: 0, timestamps: false }

t.test('asks each node once on its watch stream; lines are forwarded with task name and node; ends when all are done', async (t) => {
  const b = new LogBroker()
  const sent: Record<string, string[]> = { a: [], b: [] }
  b.attach('a', (l) => sent.a!.push(l))
  b.attach('b', (l) => sent.b!.push(l))
  const s = sink()
  b.open([task('t1', 'a', 1), task('t2', 'b', 2), task('t3', 'a', 3)], [node('a'), node('b')], q, s)
  const reqA = JSON.parse(sent.a![0]!).logs
  t.same(reqA.taskIds, ['t1', 't3'])
  const reqB = JSON.parse(sent.b![0]!).logs
  t.not(reqB.id, reqA.id, 'one request id per node')
  const ua = upload()
  b.upload(node('a'), reqA.id, ua.asReq, ua.asRes)
  ua.req.emit('data', '{"task":"t1","stream":"stdout","line":"hello"}\n{"task":"t2","stream":"stdout","line":"not a task of node a"}\n{"task":"t3","str')
  ua.req.emit('data', 'eam":"stderr","line":"oops","ts":"2026-01-01T00:00:00Z"}\n')
  ua.req.emit('end')
  t.same(s.got, [
    { task: 't1', name: 'web.1.t1', node: 'host-a', stream: 'stdout', line: 'hello' },
    { task: 't3', name: 'web.3.t3', node: 'host-a', stream: 'stderr', line: 'oops', ts: '2026-01-01T00:00:00Z' },
  ])
  t.equal(ua.res.code, 204)
  t.notOk(s.ended, 'node b is still to answer')
  const ub = upload()
  b.upload(node('b'), reqB.id, ub.asReq, ub.asRes)
  ub.req.emit('end')
  t.ok(s.ended, 'every node done: the stream ends')
  t.equal(b.sessions, 0)
})

t.test('a node that is down, not connected or silent is one error line, not a wait', async (t) => {
  const clock = new FakeClock()
  const b = new LogBroker({ answerTimeoutMs: 30, clock })
  b.attach('silent', () => {})
  const s = sink()
  b.open([task('t1', 'down'), task('t2', 'gone'), task('t3', 'silent')], [node('down', 'down'), node('gone'), node('silent')], q, s)
  t.same(s.got, [
    { error: 'node host-down is down: logs of 1 task unavailable', node: 'host-down' },
    { error: 'node host-gone is not connected to the manager: logs of 1 task unavailable', node: 'host-gone' },
  ])
  await clock.advance(29)
  t.equal(s.got.length, 2, 'the silent node has until the answer timeout')
  await clock.advance(1)
  t.same(s.got[2], { error: 'node host-silent did not answer in 0.03 s: logs of 1 task unavailable', node: 'host-silent' })
  t.ok(s.ended)
})

t.test('a full CLI socket pauses every upload until it drains; cancel tells the nodes and drops uploads', async (t) => {
  const b = new LogBroker()
  const sent: string[] = []
  b.attach('a', (l) => sent.push(l))
  const s = sink()
  const { cancel } = b.open([task('t1', 'a')], [node('a')], { ...q, follow: true }, s)
  const id = JSON.parse(sent[0]!).logs.id
  const u = upload()
  b.upload(node('a'), id, u.asReq, u.asRes)
  s.full = true
  u.req.emit('data', '{"task":"t1","stream":"stdout","line":"x"}\n')
  t.ok(u.req.paused, 'paused')
  for (const fn of s.drain) fn()
  t.notOk(u.req.paused, 'resumed on drain')
  u.req.emit('end')
  t.notOk(s.ended, 'follow: stays open after the nodes are done')
  cancel()
  t.equal(b.sessions, 0)
  const later = upload()
  b.upload(node('a'), id, later.asReq, later.asRes)
  t.equal(later.res.code, 410, 'an upload for a finished session is refused')
})

t.test('cancel while a node streams: logsCancel on its watch stream', async (t) => {
  const b = new LogBroker()
  const sent: string[] = []
  b.attach('a', (l) => sent.push(l))
  const { cancel } = b.open([task('t1', 'a')], [node('a')], { ...q, follow: true }, sink())
  const id = JSON.parse(sent[0]!).logs.id
  const u = upload()
  b.upload(node('a'), id, u.asReq, u.asRes)
  cancel()
  t.same(JSON.parse(sent[1]!), { logsCancel: id })
})

t.test('following: tasks that appear later are asked for, whole log, as a new request', async (t) => {
  const b = new LogBroker()
  const sent: string[] = []
  b.attach('a', (l) => sent.push(l))
  const s = sink()
  const h = b.open([task('t1', 'a')], [node('a')], { ...q, tail: 5, follow: true }, s)
  h.add([task('t1', 'a'), task('t2', 'a', 2)], () => [node('a')])
  h.add([task('t2', 'a', 2)], () => [node('a')])
  t.equal(sent.length, 2, 'one more request, for t2 only, once')
  const [r1, r2] = sent.map((l) => JSON.parse(l).logs)
  t.not(r1.id, r2.id)
  t.same([r2.taskIds, r2.tail, r2.follow], [['t2'], -1, true])
  const u = upload()
  b.upload(node('a'), r2.id, u.asReq, u.asRes)
  u.req.emit('data', '{"task":"t2","stream":"stdout","line":"new"}\n')
  t.same(s.got, [{ task: 't2', name: 'web.2.t2', node: 'host-a', stream: 'stdout', line: 'new' }])
  const other = upload()
  b.upload(node('b'), r1.id, other.asReq, other.asRes)
  t.equal(other.res.code, 410, 'another node cannot upload for this request')
  h.cancel()
  t.same(sent.slice(2).map((l) => JSON.parse(l).logsCancel).sort(), [r1.id, r2.id].sort(), 'each open request is cancelled')
})

t.test('the watch stream closing before the node answered ends its part', async (t) => {
  const b = new LogBroker()
  const detach = b.attach('a', () => {})
  const s = sink()
  b.open([task('t1', 'a')], [node('a')], q, s)
  detach()
  t.match(s.got[0], { error: /disconnected/ })
  t.ok(s.ended)
})

t.test('query parsing', async (t) => {
  const cases = [
    { name: 'defaults', in: {}, want: { tail: -1, follow: false, since: 0, timestamps: false } },
    { name: 'all set', in: { tail: '10', follow: '1', since: '1700000000.5', timestamps: 'true' }, want: { tail: 10, follow: true, since: 1700000000.5, timestamps: true } },
    { name: 'bad tail', in: { tail: '-3' }, want: 'tail "-3": want a number of lines or "all"' },
    { name: 'bad since', in: { since: '10m' }, want: 'since "10m": want a UNIX time in seconds' },
  ]
  for (const c of cases) t.same(parseLogQuery(c.in), c.want, c.name)
  t.equal(taskName({ ...task('abc', 'n1', 0) }), 'web.n1.abc', 'global: node id in the middle')
})
