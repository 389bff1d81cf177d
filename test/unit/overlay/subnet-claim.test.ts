import t from 'tap'
import { seededRandom } from '../../../src/base/clock.ts'
import { SubnetPool } from '../../../src/overlay/ipam.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { SubnetClaim, winsAgainst, type ClaimEvent } from '../../../src/overlay/subnet-claim.ts'
import { TAG_SUBNET, TAG_SUBNET_HELD, claimsFromMembers } from '../../../src/overlay/tags.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { SimCluster } from '../../support/sim-cluster.ts'

t.test('pool arithmetic', async (t) => {
  const pool = new SubnetPool(parseCidr('10.77.0.0/16'), 24)
  t.equal(pool.size, 256)
  t.equal(pool.at(0), '10.77.0.0/24')
  t.equal(pool.at(255), '10.77.255.0/24')
  t.equal(pool.indexOf('10.77.9.0/24'), 9)
  t.equal(pool.indexOf('10.78.9.0/24'), -1, 'outside the range')
  t.equal(pool.indexOf('10.77.9.0/25'), -1, 'wrong size')
  t.equal(pool.gateway('10.77.9.0/24'), '10.77.9.1')
  t.throws(() => parseCidr('10.77.1.0/16'), /host bits are set; did you mean 10.77.0.0\/16/)
  t.throws(() => parseCidr('10.77.0.0'), /want an IPv4 network/)
  const small = new SubnetPool(parseCidr('10.77.0.0/23'), 24)
  const r = seededRandom(1)
  t.equal(small.choose(new Set(['10.77.0.0/24']), r), '10.77.1.0/24', 'the only free one')
  t.equal(small.choose(new Set(['10.77.0.0/24', '10.77.1.0/24']), r), null, 'exhausted')
  t.equal(small.choose(new Set(), r, '10.77.1.0/24'), '10.77.1.0/24', 'a free preferred lease is kept')
})

t.test('conflict rule: held beats claim, then the smaller name', async (t) => {
  const cases = [
    { a: { node: 'b', subnet: 's', held: true }, b: { node: 'a', subnet: 's', held: false }, want: true },
    { a: { node: 'a', subnet: 's', held: false }, b: { node: 'b', subnet: 's', held: true }, want: false },
    { a: { node: 'a', subnet: 's', held: false }, b: { node: 'b', subnet: 's', held: false }, want: true },
    { a: { node: 'b', subnet: 's', held: true }, b: { node: 'a', subnet: 's', held: true }, want: false },
  ]
  for (const c of cases) t.equal(winsAgainst(c.a, c.b), c.want, `${c.a.node}(${c.a.held}) vs ${c.b.node}(${c.b.held})`)
})

t.test('a claim is held only after settling; a lost claim moves elsewhere', async (t) => {
  const clock = new FakeClock()
  const events: ClaimEvent[] = []
  const published: string[] = []
  const claim = new SubnetClaim({
    pool: new SubnetPool(parseCidr('10.77.0.0/16'), 24), self: 'm', clock, random: seededRandom(3), settleMs: 3000,
    preferred: '10.77.5.0/24', publish: (s, held) => published.push(`${s}:${held}`), emit: (e) => events.push(e),
  })
  claim.start([{ node: 'x', subnet: '10.77.1.0/24', held: true }])
  t.equal(claim.subnet, '10.77.5.0/24', 'the persisted lease is preferred')
  await clock.advance(2999)
  t.notOk(claim.held, 'not held before settling')
  claim.update([{ node: 'a', subnet: '10.77.5.0/24', held: false }])
  t.not(claim.subnet, '10.77.5.0/24', '"a" < "m": we yield the subnet')
  await clock.advance(3000)
  t.ok(claim.held, 'the new subnet is held after settling')
  const moved = claim.subnet
  claim.update([{ node: 'z', subnet: moved as string, held: false }])
  t.equal(claim.subnet, moved, 'a later claimant does not take a held subnet')
  t.match(published.at(-1), /:true$/, 'held is published')
})

t.test('resume (live restore): the lease is held at once, never published as a mere claim; a winning peer still takes it', async (t) => {
  const cases = [
    { name: 'no one else claims it', peers: [{ node: 'x', subnet: '10.77.1.0/24', held: true }], want: { subnet: '10.77.5.0/24', held: true, published: ['10.77.5.0/24:true'] } },
    { name: 'a peer holds it', peers: [{ node: 'x', subnet: '10.77.5.0/24', held: true }], want: { subnet: null, held: false, published: [] } },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const published: string[] = []
      const events: ClaimEvent[] = []
      const claim = new SubnetClaim({
        pool: new SubnetPool(parseCidr('10.77.0.0/16'), 24), self: 'm', clock: new FakeClock(), random: seededRandom(3), settleMs: 3000,
        preferred: '10.77.5.0/24', resume: true, publish: (s, held) => published.push(`${s}:${held}`), emit: (e) => events.push(e),
      })
      claim.start(c.peers)
      if (c.want.subnet) {
        t.equal(claim.subnet, c.want.subnet)
        t.equal(claim.held, c.want.held)
        t.same(published, c.want.published, 'held published first, no claim in between')
        t.same(events, [{ type: 'held', subnet: c.want.subnet }])
      } else {
        t.not(claim.subnet, '10.77.5.0/24', 'the holder keeps it: we claim another')
        t.notOk(claim.held, 'and settle as usual')
        t.match(published, [/:false$/])
      }
    })
  }
})

t.test('concurrent joins over real gossip: 24 nodes, all preferring one subnet, end with distinct subnets and never share a held one', async (t) => {
  const n = 24
  const c = new SimCluster({ nodes: n, seed: 99 })
  t.teardown(() => c.stopAll())
  const pool = new SubnetPool(parseCidr('10.77.0.0/19'), 24) // 32 subnets for 24 nodes: collisions are likely
  const holders = new Map<string, string>() // subnet -> node holding it right now
  const violations: string[] = []
  const claims = c.nodes.map((node, i) => new SubnetClaim({
    pool, self: node.name, clock: c.clock, random: seededRandom(1000 + i), settleMs: 3000, preferred: '10.77.0.0/24',
    publish: (subnet, held) => node.gossip.setTags({ [TAG_SUBNET]: subnet, [TAG_SUBNET_HELD]: held ? '1' : '0' }),
    emit: (e) => {
      if (e.type === 'held') {
        const other = holders.get(e.subnet)
        if (other && other !== node.name) violations.push(`${node.name} and ${other} both hold ${e.subnet}`)
        for (const [s, who] of holders) if (who === node.name) holders.delete(s)
        holders.set(e.subnet, node.name)
      }
      if (e.type === 'lost') holders.delete(e.subnet)
    },
  }))
  // Everyone starts at the same moment.
  for (const node of c.nodes) { await node.gossip.start(); node.alive = true }
  for (const node of c.nodes.slice(1)) void node.gossip.join([`${c.nodes[0]?.addr.ip}:7946`]).catch(() => 0)
  c.nodes.forEach((node, i) => {
    claims[i]?.start([])
    node.gossip.on(() => claims[i]?.update(claimsFromMembers(node.gossip.members(), pool)))
  })
  const took = await c.until(() => claims.every((x) => x.held) && new Set(claims.map((x) => x.subnet)).size === n, 120_000, 100)
  t.ok(took >= 0, `all ${n} nodes hold a subnet (${took} virtual ms)`)
  t.equal(new Set(claims.map((x) => x.subnet)).size, n, 'all subnets distinct')
  t.same(violations, [], 'no two nodes ever held the same subnet')
  // Stable afterwards.
  const before = claims.map((x) => x.subnet)
  await c.clock.advance(30_000)
  t.same(claims.map((x) => x.subnet), before, 'assignments stay put')
})
