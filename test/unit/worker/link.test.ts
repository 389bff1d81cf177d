import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WorkerLink, watchBackoffMs, type WorkerLinkOptions } from '../../../src/worker/index.ts'
import type { TaskStatus } from '../../../src/api/types.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeManager, fakeNodeTls } from './fake-manager.ts'

/** This node's certificate (real, of the fake manager's CA), as `mesh agent` holds it in tls/. */
const nodeTls = await fakeNodeTls()

interface Harness {
  clock: FakeClock
  manager: FakeManager
  link: WorkerLink
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[]
  got: { tasks: unknown[]; catalogs: unknown[]; logs: unknown[] }
}

function harness(t: Test, o: Partial<WorkerLinkOptions> = {}): Harness {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-worker-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const manager = new FakeManager(clock)
  const logs: Harness['logs'] = []
  const got: Harness['got'] = { tasks: [], catalogs: [], logs: [] }
  const link = new WorkerLink({
    transport: manager, clock, dataDir, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 2e9, memoryBytes: 1e9 },
    onAssignments: (tasks) => got.tasks.push(tasks),
    onCatalog: (c) => got.catalogs.push(c),
    onLogs: (m) => got.logs.push(m),
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    ...o,
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: manager.address }, nodeTls)
  t.teardown(() => link.stop())
  return { clock, manager, link, logs, got }
}

const running = (message: string): TaskStatus => ({ state: 'running', message, timestamp: 1 })

t.test('backoff: 250 ms doubling, capped at 5 s', async (t) => {
  const cases = [
    { attempt: 1, want: 250 }, { attempt: 2, want: 500 }, { attempt: 3, want: 1000 }, { attempt: 4, want: 2000 },
    { attempt: 5, want: 4000 }, { attempt: 6, want: 5000 }, { attempt: 7, want: 5000 }, { attempt: 50, want: 5000 },
  ]
  for (const c of cases) t.equal(watchBackoffMs(c.attempt), c.want, `attempt ${c.attempt}`)
})

t.test('a manager that stays away is retried with capped exponential delays', async (t) => {
  const h = harness(t)
  h.manager.down = true // every attempt is refused before it opens
  h.link.start()
  await h.clock.advance(23_000)
  const at = h.manager.streams.map((s) => s.at)
  t.same(at.slice(1).map((v, i) => v - (at[i] as number)), [250, 500, 1000, 2000, 4000, 5000, 5000, 5000])
  t.equal(h.manager.streams.length, 9)
  t.equal(h.link.connected, false)
})

t.test('reconnect after the stream drops: assignments flow again, backoff starts over', async (t) => {
  const h = harness(t)
  h.link.start()
  const first = h.manager.streams[0]!
  t.equal(first.cert, nodeTls.cert, 'the stream is opened with the node certificate')
  first.open()
  t.equal(h.link.connected, true)
  first.send({ tasks: [{ id: 't1' }] })
  first.drop()
  t.equal(h.link.connected, false)
  await h.clock.advance(249)
  t.equal(h.manager.streams.length, 1, 'not before the first backoff delay')
  await h.clock.advance(1)
  t.equal(h.manager.streams.length, 2, 'reconnected after 250 ms')
  h.manager.streams[1]!.drop() // still down once
  await h.clock.advance(500)
  const third = h.manager.streams[2]!
  third.open()
  third.send({ tasks: [{ id: 't1' }, { id: 't2' }] })
  t.same(h.got.tasks, [[{ id: 't1' }], [{ id: 't1' }, { id: 't2' }]])
  t.ok(h.logs.some((l) => l.msg === 'reconnected to the manager'))
  third.drop()
  await h.clock.advance(250)
  t.equal(h.manager.streams.length, 4, 'a stream that was open resets the backoff to 250 ms')
})

t.test('a refused stream is logged and retried', async (t) => {
  const h = harness(t)
  h.link.start()
  h.manager.streams[0]!.refuse(401)
  t.same(h.logs.find((l) => l.level === 'error'), { level: 'error', msg: 'manager refused the assignment stream', fields: { status: 401 } })
  await h.clock.advance(250)
  t.equal(h.manager.streams.length, 2)
})

t.test('stream lines reach their consumers; a bad line is logged and skipped', async (t) => {
  const h = harness(t)
  h.link.start()
  const s = h.manager.streams[0]!
  s.open()
  s.send({ catalog: { revision: 3 } })
  s.badLine()
  s.send(null)
  s.send({ logs: { id: 'abc', taskIds: ['t1'] } })
  s.send({ logsCancel: 'abc' })
  s.send({})
  t.same(h.got.catalogs, [{ revision: 3 }])
  t.same(h.got.logs, [{ logs: { id: 'abc', taskIds: ['t1'] } }, { logsCancel: 'abc' }])
  t.equal(h.logs.filter((l) => l.msg === 'bad line on the assignment stream').length, 2)
})

t.test('stop() closes the stream and schedules nothing more', async (t) => {
  const h = harness(t)
  h.link.start()
  h.manager.streams[0]!.open()
  h.link.report('t1', running('up'))
  h.link.stop()
  t.equal(h.manager.streams[0]!.closedByLink, true)
  await h.clock.advance(60_000)
  t.equal(h.manager.streams.length, 1, 'no reconnect after stop')
  t.equal(h.manager.batches.length, 0, 'no flush after stop')
  t.equal(h.clock.pending, 0, 'no timer left behind')
})

t.test('status batching: reports within 50 ms go in one POST, the latest per task wins', async (t) => {
  const h = harness(t)
  h.link.report('t1', running('starting'))
  await h.clock.advance(10)
  h.link.report('t2', { ...running('up'), ip: '10.77.1.5' })
  h.link.report('t1', running('up'))
  await h.clock.advance(39)
  t.equal(h.manager.batches.length, 0, 'nothing sent inside the window')
  await h.clock.advance(1)
  t.equal(h.manager.batches.length, 1)
  t.same(h.manager.batches[0], {
    cert: nodeTls.cert, at: 50,
    updates: [{ taskId: 't1', status: running('up') }, { taskId: 't2', status: running('up'), ip: '10.77.1.5' }],
  })
  h.link.report('t3', { ...running('up'), ip: '10.80.0.66', addresses: [{ network: 'n1', ip: '10.80.0.66' }, { network: 'n2', ip: '10.80.16.66' }] })
  await h.clock.advance(50)
  t.equal(h.manager.batches.length, 2, 'a later report starts a new window')
  t.same(h.manager.batches[1]?.updates, [{ taskId: 't3', status: running('up'), ip: '10.80.0.66',
    addresses: [{ network: 'n1', ip: '10.80.0.66' }, { network: 'n2', ip: '10.80.16.66' }] }], 'a task\'s addresses per network beside its ip')
})

t.test('a batch the manager did not take is sent again after 1 s; newer reports win', async (t) => {
  const cases = [
    { name: 'manager unreachable', answer: 'down' as const, retried: true },
    { name: 'manager error (503)', answer: 503, retried: true },
    { name: 'refused as bad (400): not retried', answer: 400, retried: false },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const h = harness(t)
      h.manager.statusAnswers = [c.answer]
      h.link.report('t1', running('starting'))
      h.link.report('t2', running('up'))
      await h.clock.advance(50)
      h.link.report('t1', { state: 'failed', message: 'exit 1', timestamp: 2 })
      await h.clock.advance(1000)
      if (!c.retried) {
        t.equal(h.manager.batches.length, 2, 'the next batch carries only the new report')
        t.same(h.manager.batches[1]!.updates.map((u) => u.taskId), ['t1'])
        return
      }
      t.equal(h.manager.batches.length, 2)
      t.equal(h.manager.batches[1]!.at, 1050, 'retried 1 s after the failure')
      t.same(h.manager.batches[1]!.updates, [
        { taskId: 't1', status: { state: 'failed', message: 'exit 1', timestamp: 2 } },
        { taskId: 't2', status: running('up') },
      ])
    })
  }
})

t.test('upload() opens a request with the node certificate', async (t) => {
  const h = harness(t)
  h.link.upload('/v1/agent/logs/abc')
  t.same(h.manager.uploads, [{ cert: nodeTls.cert, path: '/v1/agent/logs/abc' }])
})
