import t from 'tap'
import { addMember, LeaderElection, defaultEtcdTiming } from '../../../src/manager/etcd/index.ts'
import { type TestMember, testCluster, waitFor } from './members.ts'

/**
 * Leader election on real etcd: three managers, each with its own member and a contender on it. Exactly one leads
 * at a time (sampled all along); a leader cut off (its member frozen) or whose member is killed steps down and
 * another leads; a resign on shutdown hands over at once. Waits are bounded; no timing is asserted.
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
    e.onChange(() => {
      throw new Error('a failing listener') // must not stop the election (deposing runs on a timer too)
    })
    contenders.set(name, e)
    t.teardown(async () => {
      const t0 = Date.now()
      await e.stop()
      if (process.env.MESH_TEST_DEBUG) console.error(`teardown: contender ${name} stopped after ${Date.now() - t0} ms`)
    })
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

  let current = first
  t.test('the leader is cut off (its member frozen, SIGSTOP): it steps down, another leads, it comes back as a follower', async (t) => {
    const cut = members[current] as TestMember
    const pid = cut.member.pid() as number
    const t0 = Date.now()
    process.kill(pid, 'SIGSTOP') // the PID the test's supervisor started; connections to it hang as in a partition
    let resumed = false
    t.teardown(() => { if (!resumed) process.kill(pid, 'SIGCONT') })
    const next = await waitFor('a leader on the other side', oneLeader(current), 60_000)
    t.comment(`measured: ${Date.now() - t0} ms from the freeze to a new leader (lease TTL ${defaultEtcdTiming().leaseTtlSeconds} s)`)
    t.notOk(contenders.get(current)?.isLeader(), 'the cut-off leader deposed itself')
    t.ok(transitions.indexOf(`-${current}`) < transitions.indexOf(`+${next}`), `stepped down before the new leader was elected (${transitions.join(' ')})`)
    process.kill(pid, 'SIGCONT')
    resumed = true
    const old = contenders.get(current) as LeaderElection
    await waitFor('the old leader campaigning again and naming the new one', () => (old.leader() === next ? true : undefined), 60_000)
    t.same(leaders(), [next], 'one leader after the heal')
    current = next
  })

  t.test('the leader\'s member dies (kill -9): it steps down and another leads', async (t) => {
    const dead = members[current] as TestMember
    const t0 = Date.now()
    process.kill(dead.member.pid() as number, 'SIGKILL') // the PID the test's supervisor started
    await dead.member.stop() // keep it down: the supervisor would bring it back before the lease expires
    const next = await waitFor('a new leader', oneLeader(current), 60_000)
    t.comment(`measured: ${Date.now() - t0} ms from the kill to a new leader`)
    t.notOk(contenders.get(current)?.isLeader(), 'the old leader deposed itself')
    t.ok(transitions.lastIndexOf(`-${current}`) < transitions.lastIndexOf(`+${next}`), `stepped down before the new leader was elected (${transitions.join(' ')})`)
    killed = current
    current = next
  })

  let killed = ''
  t.test('a resign on shutdown hands over to the last contender', async (t) => {
    const last = Object.keys(members).find((n) => n !== killed && n !== current) as string
    const own = (members[last] as TestMember).client
    const t0 = Date.now()
    await contenders.get(current)?.stop()
    t.notOk(contenders.get(current)?.isLeader(), 'not leading after stop')
    const keys = Object.values(await own.getAll().prefix(PREFIX).strings())
    t.notOk(keys.includes(current), 'the resigned contender\'s key is gone at once (its lease revoked)')
    const next = await waitFor('the handover', oneLeader(current), 30_000)
    t.comment(`measured: ${Date.now() - t0} ms from the resign's start to the handover`)
    t.equal(next, last)
  })

  t.test('never two leaders at one instant', async (t) => {
    t.ok(samples > 10, `sampled (${samples} samples)`)
    t.same(overlaps, [], 'no sample saw two leaders')
  })
})
