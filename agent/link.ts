import { cpus, totalmem } from 'node:os'
import { realClock } from '../src/base/clock.ts'
import type { GossipKeyring } from '../src/api/index.ts'
import type { Config } from '../src/config/index.ts'
import type { Overlay } from '../src/overlay/index.ts'
import { FailoverTransport, HttpManagerTransport, WorkerLink, readSavedManagers, splitManagerAddress } from '../src/worker/index.ts'
import type { ClusterParts } from './cluster.ts'
import type { Logger } from './log.ts'

/**
 * The worker link as the agent wires it (src/worker): one per process, built before gossip (a join needs the
 * cluster's keyring) or by a manager node for itself. Its callbacks reach whatever `parts` holds when they fire:
 * the task runner and data plane start after it, and the manager half (promote, demote, a manager reopening once
 * its quorum is back) comes and goes under it without the link being rebuilt.
 */
export function newLink(config: Readonly<Config>, log: Logger, managers: string[], parts: ClusterParts, overlay: Overlay,
  onGossipKeys: (r: GossipKeyring) => boolean, self: boolean): WorkerLink {
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
    // A manager node's certificate is its API's too: renewed or re-rooted, the API serves it from the next handshake.
    onTls: (tls) => parts.reloadApiTls?.(tls),
    onRole: (role) => parts.role?.changed(role),
    ...(!self && config.cluster.token ? { token: config.cluster.token } : {}),
  })
}

export function nodeResources(): { nanoCpus: number; memoryBytes: number } {
  return { nanoCpus: cpus().length * 1e9, memoryBytes: totalmem() }
}

/** managers.json of an earlier run (src/worker); a broken file is logged and left out, never fatal. */
export function savedManagers(config: Readonly<Config>, log: Logger): ReturnType<typeof readSavedManagers>['list'] {
  const saved = readSavedManagers(config.dataDir)
  if (saved.problem) log.child({ sub: 'worker' }).warn(`${saved.problem}; starting from the managers given`)
  return saved.list
}

export const logFn = (l: Logger) => (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => l[level](fields ?? {}, msg)
