import type Docker from 'dockerode'
import { ConfigError } from '../base/errors.ts'
import { cidrsOverlap, parseCidr, type Cidr } from '../base/cidr.ts'
import type { OverlayConfig } from '../config/overlay.ts'
import { otherNetworkSubnets } from './docker-net.ts'
import { routes } from './links.ts'
import { BRIDGE_PREFIX, VXLAN_PREFIX } from './net-plan.ts'

/**
 * The overlay range must not overlap another Docker network or a route of the host (checked at start). mesh's own
 * bridges, tunnel and VXLAN devices (and the cluster networks' Docker networks) are not "another".
 * Docker networks first (the more useful message: a Docker bridge also shows up as a route).
 */
export async function checkOverlaps(docker: Docker, range: Cidr, c: Readonly<OverlayConfig>): Promise<void> {
  for (const n of await otherNetworkSubnets(docker, c.network)) {
    let cidr
    try { cidr = parseCidr(n.subnet) } catch { continue }
    if (cidrsOverlap(cidr, range)) {
      throw new ConfigError(`overlay range ${c.range} overlaps Docker network "${n.name}" (${n.subnet}); remove it or choose another range with --overlay-range`)
    }
  }
  for (const r of await routes()) {
    if (r.dst === 'default' || r.dev === c.ifname || r.dev === c.bridgeName) continue
    if (r.dev.startsWith(BRIDGE_PREFIX) || r.dev.startsWith(VXLAN_PREFIX)) continue
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`
    let cidr
    try { cidr = parseCidr(dst) } catch { continue }
    if (cidrsOverlap(cidr, range)) {
      throw new ConfigError(`overlay range ${c.range} overlaps the route ${r.dst} dev ${r.dev}; choose another range with --overlay-range`)
    }
  }
}
