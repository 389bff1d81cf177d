import t from 'tap'
import dnsPacket from 'dns-packet'
import { seededRandom } from '../../../src/base/clock.ts'
import { Forwarder } from '../../../src/dns/forward.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const UPS = [{ host: '192.0.2.1', port: 53 }, { host: '192.0.2.2', port: 5353 }]

function setup(maxInflight = 8) {
  const clock = new FakeClock()
  const sent: Array<{ to: number; id: number; bytes: Buffer }> = []
  const f = new Forwarder({
    upstreams: UPS, attemptMs: 100, timeoutMs: 250, maxInflight, clock, random: seededRandom(7),
    send: (to, bytes) => sent.push({ to, id: bytes.readUInt16BE(0), bytes: Buffer.from(bytes) }),
  })
  return { clock, sent, f }
}

const query = (name: string, id: number) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] })
const qEnd = (msg: Buffer) => msg.length
function answerTo(sent: Buffer, name = 'example.com'): Buffer {
  const p = dnsPacket.decode(sent)
  return dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: [{ name, type: 'A' }], answers: [{ type: 'A', name, ttl: 30, data: '192.0.2.9' }] })
}

t.test('answer from the upstream: the client id is restored', async (t) => {
  const { sent, f } = setup()
  const replies: Array<Buffer | null> = []
  const msg = query('example.com', 4321)
  t.equal(f.forward(msg, qEnd(msg), (a) => replies.push(a)), 'sent')
  t.equal(sent.length, 1)
  t.equal(sent[0]!.to, 0, 'first upstream first')
  t.not(sent[0]!.id, 4321, 'a fresh id upstream')
  t.equal(msg.readUInt16BE(0), 4321, "the caller's buffer is untouched")
  t.ok(f.receive(answerTo(sent[0]!.bytes), '192.0.2.1', 53))
  t.equal(replies[0]!.readUInt16BE(0), 4321)
  t.equal(f.inflight, 0)
})

t.test('spoofed or stray answers are ignored', async (t) => {
  const { sent, f } = setup()
  const replies: Array<Buffer | null> = []
  const msg = query('example.com', 1)
  f.forward(msg, qEnd(msg), (a) => replies.push(a))
  const good = answerTo(sent[0]!.bytes)
  const cases = [
    { name: 'wrong source address', bytes: good, host: '198.51.100.1', port: 53 },
    { name: 'wrong source port', bytes: good, host: '192.0.2.1', port: 54 },
    { name: 'other question', bytes: answerTo(sent[0]!.bytes, 'evil.example'), host: '192.0.2.1', port: 53 },
    { name: 'a query, not a response', bytes: sent[0]!.bytes, host: '192.0.2.1', port: 53 },
    { name: 'unknown id', bytes: (() => { const b = Buffer.from(good); b.writeUInt16BE((b.readUInt16BE(0) + 1) & 0xffff, 0); return b })(), host: '192.0.2.1', port: 53 },
    { name: 'too short', bytes: Buffer.alloc(5), host: '192.0.2.1', port: 53 },
  ]
  for (const c of cases) t.equal(f.receive(Buffer.from(c.bytes), c.host, c.port), false, c.name)
  t.equal(f.unmatched, cases.length)
  t.same(replies, [])
  const caseFolded = Buffer.from(good)
  caseFolded[13] = (caseFolded[13] as number) & ~0x20 // 'E'xample: 0x20 case randomisation is fine
  t.ok(f.receive(caseFolded, '192.0.2.1', 53), 'same question in another case is accepted')
})

t.test('no answer: next upstream after attemptMs, SERVFAIL (null) at timeoutMs', async (t) => {
  const { clock, sent, f } = setup()
  const replies: Array<Buffer | null> = []
  const msg = query('example.com', 9)
  f.forward(msg, qEnd(msg), (a) => replies.push(a))
  await clock.advance(100)
  t.same(sent.map((s) => s.to), [0, 1], 'second upstream after 100 ms')
  await clock.advance(100)
  t.same(sent.map((s) => s.to), [0, 1, 0], 'round the list')
  t.same(replies, [])
  await clock.advance(50)
  t.same(replies, [null], 'gave up at 250 ms')
  t.equal(f.timeouts, 1)
  t.equal(f.receive(answerTo(sent[0]!.bytes), '192.0.2.1', 53), false, 'a late answer is ignored')
})

t.test('bounded table; no upstreams; stop fails everything in flight', async (t) => {
  const { f } = setup(3)
  const replies: Array<Buffer | null> = []
  for (let i = 0; i < 3; i++) t.equal(f.forward(query(`n${i}.example`, i), qEnd(query(`n${i}.example`, i)), (a) => replies.push(a)), 'sent')
  t.equal(f.forward(query('x.example', 5), qEnd(query('x.example', 5)), () => {}), 'full')
  f.stop()
  t.same(replies, [null, null, null])
  const none = new Forwarder({ upstreams: [], attemptMs: 1, timeoutMs: 1, maxInflight: 1, clock: new FakeClock(), random: seededRandom(1), send: () => {} })
  t.equal(none.forward(query('a', 1), 17, () => {}), 'no-upstreams')
})
