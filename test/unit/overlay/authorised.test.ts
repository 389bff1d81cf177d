import t from 'tap'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRandom } from '../../../src/base/clock.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { SubnetPool } from '../../../src/overlay/ipam.ts'
import { desiredPeers, planPeers, planRoutes, type PeerRejection } from '../../../src/overlay/peers.ts'
import { authorisedPeers, checkPeerList, registeredClaims } from '../../../src/overlay/authorised.ts'
import { PEERS_FILE, readPeerList, writePeerList } from '../../../src/overlay/peer-list-file.ts'
import { SubnetClaim, winsAgainst, type ClaimEvent } from '../../../src/overlay/subnet-claim.ts'
import { generateKeyPair } from '../../../src/overlay/wg-keys.ts'
import type { MemberInfo } from '../../../src/gossip/index.ts'
import type { OverlayPeer } from '../../../src/api/watch.ts'
import { FakeClock } from '../../support/fake-clock.ts'

/**
 * On a cluster node the manager decides overlay membership (issue 14, item 6): a gossip member whose tags pass every
 * check still becomes a WireGuard peer and a route only when the manager registered exactly its name, key and subnet.
 * The list the manager pushed is kept in overlay-peers.json for a restart without a reachable manager.
 */

const pool = new SubnetPool(parseCidr('10.77.0.0/16'), 24)
const K1 = generateKeyPair().publicKey
const K2 = generateKeyPair().publicKey
const K3 = generateKeyPair().publicKey

function member(name: string, subnet: string, key: string, ip: string): MemberInfo {
  return {
    name, address: `${ip}:7946`, ip, port: 7946, state: 'alive', status: 'alive', incarnation: 1, protocol: [], sinceChangeMs: 0,
    tags: { 'mesh.subnet': subnet, 'mesh.subnet.held': '1', 'mesh.wg.pub': key },
  }
}
const reg = (hostname: string, publicKey: string, subnet: string): OverlayPeer => ({ nodeId: `id-${hostname}`, hostname, publicKey, subnet })

const node1 = member('node1', '10.77.1.0/24', K1, '192.168.77.11')
const registered = [reg('node1', K1, '10.77.1.0/24'), reg('node2', K2, '10.77.2.0/24')]

/** Peers and routes the overlay plans from these members under the registered list, with what it skipped. */
function plan(members: MemberInfo[], list: OverlayPeer[]) {
  const rejected: PeerRejection[] = []
  const desired = authorisedPeers(desiredPeers(members, 'me', pool, (r) => rejected.push(r)), list, (r) => rejected.push(r))
  return { desired, rejected, ops: planPeers(desired, [], 25), routes: planRoutes(desired, []) }
}

t.test('a member gossiping a valid key and subnet that the manager never registered: no peer, no route', async (t) => {
  const evil = member('evil', '10.77.9.0/24', K3, '192.168.77.66')
  const p = plan([node1, evil], registered)
  t.same(p.ops.map((o) => o.publicKey), [K1], 'only node1 becomes a peer')
  t.same(p.routes, { add: ['10.77.1.0/24'], remove: [] }, 'and only its subnet is routed')
  t.same(p.rejected, [{ node: 'evil', reason: 'not registered with the manager' }])
  t.same(plan([node1, evil], []).ops, [], 'an empty list (nothing registered yet): no peer at all')
})

const mismatches = [
  { desc: 'another subnet than the registered one', m: member('node2', '10.77.5.0/24', K2, '192.168.77.12'), why: /gossip subnet 10\.77\.5\.0\/24 differs from the registered 10\.77\.2\.0\/24/ },
  { desc: 'another key than the registered one', m: member('node2', '10.77.2.0/24', K3, '192.168.77.12'), why: /gossip key differs/ },
  { desc: 'the subnet registered to another node', m: member('node2', '10.77.1.0/24', K2, '192.168.77.12'), why: /gossip subnet 10\.77\.1\.0\/24 differs/ },
  { desc: 'the key registered to another node', m: member('node2', '10.77.2.0/24', K1, '192.168.77.12'), why: /gossip key differs/ },
]

for (const c of mismatches) {
  t.test(`a registered node whose gossip tags show ${c.desc} is skipped`, async (t) => {
    const p = plan([node1, c.m], registered)
    t.same(p.desired.map((d) => d.node), ['node1'])
    t.same(p.routes.add, ['10.77.1.0/24'], 'no route to what node2 gossips')
    t.equal(p.rejected.length, 1)
    t.equal(p.rejected[0]?.node, 'node2')
    t.match(p.rejected[0]?.reason, c.why)
  })
}

t.test('a registered node gossiping what it registered is a peer, with the endpoint from gossip', async (t) => {
  const p = plan([node1, member('node2', '10.77.2.0/24', K2, '192.168.77.12')], registered)
  t.same(p.desired, [
    { node: 'node1', publicKey: K1, endpoint: '192.168.77.11:51820', subnet: '10.77.1.0/24' },
    { node: 'node2', publicKey: K2, endpoint: '192.168.77.12:51820', subnet: '10.77.2.0/24' },
  ])
  t.same(p.rejected, [])
})

t.test('the pushed list is checked: a bad entry is dropped and reported, the others kept', async (t) => {
  const problems: string[] = []
  const got = checkPeerList([
    reg('node1', K1, '10.77.1.0/24'),
    reg('wide', K2, '0.0.0.0/1'),
    reg('inject', K2, '10.77.3.0/24\nallowed_ip=0.0.0.0/0'),
    reg('nokey', 'not-a-key', '10.77.4.0/24'),
    { hostname: 'a\nb', publicKey: K3, subnet: '10.77.5.0/24' },
    null,
  ], pool, (p) => problems.push(p))
  t.same(got, [reg('node1', K1, '10.77.1.0/24')])
  t.equal(problems.length, 5)
  t.same(checkPeerList('all', pool, (p) => problems.push(p)), [])
})

t.test('the list survives a restart (overlay-peers.json, 0600); a corrupt file is one line naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-overlay-peers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.equal(readPeerList(dir, pool), null, 'no file: no list')
  writePeerList(dir, registered)
  t.equal(statSync(join(dir, PEERS_FILE)).mode & 0o777, 0o600)
  t.same(readPeerList(dir, pool), registered, 'read back as written')
  writePeerList(dir, [])
  t.same(readPeerList(dir, pool), [], 'an empty list is a list (every registration was removed)')
  for (const text of ['{"peers": [', '[]', '{"peers": "all"}', 'null']) {
    writeFileSync(join(dir, PEERS_FILE), text)
    t.throws(() => readPeerList(dir, pool), { code: 'MESH_ERR_STATE_FILE', message: new RegExp(`${PEERS_FILE} .*: remove it or restore a backup$`) }, text)
  }
})

t.test('a subnet registered to another node is never chosen by a node claiming one', async (t) => {
  const small = new SubnetPool(parseCidr('10.77.0.0/23'), 24)
  for (let seed = 1; seed <= 20; seed++) {
    const chosen: string[] = []
    const claim = new SubnetClaim({
      pool: small, self: 'me', clock: new FakeClock(), random: seededRandom(seed), settleMs: 100,
      publish: (s) => chosen.push(s), emit: () => undefined,
    })
    claim.start(registeredClaims([reg('node1', K1, '10.77.0.0/24'), reg('me', K2, '10.77.1.0/24')], 'me'))
    t.same(chosen, ['10.77.1.0/24'], `seed ${seed}: the free subnet (this node's own registration does not block it)`)
    claim.stop()
  }
})

t.test('a node holding a subnet the manager registered to another node gives it up and moves, whatever the names', async (t) => {
  const small = new SubnetPool(parseCidr('10.77.0.0/23'), 24)
  const clock = new FakeClock()
  const events: ClaimEvent[] = []
  const claim = new SubnetClaim({
    pool: small, self: 'a', clock, random: seededRandom(3), settleMs: 100, preferred: '10.77.0.0/24',
    publish: () => undefined, emit: (e) => events.push(e),
  })
  t.teardown(() => claim.stop())
  claim.start([]) // nothing known yet (no list before the first push)
  await clock.advance(100)
  t.same(events.at(-1), { type: 'held', subnet: '10.77.0.0/24' })
  // 'z' left gracefully (gossip frees its subnet) but is still registered; 'a' sorts first and still loses.
  claim.update(registeredClaims([reg('z', K1, '10.77.0.0/24')], 'a'))
  t.same(events.slice(-2), [{ type: 'lost', subnet: '10.77.0.0/24', to: 'z' }, { type: 'claiming', subnet: '10.77.1.0/24' }])
  await clock.advance(100)
  t.same(events.at(-1), { type: 'held', subnet: '10.77.1.0/24' })
  t.equal(winsAgainst({ node: 'a', subnet: 's', held: true }, { node: 'z', subnet: 's', held: false, registered: true }), false, 'registered beats held')
  t.equal(winsAgainst({ node: 'z', subnet: 's', held: false, registered: true }, { node: 'a', subnet: 's', held: true }), true)
})
