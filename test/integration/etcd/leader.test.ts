import t from 'tap'
import { addMember, LeaderElection, defaultEtcdTiming } from '../../../src/manager/etcd/index.ts'
import { type TestMember, testCluster, waitFor } from './members.ts'

/**
 * Leader election on real etcd: three managers, each with its own member and a contender on it. Exactly one leads
 * at a time (sampled all along), the leader's member killed hands leadership to another, and a resign on shutdown
 * hands over too. Waits are bounded; no timing is asserted.
 */
const PREFIX = '/mesh/election/test/'

t.test('leader election: one leader at a time, failover when its member dies, handover on resign', async (t) => {
  const c = await testCluster(t)
  const m1 = await c.start('n1', () => ({ kind: 'init' }))
  const m2 = await c.prepare('n2').then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(m1.client, { name: 'n2', peerUrl: p.peerUrl }) }))
  const m3 = await c.prepare('n3').then(async (p) => p.run({ kind: 'join', initialCluster: await addMember(m2.client, { name: 'n3', peerUrl: p.peerUrl }) }))
  const members: Record<string, TestMember> = { n1: m1, n2: m2, n3: m3 }

  const transitions: string[] = []
  const contenders = new Map<string, LeaderElection>()
  for (const [name, m] of Object.entries(members)) {
    const e = new LeaderElection({
      client: m.client, nodeId: name, ttlSeconds: defaultEtcdTiming().leaseTtlSeconds, prefix: PREFIX,
      onElected: () => transitions.push(`+${name}`), onDeposed: () => transitions.push(`-${name}`),
    })
    contenders.set(name, e)
    t.teardown(() => e.stop())
  }

  // Sample every contender's view all along: never two leaders at the same instant.
  const overlaps: string[][] = []
  let samples = 0
  const sampler = setInterval(() => {
    samples++
    const leading = [...contenders].filter(([, e]) => e.isLeader()).map(([n]) => n)
    if (leading.length > 1) overlaps.push(leading)
  }, 20)
  t.teardown(() => clearInterval(sampler))
  const leaders = (): string[] => [...contenders].filter(([, e]) => e.isLeader()).map(([n]) => n)
  const oneLeader = (except?: string) => () => {
    const l = leaders()
    return l.length === 1 && l[0] !== except ? l[0] : undefined
  }

  await Promise.all([...contenders.values()].map((e) => e.start()))
  const first = await waitFor('a first leader', oneLeader(), 30_000)

  t.test('exactly one leader, and every contender names it', async (t) => {
    await waitFor('every contender naming the leader', () => ([...contenders.values()].every((e) => e.leader() === first) ? true : undefined), 30_000)
    t.same(leaders(), [first])
    t.same(transitions, [`+${first}`], 'one election, nobody deposed')
  })

  let second = ''
  t.test('the leader\'s member dies: it steps down and another leads', async (t) => {
    const dead = members[first] as TestMember
    process.kill(dead.member.pid() as number, 'SIGKILL') // the PID the test's supervisor started
    await dead.member.stop() // keep it down: the supervisor would bring it back before the lease expires
    second = await waitFor('a new leader', oneLeader(first), 60_000)
    t.not(second, first)
    t.notOk(contenders.get(first)?.isLeader(), 'the old leader deposed itself')
    const dep = transitions.indexOf(`-${first}`)
    const el = transitions.indexOf(`+${second}`)
    t.ok(dep >= 0 && el > dep, `the old leader stepped down before the new one was elected (${transitions.join(' ')})`)
    const survivor = Object.keys(members).find((n) => n !== first) as string
    await waitFor('the survivors naming the new leader', () => (contenders.get(survivor)?.leader() === second ? true : undefined), 30_000)
  })

  t.test('a resign on shutdown hands over to the last contender', async (t) => {
    const last = Object.keys(members).find((n) => n !== first && n !== second) as string
    const own = (members[last] as TestMember).client
    await contenders.get(second)?.stop()
    t.notOk(contenders.get(second)?.isLeader(), 'not leading after stop')
    const keys = Object.values(await own.getAll().prefix(PREFIX).strings())
    t.same(keys, [last], 'the resigned contender\'s key is gone at once (its lease revoked)')
    const third = await waitFor('the handover', oneLeader(second), 30_000)
    t.equal(third, last)
  })

  t.test('never two leaders at one instant', async (t) => {
    t.ok(samples > 10, `sampled (${samples} samples)`)
    t.same(overlaps, [], 'no sample saw two leaders')
  })
})
