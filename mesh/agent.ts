import { Command, Option } from 'commander'
import { readFileSync } from 'node:fs'
import {
  DEFAULT_API_PORT, DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, DEFAULT_DNS_LOCAL_ADDR, DEFAULT_GOSSIP_PORT, DEFAULT_METRICS_ADDR, DEFAULT_OVERLAY_RANGE,
  DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH, DEFAULT_SUBNET_PREFIX, DEFAULT_VIP_RANGE, configFilePath, loadConfig, parseAdvertise, parseBind, readSecretFile, splitKeyLines, splitList,
  type ConfigInput, type LogLevel,
} from '../src/config/index.ts'
import { ConfigError } from '../src/base/errors.ts'
import { parseDuration } from '../src/api/spec.ts'

interface AgentOpts {
  bind?: string
  advertise?: string
  join?: string[]
  name?: string
  encrypt?: string[]
  encryptFile?: string
  gossipPlaintext?: boolean
  gossipKeyRotation?: string
  dataDir?: string
  config?: string
  logLevel?: string
  profile?: string
  tag?: string[]
  overlay?: string
  overlayRange?: string
  init?: boolean
  autolock?: boolean
  store?: string
  storeCa?: string
  storeCert?: string
  storeKey?: string
  etcdClientPort?: string
  etcdPeerPort?: string
  etcdHeartbeatMs?: string
  etcdElectionMs?: string
  leaderLeaseS?: string
  token?: string
  tokenFile?: string
  manager?: string
  apiPort?: string
  vipRange?: string
  defaultAddrPool?: string
  defaultAddrPoolMaskLength?: string
  certExpiry?: string
  metricsAddr?: string
  ingressMode?: string
  ingressPreferLocal?: string
  ingressIdleTimeout?: string
  ingressFdBudget?: string
  ingressMaxPerSource?: string
  ingressMaxUdpFlows?: string
  dns?: string
  dnsUpstream?: string[]
  dnsUdp?: string
  dnsWorkers?: string
  nftExec?: string
}

const collect = (v: string, prev: string[] = []) => prev.concat(splitList(v))

export function agentCommand(): Command {
  return new Command('agent')
    .description('run the mesh agent in the foreground (logs JSON to stdout, one-line text on a terminal; SIGTERM = stop and keep state, SIGINT/Ctrl-C = leave)')
    .option('--bind <addr[:port]>', `address (and port) to bind gossip UDP+TCP on (default 0.0.0.0:${DEFAULT_GOSSIP_PORT})`)
    .option('--advertise <addr[:port]>', 'address peers use to reach this node (default: the bind address, or the first non-loopback IPv4)')
    .option('--join <addr[,addr…]>', 'join the cluster through these members (repeatable); fails if none answers', collect)
    .option('--name <name>', 'node name, unique in the cluster (default: the host name)')
    .option('--encrypt <base64-key>', 'gossip encryption key, 16/24/32 bytes base64 (as `serf keygen`); repeat for a keyring, first is primary (visible in ps: prefer --encrypt-file or MESH_GOSSIP_KEY)', collect)
    .option('--encrypt-file <path>', 'read the gossip key(s) from a file: one base64 key per line, first is primary (env MESH_GOSSIP_KEY)')
    .option('--gossip-plaintext', 'gossip unencrypted when this node has no keyring (no cluster, no --encrypt*): only for an unkeyed serf; prints a warning')
    .option('--gossip-key-rotation <duration>', 'managers: rotate the cluster\'s gossip key this often, e.g. 12h (default 12h, stored with the cluster; 0 = off)')
    .option('--tag <key=value>', 'publish a tag in this node\'s metadata (repeatable)', (v: string, p: string[] = []) => p.concat(v))
    .addOption(new Option('--overlay <mode>', 'WireGuard container overlay: on (required), off, or auto (on when a Docker engine answers)').choices(['auto', 'on', 'off']))
    .option('--overlay-range <cidr>', `the cluster's overlay range, split into one /${DEFAULT_SUBNET_PREFIX} per node (default ${DEFAULT_OVERLAY_RANGE})`)
    .option('--init', 'create a new cluster with this node as its first manager (prints the join tokens)')
    .option('--autolock', 'with --init: lock the manager (prints an unlock key once); after a restart it answers nothing until `mesh unlock`')
    .option('--store <etcd|etcd://host:port[,host:port…]>', 'managers: keep the cluster\'s state in etcd instead of SQLite in the data dir: `etcd` = a member this agent runs (several managers), etcd://… = an external etcd 3.4 cluster (docs/operations.md)')
    .option('--etcd-client-port <port>', 'with --store etcd: the own etcd member\'s client port (default 2379)')
    .option('--etcd-peer-port <port>', 'with --store etcd or a manager-token join: the own etcd member\'s peer port (default 2380)')
    .option('--etcd-heartbeat-ms <ms>', 'managers on a managed etcd: etcd\'s heartbeat interval, the same on every manager (default 250)')
    .option('--etcd-election-ms <ms>', 'managers on a managed etcd: etcd\'s election timeout, ≥ 5 × the heartbeat, the same on every manager (default 2500)')
    .option('--leader-lease-s <s>', 'managers on a managed etcd: the leading manager\'s lease; a dead leader is replaced after it (default 5, ≥ 1.5 × the election timeout)')
    .option('--store-ca <file>', 'with --store: the etcd CA certificate (PEM); the members are reached over https')
    .option('--store-cert <file>', 'with --store: a client certificate (PEM) for an etcd with --client-cert-auth')
    .option('--store-key <file>', 'with --store: the client certificate\'s key (PEM)')
    .option('--token <token>', 'join token from `mesh token show worker|manager` (first start of a node; visible in ps: prefer --token-file or MESH_JOIN_TOKEN)')
    .option('--token-file <path>', 'read the join token from a file (env MESH_JOIN_TOKEN)')
    .option('--manager <host[:port]>', `manager API to register with (default: the first --join host, port ${DEFAULT_API_PORT})`)
    .option('--api-port <port>', `manager API port on managers (default ${DEFAULT_API_PORT})`)
    .option('--vip-range <cidr>', `range service VIPs come from, on managers (default ${DEFAULT_VIP_RANGE})`)
    .option('--default-addr-pool <cidr>', `managers: the address pool user networks' ranges are cut from (default ${DEFAULT_ADDR_POOL})`)
    .option('--default-addr-pool-mask-length <n>', `managers: prefix length of each network's range from the pool, 16-24 (default ${DEFAULT_ADDR_POOL_MASK_LENGTH})`)
    .option('--cert-expiry <duration>', 'with --init: lifetime of node certificates, renewed at two thirds of it (default 2160h = 90 days; at least 1m)')
    .option('--metrics-addr <host:port|off>', `serve Prometheus metrics at http://HOST:PORT/metrics, or off (default ${DEFAULT_METRICS_ADDR})`)
    .addOption(new Option('--ingress-mode <mode>', 'published ports: auto (default: nft where root and nft are usable), nft (kernel DNAT with node and endpoint checks; PROXY protocol ports and loopback stay userspace) or userspace (proxy; retries a failed connect)').choices(['auto', 'userspace', 'nft']))
    .addOption(new Option('--ingress-prefer-local <on|off>', 'published ports: a healthy task on this node gets the connections while there is one, other nodes\' only when not (userspace mode; default off)').choices(['on', 'off']))
    .option('--ingress-idle-timeout <duration>', 'close ingress TCP connections idle this long, e.g. 30m (default 1h; 0 = never)')
    .option('--ingress-fd-budget <n>', 'file descriptors ingress connections may hold in all (TCP 2 each, UDP flows 1); more are refused (default 0: 80% of RLIMIT_NOFILE)')
    .option('--ingress-max-per-source <n>', 'open ingress connections (UDP: flows) per client address on one published port (default 0: no cap)')
    .option('--ingress-max-udp-flows <n>', 'UDP flows per published port; a full table drops the least recently used (default 16384)')
    .addOption(new Option('--dns <on|off>', `serve service DNS on the overlay gateway and ${DEFAULT_DNS_LOCAL_ADDR} (default on)`).choices(['on', 'off']))
    .addOption(new Option('--nft-exec <how>', 'nftables rules: lib (libnftables in-process addon), process (nft -f - per change), or auto (lib when it loads); default process').choices(['auto', 'lib', 'process']))
    .addOption(new Option('--dns-udp <path>', 'DNS over UDP: batched (recvmmsg/sendmmsg addon), dgram (node:dgram), or auto (batched when built; default)').choices(['auto', 'dgram', 'batched']))
    .option('--dns-workers <n>', 'DNS UDP responder threads: N-1 worker threads beside the agent\'s, each with its own reusePort socket (default 1, max 16)')
    .option('--dns-upstream <addr[:port]>', 'resolver for names that are not services (repeatable; default: /etc/resolv.conf)', collect)
    .option('--data-dir <dir>', `state directory, holds the control socket (default ${DEFAULT_DATA_DIR})`)
    .option('--config <file>', `config file (YAML or JSON; every flag has a key, docs/configuration.md); flags and env override it, it overrides defaults (env MESH_CONFIG; default ${DEFAULT_CONFIG_FILE} when it exists)`)
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .addOption(new Option('--profile <profile>', 'timing defaults: lan (memberlist LAN) or local (loopback clusters)').choices(['lan', 'local']))
    .addHelpText('after', `
Examples:
  mesh agent --bind 10.0.0.1 --name node1
  mesh agent --bind 10.0.0.1 --name manager1 --init
  mesh agent --bind 10.0.0.1 --name manager1 --init --store etcd://10.0.0.7:2379,10.0.0.8:2379,10.0.0.9:2379 \
    --store-ca /etc/mesh/etcd-ca.pem --store-cert /etc/mesh/etcd-client.pem --store-key /etc/mesh/etcd-client.key
  MESH_JOIN_TOKEN=MESHTKN-2-… mesh agent --bind 10.0.0.2 --name worker1 --join 10.0.0.1
  mesh agent --bind 10.0.0.2 --join 10.0.0.1 --encrypt-file /etc/mesh/gossip.key    (gossip only, with serf's key)
  mesh agent --bind 10.0.0.3 --join 10.0.0.1 --gossip-plaintext                      (gossip only, with an unkeyed serf)
Signals: SIGTERM (systemctl stop/restart) stops WITHOUT leaving: membership, overlay, subnet, nft rules and task
containers stay and the next start adopts them (live restore). SIGINT (Ctrl-C) leaves the cluster, as serf
(peers see it left, the overlay is torn down). A second signal
exits at once. mesh leave leaves for good (as docker swarm leave).
Restart or upgrade without dropping traffic: start a new mesh agent on the same data dir while the old one runs;
the old one hands over (published ports and DNS keep serving, with reusePort) and exits 0 once the new one serves.
Gossip is encrypted: --init makes the cluster's keyring, joining nodes receive it from the manager (mesh key ls).
Environment: MESH_BIND, MESH_ADVERTISE, MESH_JOIN, MESH_NAME, MESH_JOIN_TOKEN, MESH_GOSSIP_KEY (or MESH_ENCRYPT), MESH_DATA_DIR, MESH_LOG_LEVEL, MESH_CONFIG,
MESH_OVERLAY, MESH_OVERLAY_RANGE, MESH_METRICS_ADDR
Node: the agent restarts itself in place with --optimize-for-size --max-semi-space-size=2 and MALLOC_ARENA_MAX=2
(memory at 10,000 endpoints); MESH_AGENT_NODE_OPTIONS replaces the flags (empty: none). docs/operations.md.
Config file: --config FILE, else MESH_CONFIG, else ${DEFAULT_CONFIG_FILE} when it exists (MESH_CONFIG= reads none).
Every flag has a key (gossip.bindAddr, cluster.tokenFile, dataPlane.ingressMode, …; docs/configuration.md); secrets by
file: cluster.tokenFile, gossip.encryptFile. Example: packaging/agent.yaml.`)
    .action(async (opts: AgentOpts) => {
      for (const w of argvSecretWarnings(opts)) process.stderr.write(`mesh: ${w}\n`)
      const config = loadConfig({
        flags: flagsToConfig(opts), env: process.env, defaultFile: DEFAULT_CONFIG_FILE, warn: (w) => void process.stderr.write(`mesh: ${w}\n`),
        ...(opts.config ? { file: opts.config } : {}),
      })
      // Loaded here, not at the top: every other command (and `mesh --version`) starts without the daemon's modules.
      const [{ runAgent }, { createLogger }] = await Promise.all([import('../agent/run.ts'), import('../agent/log.ts')])
      const log = createLogger(config.logLevel)
      const file = configFilePath({ env: process.env, defaultFile: DEFAULT_CONFIG_FILE, ...(opts.config ? { file: opts.config } : {}) })
      if (file) log.info({ file }, 'config file read')
      const code = await runAgent(config, log, { exit: (c) => process.exit(c) })
      process.exitCode = code
      setTimeout(() => process.exit(code), 2000).unref() // a handle left open (a drained peer, a child's pipe) must not hold the exit
    })
}

/** Secrets given in argv, where other local users can read them (ps, /proc/PID/cmdline): one warning line each. */
export function argvSecretWarnings(o: AgentOpts): string[] {
  const out: string[] = []
  if (o.token !== undefined) out.push('--token on the command line is visible to other local users (ps, /proc); prefer --token-file or MESH_JOIN_TOKEN')
  if (o.encrypt !== undefined) out.push('--encrypt on the command line is visible to other local users (ps, /proc); prefer --encrypt-file or MESH_GOSSIP_KEY')
  return out
}

export function flagsToConfig(o: AgentOpts, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): ConfigInput {
  if (o.token !== undefined && o.tokenFile !== undefined) throw new ConfigError('give the join token with --token or --token-file, not both')
  if (o.encrypt !== undefined && o.encryptFile !== undefined) throw new ConfigError('give the gossip key with --encrypt or --encrypt-file, not both')
  const gossip: NonNullable<ConfigInput['gossip']> = {}
  if (o.bind !== undefined) Object.assign(gossip, parseBind(o.bind))
  if (o.advertise !== undefined) Object.assign(gossip, parseAdvertise(o.advertise))
  if (o.join !== undefined) gossip.join = o.join
  if (o.name !== undefined) gossip.name = o.name
  if (o.encrypt !== undefined) gossip.encryptKeys = o.encrypt
  if (o.encryptFile !== undefined) gossip.encryptKeys = splitKeyLines(readSecretFile(`--encrypt-file ${o.encryptFile}`, o.encryptFile, read))
  if (o.gossipPlaintext) gossip.plaintext = true
  if (o.tag !== undefined) {
    const tags: Record<string, string> = {}
    for (const t of o.tag) {
      const i = t.indexOf('=')
      if (i <= 0) throw new ConfigError(`--tag "${t}": want KEY=VALUE`)
      tags[t.slice(0, i)] = t.slice(i + 1)
    }
    gossip.tags = tags
  }
  const out: ConfigInput = {}
  if (Object.keys(gossip).length > 0) out.gossip = gossip
  const cluster: NonNullable<ConfigInput['cluster']> = {}
  if (o.init) cluster.init = true
  if (o.autolock) cluster.autolock = true
  if (o.store !== undefined) cluster.store = o.store
  if (o.storeCa !== undefined) cluster.storeCa = o.storeCa
  if (o.storeCert !== undefined) cluster.storeCert = o.storeCert
  if (o.storeKey !== undefined) cluster.storeKey = o.storeKey
  for (const [flag, v, key] of [['--etcd-client-port', o.etcdClientPort, 'etcdClientPort'], ['--etcd-peer-port', o.etcdPeerPort, 'etcdPeerPort']] as const) {
    if (v === undefined) continue
    if (!/^\d+$/.test(v)) throw new ConfigError(`${flag} "${v}": want a port number`)
    cluster[key] = Number(v)
  }
  for (const [flag, v, key] of [['--etcd-heartbeat-ms', o.etcdHeartbeatMs, 'etcdHeartbeatMs'], ['--etcd-election-ms', o.etcdElectionMs, 'etcdElectionMs'],
    ['--leader-lease-s', o.leaderLeaseS, 'leaderLeaseSeconds']] as const) {
    if (v === undefined) continue
    if (!/^\d+$/.test(v)) throw new ConfigError(`${flag} "${v}": want a whole number`)
    cluster[key] = Number(v)
  }
  if (o.token !== undefined) cluster.token = o.token
  if (o.tokenFile !== undefined) cluster.token = readSecretFile(`--token-file ${o.tokenFile}`, o.tokenFile, read)
  if (o.manager !== undefined) cluster.manager = o.manager
  if (o.apiPort !== undefined) {
    if (!/^\d+$/.test(o.apiPort)) throw new ConfigError(`--api-port "${o.apiPort}": want a port number`)
    cluster.apiPort = Number(o.apiPort)
  }
  if (o.vipRange !== undefined) cluster.vipRange = o.vipRange
  if (o.defaultAddrPool !== undefined) cluster.defaultAddrPool = o.defaultAddrPool
  if (o.defaultAddrPoolMaskLength !== undefined) {
    if (!/^\d+$/.test(o.defaultAddrPoolMaskLength)) throw new ConfigError(`--default-addr-pool-mask-length "${o.defaultAddrPoolMaskLength}": want a prefix length like 20`)
    cluster.defaultAddrPoolMaskLength = Number(o.defaultAddrPoolMaskLength)
  }
  if (o.certExpiry !== undefined) cluster.certExpiryMs = parseDuration(o.certExpiry, '--cert-expiry')
  if (o.gossipKeyRotation !== undefined) cluster.gossipKeyRotationMs = o.gossipKeyRotation === '0' ? 0 : parseDuration(o.gossipKeyRotation, '--gossip-key-rotation')
  if (Object.keys(cluster).length > 0) out.cluster = cluster
  if (o.overlay !== undefined || o.overlayRange !== undefined) {
    out.overlay = {
      ...(o.overlay !== undefined ? { mode: o.overlay as 'auto' | 'on' | 'off' } : {}),
      ...(o.overlayRange !== undefined ? { range: o.overlayRange } : {}),
    }
  }
  const dp: NonNullable<ConfigInput['dataPlane']> = {}
  if (o.ingressMode !== undefined) dp.ingressMode = o.ingressMode as 'auto' | 'userspace' | 'nft'
  if (o.ingressPreferLocal !== undefined) dp.ingressPreferLocal = o.ingressPreferLocal === 'on'
  if (o.ingressIdleTimeout !== undefined) dp.ingressIdleTimeoutMs = parseDuration(o.ingressIdleTimeout, '--ingress-idle-timeout')
  if (o.ingressFdBudget !== undefined) dp.ingressFdBudget = wholeNumber(o.ingressFdBudget, '--ingress-fd-budget')
  if (o.ingressMaxPerSource !== undefined) dp.ingressMaxPerSource = wholeNumber(o.ingressMaxPerSource, '--ingress-max-per-source')
  if (o.ingressMaxUdpFlows !== undefined) dp.ingressMaxUdpFlows = wholeNumber(o.ingressMaxUdpFlows, '--ingress-max-udp-flows')
  if (o.dns !== undefined) dp.dns = o.dns === 'on'
  if (o.dnsUpstream !== undefined) dp.dnsUpstreams = o.dnsUpstream
  if (o.dnsUdp !== undefined) dp.dnsUdp = o.dnsUdp as 'auto' | 'dgram' | 'batched'
  if (o.dnsWorkers !== undefined) dp.dnsWorkers = wholeNumber(o.dnsWorkers, '--dns-workers')
  if (o.nftExec !== undefined) dp.nftExec = o.nftExec as 'auto' | 'lib' | 'process'
  if (Object.keys(dp).length > 0) out.dataPlane = dp
  if (o.dataDir !== undefined) out.dataDir = o.dataDir
  if (o.logLevel !== undefined) out.logLevel = o.logLevel as LogLevel
  if (o.metricsAddr !== undefined) out.metricsAddr = o.metricsAddr
  if (o.profile !== undefined) out.profile = o.profile as 'lan' | 'local'
  return out
}

/** A flag's value as a whole number ≥ 0, or one line naming the flag. */
function wholeNumber(v: string, flag: string): number {
  if (!/^\d+$/.test(v.trim())) throw new ConfigError(`${flag} "${v}": want a whole number ≥ 0`)
  return Number(v)
}
