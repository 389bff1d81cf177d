import { existsSync } from 'node:fs'
import type http from 'node:http'
import { isIP } from 'node:net'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../src/base/errors.ts'
import { realClock } from '../src/base/clock.ts'
import { FreezableStore, KekFile, Manager, managerLeadership, type MoveStep, newClusterId, newId, RequestRefusedError, SecretVault, vaultDir, createApp, createDockerApp, listen, managerDbPath, registerManagerMetrics, serverTlsOptions, type ManagerLeadership, type Store } from '../src/manager/index.ts'
import { createNodeKeyAndCsr, isDnsName, type ClusterCa } from '../src/pki/index.ts'
import type { SocketAccess } from '../src/base/index.ts'
import { DOCKER_API_SOCKET, MANAGER_SOCKET, defaultServiceSpec, isSealedRegistryAuth, unlockKeyText } from '../src/api/index.ts'
import { DockerRuntime, ExecTmpfs, LogShipper, TaskFiles, TaskRunner, registryResolver } from '../src/runtime/index.ts'
import {
  FailoverTransport, HttpManagerTransport, WorkerLink, applyClusterKeys, chooseGossipKeys, hasIdentity, readSavedGossipKeys, readSavedManagers, saveGossipKeys,
  savedManager, seedManagers, splitManagerAddress, type Identity, type NodeTls,
} from '../src/worker/index.ts'
import type { GossipKeyring } from '../src/api/index.ts'
import { DataPlane } from './dataplane.ts'
import { openManagerStore } from './manager-store.ts'
import { recoverStoreMove, serveMovedManager, storeMoveRole } from './store-move.ts'
import {
  bootstrapCluster, hasManagedMember, keepGrantedKek, managerMembers, requestMemberGrant, retireOnRemoval, startManagedEtcd, type ManagedEtcd,
} from './etcd-member.ts'
import { DEFAULT_ADDR_POOL, DEFAULT_RUN_DIR, type Config } from '../src/config/index.ts'
import { loadPeers, type Gossip, type GossipEvent } from '../src/gossip/index.ts'
import type { Overlay } from '../src/overlay/index.ts'
import type { Logger } from './log.ts'
import { nodeFactsSource } from './metrics.ts'
import { startTrafficReporter } from './traffic.ts'
import type { Registry } from 'prom-client'

/**
 * The cluster half of the agent's wiring (agent.ts holds the lifecycle): the gossip keyring before gossip starts,
 * the manager (store, reconcile loop, API, manager.sock) and the worker side (link, data plane, task runner), and
 * how they stop: `stopControlPlane` releases what a new agent process needs (store, ports, sockets) and keeps the
 * data plane serving; `stopCluster` stops both.
 */
/** Install the keyring chooseGossipKeys picks (cluster, gossip-keys.json, flags, plaintext) before gossip starts. */
export function useGossipKeys(config: Readonly<Config>, gossip: Gossip, cluster: GossipKeyring | null, log: Logger): void {
  const saved = cluster ? null : readSavedGossipKeys(config.dataDir) // a broken file stops the agent with one line naming it
  const source = chooseGossipKeys({ cluster, saved, configured: config.gossip.encryptKeys.length > 0, plaintext: config.gossip.plaintext })
  if (source.keys) gossip.setKeyring(source.keys)
  if (cluster) saveGossipKeys(config.dataDir, cluster)
  if (source.from === 'plaintext') log.warn('gossip is NOT encrypted (--gossip-plaintext): anyone on the network can read and forge membership')
  else log.info({ keys: source.from, version: source.keys ? source.version : undefined }, 'gossip encrypted')
}

/** Started without --join: join the members an earlier run knew (peers.json), if any answers. */
export async function rejoin(config: Readonly<Config>, gossip: Gossip, log: Logger): Promise<void> {
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

export function logEvent(log: Logger, e: GossipEvent): void {
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

export interface ClusterParts {
  store: Store | null
  /**
   * The manager's own etcd member (`--store etcd`, a manager-token join), stopped after the store. The hook for
   * leader election: its `client` is a client of this member (src/manager/etcd LeaderElection takes one).
   */
  etcd?: ManagedEtcd | null
  manager: Manager | null
  /**
   * On etcd (issue 15): the leader election and the managers' health probe (managerLeadership), made and started by
   * the etcd member wiring before openCluster builds the Manager; none: this manager always leads (SQLite).
   */
  leadership?: ManagerLeadership
  servers: http.Server[]
  link: WorkerLink | null
  /** The link's transport to the managers, failing over between them (mesh leave tells the manager through it). */
  transport?: FailoverTransport
  runner: TaskRunner | null
  dataPlane: DataPlane | null
  /** Stops feeding catalog changes to the overlay's networks. */
  unsubscribeNetworks?: () => void
  logs?: LogShipper
  /** Sends this node's ingress and tunnel counters to the manager (the dashboard's live traffic). */
  traffic?: { stop(): void }
  /** The manager's init result (managers), for the banner (`unlockKey`: a new cluster with --autolock, shown once). */
  init: { created: boolean; clusterId: string; tokensChanged: boolean; unlockKey?: string } | null
  /** The manager's gossip subscription (node state from member events): ended before the store closes. */
  unsubscribeGossip?: () => void
  /** Node state updates in flight: awaited before the store closes. */
  nodeUpdates?: Set<Promise<void>>
  /** A store move (store-move.ts) hands the API servers to the manager on etcd through this (set by startCluster). */
  serveMoved?: (next: Manager) => Promise<void>
  /** Tests only: a crash injected after a step of a store move ('crash': the move stops there, files as they are). */
  moveKillPoint?: (step: MoveStep) => 'crash' | void
}

/**
 * Before gossip starts: on managers, open the store and the cluster (its gossip keyring made or read); on a node
 * joining with a token, build the link and register (the reply carries the keyring, through onGossipKeys). Returns
 * the manager's keyring (managers), else null.
 */
export async function openCluster(config: Readonly<Config>, log: Logger, overlay: Overlay, parts: ClusterParts, onGossipKeys: (r: GossipKeyring) => boolean): Promise<GossipKeyring | null> {
  const c = config.cluster
  const storePath = managerDbPath(config.dataDir)
  await recoverStoreMove(config.dataDir, log) // a store move a crash interrupted: finished or rolled back
  if (hasManagedMember(config.dataDir)) {
    // A manager of a managed etcd restarting: its member restarts from the data dir (it ignores every --initial-* flag).
    parts.etcd = await startManagedEtcd(config, log, { mode: { kind: 'restart' } })
    return openManager(config, log, parts)
  }
  if (c.store === 'etcd') {
    if (existsSync(storePath)) {
      throw new ConfigError(`--store etcd: ${config.dataDir} holds a SQLite store (manager.db); move it with mesh manager backup and restore, or use another --data-dir`)
    }
    if (!c.init) throw new ConfigError(`--store etcd: ${config.dataDir} holds no etcd member yet; start the first manager with --init, join others with the manager token`)
    // A new cluster on a managed etcd: its id and root first (the member's certificate), then the member, then the store.
    const clusterId = newClusterId()
    const boot = await bootstrapCluster(config, { clusterId, nodeId: newId() }) // the member is named by the node id to be
    parts.etcd = await startManagedEtcd(config, log, { mode: { kind: 'init' }, tls: boot.tls, clusterToken: clusterId })
    return openManager(config, log, parts, { clusterId, ca: boot.ca })
  }
  if (c.init || existsSync(storePath) || c.store !== '') return openManager(config, log, parts)
  if (!c.token && !hasIdentity(config.dataDir)) return null
  // The managers to try: --manager HOST[:PORT] or the --join hosts on the API port, then those an earlier run kept.
  const managers = seedManagers({ manager: c.manager, join: config.gossip.join, apiPort: c.apiPort, saved: savedManagers(config, log), registered: savedManager(config.dataDir) })
  if (managers.length === 0) throw new ConfigError('no manager to register with: pass --join MANAGER or --manager HOST[:PORT]')
  parts.link = newLink(config, log, managers, parts, overlay, onGossipKeys, false)
  const id = await parts.link.register() // joining: before gossip, for the cluster's keyring; a member: reads node.json
  if (id.role !== 'manager') return null
  // Joined with the manager token (or a manager whose member never started): ask for an etcd member, start it in
  // join mode, and run the manager on it like the first one. The worker link gives way to the manager's own.
  const grant = await requestMemberGrant(config)
  if ('refused' in grant) {
    // A node that joined a SQLite cluster with the manager token before managers had etcd members: it stays a worker.
    log.child({ sub: 'manager' }).warn({ why: grant.refused }, 'this node holds a manager certificate but gets no etcd member: it runs as a worker')
    return null
  }
  if (keepGrantedKek(config.dataDir, grant.grant)) log.child({ sub: 'manager' }).info('the vault\'s key-encryption key was received from the cluster')
  parts.link = null
  parts.etcd = await startManagedEtcd(config, log, { mode: { kind: 'join', initialCluster: grant.initialCluster }, tls: grant.tls, clusterToken: grant.clusterToken })
  return openManager(config, log, parts)
}

/** The manager on its store (SQLite, the own etcd member, or an external etcd), initialised; its gossip keyring. */
async function openManager(config: Readonly<Config>, log: Logger, parts: ClusterParts, bootstrap?: { clusterId: string; ca: ClusterCa }): Promise<GossipKeyring | null> {
  const c = config.cluster
  { // (indented as the branch of openCluster it was)
    const opened = await openManagerStore(config, log, parts.etcd ?? null)
    // A single manager on SQLite: its writes can stop, for a move into etcd on the first promote (store-move.ts).
    const movable = !parts.etcd && c.store === '' ? new FreezableStore(opened) : null
    const store = movable ?? opened
    parts.store = store
    if (parts.etcd) {
      // The leader election and the managers' health probe on the own member (its name is this manager's node id).
      const elog = log.child({ sub: 'leader' })
      parts.leadership = managerLeadership({
        client: parts.etcd.client, nodeId: parts.etcd.member.config.name, tls: parts.etcd.tls, log: (level, msg, fields) => elog[level](fields ?? {}, msg),
      })
      await parts.leadership.start()
    }
    // The vault's key-encryption key sits in <data-dir>/vault (0700), apart from manager.db (vault/key-file.ts).
    const vault = new SecretVault({ store, keys: new KekFile(vaultDir(config.dataDir)) })
    const manager = new Manager({
      store, vault, vipRange: c.vipRange,
      // issue 15 (lead): only the elected manager runs the orchestrator and scheduler; MANAGER STATUS, quorum line.
      ...(parts.leadership ? { leadership: parts.leadership.leadership, managerProbe: parts.leadership.managerProbe } : {}),
      // the default pool skips ranges a custom overlay or VIP range takes; a pool given is refused when it overlaps one
      ...(c.defaultAddrPool !== DEFAULT_ADDR_POOL ? { addrPool: c.defaultAddrPool } : {}), addrPoolMaskLength: c.defaultAddrPoolMaskLength,
      log: logFn(log.child({ sub: 'manager' })),
      // Registered overlay subnets are /N of this range; task addresses must lie in the reporting node's registered one.
      overlayRange: config.overlay.range, overlaySubnetPrefix: config.overlay.subnetPrefix,
      ...(c.certExpiryMs !== undefined ? { certLifetimeMs: c.certExpiryMs } : {}),
      // Tags are pinned to digests by asking their registry; plain HTTP where this node's engine allows it.
      resolveImage: registryResolver({ registryConfig: () => new DockerRuntime({ socketPath: config.overlay.dockerSocket }).registryConfig() }),
      ...(parts.etcd ? { members: managerMembers(parts.etcd) } : {}),
      ...(movable ? { storeMove: storeMoveRole({ config, log, parts, store: movable, reopen: () => openManager(config, log, parts) }) } : {}),
    })
    parts.manager = manager
    parts.init = await manager.init({ autolock: c.autolock, ...(bootstrap ? { bootstrap } : {}) })
    if (c.autolock && !parts.init.created) log.child({ sub: 'manager' }).warn('--autolock applies to a new cluster only: this manager keeps its vault as it is')
    if (vault.locked) log.child({ sub: 'manager' }).warn('the manager is locked (autolock): it answers nothing until mesh unlock')
    if (parts.init.tokensChanged) {
      log.child({ sub: 'manager' }).warn('this cluster now has a certificate authority: its join tokens changed (mesh token show worker); nodes that joined before must join again')
    }
    const ring = await manager.gossipKeys.init({
      created: parts.init.created, seed: config.gossip.encryptKeys, ...(c.gossipKeyRotationMs !== null ? { rotationMs: c.gossipKeyRotationMs } : {}),
    })
    return ring ? { version: ring.version, keys: ring.keys } : null
  }
}

const logFn = (l: Logger) => (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => l[level](fields ?? {}, msg)
/** How long a task waits for its networks' bridges on this node before it is rejected (the catalog brings the slice). */
const NETWORK_WAIT_MS = 60_000

/** managers.json of an earlier run (src/worker); a broken file is logged and left out, never fatal. */
function savedManagers(config: Readonly<Config>, log: Logger): ReturnType<typeof readSavedManagers>['list'] {
  const saved = readSavedManagers(config.dataDir)
  if (saved.problem) log.child({ sub: 'worker' }).warn(`${saved.problem}; starting from the managers given`)
  return saved.list
}

function newLink(config: Readonly<Config>, log: Logger, managers: string[], parts: ClusterParts, overlay: Overlay,
  onGossipKeys: (r: GossipKeyring) => boolean, self: boolean, onTls?: (tls: NodeTls) => void): WorkerLink {
  const wlog = log.child({ sub: 'worker' })
  parts.transport = new FailoverTransport({
    managers, connect: (address) => new HttpManagerTransport(splitManagerAddress(address)), log: logFn(wlog),
  })
  return new WorkerLink({
    transport: parts.transport, clock: realClock(),
    dataDir: config.dataDir, hostname: config.gossip.name, addr: config.gossip.advertiseAddr, resources: nodeResources(), log: logFn(wlog),
    onAssignments: (tasks) => parts.runner?.setAssignments(tasks),
    onCatalog: (snap) => parts.dataPlane?.apply(snap),
    onLogs: (msg) => parts.logs?.handle(msg),
    onGossipKeys,
    onPeers: (peers) => overlay.setPeers(peers),
    onValues: (kind, values) => parts.runner?.setValues(kind, values),
    ...(onTls ? { onTls } : {}),
    ...(!self && config.cluster.token ? { token: config.cluster.token } : {}),
  })
}

function nodeResources(): { nanoCpus: number; memoryBytes: number } {
  return { nanoCpus: cpus().length * 1e9, memoryBytes: totalmem() }
}

/**
 * Manager (if this node is one) and the worker side (if this node belongs to a cluster); openCluster ran first.
 * `access`: the admin sockets' access, decided once at agent start (which also opened the data dir to the group).
 */
export async function startCluster(config: Readonly<Config>, log: Logger, gossip: Gossip, overlay: Overlay, parts: ClusterParts, registry: Registry,
  onGossipKeys: (r: GossipKeyring) => boolean, access: SocketAccess): Promise<void> {
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
    // With a managed etcd a new manager node takes its member's name as its id (the member was named before the store existed).
    const self = await manager.registerSelf({ hostname, addr, resources: nodeResources() }, names, parts.etcd?.member.config.name).catch((err: unknown) => {
      if (!(err instanceof RequestRefusedError)) throw err
      mlog.error({ node: hostname }, `${err.message}; this node serves the manager API but runs no tasks until then`)
      return null
    })
    const cert = self?.certificate ?? await manager.ca.issue(csrPem, { nodeId: `api-${hostname}`, role: 'manager', clusterId, ipSans: names.ipSans, dnsSans: names.dnsSans })
    let apiTls: NodeTls = { ca: manager.ca.trust().roots, cert, key: keyPem }
    const dashboardUrl = `https://${addr.includes(':') ? `[${addr}]` : addr}:${c.apiPort}/ui`
    const observe = { metrics: registry, nodeFacts: nodeFactsSource(gossip, overlay), dashboardUrl }
    const api = await listen(createApp({ manager, local: false, apiPort: c.apiPort, ...observe }, defaultServiceSpec), { host: addr, port: c.apiPort, tls: { key: keyPem, cert, ca: apiTls.ca } })
    parts.servers.push(api)
    // New roots (a CA rotation) or a renewed certificate: the API serves them from the next handshake on.
    reloadApiTls = (tls) => {
      apiTls = tls
      ;(api as unknown as { setSecureContext(o: object): void }).setSecureContext(serverTlsOptions({ key: tls.key, cert: tls.cert, ca: manager.ca.trust().roots }, 10_000))
    }
    manager.ca.onChange(() => reloadApiTls?.(apiTls))
    // manager.sock is admin: root only, or root:mesh 0660 when a `mesh` group exists (like docker's group).
    if (access.mode === 0o660) mlog.info({ group: access.group }, 'manager.sock is open to the group')
    parts.servers.push(await listen(createApp({ manager, local: true, apiPort: c.apiPort, ...observe }, defaultServiceSpec), { socketPath: join(config.dataDir, MANAGER_SOCKET), access }))
    // The read-only Docker API for docker's own clients (docs/docker-api.md): same access as manager.sock.
    parts.servers.push(await listen(createDockerApp({ manager, apiPort: c.apiPort }), { socketPath: join(config.dataDir, DOCKER_API_SOCKET), access }))
    const updates = parts.nodeUpdates = new Set<Promise<void>>()
    const syncNode = (name: string, state: 'ready' | 'down') => {
      const p: Promise<void> = manager.setNodeState(name, state).then(() => undefined, (err: Error) => { mlog.error({ err: err.message }, 'node state update failed') })
        .finally(() => updates.delete(p))
      updates.add(p)
    }
    parts.unsubscribeGossip = gossip.on((e) => {
      if (e.type === 'join' || e.type === 'alive' || e.type === 'update') syncNode(e.member.name, 'ready')
      else if (e.type === 'fail' || e.type === 'leave') syncNode(e.member.name, 'down')
    })
    if (self) {
      // Its own manager first; then the others it knew, should its own API stop answering.
      const managers = seedManagers({ manager: `${addr.includes(':') ? `[${addr}]` : addr}:${c.apiPort}`, join: [], apiPort: c.apiPort, saved: savedManagers(config, log), registered: null })
      parts.link = newLink(config, log, managers, parts, overlay, onGossipKeys, true, reloadApiTls)
      parts.link.useIdentity({ nodeId: self.node.id, role: 'manager', manager: `${addr}:${c.apiPort}` }, apiTls)
    } else {
      // No link to hear keyrings on (the hostname is a worker's): follow the cluster's keyring in-process.
      manager.gossipKeys.onChange(() => { const r = manager.gossipKeys.message(); if (r) onGossipKeys(r) })
    }
    retireOnRemoval(config, log, parts, () => stopManager(parts))
    parts.serveMoved = (next) => serveMovedManager(next, { parts, registry, gossip, log, retire: () => retireOnRemoval(config, log, parts, () => stopManager(parts)),
      apps: (m) => [createApp({ manager: m, local: false, apiPort: c.apiPort, ...observe }, defaultServiceSpec), createApp({ manager: m, local: true, apiPort: c.apiPort, ...observe }, defaultServiceSpec), createDockerApp({ manager: m, apiPort: c.apiPort })],
      registerSelf: async (m) => { await m.registerSelf({ hostname, addr, resources: nodeResources() }, names); m.ca.onChange(() => reloadApiTls?.(apiTls)) } })
    const t = manager.tokens()
    mlog.info({ clusterId, api: `${addr}:${c.apiPort}` }, created ? 'cluster initialised' : 'manager started')
    if (created) {
      process.stdout.write(`Cluster initialised: this node (${hostname}) is now a manager.\n\n` +
        `To add a worker to this cluster, run on it:\n    MESH_JOIN_TOKEN=${t.worker} mesh agent --join ${addr}\n\n` +
        `To add a manager: mesh token show manager\n` + (parts.init?.unlockKey ? unlockKeyText(parts.init.unlockKey) : ''))
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
    nodeId: () => parts.link?.nodeId ?? null,
  })
  await parts.dataPlane.start(gateway)
  // The networks follow the catalog: bridges, VXLAN devices, allowed-ips, routes and isolation rules (src/overlay).
  const dataPlane = parts.dataPlane
  parts.unsubscribeNetworks = dataPlane.catalog.onChange((snap) => overlay.setCatalog(snap))
  overlay.setCatalog(dataPlane.catalog.current())
  const link = parts.link
  // Secrets and configs: in memory, and per task in a tmpfs under /run (never the data dir).
  const files = new TaskFiles({ runDir: join(DEFAULT_RUN_DIR, config.gossip.name.replace(/[^A-Za-z0-9_.-]/g, '_')), dataDir: config.dataDir, tmpfs: new ExecTmpfs() })
  parts.runner = new TaskRunner({
    files,
    runtime: new DockerRuntime({
      socketPath: config.overlay.dockerSocket, dns: parts.dataPlane.resolvers(gateway), nodeHostname: config.gossip.name,
    }), network: config.overlay.network,
    networksReady: (names) => overlay.networksReady(names, NETWORK_WAIT_MS),
    report: (taskId, status) => link.report(taskId, status),
    registryAuth: (task) => (isSealedRegistryAuth(task.spec.registryAuth) ? undefined : task.spec.registryAuth), // opened by the manager's watch stream
    log: logFn(log.child({ sub: 'runtime' })),
  })
  await parts.runner.start()
  parts.logs = new LogShipper({ dockerSocket: config.overlay.dockerSocket, upload: (path) => link.upload(path), log: logFn(log.child({ sub: 'logs' })) })
  link.start()
  if (parts.transport) parts.traffic = startTrafficReporter({ node: config.gossip.name, dataPlane, overlay, transport: parts.transport, log })
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

/**
 * Stop the control plane: the manager's gossip subscription first and its node updates in flight (none may reach a
 * closed store), then link, log shipper, task runner (its containers keep running), manager (its event history
 * flushed), API servers, store.
 * The data plane keeps serving: a new agent process listens beside it until it lets go.
 */
export async function stopControlPlane(parts: ClusterParts): Promise<void> {
  parts.unsubscribeGossip?.()
  parts.unsubscribeNetworks?.()
  parts.link?.stop()
  parts.traffic?.stop()
  parts.logs?.stop()
  await parts.runner?.stop().catch(() => undefined)
  await stopManager(parts)
}

/** The manager's half: gossip subscription, manager (its events flushed), API servers, store, own etcd member. */
export async function stopManager(parts: ClusterParts): Promise<void> {
  parts.unsubscribeGossip?.()
  parts.manager?.stop()
  await parts.leadership?.stop().catch(() => undefined) // resigns: another manager leads at once
  parts.leadership = undefined
  await Promise.allSettled([...(parts.nodeUpdates ?? []), flushEvents(parts)])
  for (const s of parts.servers) {
    s.closeAllConnections()
    await new Promise<void>((r) => s.close(() => r()))
  }
  parts.servers = []
  parts.store?.close()
  parts.store = null
  await parts.etcd?.stop() // after the store: its last writes went through this member
  parts.etcd = null
}


/** The events told before the manager stopped reach the store's history (bounded: a store that hangs is left after 5 s). */
async function flushEvents(parts: ClusterParts): Promise<void> {
  const events = parts.manager?.events
  if (!events) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    events.flush().catch(() => undefined),
    new Promise<void>((r) => { timer = setTimeout(r, 5_000) }),
  ])
  clearTimeout(timer)
}

/** Stop everything the cluster started; `keepRules`: the nft rules stay (stop without leaving). */
export async function stopCluster(parts: ClusterParts, o: { keepRules?: boolean } = {}): Promise<void> {
  await stopControlPlane(parts)
  await parts.dataPlane?.stop(o)
}
