import { DEFAULT_NETWORK, type NetworkRecord } from '../../api/network.ts'
import { anyOf, checkValues, labelsMatch, type Filters } from './filters.ts'
import { DockerApiError, dockerTime, labelsOf, type ObjectVersion } from './shape.ts'

/**
 * GET /networks and /networks/{id}: mesh's networks as docker's NetworkResource (driver overlay, scope swarm), and
 * as swarm.Network inside a task's NetworksAttachments. The default network `mesh` is docker's built-in one.
 */

/** The gateway docker's IPAM gives an overlay network: the first address of its range (`10.80.0.0/16` → `10.80.0.1`). */
export function gatewayOf(cidr: string): string {
  const [ip, len] = cidr.split('/')
  const parts = (ip ?? '').split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || Number(len) >= 31) return ''
  const n = ((parts[0] as number) * 2 ** 24 + (parts[1] as number) * 2 ** 16 + (parts[2] as number) * 2 ** 8 + (parts[3] as number)) + 1
  return [n >>> 24 & 255, n >>> 16 & 255, n >>> 8 & 255, n & 255].join('.')
}

function ipamConfig(n: NetworkRecord): { Subnet: string; Gateway?: string }[] {
  const gw = gatewayOf(n.subnet)
  return [{ Subnet: n.subnet, ...(gw ? { Gateway: gw } : {}) }]
}

/** Driver options as dockerd shows them: the VXLAN id (user networks) and `encrypted` for encrypted networks. */
function options(n: NetworkRecord): Record<string, string> {
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
    Options: options(n),
    Labels: labelsOf(n.spec.labels),
  }
}

/** The network as swarm.Network (a task's NetworksAttachments[].Network). */
export function swarmNetwork(n: NetworkRecord, revision: number): Record<string, unknown> & { Version: ObjectVersion } {
  const ipam = { Driver: { Name: 'default' }, Configs: ipamConfig(n) }
  return {
    ID: n.id,
    Version: { Index: revision },
    CreatedAt: dockerTime(n.createdAt),
    UpdatedAt: dockerTime(n.updatedAt),
    Spec: {
      Name: n.spec.name, Labels: labelsOf(n.spec.labels), DriverConfiguration: { Name: n.spec.driver },
      Scope: 'swarm', Attachable: n.spec.attachable, Internal: n.spec.internal, IPAMOptions: ipam,
    },
    DriverState: { Name: n.spec.driver, Options: options(n) },
    IPAMOptions: ipam,
  }
}

/** GET /networks?filters=: id and name (all or part, as docker's docs say), driver, scope, label, type (builtin: `mesh`). */
export function networkMatches(n: NetworkRecord, f: Filters): boolean {
  checkValues(f, 'type', ['custom', 'builtin'])
  return anyOf(f, 'id', (v) => n.id.includes(v)) &&
    anyOf(f, 'name', (v) => n.spec.name.includes(v)) &&
    anyOf(f, 'driver', (v) => v === n.spec.driver) &&
    anyOf(f, 'scope', (v) => v === 'swarm') &&
    anyOf(f, 'type', (v) => v === (n.spec.name === DEFAULT_NETWORK ? 'builtin' : 'custom')) &&
    labelsMatch(f, 'label', n.spec.labels)
}

/** A network by id, name or unique id prefix (dockerd: 404 `network X not found`). */
export function findDockerNetwork(networks: readonly NetworkRecord[], ref: string): NetworkRecord {
  const exact = networks.find((n) => n.id === ref) ?? networks.find((n) => n.spec.name === ref)
  if (exact) return exact
  const byPrefix = ref === '' ? [] : networks.filter((n) => n.id.startsWith(ref))
  if (byPrefix.length === 1) return byPrefix[0] as NetworkRecord
  if (byPrefix.length > 1) throw new DockerApiError(400, `network ${ref} is ambiguous (${byPrefix.length} matches found)`)
  throw new DockerApiError(404, `network ${ref} not found`)
}
