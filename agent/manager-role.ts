import { ConfigError } from '../src/base/errors.ts'
import type { Config } from '../src/config/index.ts'
import { hasManagedMember, QuorumWaitEnded, startManagedEtcd, wipeManagedEtcd } from './etcd-member.ts'
import { joinManagers, openManager, serveManager, stopManager, type ManagerContext } from './manager-half.ts'
import type { ClusterParts } from './cluster.ts'
import type { Logger } from './log.ts'

/** How often a manager still waiting for its quorum says so (`manager waiting for quorum: …`). */
export const QUORUM_LOG_MS = 30_000
/** After a failed attempt to open the manager half (a manager unreachable for the grant, the store), the next one. */
export const REOPEN_RETRY_MS = 5_000

export interface ManagerRoleOptions {
  config: Readonly<Config>
  log: Logger
  parts: ClusterParts
  ctx: ManagerContext
  /** How often `manager waiting for quorum: …` is logged, ms. Default QUORUM_LOG_MS (a test passes less). */
  quorumLogMs?: number
}

/**
 * The manager half on a running agent (issue 15), beside a worker side that keeps serving:
 *
 * - `changed('manager')`: the worker link heard that this node was promoted (its id is in the `{managers}` list
 *   every manager pushes; the link has renewed its certificate for the manager role). The member grant is asked
 *   of the link's current manager, the member starts in join mode, the manager opens on it and serves — the same
 *   steps as a manager-token join (manager-half.ts joinManagers, serveManager). Retried until it serves, the role
 *   changes back or the agent stops.
 * - `changed('worker')`: demoted. The other managers removed the etcd member first, so the member exits and
 *   retireOnRemoval (etcd-member.ts) stops the manager half; here a promotion still under way is abandoned.
 * - `reopen()`: a manager restarted from its data dir. Its data plane already serves (from the saved catalog and the
 *   worker link to another manager); its member restarts and waits for a quorum with no deadline, saying
 *   `manager waiting for quorum: …` every 30 s, then the manager opens and serves. Only a configuration error
 *   (ConfigError) of the member ends the retrying, in one logged line: the worker side keeps serving. A manager
 *   node with no member yet (promoted while its agent was stopped) asks for one as a promote does.
 * `stop()` ends any attempt (the agent stops); the half itself is stopped by stopControlPlane.
 */
export class ManagerRole {
  readonly #o: ManagerRoleOptions
  #want: 'manager' | 'worker' | null = null
  #running: Promise<void> | null = null
  #abort = new AbortController()
  #stopped = false

  constructor(o: ManagerRoleOptions) {
    this.#o = o
  }

  /** Resolves once the attempt under way (if any) has ended: serving, given up, or stopped. */
  get settled(): Promise<void> {
    return this.#running ?? Promise.resolve()
  }

  changed(role: 'manager' | 'worker'): void {
    this.#want = role
    if (role === 'manager') return this.#start('promote')
    if (this.#running) this.#o.log.child({ sub: 'manager' }).info('demoted while becoming a manager: the promotion is abandoned')
  }

  reopen(): void {
    this.#want = 'manager'
    this.#start('reopen')
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    await this.#running
  }

  #start(kind: 'promote' | 'reopen'): void {
    if (this.#stopped || this.#running || this.#o.parts.manager) return
    this.#running = this.#loop(kind).finally(() => { this.#running = null })
  }

  #going(): boolean {
    return !this.#stopped && this.#want === 'manager' && !this.#o.parts.manager
  }

  async #loop(kind: 'promote' | 'reopen'): Promise<void> {
    const { config, log, parts, ctx } = this.#o
    const mlog = log.child({ sub: 'manager' })
    const signal = this.#abort.signal
    if (kind === 'promote') mlog.info('promoted to a manager: asking for an etcd member and starting the manager beside the worker side')
    for (let attempt = 1; this.#going(); attempt++) {
      const restart = kind === 'reopen' && hasManagedMember(config.dataDir)
      try {
        if (restart) {
          parts.etcd = await startManagedEtcd(config, log, {
            mode: { kind: 'restart' },
            quorum: { everyMs: this.#o.quorumLogMs ?? QUORUM_LOG_MS, signal, waiting: (why) => mlog.warn({ why }, `manager waiting for quorum: ${why}`) },
          })
          await openManager(config, log, parts)
        } else {
          const joined = await joinManagers(config, log, parts, parts.transport?.address)
          if ('refused' in joined) {
            mlog.warn({ why: joined.refused }, 'this node is a manager but the cluster grants it no etcd member (SQLite or an external etcd): it runs as a worker')
            return
          }
        }
        if (this.#stopped || this.#want !== 'manager') {
          await stopManager(parts)
          return
        }
        await serveManager(config, log, ctx, parts)
        mlog.info({ attempt }, kind === 'promote' ? 'this node now runs a manager (promoted at runtime)' : 'the manager opened: its quorum is back')
        return
      } catch (err) {
        await stopManager(parts).catch(() => undefined)
        if (err instanceof QuorumWaitEnded) {
          if (err.why === 'removed') {
            await wipeManagedEtcd(config.dataDir, null)
            mlog.warn('this node is no longer a manager (demoted or removed while it was away): <data-dir>/etcd was deleted; it runs as a worker')
          }
          return
        }
        if (err instanceof ConfigError && restart) {
          mlog.error({ err: err.message }, 'the manager cannot open (configuration): this node serves as a worker only until the agent restarts')
          return
        }
        if (this.#stopped) return
        mlog.warn({ err: (err as Error).message, attempt }, 'the manager half did not open; trying again')
        // A grant refused for want of a manager's certificate: the renewal that came with the promotion may have failed.
        if (!restart) await parts.link?.renewCertificate('promoted to a manager').catch(() => undefined)
        await pause(REOPEN_RETRY_MS, signal)
      }
    }
  }
}

/** setTimeout that ends early when the agent stops. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}
