/**
 * The handover protocol between an agent and a new process on its data dir (agent/handover.ts): a fake transport
 * (a list of what was sent) and a fake clock, so each path (taken over, the new one gone, failed, silent, a second
 * newcomer) runs in microseconds.
 */
import t from 'tap'
import { Incoming, Outgoing, type HandoverMessage, type HandoverTransport, type OutgoingSteps } from '../../../agent/handover.ts'
import { FakeClock } from '../../support/fake-clock.ts'

class FakeTransport implements HandoverTransport {
  sent: HandoverMessage[] = []
  closed = false
  send(msg: HandoverMessage): void { this.sent.push(msg) }
  close(): void { this.closed = true }
}

function outgoing(o: { releaseFails?: boolean; releaseGate?: Promise<void> } = {}) {
  const clock = new FakeClock()
  const steps: string[] = []
  const s: OutgoingSteps = {
    release: async () => {
      steps.push('release')
      await o.releaseGate
      if (o.releaseFails) throw new Error('store busy')
    },
    letGo: async () => { steps.push('letGo') },
    resume: async (why) => { steps.push(`resume: ${why}`) },
    log: () => undefined,
  }
  return { clock, steps, out: new Outgoing({ clock, steps: s, upTimeoutMs: 120_000 }) }
}

t.test('taken over: release, released, up, let go', async (t) => {
  const { out, steps } = outgoing()
  const peer = new FakeTransport()
  await out.onMessage(peer, { type: 'hello', pid: 42 })
  t.same(peer.sent, [{ type: 'released' }], 'the new process hears it may start')
  t.equal(out.state, 'waiting')
  await out.onMessage(peer, { type: 'up' })
  t.same(steps, ['release', 'letGo'])
  t.equal(out.state, 'done')
  await out.onClose(peer)
  t.same(steps, ['release', 'letGo'], 'the connection closing after up changes nothing')
})

const abandoned = [
  { name: 'the new process goes away before up', act: async (out: Outgoing, peer: FakeTransport) => out.onClose(peer), why: /went away before its data plane was up/ },
  { name: 'the new process says it failed', act: async (out: Outgoing, peer: FakeTransport) => out.onMessage(peer, { type: 'failed', reason: 'overlay: no subnet held' }), why: /failed: overlay: no subnet held/ },
]
for (const c of abandoned) {
  t.test(`${c.name}: the old one resumes and never lets go`, async (t) => {
    const { out, steps } = outgoing()
    const peer = new FakeTransport()
    await out.onMessage(peer, { type: 'hello', pid: 42 })
    await c.act(out, peer)
    t.equal(steps.length, 2)
    t.match(steps[1], c.why)
    await out.onMessage(peer, { type: 'up' })
    t.notOk(steps.includes('letGo'), 'a late up is ignored')
  })
}

t.test('the new process goes away while the old one is still releasing: resume once the release is done', async (t) => {
  let open = (): void => undefined
  const { out, steps } = outgoing({ releaseGate: new Promise((r) => { open = r }) })
  const peer = new FakeTransport()
  const hello = out.onMessage(peer, { type: 'hello', pid: 42 })
  await out.onClose(peer)
  t.same(steps, ['release'], 'nothing resumes in the middle of the release')
  open()
  await hello
  t.match(steps, ['release', /resume: the new agent went away/])
  t.same(peer.sent, [], 'no released sent to a process that is gone')
})

t.test('a release that fails resumes at once', async (t) => {
  const { out, steps } = outgoing({ releaseFails: true })
  await out.onMessage(new FakeTransport(), { type: 'hello', pid: 42 })
  t.match(steps, ['release', /resume: release failed: store busy/])
})

t.test('silence past upTimeoutMs: resume', async (t) => {
  const { out, steps, clock } = outgoing()
  const peer = new FakeTransport()
  await out.onMessage(peer, { type: 'hello', pid: 42 })
  await clock.advance(119_999)
  t.same(steps, ['release'])
  await clock.advance(1)
  t.match(steps, ['release', /not up within 120000 ms/])
  t.ok(peer.closed, 'the connection to the silent process is closed')
})

t.test('a second newcomer during a handover is refused', async (t) => {
  const { out } = outgoing()
  await out.onMessage(new FakeTransport(), { type: 'hello', pid: 42 })
  const second = new FakeTransport()
  await out.onMessage(second, { type: 'hello', pid: 43 })
  t.match(second.sent, [{ type: 'refused', reason: /already waiting/ }])
  t.ok(second.closed)
})

t.test('incoming: hello, then released; refused; the old one gone; no answer', async (t) => {
  const cases = [
    { name: 'released', act: (i: Incoming) => i.onMessage({ type: 'released' }), advance: 0, want: { type: 'released' } },
    { name: 'refused', act: (i: Incoming) => i.onMessage({ type: 'refused', reason: 'a handover is already waiting' }), advance: 0, want: { type: 'refused', reason: 'a handover is already waiting' } },
    { name: 'the old process exited (connection closed)', act: (i: Incoming) => i.onClose(), advance: 0, want: { type: 'released' } },
    { name: 'no answer', act: () => undefined, advance: 60_000, want: { type: 'refused', reason: 'the running agent did not release within 60000 ms' } },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const clock = new FakeClock()
      const inc = new Incoming({ clock, releaseTimeoutMs: 60_000 })
      const to = new FakeTransport()
      const done = inc.begin(to, 7)
      t.same(to.sent, [{ type: 'hello', pid: 7 }])
      c.act(inc)
      await clock.advance(c.advance)
      t.same(await done, c.want)
    })
  }
})

t.test('a new process with another node name is refused: the data dir is this node\'s; the same name takes over', async (t) => {
  const clock = new FakeClock()
  const steps: string[] = []
  const s: OutgoingSteps = {
    release: async () => { steps.push('release') }, letGo: async () => { steps.push('letGo') },
    resume: async (why) => { steps.push(`resume: ${why}`) }, log: () => undefined,
  }
  const out = new Outgoing({ clock, steps: s, upTimeoutMs: 120_000, name: 'd1' })
  const other = new FakeTransport()
  await out.onMessage(other, { type: 'hello', pid: 42, name: 'd2' })
  t.match(other.sent, [{ type: 'refused', reason: /node "d1".*keep its name.*"d2"/ }])
  t.ok(other.closed, 'the connection is closed')
  t.same(steps, [], 'nothing released')
  t.equal(out.state, 'serving')
  const same = new FakeTransport()
  await out.onMessage(same, { type: 'hello', pid: 43, name: 'd1' })
  t.same(same.sent, [{ type: 'released' }], 'the same name takes over')
})
