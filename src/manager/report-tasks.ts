import { TASK_STATES, type NodeRecord } from '../api/types.ts'
import type { Cidr } from '../base/cidr.ts'
import { checkNetworkAddresses, reportedAddresses } from './networks/report.ts'
import type { Store } from './store.ts'
import { taskAddressProblem } from './task-address.ts'
import { checkTaskReport, type TaskReport } from './task-report.ts'

export interface ReportContext {
  store: Store
  /** The overlay range: a node that has not registered its subnet yet may report any address in it. */
  overlayRange: Cidr
  now: () => number
  log: (level: 'warn', msg: string, fields?: Record<string, unknown>) => void
}

/**
 * An agent reports task states; states only move forward; only the task's own node may report. Each report is
 * checked on its own before anything is stored (task-report.ts: shape, state, fields; task-address.ts: the address
 * must be an IPv4 of the node's overlay subnet): a bad one is skipped and logged, the others apply in one
 * transaction. Resolves to how many were applied.
 */
export async function applyTaskReports(c: ReportContext, node: NodeRecord, updates: readonly unknown[]): Promise<number> {
  const checked = updates.map(checkTaskReport)
  // The node's REGISTERED subnet; until it registers one, any address of the overlay range.
  const subnet = c.store.getNode(node.id)?.overlay?.subnet ?? null
  const good: TaskReport[] = []
  const refused: { problem: string; taskId?: string }[] = []
  for (const r of checked) {
    if (!('report' in r)) refused.push(r)
    else {
      // A task on user networks reports an address per network, each in the node's slice (networks/report.ts).
      const task = c.store.getTask(r.report.taskId)
      const problem = task?.networks
        ? checkNetworkAddresses(r.report, task, node.id, (id) => c.store.getObject('network', id))
        : r.report.ip ? taskAddressProblem(r.report.ip, subnet, c.overlayRange) : null
      if (problem) refused.push({ problem, taskId: r.report.taskId })
      else good.push(r.report)
    }
  }
  const applied = good.length === 0 ? 0 : await c.store.transact((tx) => {
    let n = 0
    for (const u of good) {
      const t = tx.getTask(u.taskId)
      if (!t || t.nodeId !== node.id) continue
      if (TASK_STATES.indexOf(u.status.state) < TASK_STATES.indexOf(t.status.state)) continue
      // startedAt: when the task first ran (the update monitor tells "failed at start" from "died later").
      const startedAt = t.status.startedAt ?? (u.status.state === 'running' ? u.status.timestamp || c.now() : undefined)
      const status = { ...u.status, ...(startedAt !== undefined ? { startedAt } : {}) }
      const reported = t.networks ? reportedAddresses(u, t) : undefined
      const networks = t.networks && reported ? t.networks.map((a) => ({ ...a, ...addressOf(reported, a.network) })) : t.networks
      const ip = t.networks && reported ? networks?.[0]?.ip : u.ip
      tx.putTask({ ...t, status, ...(ip ? { ip } : {}), ...(networks ? { networks } : {}), updatedAt: c.now() })
      n++
    }
    return n
  })
  for (const r of refused) c.log('warn', `task status refused: ${r.problem}`, { task: r.taskId, node: node.hostname })
  return applied
}

function addressOf(addresses: readonly { network: string; ip: string }[], network: string): { ip?: string } {
  const ip = addresses.find((a) => a.network === network)?.ip
  return ip ? { ip } : {}
}
