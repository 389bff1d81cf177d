/**
 * Overlay networks (docker's `network create -d overlay` shapes, trimmed). The default network `mesh` (the per-node
 * /24s of the overlay range, VIPs from the VIP range) holds services created without `--network`; every other
 * network gets a range cut from the cluster's address pool, split into per-node slices, and its own VIP per service.
 * Tasks on different networks cannot reach each other; DNS answers a task only for services sharing a network with it.
 *
 * Data path per network: `encrypted` (the default) crosses nodes over WireGuard as the default network does;
 * unencrypted networks use the kernel's VXLAN (UDP 4789) with no userspace hop.
 */

/** The default network's name: services without `--network` are on it. */
export const DEFAULT_NETWORK = 'mesh'

export interface NetworkSpec {
  name: string
  /** Only `overlay` for now (docker's default for swarm networks). */
  driver: 'overlay'
  /** The range the user asked for (`--subnet`); absent: cut from the pool. */
  subnet?: string
  /** Plain `docker run --network NAME` containers may join on any node. */
  attachable: boolean
  /** No route out of the overlay (no masquerade, no gateway to the underlay). */
  internal: boolean
  /** WireGuard (true, default) or kernel VXLAN (false). */
  encrypted: boolean
  labels: Record<string, string>
}

export interface NetworkRecord {
  id: string
  spec: NetworkSpec
  /** The allocated range (from the pool or `spec.subnet`). */
  subnet: string
  /** The network's VXLAN id (unique in the cluster; used by unencrypted networks). */
  vni: number
  /** Each node's slice of `subnet` (node id → CIDR), allocated when the node first needs one. */
  slices: Record<string, string>
  createdAt: number
  updatedAt: number
}

/** A service's attachment to a network (docker's NetworkAttachmentConfig): `--network NAME[,alias=A]`. */
export interface NetworkAttachmentSpec {
  /** The network's name as given (the manager resolves it). */
  target: string
  aliases: string[]
}

/**
 * A task's place on one network (TaskRecord.networks), set by the manager when it assigns the task (network ids
 * resolved from the service's attachments); the node reports the address its container got there (`ip`, checked
 * against the node's slice). A task without `networks` is on the default network only (its address is TaskRecord.ip).
 */
export interface TaskNetworkAttachment {
  /** Network id. */
  network: string
  /** Network name (the node's Docker network of the same name). */
  name: string
  aliases: string[]
  ip?: string
}

/** One network as the catalog carries it to every agent. */
export interface CatalogNetwork {
  id: string
  name: string
  subnet: string
  encrypted: boolean
  internal: boolean
  attachable: boolean
  vni: number
  /** Each node's slice, sorted by node id: the node's bridge for this network has the slice's first address. */
  slices: { nodeId: string; subnet: string }[]
}

/** A service on one network, in the catalog: its VIP there and the aliases it answers to there. */
export interface CatalogServiceNetwork {
  /** Network id. */
  network: string
  vip?: string
  aliases: string[]
}

/** A task's address on one network, in the catalog. */
export interface EndpointAddress {
  /** Network id. */
  network: string
  ip: string
}
