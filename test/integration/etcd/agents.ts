/**
 * In-process agents of a managed-etcd cluster for the manager tests (promote.test.ts, reopen.test.ts): the agent's
 * own cluster wiring (agent/cluster.ts openCluster, agent/manager-half.ts, agent/manager-role.ts) with real `etcd`
 * members on 127.0.0.x, free ports and temp data dirs; gossip, overlay and the data plane are stand-ins (the
 * control plane does not need them). Teardown stops each agent's control plane: its etcd member by PID.
 */
import type { Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { openCluster, stopControlPlane, type ClusterParts } from '../../../agent/cluster.ts'
import { serveManager, type ManagerContext } from '../../../agent/manager-half.ts'
import { ManagerRole } from '../../../agent/manager-role.ts'
import type { Logger } from '../../../agent/log.ts'
import { defaultConfig, type Config } from '../../../src/config/index.ts'
import { jsonRequest } from '../../../src/api/index.ts'
import type { Gossip } from '../../../src/gossip/index.ts'
import type { Overlay } from '../../../src/overlay/index.ts'
import type { TaskRecord } from '../../../src/api/types.ts'
import { freePort } from '../../support/etcd.ts'

export interface TestAgent {
  name: string
  config: Config
  parts: ClusterParts
  /** Every log line of this agent (pino JSON). */
  lines: string[]
  log: Logger
  /** Each task list the worker link handed to the (stand-in) task runner. */
  assignments: TaskRecord[][]
}

export function emptyParts(): ClusterParts {
  return { store: null, manager: null, servers: [], link: null, runner: null, dataPlane: null, init: null }
}

/** An agent's config on `addr` (127.0.0.x): a temp data dir removed at teardown, free etcd ports, `cluster` on top. */
export async function agentConfig(t: Test, name: string, addr: string, cluster: Partial<Config['cluster']>): Promise<Config> {
  const dataDir = mkdtempSync(join(tmpdir(), `mesh-${name}-`))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const base = defaultConfig('local')
  return {
    ...base, dataDir,
    gossip: { ...base.gossip, name, bindAddr: addr, advertiseAddr: addr },
    cluster: { ...base.cluster, etcdClientPort: await freePort(addr), etcdPeerPort: await freePort(addr), ...cluster },
  }
}

export async function testAgent(t: Test, name: string, addr: string, cluster: Partial<Config['cluster']>): Promise<TestAgent> {
  const config = await agentConfig(t, name, addr, cluster)
  const lines: string[] = []
  const log = pino({ level: 'info' }, { write: (line: string) => { lines.push(line) } })
  const a: TestAgent = { name, config, parts: emptyParts(), lines, log, assignments: [] }
  t.teardown(() => stopControlPlane(a.parts))
  return a
}

/** What serveManager needs of a running agent: gossip and overlay stand-ins, a registry, owner-only sockets. */
function context(name: string): ManagerContext {
  const gossip = { on: () => () => undefined, members: () => [], config: { name } } as unknown as Gossip
  return { gossip, overlay: overlayStandIn, registry: new Registry(), onGossipKeys: () => true, access: { mode: 0o600 } }
}

const overlayStandIn = { setPeers: () => undefined, status: async () => null } as unknown as Overlay

/**
 * The agent's start without gossip and data plane: openCluster, then the manager half (serveManager, or the
 * background reopen of a restarted manager) and the worker link with a stand-in task runner, as startCluster.
 */
export async function startAgent(a: TestAgent, o: { quorumLogMs?: number } = {}): Promise<void> {
  a.parts = emptyParts()
  const parts = a.parts
  try {
    await openCluster(a.config, a.log, overlayStandIn, parts, () => true)
    const ctx = context(a.name)
    parts.role = new ManagerRole({ config: a.config, log: a.log, parts, ctx, ...o })
    if (parts.manager) await serveManager(a.config, a.log, ctx, parts)
  } catch (err) {
    await stopControlPlane(parts)
    throw err
  }
  parts.runner = { setAssignments: (tasks: TaskRecord[]) => { a.assignments.push(tasks) }, setValues: () => undefined, stop: async () => undefined } as unknown as ClusterParts['runner']
  parts.link?.start()
  if (parts.reopenManager) parts.role.reopen()
}

/** Whether a log line with this message (or starting with it) was written. */
export function logged(a: TestAgent, msg: string): boolean {
  return a.lines.some((l) => (JSON.parse(l) as { msg?: string }).msg?.startsWith(msg) === true)
}

/** `GET path` on the agent's manager.sock (what the CLI on that node does). */
export async function local(a: TestAgent, path: string): Promise<{ status: number; body: unknown }> {
  return jsonRequest({ socketPath: join(a.config.dataDir, 'manager.sock') }, { method: 'GET', path, timeoutMs: 10_000 })
}

/**
 * A restarted manager's half, as startCluster opens it once the worker side runs (openCluster set reopenManager):
 * resolves when it serves (or gave up: then parts.manager is null).
 */
export async function reopenManager(config: Config, log: Logger, parts: ClusterParts): Promise<void> {
  parts.role = new ManagerRole({ config, log, parts, ctx: context(config.gossip.name) })
  parts.role.reopen()
  await parts.role.settled
}
