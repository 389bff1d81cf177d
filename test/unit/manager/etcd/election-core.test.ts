import t from 'tap'
import { type Candidate, electionTiming, ElectionState, leaderOf } from '../../../../src/manager/etcd/index.ts'
import { AlwaysLeader } from '../../../../src/manager/leadership.ts'

const cand = (key: string, rev: string, value = key): Candidate => ({ key, createRevision: rev, value })

t.test('the leader is the lowest create revision (compared as numbers, not strings)', async (t) => {
  t.equal(leaderOf([]), undefined)
  t.equal(leaderOf([cand('b', '10'), cand('a', '9')])?.key, 'a')
  t.equal(leaderOf([cand('x', '100'), cand('y', '99'), cand('z', '1000')])?.key, 'y')
  t.equal(leaderOf([cand('x', '18446744073709551615'), cand('y', '9007199254740993')])?.key, 'y', 'beyond 2^53')
})

t.test('timing: keep-alives every TTL/5, a leader steps down TTL/5 before its lease can expire', async (t) => {
  t.same(electionTiming(5), { ttlSeconds: 5, marginMs: 1000, keepaliveMs: 1000 })
  t.same(electionTiming(2), { ttlSeconds: 2, marginMs: 500, keepaliveMs: 400 })
})

type Step =
  | { at: number; campaign: string }
  | { at: number; ack: { sentAt: number; ttl: number } }
  | { at: number; observe: Candidate[] }
  | { at: number; lost: true }
  | { at: number; check: boolean; change?: 'elected' | 'deposed' | null; leader?: string | null }

const cases: Array<{ name: string; steps: Step[] }> = [
  {
    name: 'first candidate with a live lease is elected',
    steps: [
      { at: 0, campaign: 'k1' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 10, observe: [cand('k1', '5'), cand('k2', '6')] },
      { at: 10, check: true, change: 'elected' }, { at: 20, check: true, change: null },
    ],
  },
  {
    name: 'a candidate behind another waits',
    steps: [
      { at: 0, campaign: 'k2' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 10, observe: [cand('k1', '5'), cand('k2', '6')] },
      { at: 10, check: false, change: null, leader: 'k1' },
      { at: 900, ack: { sentAt: 900, ttl: 5 } }, { at: 950, observe: [cand('k2', '6')] }, { at: 950, check: true, change: 'elected' },
    ],
  },
  {
    name: 'keep-alives stop being acknowledged: deposed at sentAt + TTL − margin, before etcd can expire the lease',
    steps: [
      { at: 0, campaign: 'k1' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 0, observe: [cand('k1', '5')] }, { at: 0, check: true, change: 'elected' },
      { at: 1000, ack: { sentAt: 1000, ttl: 5 } },
      { at: 4999, check: true, change: null, leader: 'k1' },
      { at: 5000, check: false, change: 'deposed', leader: null },
      { at: 6000, check: false, change: null },
    ],
  },
  {
    name: 'an acknowledgement that arrives late counts from when it was sent',
    steps: [
      { at: 0, campaign: 'k1' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 0, observe: [cand('k1', '5')] }, { at: 0, check: true, change: 'elected' },
      { at: 3900, ack: { sentAt: 1000, ttl: 5 } }, { at: 4999, check: true }, { at: 5000, check: false, change: 'deposed' },
    ],
  },
  {
    name: 'a TTL of 0 (lease expired) or a lost lease deposes at once',
    steps: [
      { at: 0, campaign: 'k1' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 0, observe: [cand('k1', '5')] }, { at: 0, check: true, change: 'elected' },
      { at: 100, ack: { sentAt: 100, ttl: 0 } }, { at: 100, check: false, change: 'deposed' },
      { at: 200, campaign: 'k3' }, { at: 200, ack: { sentAt: 200, ttl: 5 } }, { at: 300, observe: [cand('k3', '9')] }, { at: 300, check: true, change: 'elected' },
      { at: 400, lost: true }, { at: 400, check: false, change: 'deposed' },
    ],
  },
  {
    name: 'a new campaign is not trusted before its lease is acknowledged',
    steps: [{ at: 0, campaign: 'k1' }, { at: 0, observe: [cand('k1', '5')] }, { at: 0, check: false, change: null }],
  },
  {
    name: 'own key gone from the candidates (expired elsewhere): not leader',
    steps: [
      { at: 0, campaign: 'k1' }, { at: 0, ack: { sentAt: 0, ttl: 5 } }, { at: 0, observe: [cand('k1', '5')] }, { at: 0, check: true, change: 'elected' },
      { at: 100, observe: [cand('k2', '7')] }, { at: 100, check: false, change: 'deposed', leader: 'k2' },
    ],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const s = new ElectionState({ marginMs: 1000 })
    for (const step of c.steps) {
      if ('campaign' in step) s.campaign(step.campaign)
      else if ('ack' in step) s.leaseAcked(step.ack.sentAt, step.ack.ttl)
      else if ('observe' in step) s.observe(step.observe)
      else if ('lost' in step) s.leaseLost()
      else {
        const change = s.evaluate(step.at)
        t.equal(s.isLeader(), step.check, `leader at ${step.at}`)
        if (step.change !== undefined) t.equal(change, step.change, `change at ${step.at}`)
        if (step.leader !== undefined) t.equal(s.leader()?.value ?? null, step.leader, `leader() at ${step.at}`)
      }
    }
  })
}

t.test('AlwaysLeader: a single manager on SQLite always leads', async (t) => {
  const l = new AlwaysLeader('node-1')
  t.equal(l.isLeader(), true)
  t.equal(l.leader(), 'node-1')
  t.type(l.onChange(() => {}), 'function')
})
