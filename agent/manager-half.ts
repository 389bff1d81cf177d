import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { join } from 'node:path'
import {
  FreezableStore, KekFile, Manager, managerLeadership, RequestRefusedError, SecretVault, vaultDir, createApp, createDockerApp, listen, registerManagerMetrics,
  serverTlsOptions,
} from '../src/manager/index.ts'
import { createNodeKeyAndCsr, isDnsName, type ClusterCa } from '../src/pki/index.ts'
import type { SocketAccess } from '../src/base/index.ts'
import { DOCKER_API_SOCKET, MANAGER_SOCKET, defaultServiceSpec, unlockKeyText, type GossipKeyring } from '../src/api/index.ts'
import { DockerRuntime, registryResolver } from '../src/runtime/index.ts'
import { seedManagers, type NodeTls } from '../src/worker/index.ts'
import { DEFAULT_ADDR_POOL, type Config } from '../src/config/index.ts'
import type { Gossip } from '../src/gossip/index.ts'
import type { Overlay } from '../src/overlay/index.ts'
import type { Registry } from 'prom-client'
import { openManagerStore } from './manager-store.ts'
import { serveMovedManager, storeMoveRole } from './store-move.ts'
import { keepGrantedKek, managerMembers, requestMemberGrant, retireOnRemoval, startManagedEtcd } from './etcd-member.ts'
import { logFn, newLink, nodeResources, savedManagers } from './link.ts'
import { nodeFactsSource } from './metrics.ts'
import { keepMemberCerts } from './member-certs.ts'
import type { ClusterParts } from './cluster.ts'
import type { Logger } from './log.ts'

/**
 * The manager half of a manager node (issue 15): open (store, leader election, Manager, its gossip keyring), serve
 * (its own node and certificate, the API on :7947, manager.sock, docker-api.sock, node state from gossip) and stop.
 * The same steps run at agent start (`--init`, a manager-token join) and on a running agent (`mesh node promote`,
 * a restarted manager once its quorum is back: manager-role.ts), beside a worker side that keeps serving.
 */

/** What serving needs of the running agent. */
export interface ManagerContext {
  gossip: Gossip
  overlay: Overlay
  registry: Registry
  onGossipKeys: (r: GossipKeyring) => boolean
  access: SocketAccess
}

/** The manager on its store (SQLite, the own etcd member, or an external etcd), initialised; its gossip keyring. */
export async function openManager(config: Readonly<Config>, log: Logger, parts: ClusterParts, bootstrap?: { clusterId: string; ca: ClusterCa }): Promise<GossipKeyring | null> {
  const c = config.cluster
  const opened = await openManagerStore(config, log, parts.etcd ?? null)
  // A single manager on SQLite: its writes can stop, for a move into etcd on the first promote (store-move.ts).
  const movable = !parts.etcd && c.store === '' ? new FreezableStore(opened) : null
  const store = movable ?? opened
  parts.store = store
  if (parts.etcd) {
    // The leader election and the managers' health probe on the own member (its name is this manager's node id).
    const elog = log.child({ sub: 'leader' })
    parts.leadership = managerLeadership({
      client: parts.etcd.client, nodeId: parts.etcd.member.config.name, tls: parts.etcd.tls, ttlSeconds: config.cluster.leaderLeaseSeconds, log: (level, msg, fields) => elog[level](fields ?? {}, msg),
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
  const mlog = log.child({ sub: 'manager' })
  if (c.autolock && !parts.init.created) mlog.warn('--autolock applies to a new cluster only: this manager keeps its vault as it is')
  if (vault.locked) mlog.warn('the manager is locked (autolock): it answers nothing until mesh unlock')
  if (parts.init.tokensChanged) {
    mlog.warn('this cluster now has a certificate authority: its join tokens changed (mesh token show worker); nodes that joined before must join again')
  }
  const ring = await manager.gossipKeys.init({
    created: parts.init.created, seed: config.gossip.encryptKeys, ...(c.gossipKeyRotationMs !== null ? { rotationMs: c.gossipKeyRotationMs } : {}),
  })
  return ring ? { version: ring.version, keys: ring.keys } : null
}

/**
 * A manager node without an etcd member (a manager-token join, `mesh node promote`) asks a manager for one
 * (`manager`: that API address; default node.json's), starts it in join mode and opens the manager on it.
 * `refused`: the cluster has no managed etcd (the node stays a worker), nothing was started; else its gossip keyring.
 */
export async function joinManagers(config: Readonly<Config>, log: Logger, parts: ClusterParts, manager?: string): Promise<{ refused: string } | { keys: GossipKeyring | null }> {
  const grant = await requestMemberGrant(config, manager)
  if ('refused' in grant) return grant
  if (keepGrantedKek(config.dataDir, grant.grant)) log.child({ sub: 'manager' }).info('the vault\'s key-encryption key was received from the cluster')
  parts.etcd = await startManagedEtcd(config, log, { mode: { kind: 'join', initialCluster: grant.initialCluster }, tls: grant.tls, clusterToken: grant.clusterToken })
  return { keys: await openManager(config, log, parts) }
}

/**
 * Serve the opened manager: its reconcile loop, its own node and certificate (the API's server certificate too),
 * the API on :7947, manager.sock and docker-api.sock, node state from gossip, retirement on removal. A node with no
 * link yet gets its own, to this manager first; a running link (promote, a reopened manager) keeps its stream and
 * takes the manager's certificate, so assignments, catalog and the data plane never pause.
 */
export async function serveManager(config: Readonly<Config>, log: Logger, ctx: ManagerContext, parts: ClusterParts): Promise<void> {
  const c = config.cluster
  const mlog = log.child({ sub: 'manager' })
  const hostname = config.gossip.name
  const addr = config.gossip.advertiseAddr
  const manager = parts.manager as Manager
  const { created, clusterId } = parts.init as { created: boolean; clusterId: string }
  manager.start()
  parts.dropManagerMetrics = managerMetrics(ctx.registry, manager)
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
  const observe = { metrics: ctx.registry, nodeFacts: nodeFactsSource(ctx.gossip, ctx.overlay), dashboardUrl }
  const api = await listen(createApp({ manager, local: false, apiPort: c.apiPort, ...observe }, defaultServiceSpec), { host: addr, port: c.apiPort, tls: { key: keyPem, cert, ca: apiTls.ca } })
  parts.servers.push(api)
  // New roots (a CA rotation) or a renewed certificate: the API serves them from the next handshake on.
  const reload = (tls: NodeTls): void => {
    // A demoted node's renewal (OU=worker) may come before its member's removal retires this API: it keeps its own.
    if (!/(?:^|\n)OU=manager(?:\n|$)/.test(new X509Certificate(tls.cert).subject)) return
    apiTls = tls
    ;(api as unknown as { setSecureContext(o: object): void }).setSecureContext(serverTlsOptions({ key: tls.key, cert: tls.cert, ca: (parts.manager ?? manager).ca.trust().roots }, 10_000))
  }
  parts.reloadApiTls = reload
  manager.ca.onChange(() => { if (parts.manager === manager) reload(apiTls) })
  // manager.sock is admin: root only, or root:mesh 0660 when a `mesh` group exists (like docker's group).
  if (ctx.access.mode === 0o660) mlog.info({ group: ctx.access.group }, 'manager.sock is open to the group')
  parts.servers.push(await listen(createApp({ manager, local: true, apiPort: c.apiPort, ...observe }, defaultServiceSpec), { socketPath: join(config.dataDir, MANAGER_SOCKET), access: ctx.access }))
  // The read-only Docker API for docker's own clients (docs/docker-api.md): same access as manager.sock.
  parts.servers.push(await listen(createDockerApp({ manager, apiPort: c.apiPort }), { socketPath: join(config.dataDir, DOCKER_API_SOCKET), access: ctx.access }))
  followGossip(parts, manager, ctx.gossip, mlog)
  if (self) {
    // Its own manager first; then the others it knew, should its own API stop answering.
    const own = `${addr.includes(':') ? `[${addr}]` : addr}:${c.apiPort}`
    parts.link ??= newLink(config, log, seedManagers({ manager: own, join: [], apiPort: c.apiPort, saved: savedManagers(config, log), registered: null }),
      parts, ctx.overlay, ctx.onGossipKeys, true)
    parts.link.useIdentity({ nodeId: self.node.id, role: 'manager', manager: `${addr}:${c.apiPort}` }, apiTls)
  } else {
    // No link to hear keyrings on (the hostname is a worker's): follow the cluster's keyring in-process.
    manager.gossipKeys.onChange(() => { const r = manager.gossipKeys.message(); if (r) ctx.onGossipKeys(r) })
  }
  retireOnRemoval(config, log, parts, () => stopManager(parts))
  // The etcd member's certificate: renewed at two thirds of its life and on a CA rotation (member-certs.ts).
  parts.memberCerts = keepMemberCerts(config, log, parts, manager, clusterId)
  // A store move (the first promote on SQLite) hands these servers to the manager it reopens on etcd.
  parts.serveMoved = (next) => serveMovedManager(next, { parts, registry: ctx.registry, gossip: ctx.gossip, log, retire: () => retireOnRemoval(config, log, parts, () => stopManager(parts)),
    apps: (m) => [createApp({ manager: m, local: false, apiPort: c.apiPort, ...observe }, defaultServiceSpec), createApp({ manager: m, local: true, apiPort: c.apiPort, ...observe }, defaultServiceSpec), createDockerApp({ manager: m, apiPort: c.apiPort })],
    registerSelf: async (m) => {
      await m.registerSelf({ hostname, addr, resources: nodeResources() }, names)
      m.ca.onChange(() => { if (parts.manager === m) reload(apiTls) })
      parts.memberCerts = keepMemberCerts(config, log, parts, m, clusterId)
    } })
  const t = manager.tokens()
  mlog.info({ clusterId, api: `${addr}:${c.apiPort}` }, created ? 'cluster initialised' : 'manager started')
  if (created) {
    process.stdout.write(`Cluster initialised: this node (${hostname}) is now a manager.\n\n` +
      `To add a worker to this cluster, run on it:\n    MESH_JOIN_TOKEN=${t.worker} mesh agent --join ${addr}\n\n` +
      `To add a manager: mesh token show manager\n` + (parts.init?.unlockKey ? unlockKeyText(parts.init.unlockKey) : ''))
  }
}

/**
 * Node state from gossip into `manager`'s store (join/alive/update: ready; fail/leave: down); the updates in flight
 * are kept in `parts.nodeUpdates` (stopManager awaits them), the subscription's end in `parts.unsubscribeGossip`.
 */
export function followGossip(parts: ClusterParts, manager: Manager, gossip: Gossip, mlog: Logger): void {
  const updates = parts.nodeUpdates = new Set<Promise<void>>()
  const syncNode = (name: string, state: 'ready' | 'down'): void => {
    const p: Promise<void> = manager.setNodeState(name, state).then(() => undefined, (err: Error) => { mlog.error({ err: err.message }, 'node state update failed') })
      .finally(() => updates.delete(p))
    updates.add(p)
  }
  parts.unsubscribeGossip = gossip.on((e) => {
    if (e.type === 'join' || e.type === 'alive' || e.type === 'update') syncNode(e.member.name, 'ready')
    else if (e.type === 'fail' || e.type === 'leave') syncNode(e.member.name, 'down')
  })
}

/** The manager's metrics on the agent's registry; returns their removal (stopManager: a later promote adds its own). */
export function managerMetrics(registry: Registry, manager: Manager): () => void {
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name))
  registerManagerMetrics(registry, manager)
  const added = registry.getMetricsAsArray().map((m) => m.name).filter((n) => !before.has(n))
  return () => { for (const n of added) registry.removeSingleMetric(n) }
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

/** The manager's half: gossip subscription, manager (its events flushed), API servers, store, own etcd member. */
export async function stopManager(parts: ClusterParts): Promise<void> {
  parts.unsubscribeGossip?.()
  parts.unsubscribeGossip = undefined
  parts.reloadApiTls = undefined
  parts.memberCerts?.stop()
  parts.memberCerts = null
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
  parts.dropManagerMetrics?.()
  parts.dropManagerMetrics = undefined
  parts.manager = null
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
