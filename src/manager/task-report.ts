import { TASK_STATES, type TaskState, type TaskStatus } from '../api/types.ts'

/**
 * The check on one task report a node sends (`POST /v1/agent/status`), pure: the shape and every field of the
 * status, before anything is stored. The result keeps only the known fields (a node cannot add fields of its own to
 * the task record), with text bounded. One bad report is skipped and logged by the manager; the others apply.
 */

export interface TaskReport {
  taskId: string
  status: TaskStatus
  ip?: string
  /** A task on user networks: its address on each (network id), checked against the node's slices. */
  addresses?: { network: string; ip: string }[]
}

/** Most networks one report may name (a task is on a handful; a flood is refused). */
export const MAX_REPORT_ADDRESSES = 32

/** Longest message/error text kept from a report, in characters (the engine's errors fit; a flood does not). */
export const MAX_REPORT_TEXT = 4096
const HEALTH = new Set(['healthy', 'unhealthy', 'starting'])
/** Docker's 64-hex id in practice; any short word-like id (runtimes and fakes) is taken, nothing with spaces or controls. */
const CONTAINER_ID = /^[\w.:-]{1,128}$/

/** The report as the manager may store it, or the reason it cannot be taken. */
export function checkTaskReport(u: unknown): { report: TaskReport } | { problem: string; taskId?: string } {
  if (!u || typeof u !== 'object' || Array.isArray(u)) return { problem: 'a task report must be an object' }
  const r = u as Record<string, unknown>
  if (typeof r.taskId !== 'string' || r.taskId === '' || r.taskId.length > 64) return { problem: 'taskId must be a non-empty string' }
  const taskId = r.taskId
  const s = r.status as Record<string, unknown> | null | undefined
  if (!s || typeof s !== 'object' || Array.isArray(s)) return { problem: 'status must be an object', taskId }
  if (!TASK_STATES.includes(s.state as TaskState)) return { problem: `task state ${JSON.stringify(s.state)} is not a task state`, taskId }
  if (typeof s.message !== 'string') return { problem: 'status.message must be a string', taskId }
  if (typeof s.timestamp !== 'number' || !Number.isFinite(s.timestamp) || s.timestamp < 0) return { problem: 'status.timestamp must be a time in ms', taskId }
  if (s.err !== undefined && typeof s.err !== 'string') return { problem: 'status.err must be a string', taskId }
  if (s.containerId !== undefined && (typeof s.containerId !== 'string' || !CONTAINER_ID.test(s.containerId))) return { problem: 'status.containerId must be a container id', taskId }
  if (s.exitCode !== undefined && !Number.isInteger(s.exitCode)) return { problem: 'status.exitCode must be an integer', taskId }
  if (s.health !== undefined && !HEALTH.has(s.health as string)) return { problem: `status.health ${JSON.stringify(s.health)} must be healthy, unhealthy or starting`, taskId }
  if (r.ip !== undefined && typeof r.ip !== 'string') return { problem: 'ip must be a string', taskId }
  const addresses = r.addresses
  if (addresses !== undefined && !(Array.isArray(addresses) && addresses.length <= MAX_REPORT_ADDRESSES && addresses.every(isAddress))) {
    return { problem: `addresses must be a list of at most ${MAX_REPORT_ADDRESSES} {network, ip}`, taskId }
  }
  const status: TaskStatus = { state: s.state as TaskState, message: s.message.slice(0, MAX_REPORT_TEXT), timestamp: s.timestamp }
  if (s.err !== undefined) status.err = (s.err as string).slice(0, MAX_REPORT_TEXT)
  if (s.containerId !== undefined) status.containerId = s.containerId as string
  if (s.exitCode !== undefined) status.exitCode = s.exitCode as number
  if (s.health !== undefined) status.health = s.health as TaskStatus['health']
  const report: TaskReport = { taskId, status, ...(r.ip ? { ip: r.ip as string } : {}) }
  if (Array.isArray(addresses)) report.addresses = addresses.map((a: { network: string; ip: string }) => ({ network: a.network, ip: a.ip }))
  return { report }
}

function isAddress(a: unknown): boolean {
  if (!a || typeof a !== 'object' || Array.isArray(a)) return false
  const { network, ip } = a as Record<string, unknown>
  return typeof network === 'string' && network !== '' && network.length <= 64 && typeof ip === 'string' && ip.length <= 15
}
