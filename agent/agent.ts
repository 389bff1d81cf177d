import { existsSync, mkdirSync } from 'node:fs'
import type http from 'node:http'
import { isIP } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../src/base/errors.ts'
import { realClock } from '../src/base/clock.ts'
import { Manager, RequestRefusedError, createApp, listen, managerDbPath, openSqliteStore, registerManagerMetrics, serverTlsOptions, type Store } from '../src/manager/index.ts'
import { createNodeKeyAndCsr, isDnsName } from '../src/pki/index.ts'
import { hostSocketAccess, openDirToGroup } from '../src/base/index.ts'
import { MANAGER_SOCKET, defaultServiceSpec } from '../src/api/index.ts'
import { DockerRuntime, LogShipper, TaskRunner, registryResolver } from '../src/runtime/index.ts'
import {
  HttpManagerTransport, WorkerLink, applyClusterKeys, chooseGossipKeys, hasIdentity, readSavedGossipKeys, saveGossipKeys, savedManager, type Identity, type NodeTls,
} from '../src/worker/index.ts'
import type { GossipKeyring } from '../src/api/index.ts'
import { DataPlane } from './dataplane.ts'
import type { Config } from '../src/config/index.ts'
import { Gossip, keepPeersSnapshot, loadPeers, type GossipEvent } from '../src/gossip/index.ts'
import { Overlay } from '../src/overlay/index.ts'
import { ControlServer, CONTROL_SOCKET } from './control.ts'
import { LeaveGate, leaveCluster } from './leave.ts'
import type { Logger } from './log.ts'
import { createAgentRegistry, nodeFactsSource, startMetrics, type RunningMetrics } from './metrics.ts'
import type { Registry } from 'prom-client'

/**
 * agent/ — process wiring for `mesh agent`. Start order: data dir → control socket → the gossip keyring, before
 * gossip starts (on managers: open the store and make or read the cluster's keyring; a node joining with a token:
 * register with the manager — CA-pinned, mutual TLS from then on — whose reply carries the keyring; a restarting
 * member: `gossip-keys.json`; else --encrypt, --encrypt-file or MESH_GOSSIP_KEY, else --gossip-plaintext, else
 * refuse) → gossip (bind, join, or rejoin the members of peers.json) → overlay (WireGuard, subnet claim, Docker
 * network; on a cluster node its peers are the manager's registered list) → manager (its own certificate, reconcile
 * loop, API on :7947 with TLS 1.3 and manager.sock) → worker link (register the overlay key and subnet, the
 * manager's push stream of assignments, catalog, overlay peers, CA roots and gossip keyring; certificate renewal) →
 * data plane (catalog, ingress, DNS on the overlay gateway) → task runner (containers resolve through that DNS) →
 * metrics.
 * Stop order is the reverse. SIGTERM and SIGINT mean a graceful leave (peers see `left`, not `failed`);
 * a second signal exits at once.
 */
export interface RunningAgent {
  gossip: Gossip
  overlay: Overlay
  manager: Manager | null
  /** Prometheus registry and /metrics listener; subsystems add theirs with `registerMetrics(metrics.registry)`. */
  metrics: RunningMetrics
  /** Graceful leave and shutdown; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>
  /** Resolves once the agent has stopped: after shutdown(), or after `mesh leave` (the CLI has its answer). */
  done: Promise<void>
}

export async function startAgent(config: Readonly<Config>, log: Logger): Promise<RunningAgent> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const glog = log.child({ sub: 'gossip' })
  const gossip = new Gossip(config.gossip, {
    onTransportError: (err, where) => glog.warn({ where, err: err.message }, 'transport error'),
  })
  gossip.on((e) => logEvent(glog, e))
  const olog = log.child({ sub: 'overlay' })
  // A node of a cluster takes its WireGuard peers from the manager's registered list; a bare agent from gossip alone.
  const c = config.cluster
  const inCluster = c.init || c.token !== '' || existsSync(managerDbPath(config.dataDir)) || hasIdentity(config.dataDir)
  const overlay = new Overlay(config.overlay, {
    gossip, dataDir: config.dataDir, advertiseAddr: config.gossip.advertiseAddr, membership: inCluster ? 'manager' : 'gossip',
    log: (level, msg, fields) => olog[level](fields ?? {}, msg),
  })
  const leaveGate = new LeaveGate() // `mesh leave` (leave.ts): armed once the agent is up
  // Both admin sockets (mesh.sock, manager.sock): root only, or root:mesh 0660 when a `mesh` group exists (docker's group).
  const socketAccess = hostSocketAccess()
  try {
    if (socketAccess.mode === 0o660 && openDirToGroup(config.dataDir, socketAccess)) log.info({ group: socketAccess.group, dataDir: config.dataDir }, 'data dir opened to the group (search only)')
  } catch (err) { // not root: the sockets stay owner-only (listenUnix falls back too)
    log.warn({ dataDir: config.dataDir, err: (err as Error).message }, 'cannot open the data dir to the group; the sockets stay owner-only')
  }
  const control = new ControlServer(join(config.dataDir, CONTROL_SOCKET), {
    '/v1/status': async () => ({
      node: config.gossip.name,
      address: `${config.gossip.advertiseAddr}:${gossip.localAddress.port}`,
      members: gossip.members(),
      counters: gossip.counters(),
      gossipKeys: { encrypted: gossip.encrypted, keys: gossip.keys() }, // fingerprints, never the keys
      overlay: await overlay.status(),
      dataPlane: cluster.dataPlane?.status() ?? null,
    }),
    '/v1/members': () => gossip.members(),
    '/v1/overlay': () => overlay.status(),
    '/v1/dns/lookup': (q) => {
      if (!cluster.dataPlane) throw new Error('this agent serves no DNS: it has not joined a cluster')
      return cluster.dataPlane.lookup(q.get('name') ?? '', q.get('type') ?? 'A', q.get('from') ?? undefined)
    },
    'POST /v1/leave': leaveGate.route(() => void control.stop().then(resolveDone)),
  }, socketAccess)
  let resolveDone = (): void => undefined
  const done = new Promise<void>((r) => { resolveDone = r })
  await control.start()
  let stopPeers = (): void => undefined
  // Built before the manager so its API port's /metrics serves the same registry as --metrics-addr.
  const registry = createAgentRegistry({ gossip, overlay })
  const cluster: ClusterParts = { store: null, manager: null, servers: [], link: null, runner: null, dataPlane: null, init: null }
  // The cluster's gossip keyring: taken before gossip starts, applied live once it runs (install, use, remove).
  let clusterKeys: GossipKeyring | null = null
  let gossipLive = false
  const onGossipKeys = (r: GossipKeyring): boolean => {
    if (gossipLive) return applyClusterKeys(gossip, config.dataDir, r, (level, msg, fields) => glog[level](fields ?? {}, msg))
    clusterKeys = r
    return true
  }
  try {
    clusterKeys = await openCluster(config, log, overlay, cluster, onGossipKeys) ?? clusterKeys
    useGossipKeys(config, gossip, clusterKeys, glog)
    await gossip.start()
    gossipLive = true
    await rejoin(config, gossip, glog)
    stopPeers = keepPeersSnapshot(gossip, config.dataDir, config.gossip.name)
    await overlay.start()
    await startCluster(config, log, gossip, overlay, cluster, registry, onGossipKeys)
  } catch (err) {
    await stopCluster(cluster)
    await overlay.stop().catch(() => undefined)
    await gossip.stop()
    await control.stop()
    throw err
  }
  // Observability: /metrics on --metrics-addr (and the manager API's /metrics), dashboard node facts.
  const metrics: RunningMetrics = await startMetrics({ addr: config.metricsAddr, registry, log })
  cluster.dataPlane?.registerMetrics(metrics.registry)
  log.info({ node: config.gossip.name, bind: `${config.gossip.bindAddr}:${config.gossip.bindPort}`,
    advertise: `${config.gossip.advertiseAddr}:${gossip.localAddress.port}`, encrypted: gossip.encrypted,
    members: gossip.members().length }, 'agent started')

  let stopping: Promise<void> | null = null
  leaveGate.arm(async (force) => {
    const result = await leaveCluster({
      dataDir: config.dataDir, isManager: cluster.manager !== null, inCluster: cluster.link !== null || cluster.manager !== null,
      tellManager: async () => {
        const r = await cluster.transport?.leave()
        if (!r || r.status !== 200) throw new Error(r ? r.message : 'this node has no link to a manager')
      },
      stopTasks: async () => {
        stopping = done // past the point of no return: a signal now waits for the leave to end
        cluster.link?.stop()
        cluster.runner?.setAssignments([]) // nothing assigned: the runner stops and removes every task container
        await cluster.runner?.idle()
        await metrics.stop()
        stopPeers()
        await stopCluster(cluster)
      },
      gossipLeave: () => gossip.leave(),
      overlayDown: () => overlay.stop(),
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
    }, force)
    log.info({ force }, 'left the cluster; stopping')
    return { message: 'Node left the swarm.', ...result }
  })
  const shutdown = (reason: string): Promise<void> => {
    if (stopping) return stopping
    const leaving = leaveGate.leaving
    if (leaving) return leaving.then(() => done, () => shutdown(reason)) // a refused leave changed nothing
    leaveGate.close()
    log.info({ reason }, 'leaving the cluster')
    stopping = (async () => {
      try {
        await metrics.stop()
        stopPeers()
        await stopCluster(cluster)
        await overlay.stop().catch((err: Error) => log.error({ err: err.message }, 'overlay teardown failed'))
        await gossip.leave()
      } finally {
        await control.stop()
      }
      log.info('agent stopped')
      resolveDone()
    })()
    return stopping
  }
  return { gossip, overlay, manager: cluster.manager, metrics, shutdown, done }
}

/** Install the keyring chooseGossipKeys picks (cluster, gossip-keys.json, flags, plaintext) before gossip starts. */
function useGossipKeys(config: Readonly<Config>, gossip: Gossip, cluster: GossipKeyring | null, log: Logger): void {
  const saved = cluster ? null : readSavedGossipKeys(config.dataDir) // a broken file stops the agent with one line naming it
  const source = chooseGossipKeys({ cluster, saved, configured: config.gossip.encryptKeys.length > 0, plaintext: config.gossip.plaintext })
  if (source.keys) gossip.setKeyring(source.keys)
  if (cluster) saveGossipKeys(config.dataDir, cluster)
  if (source.from === 'plaintext') log.warn('gossip is NOT encrypted (--gossip-plaintext): anyone on the network can read and forge membership')
  else log.info({ keys: source.from, version: source.keys ? source.version : undefined }, 'gossip encrypted')
}

/** Started without --join: join the members an earlier run knew (peers.json), if any answers. */
async function rejoin(config: Readonly<Config>, gossip: Gossip, log: Logger): Promise<void> {
  if (config.gossip.join.length > 0) return
  const peers = loadPeers(config.dataDir) // a corrupt peers.json stops the agent with one line naming it
  if (peers.length === 0) return
  try {
    const n = await gossip.join(peers)
    log.info({ peers: peers.length, reached: n }, 'rejoined the cluster an earlier run knew')
  } catch (err) {
    log.warn({ peers, err: (err as Error).message }, 'none of the previously known members answered; waiting to be joined')
  }
}

function logEvent(log: Logger, e: GossipEvent): void {
  switch (e.type) {
    case 'user':
      log.debug({ event: e.name, ltime: e.ltime, bytes: e.payload.length }, 'user event')
      return
    case 'direct':
      log.debug({ bytes: e.payload.length }, 'direct message')
      return
    case 'conflict':
      log.error({ node: e.name, existing: e.existing, other: e.other }, 'conflicting address for node name: names must be unique')
      return
    case 'refuted':
      log.warn({ incarnation: e.incarnation, accusedBy: e.accusedBy }, 'refuted a suspicion about this node')
      return
    default:
      log.info({ event: e.type, node: e.member.name, address: `${e.member.ip}:${e.member.port}`, status: e.member.status,
        incarnation: e.member.incarnation }, `member ${e.type}`)
  }
}

interface ClusterParts {
  store: Store | null
  manager: Manager | null
  servers: http.Server[]
  link: WorkerLink | null
  /** The link's transport to the manager (mesh leave tells the manager through it). */
  transport?: HttpManagerTransport
  runner: TaskRunner | null
  dataPlane: DataPlane | null
  logs?: LogShipper
  /** The manager's init result (managers), for the banner. */
  init: { created: boolean; clusterId: string; tokensChanged: boolean } | null
}

/**
 * Before gossip starts: on managers, open the store and the cluster (its gossip keyring made or read); on a node
 * joining with a token, build the link and register (the reply carries the keyring, through onGossipKeys). Returns
 * the manager's keyring (managers), else null.
 */
async function openCluster(config: Readonly<Config>, log: Logger, overlay: Overlay, parts: ClusterParts, onGossipKeys: (r: GossipKeyring) => boolean): Promise<GossipKeyring | null> {
  const c = config.cluster
  const storePath = managerDbPath(config.dataDir)
  if (c.init || existsSync(storePath)) {
    const store = openSqliteStore(storePath)
    parts.store = store
    const manager = new Manager({
      store, vipRange: c.vipRange, log: logFn(log.child({ sub: 'manager' })),
      // Registered overlay subnets are /N of this range; task addresses must lie in the reporting node's registered one.
      overlayRange: config.overlay.range, overlaySubnetPrefix: config.overlay.subnetPrefix,
      ...(c.certExpiryMs !== undefined ? { certLifetimeMs: c.certExpiryMs } : {}),
      // Tags are pinned to digests by asking their registry; plain HTTP where this node's engine allows it.
      resolveImage: registryResolver({ registryConfig: () => new DockerRuntime({ socketPath: config.overlay.dockerSocket }).registryConfig() }),
    })
    parts.manager = manager
    parts.init = await manager.init()
    if (parts.init.tokensChanged) {
      log.child({ sub: 'manager' }).warn('this cluster now has a certificate authority: its join tokens changed (mesh token show worker); nodes that joined before must join again')
    }
    const ring = await manager.gossipKeys.init({
      created: parts.init.created, seed: config.gossip.encryptKeys, ...(c.gossipKeyRotationMs !== null ? { rotationMs: c.gossipKeyRotationMs } : {}),
    })
    return ring ? { version: ring.version, keys: ring.keys } : null
  }
  if (!c.token && !hasIdentity(config.dataDir)) return null
  // The manager API: --manager HOST[:PORT], else the first --join host on the API port, else where we registered.
  const apiSeed = c.manager || (config.gossip.join[0] ? '' : savedManager(config.dataDir) ?? '')
  const seed = apiSeed || config.gossip.join[0] || ''
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(seed)
  if (!m) throw new ConfigError('no manager to register with: pass --join MANAGER or --manager HOST[:PORT]')
  parts.link = newLink(config, log, { host: m[1] as string, port: seed === apiSeed && m[2] ? Number(m[2]) : c.apiPort }, parts, overlay, onGossipKeys, false)
  await parts.link.register() // joining: before gossip, for the cluster's keyring; a member: reads node.json
  return null
}

const logFn = (l: Logger) => (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => l[level](fields ?? {}, msg)

function newLink(config: Readonly<Config>, log: Logger, target: { host: string; port: number }, parts: ClusterParts, overlay: Overlay,
  onGossipKeys: (r: GossipKeyring) => boolean, self: boolean, onTls?: (tls: NodeTls) => void): WorkerLink {
  parts.transport = new HttpManagerTransport(target)
  return new WorkerLink({
    transport: parts.transport, clock: realClock(),
    dataDir: config.dataDir, hostname: config.gossip.name, addr: config.gossip.advertiseAddr, resources: nodeResources(), log: logFn(log.child({ sub: 'worker' })),
    onAssignments: (tasks) => parts.runner?.setAssignments(tasks),
    onCatalog: (snap) => parts.dataPlane?.apply(snap),
    onLogs: (msg) => parts.logs?.handle(msg),
    onGossipKeys,
    onPeers: (peers) => overlay.setPeers(peers),
    ...(onTls ? { onTls } : {}),
    ...(!self && config.cluster.token ? { token: config.cluster.token } : {}),
  })
}

function nodeResources(): { nanoCpus: number; memoryBytes: number } {
  return { nanoCpus: cpus().length * 1e9, memoryBytes: totalmem() }
}

/** Manager (if this node is one) and the worker side (if this node belongs to a cluster); openCluster ran first. */
async function startCluster(config: Readonly<Config>, log: Logger, gossip: Gossip, overlay: Overlay, parts: ClusterParts, registry: Registry,
  onGossipKeys: (r: GossipKeyring) => boolean): Promise<void> {
  const c = config.cluster
  const mlog = log.child({ sub: 'manager' })
  const hostname = config.gossip.name
  const addr = config.gossip.advertiseAddr
  const manager = parts.manager
  let reloadApiTls: ((tls: NodeTls) => void) | null = null
  if (manager) {
    const { created, clusterId } = parts.init as { created: boolean; clusterId: string }
    manager.start()
    registerManagerMetrics(registry, manager)
    // The manager node's own certificate (the API's server certificate too), for a key made here.
    const { keyPem, csrPem } = await createNodeKeyAndCsr()
    const names = apiNames(config, hostname, csrPem)
    // The manager's own node: registered in-process (keeps its id across restarts), never through a join token.
    const self = await manager.registerSelf({ hostname, addr, resources: nodeResources() }, names).catch((err: unknown) => {
      if (!(err instanceof RequestRefusedError)) throw err
      mlog.error({ node: hostname }, `${err.message}; this node serves the manager API but runs no tasks until then`)
      return null
    })
    const cert = self?.certificate ?? await manager.ca.issue(csrPem, { nodeId: `api-${hostname}`, role: 'manager', clusterId, ipSans: names.ipSans, dnsSans: names.dnsSans })
    let apiTls: NodeTls = { ca: manager.ca.trust().roots, cert, key: keyPem }
    const dashboardUrl = `https://${addr.includes(':') ? `[${addr}]` : addr}:${c.apiPort}/ui`
    const observe = { metrics: registry, nodeFacts: nodeFactsSource(gossip, overlay), dashboardUrl }
    const api = await listen(createApp({ manager, local: false, ...observe }, defaultServiceSpec), { host: addr, port: c.apiPort, tls: { key: keyPem, cert, ca: apiTls.ca } })
    parts.servers.push(api)
    // New roots (a CA rotation) or a renewed certificate: the API serves them from the next handshake on.
    reloadApiTls = (tls) => {
      apiTls = tls
      ;(api as unknown as { setSecureContext(o: object): void }).setSecureContext(serverTlsOptions({ key: tls.key, cert: tls.cert, ca: manager.ca.trust().roots }, 10_000))
    }
    manager.ca.onChange(() => reloadApiTls?.(apiTls))
    // manager.sock is admin: root only, or root:mesh 0660 when a `mesh` group exists (like docker's group).
    const access = hostSocketAccess()
    if (access.mode === 0o660) {
      openDirToGroup(config.dataDir, access)
      mlog.info({ group: access.group }, 'manager.sock is open to the group')
    }
    parts.servers.push(await listen(createApp({ manager, local: true, ...observe }, defaultServiceSpec), { socketPath: join(config.dataDir, MANAGER_SOCKET), access }))
    const syncNode = (name: string, state: 'ready' | 'down') => {
      manager.setNodeState(name, state).catch((err: Error) => mlog.error({ err: err.message }, 'node state update failed'))
    }
    gossip.on((e) => {
      if (e.type === 'join' || e.type === 'alive' || e.type === 'update') syncNode(e.member.name, 'ready')
      else if (e.type === 'fail' || e.type === 'leave') syncNode(e.member.name, 'down')
    })
    if (self) {
      parts.link = newLink(config, log, { host: addr, port: c.apiPort }, parts, overlay, onGossipKeys, true, reloadApiTls)
      parts.link.useIdentity({ nodeId: self.node.id, role: 'manager', manager: `${addr}:${c.apiPort}` }, apiTls)
    } else {
      // No link to hear keyrings on (the hostname is a worker's): follow the cluster's keyring in-process.
      manager.gossipKeys.onChange(() => { const r = manager.gossipKeys.message(); if (r) onGossipKeys(r) })
    }
    const t = manager.tokens()
    mlog.info({ clusterId, api: `${addr}:${c.apiPort}` }, created ? 'cluster initialised' : 'manager started')
    if (created) {
      process.stdout.write(`Cluster initialised: this node (${hostname}) is now a manager.\n\n` +
        `To add a worker to this cluster, run on it:\n    MESH_JOIN_TOKEN=${t.worker} mesh agent --join ${addr}\n\n` +
        `To add a manager: mesh token show manager\n`)
    }
  }
  if (!parts.link) return
  const registering = parts.link
  overlay.onHeld((reg) => registering.registerOverlay(reg)) // again whenever the node moves to another subnet
  if (!overlay.enabled) throw new ConfigError('running tasks needs the overlay network: start dockerd (and wireguard-go), or pass --overlay on')
  await overlay.ready(60_000)
  const gateway = (await overlay.status()).gateway
  parts.dataPlane = new DataPlane({
    config: config.dataPlane, dataDir: config.dataDir, gossip, overlayRange: config.overlay.range, vipRange: c.vipRange, log,
  })
  await parts.dataPlane.start(gateway)
  const link = parts.link
  parts.runner = new TaskRunner({
    runtime: new DockerRuntime({
      socketPath: config.overlay.dockerSocket, dns: parts.dataPlane.resolvers(gateway), nodeHostname: config.gossip.name,
    }), network: config.overlay.network,
    report: (taskId, status) => link.report(taskId, status),
    registryAuth: (task) => task.spec.registryAuth,
    log: logFn(log.child({ sub: 'runtime' })),
  })
  await parts.runner.start()
  parts.logs = new LogShipper({ dockerSocket: config.overlay.dockerSocket, upload: (path) => link.upload(path), log: logFn(log.child({ sub: 'logs' })) })
  link.start()
}

/**
 * What the manager's API certificate names, so standard clients (curl, Prometheus, the docker CLI, etcd) verify
 * it: the advertise and bind addresses, loopback, the node's hostname (when it is a DNS name) and localhost.
 */
function apiNames(config: Readonly<Config>, hostname: string, csr: string): { csr: string; ipSans: string[]; dnsSans: string[] } {
  const ips = new Set([config.gossip.advertiseAddr, config.gossip.bindAddr, '127.0.0.1'].filter((ip) => isIP(ip) !== 0 && ip !== '0.0.0.0' && ip !== '::'))
  const dns = new Set(['localhost', ...(isDnsName(hostname) ? [hostname] : [])])
  return { csr, ipSans: [...ips], dnsSans: [...dns] }
}

async function stopCluster(parts: ClusterParts): Promise<void> {
  parts.link?.stop()
  parts.logs?.stop()
  await parts.runner?.stop().catch(() => undefined)
  await parts.dataPlane?.stop()
  parts.manager?.stop()
  for (const s of parts.servers) {
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
  parts.store?.close()
}
