import { Etcd3 } from 'etcd3'
import { defaultEtcdTiming } from './config.ts'
import { etcdClient } from './client.ts'
import { LeaderElection } from './leader.ts'
import { EtcdManagerHealth } from './manager-health.ts'
import type { MemberTls } from './tls.ts'

type LogFn = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void

export interface ManagerLeadershipOptions {
  /** A client of this manager's etcd (the caller owns it and closes it after stop()). */
  readonly client: Etcd3
  /** This manager's node id (what it announces; a managed member is named by it too). */
  readonly nodeId: string
  /** The cluster's certificates for etcd: member probes use them. Default: plain (a test's etcd). */
  readonly tls?: MemberTls
  /** Lease TTL, s. Default EtcdTiming's (5 s). */
  readonly ttlSeconds?: number
  /** How often the managers' health is probed, ms. Default 2000. */
  readonly probeIntervalMs?: number
  readonly log?: LogFn
}

/** What the agent hands a Manager on etcd (ManagerOptions.leadership and .managerProbe), and their lifecycle. */
export interface ManagerLeadership {
  readonly leadership: LeaderElection
  readonly managerProbe: EtcdManagerHealth
  /** Starts campaigning and probing; resolves after the first round of each. */
  start(): Promise<void>
  /** Resigns (another manager leads at once) and stops probing. */
  stop(): Promise<void>
}

/**
 * The leader election and the managers' health probe of a manager on etcd (the agent calls this when its store is
 * etcd, and passes both to its Manager).
 */
export function managerLeadership(o: ManagerLeadershipOptions): ManagerLeadership {
  const leadership = new LeaderElection({
    client: o.client, nodeId: o.nodeId, ttlSeconds: o.ttlSeconds ?? defaultEtcdTiming().leaseTtlSeconds, ...(o.log ? { log: o.log } : {}),
  })
  const tls = o.tls
  const managerProbe = new EtcdManagerHealth({
    client: o.client,
    memberClient: (urls) => (tls ? etcdClient({ endpoints: urls, tls, callTimeoutMs: 1000, dialTimeoutMs: 1000 }) : new Etcd3({ hosts: [...urls], dialTimeout: 1000 })),
    ...(o.probeIntervalMs !== undefined ? { intervalMs: o.probeIntervalMs } : {}), ...(o.log ? { log: o.log } : {}),
  })
  return {
    leadership, managerProbe,
    start: async () => {
      await Promise.all([leadership.start(), managerProbe.start()])
    },
    stop: async () => {
      managerProbe.stop()
      await leadership.stop()
    },
  }
}
