/**
 * The built-in defaults every subsystem shares, stated once. Pure constants: a subsystem that needs one imports it
 * from src/config (never restates the literal), and the presets in this folder build the Config from them.
 * docs/configuration.md lists the same values with their flags and environment variables.
 */

/** The agent's config file, read when it exists and neither --config nor MESH_CONFIG is given. */
export const DEFAULT_CONFIG_FILE = '/etc/mesh/agent.yaml'

/** Agent state: WireGuard key, overlay lease, control socket, store. */
export const DEFAULT_DATA_DIR = '/var/lib/mesh'

/**
 * Where a node keeps its tasks' secret and config files: `<this>/<node name>/tasks/<task id>`, one tmpfs per task,
 * in memory (/run), never under the data dir.
 */
export const DEFAULT_RUN_DIR = '/run/mesh'

/** Gossip (memberlist/serf) UDP and TCP port, bound and advertised. */
export const DEFAULT_GOSSIP_PORT = 7946

/** Manager API port on managers. */
export const DEFAULT_API_PORT = 7947

/** Prometheus metrics listener: loopback only unless configured otherwise. */
export const DEFAULT_METRICS_ADDR = '127.0.0.1:9947'

/** The cluster's overlay range, split into one subnet per node. */
export const DEFAULT_OVERLAY_RANGE = '10.77.0.0/16'

/** Prefix length of each node's overlay subnet (256 nodes of 253 containers in the default range). */
export const DEFAULT_SUBNET_PREFIX = 24

/** Service VIPs (endpoint mode vip) are allocated from this range, one per service. */
export const DEFAULT_VIP_RANGE = '10.78.0.0/16'

/**
 * The cluster address pool user networks are cut from (`--default-addr-pool`, as Swarm's): outside the overlay and
 * VIP ranges. 10.80.0.0/12 holds 256 networks of the default size.
 */
export const DEFAULT_ADDR_POOL = '10.80.0.0/12'

/**
 * Prefix length of each network's range cut from the pool (`--default-addr-pool-mask-length`): a /20 is 4,096
 * addresses, split into 64 per-node /26 slices (61 tasks per node; the first slice holds the network's VIPs).
 */
export const DEFAULT_ADDR_POOL_MASK_LENGTH = 20

/** WireGuard UDP port, also assumed for a peer that does not advertise its own. */
export const DEFAULT_WG_PORT = 51820

/** Linux bridge of the overlay's Docker network (ingress and DNS rules match it). */
export const DEFAULT_BRIDGE_NAME = 'mesh-br'

/** The Docker engine's API socket. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

/** Zone of fully qualified service names (`web.mesh.`). */
export const DEFAULT_DNS_DOMAIN = 'mesh.'

/** Host-local address the service DNS answers on (Docker's embedded DNS address). */
export const DEFAULT_DNS_LOCAL_ADDR = '127.0.0.11'

/** TTL of service DNS answers, seconds: low, so changes are seen at once. */
export const DEFAULT_DNS_TTL_SEC = 5
/** The most DNS responder threads (`--dns-workers`, `dataPlane.dnsWorkers`). */
export const MAX_DNS_WORKERS = 16

/** Loopback sources: the host itself may have foreign names forwarded by the service DNS. */
export const LOOPBACK_RANGE = '127.0.0.0/8'
