import t from 'tap'
import { Awareness } from '../../../src/gossip/awareness.ts'
import { BroadcastQueue } from '../../../src/gossip/broadcast-queue.ts'
import { Suspicion, remainingSuspicionMs, suspicionTimeoutMs } from '../../../src/gossip/suspicion.ts'
import { FakeClock } from '../../support/fake-clock.ts'

t.test('suspicion timeout scales with log10(n) (memberlist TestSuspicionTimeout)', async (t) => {
  const cases = [
    { n: 5, want: 4000 }, { n: 10, want: 4000 }, { n: 50, want: 6795 }, { n: 100, want: 8000 }, { n: 1000, want: 12000 },
  ]
  for (const c of cases) t.equal(suspicionTimeoutMs(4, c.n, 1000), c.want, `n=${c.n}`)
})

t.test('remaining suspicion time after c of k confirmations (memberlist TestSuspicion_remainingSuspicionTime)', async (t) => {
  const cases = [
    { c: 0, k: 3, min: 2000, max: 30000, want: 30000 },
    { c: 1, k: 3, min: 2000, max: 30000, want: 16000 },
    { c: 2, k: 3, min: 2000, max: 30000, want: 7810 },
    { c: 3, k: 3, min: 2000, max: 30000, want: 2000 },
    { c: 4, k: 3, min: 2000, max: 30000, want: 2000 },
    { c: 5, k: 3, min: 2000, max: 30000, want: 2000 },
    { c: 0, k: 0, min: 2000, max: 30000, want: 2000 },
  ]
  for (const x of cases) t.equal(remainingSuspicionMs(x.c, x.k, x.min, x.max), x.want, `c=${x.c} k=${x.k}`)
})

t.test('suspicion timer: starts at max, each new confirmer shortens it, repeats do not', async (t) => {
  const clock = new FakeClock()
  let firedAt = -1
  const s = new Suspicion(clock, 'a', 3, 2000, 30000, () => { firedAt = clock.now() })
  t.equal(s.confirm('a'), false, 'the accuser does not confirm itself')
  await clock.advance(1000)
  t.equal(s.confirm('b'), true, 'b is a new confirmation')
  t.equal(s.confirm('b'), false, 'b again is not')
  await clock.advance(14_000)
  t.equal(firedAt, -1, 'not yet at 15 s')
  await clock.advance(1_000)
  t.equal(firedAt, 16_000, 'fires at 16 s (30 − ln2/ln4 × 28) after one confirmation')
})

t.test('awareness is clamped to [0, max-1] and scales timeouts', async (t) => {
  const a = new Awareness(8)
  const cases = [
    { delta: 0, score: 0, scaled: 1000 },
    { delta: -1, score: 0, scaled: 1000 },
    { delta: 1, score: 1, scaled: 2000 },
    { delta: 6, score: 7, scaled: 8000 },
    { delta: 5, score: 7, scaled: 8000 },
    { delta: -3, score: 4, scaled: 5000 },
  ]
  for (const c of cases) {
    a.applyDelta(c.delta)
    t.equal(a.score, c.score, `score after ${c.delta}`)
    t.equal(a.scaleTimeout(1000), c.scaled, `timeout after ${c.delta}`)
  }
})

t.test('broadcast queue: retransmit limit, invalidation, packing by size', async (t) => {
  let n = 3
  const q = new BroadcastQueue(4, () => n)
  t.equal(q.retransmitLimit(), 4, '4 × ceil(log10(4)) = 4')
  n = 99
  t.equal(q.retransmitLimit(), 8, '4 × ceil(log10(100)) = 8')
  n = 3
  const done: string[] = []
  q.queue({ key: 'a', data: new Uint8Array(10), onDone: () => done.push('a1') })
  q.queue({ key: 'a', data: new Uint8Array(11), onDone: () => done.push('a2') })
  t.same(done, ['a1'], 'a newer message about the same node replaces (and finishes) the old one')
  q.queue({ key: null, data: new Uint8Array(20) })
  q.queue({ key: null, data: new Uint8Array(30) })
  t.same(q.take(2, 40).map((b) => b.length), [30], 'largest first, what fits in the budget')
  t.same(q.take(2, 40).map((b) => b.length).sort(), [11, 20], 'then the fewest-sent ones')
  for (let i = 0; i < 3; i++) q.take(2, 1000)
  t.equal(q.length, 0, 'each message leaves after 4 transmits')
  t.same(done, ['a1', 'a2'], 'and its completion hook runs')
})

t.test('broadcast queue: a depth limit drops the most-sent, oldest messages first', async (t) => {
  const done: number[] = []
  const q = new BroadcastQueue(4, () => 3, 3)
  for (let i = 0; i < 3; i++) q.queue({ key: null, data: Uint8Array.of(i), onDone: () => done.push(i) })
  q.take(0, 1) // message 2 (newest) is sent once
  q.queue({ key: null, data: Uint8Array.of(3), onDone: () => done.push(3) })
  t.equal(q.length, 3, 'held at the limit')
  t.same(done, [2], 'the one already sent goes first')
  q.queue({ key: null, data: Uint8Array.of(4), onDone: () => done.push(4) })
  t.same(done, [2, 0], 'then the oldest unsent')
})
