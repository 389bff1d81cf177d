import { existsSync } from 'node:fs'
import type http from 'node:http'
import { join } from 'node:path'
import { ConfigError } from '../src/base/errors.ts'
import { managerDbPath, newClusterId, newId, type Manager, type ManagerLeadership, type MoveStep, type Store } from '../src/manager/index.ts'
import { recoverStoreMove } from './store-move.ts'
import type { SocketAccess } from '../src/base/index.ts'
import { TERMINAL_STATES, isSealedRegistryAuth, type GossipKeyring } from '../src/api/index.ts'
import { DockerRuntime, ExecTmpfs, LogShipper, TaskFiles, TaskRunner } from '../src/runtime/index.ts'
import { applyClusterKeys, chooseGossipKeys, hasIdentity, readSavedGossipKeys, saveGossipKeys, savedManager, seedManagers, type FailoverTransport, type NodeTls, type WorkerLink } from '../src/worker/index.ts'
import { DataPlane } from './dataplane.ts'
import { bootstrapCluster, checkMemberFiles, hasManagedMember, startManagedEtcd, type ManagedEtcd } from './etcd-member.ts'
import { DEFAULT_RUN_DIR, type Config } from '../src/config/index.ts'
import { loadPeers, type Gossip, type GossipEvent } from '../src/gossip/index.ts'
import type { Overlay } from '../src/overlay/index.ts'
import type { Logger } from './log.ts'
import { logFn, newLink, savedManagers } from './link.ts'
import { joinManagers, openManager, serveManager, stopManager, type ManagerContext } from './manager-half.ts'
import { ManagerRole } from './manager-role.ts'
import type { MemberCertWiring } from './member-certs.ts'
import { startTrafficReporter } from './traffic.ts'
import type { Registry } from 'prom-client'

/**
 * The cluster half of the agent's wiring (agent.ts holds the lifecycle): the gossip keyring before gossip starts,
 * the manager half (manager-half.ts: store, reconcile loop, API, manager.sock; manager-role.ts adds and removes it
 * on a running agent: promote, demote, a restarted manager waiting for its quorum) and the worker side (link.ts,
 * data plane, task runner), and how they stop: `stopControlPlane` releases what a new agent process needs (store,
 * ports, sockets) and keeps the data plane serving; `stopCluster` stops both.
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
  /** The manager's API serves this node certificate (set while it serves): the link's renewals and new roots reach it. */
  reloadApiTls?: (tls: NodeTls) => void
  /** Removes the manager's metrics from the agent's registry (a later promote registers its own). */
  dropManagerMetrics?: () => void
  /** The manager half on the running agent: promote, demote, a restarted manager opening once its quorum is back. */
  role?: ManagerRole
  /** A restarted manager of a managed etcd: startCluster opens its manager half after the data plane (role.reopen). */
  reopenManager?: boolean
  /** The etcd member's certificate keeper (member-certs.ts), while the manager half serves on its own member. */
  memberCerts?: MemberCertWiring | null
  /** A store move (store-move.ts) hands the API servers to the manager on etcd through this (set by serveManager). */
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
  if (hasManagedMember(config.dataDir) && hasIdentity(config.dataDir)) {
    // A manager of a managed etcd restarting: the data plane never waits for the control plane. The worker side
    // starts first (node.json, the managers an earlier run kept; gossip-keys.json for the keyring), and startCluster
    // then restarts the member from the data dir and opens the manager once its quorum answers (manager-role.ts).
    checkMemberFiles(config.dataDir) // unreadable member certificates: one line, before anything starts
    const managers = seedManagers({ manager: c.manager, join: config.gossip.join, apiPort: c.apiPort, saved: savedManagers(config, log), registered: savedManager(config.dataDir) })
    parts.link = newLink(config, log, managers, parts, overlay, onGossipKeys, true)
    await parts.link.register() // reads node.json: no token, no request
    parts.reopenManager = true
    return null
  }
  if (hasManagedMember(config.dataDir)) {
    // Its member started but the manager node never registered (stopped during its first start): start as then.
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
  const member = hasIdentity(config.dataDir)
  const id = await parts.link.register() // joining: before gossip, for the cluster's keyring; a member: reads node.json
  if (id.role !== 'manager') return null
  if (member) {
    // A manager node without an etcd member restarting (promoted while stopped, or stopped before its member
    // started): the worker side first; startCluster then asks for the member in the background (manager-role.ts).
    parts.reopenManager = true
    return null
  }
  // Joined with the manager token: ask for an etcd member, start it in join mode, and run the manager on it like the
  // first one (manager-half.ts, as a promote at runtime does). The worker link gives way to the manager's own.
  const link = parts.link
  parts.link = null
  const joined = await joinManagers(config, log, parts)
  if ('refused' in joined) {
    // A node that joined a SQLite cluster with the manager token before managers had etcd members: it stays a worker.
    log.child({ sub: 'manager' }).warn({ why: joined.refused }, 'this node holds a manager certificate but gets no etcd member: it runs as a worker')
    parts.link = link
    return null
  }
  return joined.keys
}

/** How long a task waits for its networks' bridges on this node before it is rejected (the catalog brings the slice). */
const NETWORK_WAIT_MS = 60_000

/**
 * Manager (if this node is one) and the worker side (if this node belongs to a cluster); openCluster ran first.
 * `access`: the admin sockets' access, decided once at agent start (which also opened the data dir to the group).
 */
export async function startCluster(config: Readonly<Config>, log: Logger, gossip: Gossip, overlay: Overlay, parts: ClusterParts, registry: Registry,
  onGossipKeys: (r: GossipKeyring) => boolean, access: SocketAccess): Promise<void> {
  const c = config.cluster
  const ctx: ManagerContext = { gossip, overlay, registry, onGossipKeys, access }
  // Promote and demote at runtime, and a restarted manager's half opening once its quorum is back (manager-role.ts).
  parts.role = new ManagerRole({ config, log, parts, ctx })
  if (parts.manager) await serveManager(config, log, ctx, parts)
  if (!parts.link) return
  const registering = parts.link
  overlay.onHeld((reg) => registering.registerOverlay(reg)) // again whenever the node moves to another subnet
  if (!overlay.enabled) throw new ConfigError('running tasks needs the overlay network: start dockerd (and wireguard-go), or pass --overlay on')
  await overlay.ready(60_000)
  const gateway = (await overlay.status()).gateway
  parts.dataPlane = new DataPlane({
    config: config.dataPlane, dataDir: config.dataDir, gossip, overlayRange: config.overlay.range, vipRange: c.vipRange, log,
    nodeId: () => parts.link?.nodeId ?? null, localNode: config.gossip.name,
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
    report: (taskId, status) => {
      // A task of this node that stopped leaves this node's ingress now; the catalog round trip does the rest.
      if (status.state !== 'running' && TERMINAL_STATES.includes(status.state)) dataPlane.taskGone(taskId)
      link.report(taskId, status)
    },
    registryAuth: (task) => (isSealedRegistryAuth(task.spec.registryAuth) ? undefined : task.spec.registryAuth), // opened by the manager's watch stream
    log: logFn(log.child({ sub: 'runtime' })),
  })
  await parts.runner.start()
  parts.logs = new LogShipper({ dockerSocket: config.overlay.dockerSocket, upload: (path) => link.upload(path), log: logFn(log.child({ sub: 'logs' })) })
  link.start()
  if (parts.transport) parts.traffic = startTrafficReporter({ node: config.gossip.name, dataPlane, overlay, transport: parts.transport, log })
  if (parts.reopenManager) parts.role.reopen() // the data plane serves: now the manager half, for as long as its quorum takes
}

/**
 * Stop the control plane: the manager's gossip subscription first and its node updates in flight (none may reach a
 * closed store), then link, log shipper, task runner (its containers keep running), manager (its event history
 * flushed), API servers, store.
 * The data plane keeps serving: a new agent process listens beside it until it lets go.
 */
export async function stopControlPlane(parts: ClusterParts): Promise<void> {
  await parts.role?.stop() // no half-open manager is left behind
  parts.unsubscribeGossip?.()
  parts.unsubscribeNetworks?.()
  parts.link?.stop()
  parts.traffic?.stop()
  parts.logs?.stop()
  await parts.runner?.stop().catch(() => undefined)
  await stopManager(parts)
}

/** Stop everything the cluster started; `keepRules`: the nft rules stay (stop without leaving). */
export async function stopCluster(parts: ClusterParts, o: { keepRules?: boolean } = {}): Promise<void> {
  await stopControlPlane(parts)
  await parts.dataPlane?.stop(o)
}
