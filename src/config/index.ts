/**
 * mesh configuration: one typed, documented, frozen Config for every subsystem.
 *
 * Sources, later ones winning: built-in defaults (memberlist LAN timings, docs/configuration.md), a config file
 * (`--config FILE` or MESH_CONFIG; JSON or YAML, same field names as below), environment variables (MESH_*),
 * then command-line flags. `loadConfig` validates once, naming the field and the allowed range, and freezes.
 */
import { existsSync } from 'node:fs'
import { hostname, networkInterfaces } from 'node:os'
import { isIP } from 'node:net'
import { ConfigError } from '../base/errors.ts'
import { parseCidr } from '../base/cidr.ts'
import {
  DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH, DEFAULT_API_PORT, DEFAULT_DATA_DIR, DEFAULT_GOSSIP_PORT, DEFAULT_METRICS_ADDR, DEFAULT_VIP_RANGE, MAX_DNS_WORKERS,
} from './defaults.ts'
import { lanGossipConfig, localGossipConfig, type GossipConfig } from './gossip.ts'
import { defaultOverlayConfig, type OverlayConfig } from './overlay.ts'
import { defaultDataPlaneConfig, type DataPlaneConfig } from './data-plane.ts'
import { readConfigFileWith, type FileAccess } from './file.ts'

export { lanGossipConfig, localGossipConfig, type GossipConfig }
export { defaultOverlayConfig, type OverlayConfig }
export { defaultDataPlaneConfig, type DataPlaneConfig }
export { defaultFdBudget, ingressDefaults, FD_RESERVE_MIN, type IngressDefaults } from './ingress.ts'
export { apiLimits, type ApiLimits } from './api.ts'
export { readSecretFile, splitKeyLines, nodeFileAccess, type FileAccess } from './file.ts'
export { dashboardLimits, type DashboardLimits } from './dashboard.ts'

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The shared defaults (ports, ranges, addresses) every subsystem imports from here. */
export * from './defaults.ts'

export interface Config {
  /** State: WireGuard key, overlay lease, control socket, store. Default /var/lib/mesh. */
  dataDir: string
  /** Log level of the JSON logs on stdout. Default info. */
  logLevel: LogLevel
  /**
   * Where this agent serves Prometheus metrics (GET /metrics): HOST:PORT, or `off`. Default 127.0.0.1:9947
   * (loopback: scrape through a local Prometheus or agent; bind another address to scrape remotely, unauthenticated).
   */
  metricsAddr: string
  /** Timing preset the gossip defaults come from: lan (memberlist DefaultLANConfig) or local (loopback). */
  profile: 'lan' | 'local'
  gossip: GossipConfig
  overlay: OverlayConfig
  /** Ingress routing mesh and service DNS. */
  dataPlane: DataPlaneConfig
  cluster: ClusterConfig
}

/** Manager role and cluster membership (Swarm's init/join). */
export interface ClusterConfig {
  /** Create a new cluster with this node as its first manager (like `docker swarm init`). */
  init: boolean
  /** Join token (worker or manager) for the first start on a new node. */
  token: string
  /** Manager API address (HOST[:PORT]); default: the first --join host on apiPort. */
  manager: string
  /** Port of the manager API on managers. Default 7947. */
  apiPort: number
  /** Range service VIPs are allocated from (managers; one address per service in endpoint mode vip). Default 10.78.0.0/16. */
  vipRange: string
  /**
   * The address pool user networks' ranges are cut from (managers; Swarm's `--default-addr-pool`). Must not overlap
   * the overlay or VIP range when set. Default 10.80.0.0/12.
   */
  defaultAddrPool: string
  /** Prefix length of each network's range cut from the pool, 16-24 (`--default-addr-pool-mask-length`). Default 20. */
  defaultAddrPoolMaskLength: number
  /** Lifetime of node certificates a new cluster issues (`--init --cert-expiry`); default 90 days, at least 1 minute. */
  certExpiryMs?: number
  /**
   * Automatic gossip key rotation interval, ms, stored with the cluster (managers); 0 = off. null = keep the stored
   * one (12 h, as Swarm, for a new cluster). Default null.
   */
  gossipKeyRotationMs: number | null
  /**
   * With `init`: lock the new cluster's managers (Swarm's `--autolock`): the vault's key-encryption key is kept sealed
   * by an unlock key, printed once; after a restart the manager answers nothing until `mesh unlock`. Default false.
   */
  autolock: boolean
  /**
   * Managers: where the cluster's state lives. '' (default): SQLite in `<data-dir>/manager.db`. `etcd`: an etcd
   * member this agent runs itself under `<data-dir>/etcd` (several managers: docs/operations.md, "Running 3
   * managers"). `etcd://HOST:PORT[,…]` (optionally `/prefix`): an external etcd 3.4 cluster ("External etcd").
   */
  store: string
  /** Managers with `store: 'etcd'`: the own etcd member's client port (on the advertise address and 127.0.0.1). Default 2379. */
  etcdClientPort: number
  /** Managers with `store: 'etcd'`: the own etcd member's peer port (on the advertise address). Default 2380. */
  etcdPeerPort: number
  /**
   * Managers with `store: 'etcd'`: etcd's `--heartbeat-interval`, ms (10–5000). Default 250: etcd's 100 is for
   * dedicated hardware. The same on every manager.
   */
  etcdHeartbeatMs: number
  /**
   * Managers with `store: 'etcd'`: etcd's `--election-timeout`, ms (5 × the heartbeat to 50000). A dead etcd leader is
   * replaced after 1–2 × this. Default 2500: on a loaded machine a shorter one flaps. The same on every manager.
   */
  etcdElectionMs: number
  /**
   * Managers with `store: 'etcd'`: the leading manager's lease, s (2–600, and at least 1.5 × the election timeout,
   * etcd's floor). A dead leader is replaced after this (plus the election timeout when its etcd member led raft).
   * Default 5.
   */
  leaderLeaseSeconds: number
  /** With an etcd store: the etcd CA certificate (PEM file); set, the members are reached over https. Default ''. */
  storeCa: string
  /** With an etcd store: a client certificate and its key (PEM files) for etcd's --client-cert-auth. Default ''. */
  storeCert: string
  storeKey: string
}

/** A partial config as read from a file, the environment or flags. */
export type ConfigInput = Partial<Omit<Config, 'gossip' | 'overlay' | 'cluster' | 'dataPlane'>> & {
  gossip?: Partial<GossipConfig>
  dataPlane?: Partial<DataPlaneConfig>
  overlay?: Partial<OverlayConfig>
  cluster?: Partial<ClusterConfig>
}

export function defaultConfig(profile: 'lan' | 'local' = 'lan'): Config {
  return {
    dataDir: DEFAULT_DATA_DIR,
    logLevel: 'info',
    metricsAddr: DEFAULT_METRICS_ADDR,
    profile,
    gossip: profile === 'local' ? localGossipConfig() : lanGossipConfig(),
    overlay: defaultOverlayConfig(),
    dataPlane: defaultDataPlaneConfig(),
    cluster: { init: false, token: '', manager: '', apiPort: DEFAULT_API_PORT, vipRange: DEFAULT_VIP_RANGE, gossipKeyRotationMs: null, autolock: false,
      store: '', storeCa: '', storeCert: '', storeKey: '', etcdClientPort: 2379, etcdPeerPort: 2380, etcdHeartbeatMs: 250, etcdElectionMs: 2500, leaderLeaseSeconds: 5,
      defaultAddrPool: DEFAULT_ADDR_POOL, defaultAddrPoolMaskLength: DEFAULT_ADDR_POOL_MASK_LENGTH },
  }
}

/** Read a JSON or YAML config file (./file.ts): secrets by file resolved; warnings go to `warn`. */
export function readConfigFile(path: string, warn: (line: string) => void = () => undefined, fs?: FileAccess): ConfigInput {
  const { input, warnings } = readConfigFileWith(path, defaultConfig() as unknown as Record<string, unknown>, fs)
  for (const w of warnings) warn(w)
  return input as ConfigInput
}

/** The MESH_* environment variables that map onto config fields. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {}
  const g: Partial<GossipConfig> = {}
  if (env.MESH_DATA_DIR) out.dataDir = env.MESH_DATA_DIR
  if (env.MESH_LOG_LEVEL) out.logLevel = env.MESH_LOG_LEVEL as LogLevel
  if (env.MESH_METRICS_ADDR) out.metricsAddr = env.MESH_METRICS_ADDR
  if (env.MESH_NAME) g.name = env.MESH_NAME
  if (env.MESH_BIND) Object.assign(g, parseBind(env.MESH_BIND, 'MESH_BIND'))
  if (env.MESH_ADVERTISE) Object.assign(g, parseAdvertise(env.MESH_ADVERTISE, 'MESH_ADVERTISE'))
  if (env.MESH_JOIN) g.join = splitList(env.MESH_JOIN)
  if (env.MESH_ENCRYPT) g.encryptKeys = splitList(env.MESH_ENCRYPT)
  if (env.MESH_GOSSIP_KEY) g.encryptKeys = splitList(env.MESH_GOSSIP_KEY) // the name the docs use; MESH_ENCRYPT is kept
  if (Object.keys(g).length > 0) out.gossip = g
  if (env.MESH_OVERLAY) out.overlay = { mode: env.MESH_OVERLAY as OverlayConfig['mode'] }
  if (env.MESH_OVERLAY_RANGE) out.overlay = { ...out.overlay, range: env.MESH_OVERLAY_RANGE }
  if (env.MESH_JOIN_TOKEN) out.cluster = { token: env.MESH_JOIN_TOKEN }
  const dp: Partial<DataPlaneConfig> = {}
  for (const [name, key] of ENV_INGRESS_LIMITS) {
    const v = env[name]
    if (v === undefined || v === '') continue
    if (!/^\d+$/.test(v.trim())) throw new ConfigError(`${name} "${v}": want a whole number ≥ 0`)
    dp[key] = Number(v)
  }
  if (Object.keys(dp).length > 0) out.dataPlane = dp
  return out
}

/** The ingress limits' environment variables (docs/configuration.md). */
const ENV_INGRESS_LIMITS = [
  ['MESH_INGRESS_FD_BUDGET', 'ingressFdBudget'], ['MESH_INGRESS_MAX_PER_SOURCE', 'ingressMaxPerSource'], ['MESH_INGRESS_MAX_UDP_FLOWS', 'ingressMaxUdpFlows'],
] as const

export function splitList(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter((x) => x !== '')
}

/** `ADDR[:PORT]` for --bind. */
export function parseBind(text: string, what = '--bind'): Pick<GossipConfig, 'bindAddr'> & Partial<Pick<GossipConfig, 'bindPort'>> {
  const { ip, port } = parseIpPort(text, what)
  return port === undefined ? { bindAddr: ip } : { bindAddr: ip, bindPort: port }
}

/** `ADDR[:PORT]` for --advertise. */
export function parseAdvertise(text: string, what = '--advertise'): Pick<GossipConfig, 'advertiseAddr'> & Partial<Pick<GossipConfig, 'advertisePort'>> {
  const { ip, port } = parseIpPort(text, what)
  return port === undefined ? { advertiseAddr: ip } : { advertiseAddr: ip, advertisePort: port }
}

function parseIpPort(text: string, what: string): { ip: string; port?: number } {
  const s = text.trim()
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s)
  const ip = m ? (m[1] as string) : s
  if (!m || isIP(ip) === 0) {
    if (isIP(s) === 6) return { ip: s }
    throw new ConfigError(`${what} "${text}": not an IP address (want ADDR or ADDR:PORT, e.g. 10.0.0.5:7946)`)
  }
  if (m[2] === undefined) return { ip }
  const port = Number(m[2])
  if (port > 65535) throw new ConfigError(`${what} "${text}": port must be 0-65535`)
  return { ip, port }
}

function merge(base: Config, ...inputs: ConfigInput[]): Config {
  const out: Config = { ...base, gossip: { ...base.gossip }, overlay: { ...base.overlay }, cluster: { ...base.cluster }, dataPlane: { ...base.dataPlane } }
  for (const i of inputs) {
    const { gossip, overlay, cluster, dataPlane, ...rest } = i
    Object.assign(out, rest)
    if (dataPlane) Object.assign(out.dataPlane, dataPlane)
    if (gossip) Object.assign(out.gossip, gossip)
    if (overlay) Object.assign(out.overlay, overlay)
    if (cluster) Object.assign(out.cluster, cluster)
  }
  return out
}

/** Where loadConfig takes its file from, and where its warning lines go. */
export interface LoadOptions {
  flags?: ConfigInput
  env?: NodeJS.ProcessEnv
  /** `--config FILE`; wins over MESH_CONFIG. */
  file?: string
  /**
   * Read when it exists and neither `file` nor MESH_CONFIG is given (`mesh agent` passes DEFAULT_CONFIG_FILE,
   * /etc/mesh/agent.yaml; tests pass a path of theirs). MESH_CONFIG set but empty: no file at all.
   */
  defaultFile?: string
  profile?: 'lan' | 'local'
  /** Warning lines (an inline secret in a file others may read). */
  warn?: (line: string) => void
  fs?: FileAccess
}

/** The config file loadConfig reads: --config, else MESH_CONFIG, else the default file when it exists. */
export function configFilePath(o: Pick<LoadOptions, 'file' | 'env' | 'defaultFile'>): string | undefined {
  const chosen = o.file ?? o.env?.MESH_CONFIG
  if (chosen !== undefined) return chosen === '' ? undefined : chosen
  return o.defaultFile !== undefined && existsSync(o.defaultFile) ? o.defaultFile : undefined
}

/** Merge defaults ← file ← env ← flags, fill derived defaults, validate, freeze. */
export function loadConfig(o: LoadOptions = {}): Readonly<Config> {
  const env = o.env ?? {}
  const filePath = configFilePath(o)
  const fromFile = filePath ? readConfigFile(filePath, o.warn, o.fs) : {}
  const profile = o.flags?.profile ?? (env.MESH_PROFILE as Config['profile'] | undefined) ?? fromFile.profile ?? o.profile ?? 'lan'
  if (profile !== 'lan' && profile !== 'local') throw new ConfigError(`profile "${String(profile)}": must be lan or local`)
  const cfg = merge(defaultConfig(profile), fromFile, configFromEnv(env), o.flags ?? {})
  const g = cfg.gossip
  if (!g.name) g.name = hostname()
  if (!g.advertiseAddr) g.advertiseAddr = defaultAdvertise(g.bindAddr)
  if (o.flags?.gossip?.bindPort !== undefined && o.flags.gossip.advertisePort === undefined) g.advertisePort = g.bindPort
  else if (g.advertisePort === DEFAULT_GOSSIP_PORT && g.bindPort !== DEFAULT_GOSSIP_PORT) g.advertisePort = g.bindPort
  validate(cfg)
  g.tags = Object.freeze({ ...g.tags }) as Record<string, string>
  g.join = Object.freeze([...g.join]) as string[]
  g.encryptKeys = Object.freeze([...g.encryptKeys]) as string[]
  Object.freeze(g)
  Object.freeze(cfg.overlay)
  Object.freeze(cfg.cluster)
  cfg.dataPlane.dnsUpstreams = Object.freeze([...cfg.dataPlane.dnsUpstreams]) as string[]
  Object.freeze(cfg.dataPlane)
  return Object.freeze(cfg)
}

function defaultAdvertise(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  throw new ConfigError('no address to advertise: the host has no non-loopback IPv4 address; pass --advertise ADDR')
}

const POSITIVE_MS: (keyof GossipConfig)[] = [
  'probeIntervalMs', 'probeTimeoutMs', 'gossipIntervalMs', 'tcpTimeoutMs', 'leavePropagateDelayMs', 'reconnectIntervalMs',
  'reconnectTimeoutMs', 'tombstoneTimeoutMs',
]
const NON_NEGATIVE: (keyof GossipConfig)[] = [
  'indirectChecks', 'gossipToTheDeadMs', 'pushPullIntervalMs', 'deadNodePurgeMs', 'deadNodeReclaimMs',
]

function validate(c: Config): void {
  if (!LOG_LEVELS.includes(c.logLevel)) throw new ConfigError(`log level "${c.logLevel}": must be one of ${LOG_LEVELS.join(', ')}`)
  if (typeof c.dataDir !== 'string' || c.dataDir === '') throw new ConfigError('data dir must be a non-empty path')
  if (typeof c.metricsAddr !== 'string' || (c.metricsAddr !== 'off' && !(/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(c.metricsAddr) && Number(c.metricsAddr.split(':').pop()) <= 65535))) {
    throw new ConfigError(`metrics address "${c.metricsAddr}": want HOST:PORT (e.g. ${DEFAULT_METRICS_ADDR}) or off`)
  }
  const g = c.gossip
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(g.name)) throw new ConfigError(`node name "${g.name}": use 1-128 letters, digits, '.', '_' or '-'`)
  if (isIP(g.bindAddr) === 0) throw new ConfigError(`bind address "${g.bindAddr}": not an IP address`)
  if (isIP(g.advertiseAddr) === 0) throw new ConfigError(`advertise address "${g.advertiseAddr}": not an IP address`)
  if (g.advertiseAddr === '0.0.0.0' || g.advertiseAddr === '::') throw new ConfigError(`advertise address "${g.advertiseAddr}": must be an address peers can reach`)
  for (const k of ['bindPort', 'advertisePort'] as const) {
    if (!Number.isInteger(g[k]) || g[k] < 0 || g[k] > 65535) throw new ConfigError(`gossip.${k} ${g[k]}: must be an integer 0-65535`)
  }
  for (const k of POSITIVE_MS) {
    if (typeof g[k] !== 'number' || !(g[k] as number > 0)) throw new ConfigError(`gossip.${k} ${String(g[k])}: must be a number > 0`)
  }
  for (const k of NON_NEGATIVE) {
    if (typeof g[k] !== 'number' || !(g[k] as number >= 0)) throw new ConfigError(`gossip.${k} ${String(g[k])}: must be a number ≥ 0`)
  }
  if (g.probeTimeoutMs > g.probeIntervalMs) throw new ConfigError(`gossip.probeTimeoutMs ${g.probeTimeoutMs}: must not exceed probeIntervalMs ${g.probeIntervalMs}`)
  if (!(g.suspicionMult >= 1)) throw new ConfigError(`gossip.suspicionMult ${g.suspicionMult}: must be ≥ 1`)
  if (!(g.suspicionMaxTimeoutMult >= 1)) throw new ConfigError(`gossip.suspicionMaxTimeoutMult ${g.suspicionMaxTimeoutMult}: must be ≥ 1`)
  if (!(g.retransmitMult >= 1)) throw new ConfigError(`gossip.retransmitMult ${g.retransmitMult}: must be ≥ 1`)
  if (!(g.gossipNodes >= 1)) throw new ConfigError(`gossip.gossipNodes ${g.gossipNodes}: must be ≥ 1`)
  if (!(g.awarenessMaxMultiplier >= 1)) throw new ConfigError(`gossip.awarenessMaxMultiplier ${g.awarenessMaxMultiplier}: must be ≥ 1`)
  if (!(Number.isInteger(g.maxMembers) && g.maxMembers >= 2)) throw new ConfigError(`gossip.maxMembers ${g.maxMembers}: must be an integer ≥ 2`)
  if (!(Number.isInteger(g.maxDeadMembers) && g.maxDeadMembers >= 0)) throw new ConfigError(`gossip.maxDeadMembers ${g.maxDeadMembers}: must be an integer ≥ 0`)
  if (!(g.udpBufferBytes >= 512 && g.udpBufferBytes <= 65000)) throw new ConfigError(`gossip.udpBufferBytes ${g.udpBufferBytes}: must be 512-65000`)
  const o = c.overlay
  if (!['auto', 'on', 'off'].includes(o.mode)) throw new ConfigError(`overlay mode "${o.mode}": must be auto, on or off`)
  parseCidr(o.range, 'overlay range')
  if (!Number.isInteger(o.subnetPrefix) || o.subnetPrefix < 8 || o.subnetPrefix > 30) throw new ConfigError(`overlay.subnetPrefix ${o.subnetPrefix}: must be 8-30`)
  if (!Number.isInteger(o.wgPort) || o.wgPort < 1 || o.wgPort > 65535) throw new ConfigError(`overlay.wgPort ${o.wgPort}: must be 1-65535`)
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.ifname)) throw new ConfigError(`overlay.ifname "${o.ifname}": an interface name of 1-15 characters`)
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.bridgeName)) throw new ConfigError(`overlay.bridgeName "${o.bridgeName}": an interface name of 1-15 characters`)
  if (!(o.mtu === 0 || (o.mtu >= 576 && o.mtu <= 9000))) throw new ConfigError(`overlay.mtu ${o.mtu}: 0 (auto) or 576-9000`)
  if (!(o.keepaliveS >= 0 && o.keepaliveS <= 65535)) throw new ConfigError(`overlay.keepaliveS ${o.keepaliveS}: must be 0-65535`)
  if (!(o.settleMs >= 0)) throw new ConfigError(`overlay.settleMs ${o.settleMs}: must be ≥ 0`)
  const d = c.dataPlane
  if (d.ingressMode !== 'auto' && d.ingressMode !== 'userspace' && d.ingressMode !== 'nft') throw new ConfigError(`ingress mode "${String(d.ingressMode)}": must be auto, userspace or nft`)
  if (d.ingressBalancer !== 'round-robin' && d.ingressBalancer !== 'least-connections') throw new ConfigError(`ingress balancer "${String(d.ingressBalancer)}": must be round-robin or least-connections`)
  if (typeof d.ingressPreferLocal !== 'boolean') throw new ConfigError(`dataPlane.ingressPreferLocal ${JSON.stringify(d.ingressPreferLocal)}: must be true or false`)
  if (!(Number.isInteger(d.ingressIdleTimeoutMs) && d.ingressIdleTimeoutMs >= 0)) throw new ConfigError(`dataPlane.ingressIdleTimeoutMs ${d.ingressIdleTimeoutMs}: must be an integer ≥ 0`)
  if (!(Number.isInteger(d.ingressMaxConnections) && d.ingressMaxConnections >= 1)) throw new ConfigError(`dataPlane.ingressMaxConnections ${d.ingressMaxConnections}: must be ≥ 1`)
  if (!(Number.isInteger(d.ingressMaxUdpFlows) && d.ingressMaxUdpFlows >= 1)) throw new ConfigError(`dataPlane.ingressMaxUdpFlows ${d.ingressMaxUdpFlows}: must be ≥ 1`)
  for (const k of ['ingressFdBudget', 'ingressMaxPerSource'] as const) {
    if (!(Number.isSafeInteger(d[k]) && d[k] >= 0)) throw new ConfigError(`dataPlane.${k} ${d[k]}: must be an integer ≥ 0 (0 = ${k === 'ingressFdBudget' ? 'derived from RLIMIT_NOFILE' : 'no cap'})`)
  }
  if (!(Number.isInteger(d.dnsTtlSec) && d.dnsTtlSec >= 0 && d.dnsTtlSec <= 3600)) throw new ConfigError(`DNS TTL ${d.dnsTtlSec}: must be 0-3600 seconds`)
  if (!/^([a-z0-9-]+\.)+$/i.test(d.dnsDomain)) throw new ConfigError(`DNS domain "${d.dnsDomain}": want a name ending in a dot, like mesh.`)
  if (!isIP(d.dnsLocalAddr)) throw new ConfigError(`DNS local address "${d.dnsLocalAddr}": not an IP address`)
  for (const u of d.dnsUpstreams) parseIpPort(u, 'DNS upstream')
  if (d.dnsUdp !== 'auto' && d.dnsUdp !== 'dgram' && d.dnsUdp !== 'batched') throw new ConfigError(`DNS UDP path "${String(d.dnsUdp)}": must be auto, dgram or batched`)
  if (!(Number.isInteger(d.dnsWorkers) && d.dnsWorkers >= 1 && d.dnsWorkers <= MAX_DNS_WORKERS)) throw new ConfigError(`dataPlane.dnsWorkers ${String(d.dnsWorkers)}: must be an integer 1-${MAX_DNS_WORKERS}`)
  if (d.nftExec !== 'auto' && d.nftExec !== 'lib' && d.nftExec !== 'process') throw new ConfigError(`nft exec "${String(d.nftExec)}": must be auto, lib or process`)
  const cl = c.cluster
  if (!Number.isInteger(cl.apiPort) || cl.apiPort < 1 || cl.apiPort > 65535) throw new ConfigError(`cluster.apiPort ${cl.apiPort}: must be 1-65535`)
  parseCidr(cl.vipRange, 'VIP range')
  const pool = parseCidr(cl.defaultAddrPool, 'default address pool')
  const mask = cl.defaultAddrPoolMaskLength
  if (!Number.isInteger(mask) || mask < Math.max(pool.prefix, 16) || mask > 24) {
    throw new ConfigError(`default address pool mask length ${mask}: must be ${Math.max(pool.prefix, 16)}-24 for the pool ${cl.defaultAddrPool}`)
  }
  if (cl.certExpiryMs !== undefined && !(Number.isSafeInteger(cl.certExpiryMs) && cl.certExpiryMs >= 60_000)) {
    throw new ConfigError(`certificate expiry ${cl.certExpiryMs} ms: must be at least 1m`)
  }
  if (cl.gossipKeyRotationMs !== null && !(Number.isSafeInteger(cl.gossipKeyRotationMs) && (cl.gossipKeyRotationMs === 0 || cl.gossipKeyRotationMs >= 60_000))) {
    throw new ConfigError(`gossip key rotation ${cl.gossipKeyRotationMs} ms: 0 (off) or at least one minute`)
  }
  if (cl.init && cl.token) throw new ConfigError('--init creates a new cluster; --token joins an existing one: pass only one')
  if (typeof cl.autolock !== 'boolean') throw new ConfigError('cluster.autolock: want true or false')
  if (cl.autolock && !cl.init) throw new ConfigError('--autolock goes with --init: it locks a new cluster\'s managers')
  for (const f of ['store', 'storeCa', 'storeCert', 'storeKey'] as const) {
    if (typeof cl[f] !== 'string') throw new ConfigError(`cluster.${f}: want a string`)
  }
  if (cl.store !== '' && cl.store !== 'etcd' && !cl.store.startsWith('etcd://')) {
    throw new ConfigError(`--store ${JSON.stringify(cl.store)}: want etcd (a member this manager runs) or etcd://HOST:PORT[,HOST:PORT…] (leave it out for SQLite)`)
  }
  if (!cl.store.startsWith('etcd://') && (cl.storeCa || cl.storeCert || cl.storeKey)) throw new ConfigError('--store-ca, --store-cert and --store-key go with --store etcd://… (a managed etcd uses the cluster CA)')
  for (const f of ['etcdClientPort', 'etcdPeerPort'] as const) {
    if (!Number.isInteger(cl[f]) || cl[f] < 1 || cl[f] > 65535) throw new ConfigError(`cluster.${f} ${cl[f]}: must be 1-65535`)
  }
  if (cl.etcdClientPort === cl.etcdPeerPort) throw new ConfigError(`--etcd-client-port and --etcd-peer-port must differ (both ${cl.etcdClientPort})`)
  const { etcdHeartbeatMs: hb, etcdElectionMs: el, leaderLeaseSeconds: lease } = cl
  if (!Number.isInteger(hb) || hb < 10 || hb > 5000) throw new ConfigError(`--etcd-heartbeat-ms ${hb}: must be 10-5000`)
  if (!Number.isInteger(el) || el < 5 * hb || el > 50_000) throw new ConfigError(`--etcd-election-ms ${el}: must be 5 × --etcd-heartbeat-ms (${5 * hb}) to 50000`)
  if (!Number.isInteger(lease) || lease < 2 || lease > 600) throw new ConfigError(`--leader-lease-s ${lease}: must be 2-600`)
  if (lease * 1000 < 1.5 * el) throw new ConfigError(`--leader-lease-s ${lease}: etcd grants no lease shorter than 1.5 × --etcd-election-ms (${(1.5 * el / 1000).toFixed(2)} s)`)
  if (cl.store !== '' && cl.token) throw new ConfigError('--store is where a manager keeps the cluster\'s state; a node joining with --token takes none')
  for (const [k, v] of Object.entries(g.tags)) {
    if (typeof v !== 'string') throw new ConfigError(`tag "${k}": value must be a string`)
  }
}
