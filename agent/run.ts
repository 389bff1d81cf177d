import type { Config } from '../src/config/index.ts'
import { startAgent, type AgentEnd, type RunningAgent } from './agent.ts'
import type { Logger } from './log.ts'

/**
 * `mesh agent` in the foreground until it ends: signals and the process's exit code.
 *
 * - SIGTERM (systemd stop and restart; the unit's KillMode=process sends it to the agent alone): stop WITHOUT
 *   leaving, as dockerd with live-restore and serf's default: membership, overlay, subnet lease, nft rules and task
 *   containers stay; the next start adopts them.
 * - SIGINT (Ctrl-C; serf leaves on an interrupt too): leave (peers see `left`, the overlay is torn down).
 * - A second signal exits at once (code 1).
 * - Handed over to a new process (agent/handover.ts): exit 0. Asked to resume (the new process failed before it
 *   was up): start again in this process, then let the old data plane go.
 * Resolves with the exit code.
 */
export async function runAgent(config: Readonly<Config>, log: Logger, o: {
  exit(code: number): never
  /** Start the agent. Default startAgent (a test passes fakes). */
  start?: (config: Readonly<Config>, log: Logger) => Promise<Pick<RunningAgent, 'shutdown' | 'done'>>
}): Promise<number> {
  const start = o.start ?? startAgent
  let agent: Pick<RunningAgent, 'shutdown' | 'done'> | null = null
  let signals = 0
  let pending: NodeJS.Signals | null = null
  let stopped: Promise<void> | null = null
  const stop = (a: Pick<RunningAgent, 'shutdown'>, sig: NodeJS.Signals): void => {
    stopped = a.shutdown(sig, { leave: sig === 'SIGINT' }).catch((err: Error) => { log.error({ err: err.message }, 'shutdown failed') })
  }
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting now')
      o.exit(1)
    }
    // During start the agent stops as soon as it is up (a stop then, not a half-started process killed outright).
    if (!agent) {
      pending = sig
      log.info({ signal: sig }, 'signal during start: the agent stops once it is up (a second signal exits now)')
      return
    }
    stop(agent, sig)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  try {
    agent = await start(config, log)
  } catch (err) {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    throw err
  }
  if (pending) stop(agent, pending)
  try {
    for (;;) {
      const end: AgentEnd = await agent.done
      if (end.type !== 'resume') {
        await stopped
        return 0
      }
      try {
        agent = await start(config, log)
      } catch (err) {
        log.error({ err: (err as Error).message }, 'cannot start again after an abandoned handover; exiting')
        await end.letGo()
        return 1
      }
      await end.letGo()
      log.info('resumed: this process serves again')
    }
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
}
