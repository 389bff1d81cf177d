import type { MemberInfo } from '../gossip/index.ts'
import type { PeerClaim } from './subnet-claim.ts'

/** Gossip tag keys the overlay publishes (serf tags: visible in `serf members` too). */
export const TAG_SUBNET = 'mesh.subnet'
export const TAG_SUBNET_HELD = 'mesh.subnet.held'
export const TAG_WG_KEY = 'mesh.wg.pub'
export const TAG_WG_PORT = 'mesh.wg.port'

/**
 * Subnet claims of other members as gossip shows them. Failed members keep their subnet reserved (they may come
 * back); members that left gracefully free theirs.
 */
export function claimsFromMembers(members: readonly MemberInfo[]): PeerClaim[] {
  const out: PeerClaim[] = []
  for (const m of members) {
    const subnet = m.tags[TAG_SUBNET]
    if (!subnet || m.status === 'left') continue
    out.push({ node: m.name, subnet, held: m.tags[TAG_SUBNET_HELD] === '1' })
  }
  return out
}
