import type { MemberInfo } from '../gossip/index.ts'
import type { SubnetPool } from './ipam.ts'
import type { PeerClaim } from './subnet-claim.ts'

/** Gossip tag keys the overlay publishes (serf tags: visible in `serf members` too). */
export const TAG_SUBNET = 'mesh.subnet'
export const TAG_SUBNET_HELD = 'mesh.subnet.held'
export const TAG_WG_KEY = 'mesh.wg.pub'
export const TAG_WG_PORT = 'mesh.wg.port'

/**
 * `subnet` when it is exactly one of the pool's subnets as the pool writes it (`10.77.3.0/24`: the node subnet size,
 * inside the overlay range, no host bits, no stray characters), else null. Every subnet read from a gossip tag goes
 * through here before it is claimed around, routed or handed to WireGuard.
 */
export function poolSubnet(subnet: string, pool: SubnetPool): string | null {
  const i = pool.indexOf(subnet)
  return i >= 0 && pool.at(i) === subnet ? subnet : null
}

/**
 * Subnet claims of other members as gossip shows them. Failed members keep their subnet reserved (they may come
 * back); members that left gracefully free theirs. A claim on anything but a subnet of the pool is ignored: it can
 * neither block a subnet nor move a node off one.
 */
export function claimsFromMembers(members: readonly MemberInfo[], pool: SubnetPool): PeerClaim[] {
  const out: PeerClaim[] = []
  for (const m of members) {
    const subnet = m.tags[TAG_SUBNET]
    if (!subnet || m.status === 'left' || poolSubnet(subnet, pool) === null) continue
    out.push({ node: m.name, subnet, held: m.tags[TAG_SUBNET_HELD] === '1' })
  }
  return out
}
