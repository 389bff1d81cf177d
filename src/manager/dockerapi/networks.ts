import { DEFAULT_NETWORK, type NetworkRecord } from '../../api/network.ts'
import { ipamConfig, networkOptions } from '../../api/docker-network.ts'
import { anyOf, checkValues, labelsMatch, type Filters } from './filters.ts'
import { DockerApiError, dockerTime, labelsOf, type ObjectVersion } from './shape.ts'

export { dockerNetwork, type DockerNetwork, gatewayOf } from '../../api/docker-network.ts'

/**
 * GET /networks and /networks/{id}: mesh's networks as docker's NetworkResource (driver overlay, scope swarm), and
 * as swarm.Network inside a task's NetworksAttachments. The default network `mesh` is docker's built-in one.
 */

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
    DriverState: { Name: n.spec.driver, Options: networkOptions(n) },
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
