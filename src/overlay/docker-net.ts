import Docker from 'dockerode'
import { ConfigError } from '../base/errors.ts'

/**
 * The node's Docker network on its overlay subnet (thin dockerode adapter): a bridge with gateway .1, the overlay
 * MTU, and Docker's masquerade off (overlay traffic must keep container source addresses; mesh adds its own NAT
 * for traffic that leaves the overlay). Idempotent: an equal network is kept.
 */

export interface NetworkSpec {
  name: string
  subnet: string
  gateway: string
  mtu: number
  bridgeName: string
  /** A network of the cluster: Subnet is its whole range, IPRange this node's slice (absent: the default network). */
  ipRange?: string
  /** The cluster network's id (label mesh.network.id). */
  networkId?: string
}

export const LABEL_MANAGED = 'mesh.managed'
/** Marks a node's Docker network that stands for a cluster network (other than the default one). */
export const LABEL_NETWORK_ID = 'mesh.network.id'

/** A node's Docker networks that stand for cluster networks: name, cluster id, bridge and how many containers. */
export async function listClusterNetworks(docker: Docker): Promise<{ name: string; networkId: string; bridge: string; containers: number }[]> {
  const nets = await docker.listNetworks({ filters: { label: [LABEL_NETWORK_ID] } })
  const out: { name: string; networkId: string; bridge: string; containers: number }[] = []
  for (const n of nets) {
    const info = await docker.getNetwork(n.Id).inspect() as Docker.NetworkInspectInfo
    out.push({
      name: n.Name, networkId: info.Labels?.[LABEL_NETWORK_ID] ?? '', bridge: info.Options?.['com.docker.network.bridge.name'] ?? '',
      containers: Object.keys(info.Containers ?? {}).length,
    })
  }
  return out
}

export function dockerClient(socketPath: string): Docker {
  return new Docker({ socketPath })
}

/** True if a Docker engine answers on the socket. */
export async function dockerAnswers(docker: Docker): Promise<boolean> {
  try {
    await docker.ping()
    return true
  } catch {
    return false
  }
}

/** Subnets of every Docker network other than `except` (for the overlap check). */
export async function otherNetworkSubnets(docker: Docker, except: string): Promise<{ name: string; subnet: string }[]> {
  const nets = await docker.listNetworks()
  const out: { name: string; subnet: string }[] = []
  for (const n of nets) {
    if (n.Name === except || n.Labels?.[LABEL_NETWORK_ID]) continue
    for (const c of n.IPAM?.Config ?? []) if (c.Subnet && !c.Subnet.includes(':')) out.push({ name: n.Name, subnet: c.Subnet })
  }
  return out
}

export async function ensureNetwork(docker: Docker, spec: NetworkSpec): Promise<'created' | 'kept' | 'replaced'> {
  const existing = (await docker.listNetworks({ filters: { name: [spec.name] } })).find((n) => n.Name === spec.name)
  let outcome: 'created' | 'replaced' = 'created'
  if (existing) {
    const info = await docker.getNetwork(existing.Id).inspect() as Docker.NetworkInspectInfo
    const cfg = info.IPAM?.Config?.[0]
    const opts = info.Options ?? {}
    if (cfg?.Subnet === spec.subnet && cfg?.Gateway === spec.gateway && (cfg?.IPRange || undefined) === spec.ipRange &&
      (info.Labels?.[LABEL_NETWORK_ID] || undefined) === spec.networkId && opts['com.docker.network.bridge.name'] === spec.bridgeName &&
      opts['com.docker.network.driver.mtu'] === String(spec.mtu)) return 'kept'
    if (Object.keys(info.Containers ?? {}).length > 0) {
      throw new ConfigError(`Docker network "${spec.name}" is on ${cfg?.Subnet ?? '?'} with containers attached, but this node now holds ` +
        `${spec.subnet}; remove those containers (docker rm -f) and restart the agent`)
    }
    await docker.getNetwork(existing.Id).remove()
    outcome = 'replaced'
  }
  await docker.createNetwork({
    Name: spec.name,
    Driver: 'bridge',
    CheckDuplicate: true,
    Attachable: true,
    IPAM: { Driver: 'default', Config: [{ Subnet: spec.subnet, Gateway: spec.gateway, ...(spec.ipRange ? { IPRange: spec.ipRange } : {}) }] },
    Options: {
      'com.docker.network.bridge.name': spec.bridgeName,
      'com.docker.network.driver.mtu': String(spec.mtu),
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
    },
    Labels: { [LABEL_MANAGED]: 'true', ...(spec.networkId ? { [LABEL_NETWORK_ID]: spec.networkId } : {}) },
  })
  return outcome
}

/** Remove the network if nothing is attached (graceful teardown); returns whether it was removed. */
export async function removeNetworkIfUnused(docker: Docker, name: string): Promise<boolean> {
  const existing = (await docker.listNetworks({ filters: { name: [name] } })).find((n) => n.Name === name)
  if (!existing) return false
  const info = await docker.getNetwork(existing.Id).inspect() as Docker.NetworkInspectInfo
  if (Object.keys(info.Containers ?? {}).length > 0) return false
  await docker.getNetwork(existing.Id).remove()
  return true
}
