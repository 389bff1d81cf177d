import { isIPv6 } from 'node:net'
import type { MemberInfo } from '../gossip/index.ts'
import { isEndpoint, isIpv4, parsePort } from '../base/values.ts'
import type { SubnetPool } from './ipam.ts'
import { TAG_SUBNET, TAG_SUBNET_HELD, TAG_WG_KEY, TAG_WG_PORT, poolSubnet } from './tags.ts'
import type { PeerConfig, PeerStatus } from './uapi.ts'
import { DEFAULT_WG_PORT } from '../config/index.ts'
import { isKey } from './wg-keys.ts'

/**
 * Which WireGuard peers and routes a node should have (pure): every other member that gossip shows alive or
 * suspect, holds a subnet and publishes a key. A member that fails or leaves drops out — its peer and route go.
 *
 * Gossip tags are written by whoever can send an `alive`, so every value is checked before it becomes a peer:
 * the subnet must be one of the pool's (a /24 of the overlay range by default, canonical), the key 32 bytes of
 * base64, the endpoint an IP and a port 1-65535. A member that fails a check is skipped and reported through
 * `reject`; the others are planned as usual (one bad member never stops the batch).
 */

export interface DesiredPeer {
  node: string
  publicKey: string
  endpoint: string
  subnet: string
  /** The node's slices of the cluster's networks (net-plan.ts), allowed through its tunnel besides `subnet`. */
  slices?: string[]
}

/** A member left out of the peers, and why (for the log and the rejected-peers counter). */
export interface PeerRejection {
  node: string
  reason: string
}

export function desiredPeers(members: readonly MemberInfo[], self: string, pool: SubnetPool, reject?: (r: PeerRejection) => void): DesiredPeer[] {
  const out: DesiredPeer[] = []
  for (const m of members) {
    if (m.name === self || (m.state !== 'alive' && m.state !== 'suspect')) continue
    const key = m.tags[TAG_WG_KEY]
    const subnet = m.tags[TAG_SUBNET]
    if (!key || !subnet || m.tags[TAG_SUBNET_HELD] !== '1') continue
    const peer = checkPeer(m, key, subnet, pool)
    if (typeof peer === 'string') reject?.({ node: m.name, reason: peer })
    else out.push(peer)
  }
  return out.sort((a, b) => a.node.localeCompare(b.node))
}

/** The peer a member's tags describe, or why it cannot be one. */
function checkPeer(m: MemberInfo, key: string, subnet: string, pool: SubnetPool): DesiredPeer | string {
  if (poolSubnet(subnet, pool) === null) {
    return `subnet ${JSON.stringify(subnet)} is not a /${pool.subnetPrefix} of the overlay range`
  }
  if (!isKey(key)) return `WireGuard key ${JSON.stringify(key)} is not 32 bytes of base64`
  const portTag = m.tags[TAG_WG_PORT]
  const port = portTag === undefined ? DEFAULT_WG_PORT : parsePort(portTag)
  if (port === null) return `WireGuard port ${JSON.stringify(portTag)} is not 1-65535`
  if (!isIpv4(m.ip) && !isIPv6(m.ip)) return `address ${JSON.stringify(m.ip)} is not an IP address`
  const endpoint = `${m.ip.includes(':') ? `[${m.ip}]` : m.ip}:${port}`
  if (!isEndpoint(endpoint)) return `endpoint ${JSON.stringify(endpoint)} is not an ip:port`
  return { node: m.name, publicKey: key, endpoint, subnet }
}

/** The UAPI changes that turn the device's `current` peers into `desired` (empty when nothing differs). */
export function planPeers(desired: readonly DesiredPeer[], current: readonly PeerStatus[], keepaliveS: number): PeerConfig[] {
  const want = new Map(desired.map((d) => [d.publicKey, d]))
  const ops: PeerConfig[] = []
  for (const c of current) if (!want.has(c.publicKey)) ops.push({ publicKey: c.publicKey, remove: true })
  const have = new Map(current.map((c) => [c.publicKey, c]))
  for (const d of desired) {
    const c = have.get(d.publicKey)
    const ips = [d.subnet, ...(d.slices ?? [])]
    const same = c && c.endpoint === d.endpoint && c.allowedIps.length === ips.length && ips.every((ip) => c.allowedIps.includes(ip)) &&
      c.persistentKeepaliveS === keepaliveS
    // allowed-ips are replaced as a whole: a slice the node no longer holds leaves them.
    if (!same) ops.push({ publicKey: d.publicKey, endpoint: d.endpoint, allowedIps: ips, persistentKeepaliveS: keepaliveS })
  }
  return ops
}

/** Routes to add and remove so that exactly the peers' subnets (and `extra`: networks' slices) go through the tunnel. */
export function planRoutes(desired: readonly DesiredPeer[], current: readonly string[], extra: readonly string[] = []): { add: string[]; remove: string[] } {
  const want = new Set([...desired.map((d) => d.subnet), ...extra])
  const have = new Set(current)
  return { add: [...want].filter((s) => !have.has(s)).sort(), remove: [...have].filter((s) => !want.has(s)).sort() }
}
