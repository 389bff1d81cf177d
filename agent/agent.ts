import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ControlError } from '../src/base/errors.ts'
import { realClock } from '../src/base/clock.ts'
import { createNftRunner, hostSocketAccess, openDirToGroup } from '../src/base/index.ts'
import { managerDbPath, type Manager } from '../src/manager/index.ts'
import { hasIdentity } from '../src/worker/index.ts'
import type { GossipKeyring } from '../src/api/index.ts'
import type { Config } from '../src/config/index.ts'
import { Gossip, keepPeersSnapshot } from '../src/gossip/index.ts'
import { Overlay, resumeTags } from '../src/overlay/index.ts'
import { applyClusterKeys } from '../src/worker/index.ts'
import { ControlServer, CONTROL_SOCKET } from './control.ts'
import { LeaveGate, leaveCluster } from './leave.ts'
import type { Logger } from './log.ts'
import { createAgentRegistry, startMetrics, type RunningMetrics } from './metrics.ts'
import { logEvent, openCluster, rejoin, startCluster, stopCluster, stopControlPlane, useGossipKeys, type ClusterParts } from './cluster.ts'
import { Outgoing } from './handover.ts'
import { HANDOVER_SOCKET, HandoverListener, takeOver, type TakingOver } from './handover-socket.ts'

/**
 * agent/ — process wiring for `mesh agent`. Start order: data dir → a running agent on the same data dir is asked
 * to hand over (handover.ts: it releases gossip, manager, link and control socket, keeps serving published ports
 * and DNS) → control socket → the gossip keyring, before gossip starts (on managers: open the store and make or
 * read the cluster's keyring; a node joining with a token: register with the manager — CA-pinned, mutual TLS from
 * then on — whose reply carries the keyring; a restarting member: `gossip-keys.json`; else --encrypt, --encrypt-file
 * or MESH_GOSSIP_KEY, else --gossip-plaintext, else refuse) → the overlay tags of a kept overlay (live restore) →
 * gossip (bind, join, or rejoin the members of peers.json) → overlay (WireGuard, subnet claim, Docker network,
 * adopted when an earlier run left them; on a cluster node its peers are the manager's registered list) → manager
 * (its own certificate, reconcile loop, API on :7947 with TLS 1.3 and manager.sock) → worker link (register the
 * overlay key and subnet, the manager's push stream of assignments, catalog, overlay peers, CA roots and gossip
 * keyring; certificate renewal) → data plane (catalog, ingress, DNS on the overlay gateway, all with reusePort) →
 * task runner (adopts running task containers; they resolve through that DNS) → metrics → handover socket; then
 * the old process, if any, is told to let go. The data plane never waits for the control plane: a manager of a
 * managed etcd restarting starts as a worker first (its link to another manager, the saved catalog) and opens its
 * manager half once its etcd member has a quorum, however long that takes; promote and demote add and remove the
 * manager half on the running agent (manager-role.ts) — gossip, overlay, data plane and containers stay as they are.
 * Stop order is the reverse. Stop is not leave (`shutdown(reason, { leave: false })`, SIGTERM): gossip closes
 * without a leave message, the overlay, subnet lease, nft rules and containers stay for the next start, which
 * adopts them (dockerd's live-restore). Leave (`mesh leave`, SIGINT on a terminal) tells peers and tears down.
 */
export interface RunningAgent {
  gossip: Gossip
  overlay: Overlay
  manager: Manager | null
  /** Prometheus registry and /metrics listener; subsystems add theirs with `registerMetrics(metrics.registry)`. */
  metrics: RunningMetrics
  /** Stop (default: keep membership and host state for the next start) or leave; resolves when everything is closed. */
  shutdown(reason: string, o?: { leave?: boolean }): Promise<void>
  /** Resolves once the agent has ended, saying how. */
  done: Promise<AgentEnd>
}

/**
 * How an agent ended: stopped (a signal), left (`mesh leave`, or a leaving signal), handed over to a new process
 * (exit 0), or asked to resume: a new process did not come up after this one released its control plane; the
 * caller starts the agent again in this process and then calls `letGo` (the old data plane closes its listeners).
 */
export type AgentEnd = { type: 'stopped' | 'left' | 'handed-over' } | { type: 'resume'; why: string; letGo(): Promise<number> }

/** How long a process handing over lets its open ingress connections finish. */
export const DRAIN_MS = 30_000
/** How much longer than the drain a handover waits for the data plane's release to settle before exiting anyway. */
export const RELEASE_GRACE_MS = 5_000
/** How long a process that released waits for the new one's data plane. */
export const UP_TIMEOUT_MS = 120_000

export async function startAgent(config: Readonly<Config>, log: Logger): Promise<RunningAgent> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  const taking = await takeOverRunning(config.dataDir, config.gossip.name, log)
  try {
    const agent = await startParts(config, log)
    if (taking) {
      taking.up()
      log.info('took over from the running agent: it closes its listeners, drains and exits')
    }
    return agent
  } catch (err) {
    taking?.failed((err as Error).message)
    throw err
  }
}

/** A running agent on this data dir hands over (null when none answers); throws when it refuses. */
async function takeOverRunning(dataDir: string, name: string, log: Logger): Promise<TakingOver | null> {
  const t = await takeOver(join(dataDir, HANDOVER_SOCKET), process.pid, name)
  if (!t) return null
  if (t.result.type === 'refused') throw new ControlError(`another agent runs with this data dir and did not hand over: ${t.result.reason}`)
  log.info('the running agent released gossip, manager and control socket; its published ports and DNS serve until this one is up')
  return t.handover
}

async function startParts(config: Readonly<Config>, log: Logger): Promise<RunningAgent> {
  const glog = log.child({ sub: 'gossip' })
  const gossip = new Gossip(config.gossip, {
    onTransportError: (err, where) => glog.warn({ where, err: err.message }, 'transport error'),
  })
  gossip.on((e) => logEvent(glog, e))
  const olog = log.child({ sub: 'overlay' })
  // A node of a cluster takes its WireGuard peers from the manager's registered list; a bare agent from gossip alone.
  const c = config.cluster
  const inCluster = c.init || c.token !== '' || c.store !== '' || existsSync(managerDbPath(config.dataDir)) || hasIdentity(config.dataDir)
  const overlay = new Overlay(config.overlay, {
    gossip, dataDir: config.dataDir, advertiseAddr: config.gossip.advertiseAddr, membership: inCluster ? 'manager' : 'gossip',
    log: (level, msg, fields) => olog[level](fields ?? {}, msg),
    // --nft-exec lib without the addon refuses to start here, before anything is set up.
    nft: createNftRunner(config.dataPlane.nftExec, { onFallback: (why) => olog.info({ why }, 'nft rules go through nft -f -: libnftables unavailable') }),
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
    'POST /v1/leave': leaveGate.route(() => void control.stop().then(() => resolveDone({ type: 'left' }))),
  }, socketAccess)
  let resolveDone = (_end: AgentEnd): void => undefined
  const done = new Promise<AgentEnd>((r) => { resolveDone = r })
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
    const kept = await resumeTags(config.overlay, config.dataDir)
    if (kept) {
      gossip.updateTags(kept) // the first alive (and the refutation after a restart) carries them: peers keep routing here
      olog.info({ subnet: kept['mesh.subnet'] ?? null }, 'resuming the overlay an earlier run left up (live restore)')
    }
    await gossip.start()
    gossipLive = true
    await rejoin(config, gossip, glog)
    stopPeers = keepPeersSnapshot(gossip, config.dataDir, config.gossip.name)
    await overlay.start()
    await startCluster(config, log, gossip, overlay, cluster, registry, onGossipKeys, socketAccess)
  } catch (err) {
    // Host state stays as it was (a running agent handing over to this one may still be using it).
    await stopCluster(cluster, { keepRules: true })
    await overlay.detach().catch(() => undefined)
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
        stopping = done.then(() => undefined) // past the point of no return: a signal now waits for the leave to end
        await handover.stop()
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
  /** Everything but the data plane: what a new process needs (ports, store, sockets); host state is kept. */
  const releaseControlPlane = async (): Promise<void> => {
    leaveGate.close()
    await handover.stop()
    await metrics.stop()
    stopPeers()
    await stopControlPlane(cluster)
    await overlay.detach().catch((err: Error) => log.error({ err: err.message }, 'overlay detach failed'))
    await gossip.stop() // no leave message: peers keep this node (suspect at worst) until it is back
    await control.stop()
  }
  const drain = async (): Promise<number> => {
    // Bounded by a timer that also keeps the process alive: the release settles within DRAIN_MS, and should a close
    // callback never come, the handover still ends and the process exits 0 (seen once in CI: the release never
    // settled, the event loop emptied and Node exited 13 on the unsettled top-level await).
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<number>((resolve) => {
      timer = setTimeout(() => {
        log.warn({ afterMs: DRAIN_MS + RELEASE_GRACE_MS }, 'the data plane did not finish letting go in time: exiting anyway')
        resolve(0)
      }, DRAIN_MS + RELEASE_GRACE_MS)
    })
    const releasing = cluster.dataPlane?.release(DRAIN_MS) ?? Promise.resolve(0)
    const cut = await Promise.race([releasing, late]).finally(() => clearTimeout(timer))
    log.info({ cut }, cut > 0 ? 'handed over: connections still open after the drain were closed' : 'handed over: listeners closed, open connections drained')
    return cut
  }
  const outgoing = new Outgoing({
    clock: realClock(), upTimeoutMs: UP_TIMEOUT_MS, name: config.gossip.name,
    steps: {
      release: async () => {
        stopping = done.then(() => undefined) // a signal now waits for the handover to end
        await releaseControlPlane()
      },
      letGo: async () => {
        await drain()
        resolveDone({ type: 'handed-over' })
      },
      resume: async (why) => {
        log.warn({ why }, 'the new agent process did not come up: starting again in this one')
        resolveDone({ type: 'resume', why, letGo: drain })
      },
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
    },
  })
  const handover = new HandoverListener(join(config.dataDir, HANDOVER_SOCKET), outgoing)
  await handover.start()
  const shutdown = (reason: string, o: { leave?: boolean } = {}): Promise<void> => {
    if (stopping) return stopping
    const leaving = leaveGate.leaving
    if (leaving) return leaving.then(() => done.then(() => undefined), () => shutdown(reason, o)) // a refused leave changed nothing
    leaveGate.close()
    log.info({ reason }, o.leave ? 'leaving the cluster' : 'stopping without leaving: membership, overlay, rules and containers stay for the next start')
    stopping = (async () => {
      try {
        if (o.leave) {
          await handover.stop()
          await metrics.stop()
          stopPeers()
          await stopCluster(cluster)
          await overlay.stop().catch((err: Error) => log.error({ err: err.message }, 'overlay teardown failed'))
          await gossip.leave()
        } else {
          await releaseControlPlane()
          await cluster.dataPlane?.stop({ keepRules: true })
        }
      } finally {
        await control.stop()
      }
      log.info(o.leave ? 'agent stopped' : 'agent stopped (still a member: the next start resumes)')
      resolveDone({ type: o.leave ? 'left' : 'stopped' })
    })()
    return stopping
  }
  return { gossip, overlay, get manager() { return cluster.manager }, metrics, shutdown, done } // promote, demote and a reopening manager change it
}

