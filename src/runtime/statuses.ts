import type { ContainerStatus, TaskReport } from './runtime.ts'
import type { TaskNetworkAttachment } from '../api/network.ts'

/**
 * What a task's status says (pure): the texts `service ps` shows, in one place. Messages follow Swarm where it has
 * one (`task: non-zero exit (N)`), and add what is cheap to know (the last log line, OOM).
 */

export type Status = Omit<TaskReport, 'timestamp'>

export const isLive = (s: ContainerStatus['state']): boolean => s === 'running' || s === 'paused' || s === 'restarting'
export const isExited = (s: ContainerStatus['state']): boolean => s === 'exited' || s === 'dead'

/** Running: the health state as the message when there is a healthcheck, else `started`; the IP on `network`. */
export function runningStatus(st: ContainerStatus, network: string, networks: readonly TaskNetworkAttachment[] = []): Status {
  const s: Status = { state: 'running', message: st.health ?? 'started', containerId: st.id }
  const ip = st.ips[network]
  if (ip) s.ip = ip
  const addresses = networks.flatMap((n) => (st.ips[n.name] ? [{ network: n.network, ip: st.ips[n.name] as string }] : []))
  if (addresses.length > 0) s.addresses = addresses
  if (st.health) s.health = st.health
  return s
}

/** The container has exited: complete on 0, else failed with Swarm's error and what else is known. */
export function exitStatus(st: ContainerStatus, lastLogLine?: string): Status {
  if (st.exitCode === 0 && !st.error) return { state: 'complete', message: 'finished', containerId: st.id, exitCode: 0 }
  const err = st.error || `task: non-zero exit (${st.exitCode})`
  const notes = [st.oomKilled ? 'OOM killed' : '', lastLogLine ? `last log: ${lastLogLine}` : ''].filter(Boolean)
  return { state: 'failed', message: notes.length > 0 ? `${err}; ${notes.join('; ')}` : err, err, containerId: st.id, exitCode: st.exitCode }
}

/** The task was running but its container is gone. */
export function lostStatus(containerId?: string): Status {
  const err = `task: container ${containerId ? containerId.slice(0, 12) + ' ' : ''}no longer exists (removed outside mesh?)`
  return { state: 'failed', message: err, err, ...(containerId ? { containerId } : {}) }
}

/** The engine refused: `rejected` before the container could start, `failed` when `start` itself failed. */
export function engineStatus(state: 'rejected' | 'failed', engineMessage: string, containerId?: string): Status {
  return { state, message: engineMessage, err: engineMessage, ...(containerId ? { containerId } : {}) }
}

/** Two statuses say the same thing (the runner drops the repeat). */
export function sameStatus(a: Status, b: Status): boolean {
  return a.state === b.state && a.message === b.message && a.err === b.err && a.containerId === b.containerId &&
    a.exitCode === b.exitCode && a.ip === b.ip && a.health === b.health && JSON.stringify(a.addresses) === JSON.stringify(b.addresses)
}
