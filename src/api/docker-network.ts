import type { NetworkRecord } from './network.ts'

/**
 * A mesh network as docker's NetworkResource (driver overlay, scope swarm), shared by the manager's Docker API
 * (src/manager/dockerapi) and `mesh network inspect` (mesh/network-view.ts), so both print the same object.
 */

/** A time as docker prints it (Go's RFC 3339 with nanoseconds): `2026-12-07T13:00:00.123000000Z`. */
export function dockerTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

/** The gateway docker's IPAM gives an overlay network: the first address of its range (`10.80.0.0/16` → `10.80.0.1`). */
export function gatewayOf(cidr: string): string {
  const [ip, len] = cidr.split('/')
  const parts = (ip ?? '').split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || Number(len) >= 31) return ''
  const n = ((parts[0] as number) * 2 ** 24 + (parts[1] as number) * 2 ** 16 + (parts[2] as number) * 2 ** 8 + (parts[3] as number)) + 1
  return [n >>> 24 & 255, n >>> 16 & 255, n >>> 8 & 255, n & 255].join('.')
}

/** docker's IPAM Config of a network: its range and gateway. */
export function ipamConfig(n: NetworkRecord): { Subnet: string; Gateway?: string }[] {
  const gw = gatewayOf(n.subnet)
  return [{ Subnet: n.subnet, ...(gw ? { Gateway: gw } : {}) }]
}

/** Driver options as dockerd shows them: the VXLAN id (user networks) and `encrypted` for encrypted networks. */
export function networkOptions(n: NetworkRecord): Record<string, string> {
  const out: Record<string, string> = {}
  if (n.vni > 0) out['com.docker.network.driver.overlay.vxlanid_list'] = String(n.vni)
  if (n.spec.encrypted) out.encrypted = ''
  return out
}

export interface DockerNetwork {
  Name: string
  Id: string
  Created: string
  Scope: 'swarm'
  Driver: string
  EnableIPv6: boolean
  IPAM: { Driver: string; Options: Record<string, string>; Config: { Subnet: string; Gateway?: string }[] }
  Internal: boolean
  Attachable: boolean
  Ingress: boolean
  ConfigFrom: { Network: string }
  ConfigOnly: boolean
  Containers: Record<string, never>
  Options: Record<string, string>
  Labels: Record<string, string>
}

/** docker's NetworkResource for a mesh network: what the Docker API answers and what `mesh network inspect` prints. */
export function dockerNetwork(n: NetworkRecord): DockerNetwork {
  return {
    Name: n.spec.name,
    Id: n.id,
    Created: dockerTime(n.createdAt),
    Scope: 'swarm',
    Driver: n.spec.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: ipamConfig(n) },
    Internal: n.spec.internal,
    Attachable: n.spec.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: networkOptions(n),
    Labels: { ...n.spec.labels },
  }
}
