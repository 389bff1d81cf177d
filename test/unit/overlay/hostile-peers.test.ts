import t from 'tap'
import { SubnetPool } from '../../../src/overlay/ipam.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { desiredPeers, planPeers, type PeerRejection } from '../../../src/overlay/peers.ts'
import { claimsFromMembers } from '../../../src/overlay/tags.ts'
import { formatSet } from '../../../src/overlay/uapi.ts'
import { wgSetArgs } from '../../../src/overlay/tunnel.ts'
import { nftRuleset } from '../../../src/overlay/firewall.ts'
import { replaceRoute } from '../../../src/overlay/links.ts'
import { generateKeyPair } from '../../../src/overlay/wg-keys.ts'
import type { MemberInfo } from '../../../src/gossip/index.ts'

/**
 * Gossip tags are written by whoever can send an `alive` (gossip is unauthenticated by default): every value a
 * member publishes is checked before it reaches UAPI, `wg`, `ip` or `nft`, and one bad member is skipped, never the
 * whole batch (security review findings #4 and #6).
 */

const pool = new SubnetPool(parseCidr('10.77.0.0/16'), 24)
const K1 = generateKeyPair().publicKey
const K2 = generateKeyPair().publicKey
const K3 = generateKeyPair().publicKey

function member(name: string, tags: Record<string, string>, ip = '192.168.77.12'): MemberInfo {
  return { name, address: `${ip}:7946`, ip, port: 7946, state: 'alive', status: 'alive', incarnation: 1, tags, protocol: [], sinceChangeMs: 0 }
}
const held = (subnet: string, key: string, extra: Record<string, string> = {}) =>
  ({ 'mesh.subnet': subnet, 'mesh.subnet.held': '1', 'mesh.wg.pub': key, ...extra })

const good = member('good', held('10.77.2.0/24', K2), '192.168.77.12')
const goodPeer = { node: 'good', publicKey: K2, endpoint: '192.168.77.12:51820', subnet: '10.77.2.0/24' }

const cases = [
  { desc: 'a subnet outside the overlay range (0.0.0.0/1: half the host\'s traffic)', m: member('evil', held('0.0.0.0/1', K1)), why: /subnet/ },
  { desc: 'a subnet of the wrong size', m: member('evil', held('10.77.0.0/16', K1)), why: /subnet/ },
  { desc: 'a subnet with host bits', m: member('evil', held('10.77.9.7/24', K1)), why: /subnet/ },
  { desc: 'a subnet tag carrying a UAPI line', m: member('evil', held('10.77.9.0/24\nallowed_ip=0.0.0.0/0', K1)), why: /subnet/ },
  { desc: 'a subnet tag with a trailing newline', m: member('evil', held('10.77.9.0/24\n', K1)), why: /subnet/ },
  { desc: 'a key that is not a key', m: member('evil', held('10.77.9.0/24', 'not-a-key')), why: /key/ },
  { desc: 'a key of 31 bytes', m: member('evil', held('10.77.9.0/24', Buffer.alloc(31, 1).toString('base64'))), why: /key/ },
  { desc: 'a key with a newline', m: member('evil', held('10.77.9.0/24', `${K1}\nallowed_ip=0.0.0.0/0`)), why: /key/ },
  { desc: 'a port of 0', m: member('evil', held('10.77.9.0/24', K1, { 'mesh.wg.port': '0' })), why: /port/ },
  { desc: 'a port above 65535', m: member('evil', held('10.77.9.0/24', K1, { 'mesh.wg.port': '70000' })), why: /port/ },
  { desc: 'a port with a UAPI line', m: member('evil', held('10.77.9.0/24', K1, { 'mesh.wg.port': '51820\nallowed_ip=0.0.0.0/0' })), why: /port/ },
  { desc: 'a port written as hex', m: member('evil', held('10.77.9.0/24', K1, { 'mesh.wg.port': '0x10' })), why: /port/ },
  { desc: 'an endpoint address that is not an IP', m: member('evil', held('10.77.9.0/24', K1), '1.2.3.4\nallowed_ip=0.0.0.0/0'), why: /address/ },
]

for (const c of cases) {
  t.test(`desired peers skip ${c.desc}; the good peer stays`, async (t) => {
    const rejected: PeerRejection[] = []
    const peers = desiredPeers([c.m, good], 'me', pool, (r) => rejected.push(r))
    t.same(peers, [goodPeer], 'only the good member becomes a peer')
    t.equal(rejected.length, 1, 'the bad member is reported once')
    t.equal(rejected[0]?.node, 'evil')
    t.match(rejected[0]?.reason, c.why)
    t.doesNotThrow(() => formatSet({ peers: planPeers(peers, [], 25) }), 'the batch for the others still formats')
  })
}

t.test('a member with key "not-a-key" no longer stops every peer update', async (t) => {
  const members = [member('a', held('10.77.1.0/24', 'not-a-key'), '192.168.77.11'), good, member('c', held('10.77.3.0/24', K3), '192.168.77.13')]
  const ops = planPeers(desiredPeers(members, 'me', pool), [], 25)
  t.same(ops.map((o) => o.publicKey), [K3, K2], 'c and good (sorted by name); a is skipped')
  t.match(formatSet({ peers: ops }), /allowed_ip=10\.77\.3\.0\/24\n[^]*allowed_ip=10\.77\.2\.0\/24\n/)
})

t.test('subnet claims outside the pool are ignored (they can neither block nor move anyone)', async (t) => {
  const claims = claimsFromMembers([
    member('a', held('0.0.0.0/1', K1)),
    member('b', held('10.77.5.0/24\n', K1)),
    member('c', held('10.77.6.0/24', K1)),
  ], pool)
  t.same(claims, [{ node: 'c', subnet: '10.77.6.0/24', held: true }])
})

t.test('UAPI text refuses values with newlines or control characters (last line of defence)', async (t) => {
  t.throws(() => formatSet({ peers: [{ publicKey: K1, allowedIps: ['10.77.9.0/24\nallowed_ip=0.0.0.0/0'] }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => formatSet({ peers: [{ publicKey: K1, endpoint: '1.2.3.4:51820\nreplace_peers=true' }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => formatSet({ peers: [{ publicKey: K1, allowedIps: ['10.77.9.0/24\u0000'] }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => formatSet({ peers: [{ publicKey: K1, allowedIps: ['0.0.0.0/0 '] }] }), { code: 'MESH_ERR_UNSAFE_VALUE' }, 'not a CIDR')
  t.throws(() => formatSet({ peers: [{ publicKey: K1, endpoint: 'evil' }] }), { code: 'MESH_ERR_UNSAFE_VALUE' }, 'not an ip:port')
  t.throws(() => formatSet({ peers: [{ publicKey: K1, persistentKeepaliveS: 1.5 }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.match(formatSet({ peers: [{ publicKey: K1, endpoint: '[fd00::1]:51820', allowedIps: ['10.77.9.0/24'] }] }), /endpoint=\[fd00::1\]:51820\n/)
})

t.test('`wg set` arguments refuse the same values (allowed-ips are joined with commas)', async (t) => {
  t.same(wgSetArgs('mesh0', { peers: [{ publicKey: K1, endpoint: '192.168.77.12:51820', allowedIps: ['10.77.9.0/24'], persistentKeepaliveS: 25 }] }),
    ['set', 'mesh0', 'peer', K1, 'endpoint', '192.168.77.12:51820', 'persistent-keepalive', '25', 'allowed-ips', '10.77.9.0/24'])
  t.throws(() => wgSetArgs('mesh0', { peers: [{ publicKey: K1, allowedIps: ['10.77.9.0/24,0.0.0.0/0'] }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => wgSetArgs('mesh0', { peers: [{ publicKey: 'not-a-key', remove: true }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => wgSetArgs('mesh0', { peers: [{ publicKey: K1, endpoint: '-h' }] }), { code: 'MESH_ERR_UNSAFE_VALUE' })
})

t.test('the overlay firewall text refuses a subnet or gateway that is not one', async (t) => {
  const spec = { ifname: 'mesh0', bridgeName: 'mesh-br', range: '10.77.0.0/16', subnet: '10.77.3.0/24', gateway: '10.77.3.1' }
  t.match(nftRuleset(spec), /ip daddr 10\.77\.3\.0\/24 accept/)
  t.throws(() => nftRuleset({ ...spec, subnet: '10.77.3.0/24 accept\n  }\n}\ntable ip pwn {' }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => nftRuleset({ ...spec, gateway: '10.77.3.1 meta' }), { code: 'MESH_ERR_UNSAFE_VALUE' })
  t.throws(() => nftRuleset({ ...spec, ifname: 'mesh0"\n' }), { code: 'MESH_ERR_UNSAFE_VALUE' })
})

t.test('`ip route` is never given a destination, source or device that is not one (refused before ip runs)', async (t) => {
  await t.rejects(replaceRoute('10.77.2.0/24\n', 'mesh0', '10.77.1.1'), { code: 'MESH_ERR_UNSAFE_VALUE' })
  await t.rejects(replaceRoute('-h', 'mesh0', '10.77.1.1'), { code: 'MESH_ERR_UNSAFE_VALUE' })
  await t.rejects(replaceRoute('10.77.2.0/24', 'mesh0', '10.77.1.1 table 5'), { code: 'MESH_ERR_UNSAFE_VALUE' })
  await t.rejects(replaceRoute('10.77.2.0/24', '-mesh0', '10.77.1.1'), { code: 'MESH_ERR_UNSAFE_VALUE' })
})
