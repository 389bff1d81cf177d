import type { MemberInfo } from '../gossip/index.ts'
import { TAG_SUBNET, TAG_SUBNET_HELD, TAG_WG_KEY, TAG_WG_PORT } from './tags.ts'
import type { PeerConfig, PeerStatus } from './uapi.ts'
import { DEFAULT_WG_PORT } from '../config/index.ts'

/**
 * Which WireGuard peers and routes a node should have (pure): every other member that gossip shows alive or
 * suspect, holds a subnet and publishes a key. A member that fails or leaves drops out — its peer and route go.
 */

export interface DesiredPeer {
  node: string
  publicKey: string
  endpoint: string
  subnet: string
}

export function desiredPeers(members: readonly MemberInfo[], self: string): DesiredPeer[] {
  const out: DesiredPeer[] = []
  for (const m of members) {
    if (m.name === self || (m.state !== 'alive' && m.state !== 'suspect')) continue
    const key = m.tags[TAG_WG_KEY]
    const subnet = m.tags[TAG_SUBNET]
    if (!key || !subnet || m.tags[TAG_SUBNET_HELD] !== '1') continue
    const port = Number(m.tags[TAG_WG_PORT] ?? DEFAULT_WG_PORT)
    const host = m.ip.includes(':') ? `[${m.ip}]` : m.ip
    out.push({ node: m.name, publicKey: key, endpoint: `${host}:${port}`, subnet })
  }
  return out.sort((a, b) => a.node.localeCompare(b.node))
}

/** The UAPI changes that turn the device's `current` peers into `desired` (empty when nothing differs). */
export function planPeers(desired: readonly DesiredPeer[], current: readonly PeerStatus[], keepaliveS: number): PeerConfig[] {
  const want = new Map(desired.map((d) => [d.publicKey, d]))
  const ops: PeerConfig[] = []
  for (const c of current) if (!want.has(c.publicKey)) ops.push({ publicKey: c.publicKey, remove: true })
  const have = new Map(current.map((c) => [c.publicKey, c]))
  for (const d of desired) {
    const c = have.get(d.publicKey)
    const same = c && c.endpoint === d.endpoint && c.allowedIps.length === 1 && c.allowedIps[0] === d.subnet &&
      c.persistentKeepaliveS === keepaliveS
    if (!same) ops.push({ publicKey: d.publicKey, endpoint: d.endpoint, allowedIps: [d.subnet], persistentKeepaliveS: keepaliveS })
  }
  return ops
}

/** Routes to add and remove so that exactly the peers' subnets go through the tunnel. */
export function planRoutes(desired: readonly DesiredPeer[], current: readonly string[]): { add: string[]; remove: string[] } {
  const want = new Set(desired.map((d) => d.subnet))
  const have = new Set(current)
  return { add: [...want].filter((s) => !have.has(s)).sort(), remove: [...have].filter((s) => !want.has(s)).sort() }
}
