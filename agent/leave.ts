import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { MeshError } from '../src/base/errors.ts'
import { CATALOG_FILE } from '../src/catalog/index.ts'
import { PEERS_FILE as GOSSIP_PEERS_FILE } from '../src/gossip/index.ts'
import { MANAGER_DB_FILE } from '../src/manager/index.ts'
import { LEASE_FILE, PEERS_FILE as OVERLAY_PEERS_FILE } from '../src/overlay/index.ts'
import { GOSSIP_KEYS_FILE, NODE_FILE, TLS_DIR } from '../src/worker/index.ts'
import type { Route } from './control.ts'

/**
 * `mesh leave [--force]` inside the agent (docker swarm leave): the order of the steps and what is forgotten. The
 * agent supplies each step (agent.ts); this file decides nothing about sockets or processes.
 *
 * 1. tell the manager (a worker: POST /v1/agent/leave with its node certificate; the manager marks it down, revokes
 *    its overlay registration and replaces its tasks). A manager refuses to leave without --force: it holds the
 *    cluster's only store. A worker whose manager cannot be reached or refuses fails without --force (nothing is
 *    changed), and with --force leaves locally with a warning (the manager shows it Down until `mesh node rm`);
 * 2. stop its tasks' containers and the cluster parts (link, runner, data plane, manager, API);
 * 3. gossip leave (graceful: peers see `left`, not `failed`);
 * 4. tear the overlay down (routes, WireGuard, firewall, the Docker network once unused);
 * 5. forget the cluster: every file in `clusterStateFiles`, so a restart neither rejoins nor serves it.
 * The agent then exits 0 once the CLI has its answer.
 */

/** `mesh leave` refused (a manager without --force, a worker whose manager is unreachable without --force, no cluster). */
export class LeaveRefusedError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_LEAVE_REFUSED', message, options)
  }
}

/** The steps of a leave, as the agent performs them. */
export interface LeavingNode {
  dataDir: string
  /** This node holds the cluster's store (manager.db). */
  isManager: boolean
  /** This node belongs to a cluster (manager, or joined). */
  inCluster: boolean
  /** Tell the manager this node leaves (workers); rejects with a one-line reason when unreachable or refused. */
  tellManager(): Promise<void>
  /** Stop the link, remove this node's task containers, stop the cluster parts. */
  stopTasks(): Promise<void>
  gossipLeave(): Promise<void>
  overlayDown(): Promise<void>
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void
}

export interface LeaveResult {
  /** One line each, for the CLI's stderr (e.g. the manager was not told). */
  warnings: string[]
  /** What was removed from the data dir (relative names). */
  forgot: string[]
}

/** The data dir entries that tie a node to its cluster (the WireGuard key, logs and the control socket stay). */
export function clusterStateFiles(isManager: boolean): string[] {
  const worker = [NODE_FILE, TLS_DIR, GOSSIP_KEYS_FILE, CATALOG_FILE, GOSSIP_PEERS_FILE, OVERLAY_PEERS_FILE, LEASE_FILE]
  return isManager ? [...worker, MANAGER_DB_FILE, `${MANAGER_DB_FILE}-wal`, `${MANAGER_DB_FILE}-shm`, `${MANAGER_DB_FILE}-journal`] : worker
}

export const MANAGER_REFUSAL = "this node is a manager: leaving removes the cluster's only manager and its state (use --force to leave anyway)"

/** Run a leave; throws LeaveRefusedError (nothing changed) when it may not go ahead. */
export async function leaveCluster(n: LeavingNode, force: boolean): Promise<LeaveResult> {
  if (!n.inCluster) throw new LeaveRefusedError('this node is not part of a cluster')
  if (n.isManager && !force) throw new LeaveRefusedError(MANAGER_REFUSAL)
  const warnings: string[] = []
  if (!n.isManager) {
    try {
      await n.tellManager()
    } catch (err) {
      const why = (err as Error).message
      if (!force) throw new LeaveRefusedError(`cannot tell the manager that this node leaves: ${why} (use --force to leave anyway)`, { cause: err })
      warnings.push(`the manager was not told (${why}): it shows this node Down until mesh node rm there`)
    }
  }
  await step(n, 'stop tasks', () => n.stopTasks(), warnings)
  await step(n, 'gossip leave', () => n.gossipLeave(), warnings)
  await step(n, 'overlay teardown', () => n.overlayDown(), warnings)
  const forgot: string[] = []
  for (const f of clusterStateFiles(n.isManager)) {
    try {
      rmSync(join(n.dataDir, f), { recursive: true, force: true })
      forgot.push(f)
    } catch (err) {
      warnings.push(`cannot remove ${join(n.dataDir, f)}: ${(err as Error).message}; remove it by hand, or the node rejoins on restart`)
    }
  }
  n.log('info', 'left the cluster', { forgot })
  return { warnings, forgot }
}

/** A step past the point of no return: its failure is logged and reported, and the leave goes on. */
async function step(n: LeavingNode, what: string, fn: () => Promise<void>, warnings: string[]): Promise<void> {
  try {
    await fn()
  } catch (err) {
    n.log('error', `leave: ${what} failed`, { err: (err as Error).message })
    warnings.push(`${what} failed: ${(err as Error).message}`)
  }
}

/**
 * The control socket's `POST /v1/leave` around a leave (one at a time): refused while the agent starts (not armed
 * yet), stops, or already leaves; a refused leave (nothing changed) may be asked again; a done one calls `left`
 * once the CLI has its answer (the agent then stops its control socket and exits).
 */
export class LeaveGate {
  #run: ((force: boolean) => Promise<unknown>) | null = null
  #leaving: Promise<unknown> | null = null
  #closed = false

  /** The agent is up: leaves may run. */
  arm(run: (force: boolean) => Promise<unknown>): void {
    if (!this.#closed) this.#run = run
  }

  /** The agent stops (a signal) or has left: no more leaves. */
  close(): void {
    this.#closed = true
    this.#run = null
  }

  /** The leave in flight, if any (a signal waits for it). */
  get leaving(): Promise<unknown> | null {
    return this.#leaving
  }

  /** The route: `?force=1`; `left` runs after the answer is written. */
  route(left: () => void): Route {
    return async (q, reply) => {
      const run = this.#run
      if (!run) throw new LeaveRefusedError(this.#closed || this.#leaving ? 'the agent is already stopping or leaving' : 'the agent is still starting; try again in a moment')
      this.#run = null
      this.#leaving = run(q.get('force') === '1' || q.get('force') === 'true')
      try {
        const r = await this.#leaving
        this.#closed = true
        reply.afterReply(left)
        return r
      } catch (err) {
        if (!this.#closed) this.#run = run
        throw err
      } finally {
        this.#leaving = null
      }
    }
  }
}
