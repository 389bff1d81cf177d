import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FailoverTransport, WorkerLink, type ManagerEndpoint, type ManagerReply } from '../../../src/worker/index.ts'
import type { TrafficReport } from '../../../src/api/traffic.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeManager, fakeNodeTls } from './fake-manager.ts'

const nodeTls = await fakeNodeTls()

/** One fake manager at `address`, with the agent's two extra calls; `down`: every call and stream is refused. */
class FakeEndpoint extends FakeManager implements ManagerEndpoint {
  override readonly address: string
  readonly traffic: TrafficReport[] = []
  /** Answer to traffic posts: a status, or 'down'. */
  trafficAnswer: number | 'down' = 200
  constructor(clock: FakeClock, address: string) {
    super(clock)
    this.address = address
  }

  async postTraffic(r: TrafficReport): Promise<ManagerReply<unknown>> {
    this.traffic.push(r)
    if (this.down || this.trafficAnswer === 'down') throw Object.assign(new Error(`connect ECONNREFUSED ${this.address}`), { code: 'ECONNREFUSED' })
    return { status: this.trafficAnswer, body: {}, message: this.trafficAnswer === 503 ? 'no quorum: 1 of 3 managers reachable' : `HTTP ${this.trafficAnswer}` }
  }

  async leave(): Promise<ManagerReply<{ nodeId: string; hostname: string; state: string }>> {
    if (this.down) throw new Error('connect ECONNREFUSED')
    return { status: 200, body: { nodeId: 'n1', hostname: 'w1', state: 'down' }, message: 'HTTP 200' }
  }
}

const report: TrafficReport = { node: 'w1', ports: [], tunnels: [] }

function pool(t: Test, addresses = ['10.0.0.1:7947', '10.0.0.2:7947', '10.0.0.3:7947']) {
  const clock = new FakeClock()
  const endpoints = new Map(addresses.map((a) => [a, new FakeEndpoint(clock, a)]))
  const dialled: string[] = []
  const logs: string[] = []
  const transport = new FailoverTransport({
    managers: addresses,
    connect: (a) => {
      dialled.push(a)
      const e = endpoints.get(a) ?? new FakeEndpoint(clock, a)
      endpoints.set(a, e)
      return e
    },
    log: (_level, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields ?? {})}`),
  })
  t.ok(transport)
  const at = (a: string): FakeEndpoint => endpoints.get(a) as FakeEndpoint
  return { clock, transport, at, dialled, logs }
}

t.test('a call goes to the current manager; one that cannot be reached passes it to the next, which stays current', async (t) => {
  const p = pool(t)
  await p.transport.postTraffic(report)
  t.equal(p.at('10.0.0.1:7947').traffic.length, 1, 'the first listed manager answers first')
  p.at('10.0.0.1:7947').down = true
  p.at('10.0.0.2:7947').down = true
  const r = await p.transport.postTraffic(report)
  t.equal(r.status, 200)
  t.same([1, 2, 3].map((i) => p.at(`10.0.0.${i}:7947`).traffic.length), [2, 1, 1], 'tried in order: 1, 2, then 3 answered')
  t.equal(p.transport.address, '10.0.0.3:7947', 'the manager that answered is now the current one')
  await p.transport.postTraffic(report)
  t.same([1, 2, 3].map((i) => p.at(`10.0.0.${i}:7947`).traffic.length), [2, 1, 2], 'the next call goes straight to it')
  t.match(p.logs.join('\n'), /switched to another manager.*10\.0\.0\.3:7947/)
})

t.test('an HTTP answer, even "no quorum", is not a reason to fail over', async (t) => {
  const p = pool(t)
  p.at('10.0.0.1:7947').trafficAnswer = 503
  const r = await p.transport.postTraffic(report)
  t.equal(r.status, 503)
  t.equal(r.message, 'no quorum: 1 of 3 managers reachable')
  t.equal(p.at('10.0.0.2:7947').traffic.length, 0, 'the next manager was not asked')
  t.equal(p.transport.address, '10.0.0.1:7947')
})

t.test('no manager answers: the call rejects after one round, the current one stays', async (t) => {
  const p = pool(t)
  for (const i of [1, 2, 3]) p.at(`10.0.0.${i}:7947`).down = true
  await t.rejects(p.transport.postTraffic(report), /ECONNREFUSED 10\.0\.0\.3:7947/, 'the last error')
  t.same([1, 2, 3].map((i) => p.at(`10.0.0.${i}:7947`).traffic.length), [1, 1, 1], 'each asked once')
  t.equal(p.transport.address, '10.0.0.1:7947')
})

t.test('the node certificate reaches every manager, also one dialled later', async (t) => {
  const p = pool(t)
  p.transport.setTls(nodeTls)
  t.same(p.dialled, [], 'nothing dialled before a call')
  p.at('10.0.0.1:7947').down = true
  await p.transport.postTraffic(report)
  t.same(p.dialled, ['10.0.0.1:7947', '10.0.0.2:7947'])
  t.equal(p.at('10.0.0.2:7947').tls?.cert, nodeTls.cert)
})

t.test('useManagers: the pushed list replaces the order; the current manager stays current while listed', async (t) => {
  const cases = [
    { name: 'current still listed', list: ['10.0.0.9', '10.0.0.2'], current: '10.0.0.2:7947', order: ['10.0.0.9:7947', '10.0.0.2:7947'] },
    { name: 'current gone: the first listed', list: ['10.0.0.8', '10.0.0.9'], current: '10.0.0.8:7947', order: ['10.0.0.8:7947', '10.0.0.9:7947'] },
    { name: 'IPv6 in brackets', list: ['fd00::1'], current: '[fd00::1]:7947', order: ['[fd00::1]:7947'] },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const p = pool(t)
      p.at('10.0.0.1:7947').down = true
      await p.transport.postTraffic(report) // now on 10.0.0.2
      p.transport.useManagers(c.list.map((addr, i) => ({ id: `m${i}`, addr, port: 7947 })))
      t.equal(p.transport.address, c.current)
      t.same(p.transport.managers, c.order)
    })
  }
})

interface LinkHarness { clock: FakeClock; p: ReturnType<typeof pool>; link: WorkerLink; logs: string[] }

function linkOver(t: Test): LinkHarness {
  const p = pool(t)
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-failover-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const logs: string[] = []
  const link = new WorkerLink({
    transport: p.transport, clock: p.clock, dataDir, hostname: 'w1', addr: '10.0.0.20', resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
    onAssignments: () => undefined, log: (level, msg) => logs.push(`${level} ${msg}`),
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: '10.0.0.1:7947' }, nodeTls)
  t.teardown(() => link.stop())
  return { clock: p.clock, p, link, logs }
}

t.test('the watch stream: a manager that cannot be reached passes the next attempt to the next manager, with the backoff', async (t) => {
  const h = linkOver(t)
  h.p.at('10.0.0.1:7947').down = true
  h.p.at('10.0.0.2:7947').down = true
  h.link.start()
  await h.clock.advance(250) // first retry
  await h.clock.advance(500) // second retry
  const tries = (a: string) => h.p.at(a).streams.map((s) => s.at)
  t.same(tries('10.0.0.1:7947'), [0], 'the first manager once')
  t.same(tries('10.0.0.2:7947'), [250], 'the second after 250 ms')
  t.same(tries('10.0.0.3:7947'), [750], 'the third after 500 ms more')
  h.p.at('10.0.0.3:7947').streams[0]!.open()
  t.equal(h.link.connected, true)
  t.equal(h.p.transport.address, '10.0.0.3:7947')
})

t.test('a stream that drops moves the link to the next manager; a refused one stays with its manager', async (t) => {
  const h = linkOver(t)
  h.link.start()
  const first = h.p.at('10.0.0.1:7947').streams[0]!
  first.open()
  first.refuse(503) // an answer: "not leader", "no quorum"
  await h.clock.advance(250)
  t.equal(h.p.at('10.0.0.1:7947').streams.length, 2, 'asked the same manager again')
  t.equal(h.p.at('10.0.0.2:7947').streams.length, 0)
  h.p.at('10.0.0.1:7947').streams[1]!.open()
  h.p.at('10.0.0.1:7947').streams[1]!.drop()
  await h.clock.advance(250)
  t.equal(h.p.at('10.0.0.2:7947').streams.length, 1, 'after the drop: the next manager')
  t.match(h.logs.join('\n'), /manager refused the assignment stream/)
})

t.test('task reports reach another manager when theirs cannot be reached', async (t) => {
  const h = linkOver(t)
  h.link.start()
  h.p.at('10.0.0.1:7947').statusAnswers.push('down')
  h.link.report('t1', { state: 'running', message: 'started', timestamp: 1 })
  await h.clock.advance(50)
  t.equal(h.p.at('10.0.0.1:7947').batches.length, 1)
  t.equal(h.p.at('10.0.0.2:7947').batches.length, 1, 'the same batch went to the next manager at once')
  t.same(h.p.at('10.0.0.2:7947').batches[0]!.updates.map((u) => u.taskId), ['t1'])
})
