import type { NetworkRecord } from '../../api/network.ts'
import type { TaskRecord } from '../../api/types.ts'
import { isIpv4 } from '../../base/values.ts'
import type { TaskReport } from '../task-report.ts'
import { addressIn } from './ipam.ts'

/**
 * The addresses a report gives for a task on user networks: its `addresses`, or — from a runtime that reports only
 * `ip` — that one as the task's address on its first network.
 */
export function reportedAddresses(report: Pick<TaskReport, 'ip' | 'addresses'>, task: Pick<TaskRecord, 'networks'>): { network: string; ip: string }[] | undefined {
  if (report.addresses) return report.addresses
  const first = task.networks?.[0]
  return report.ip !== undefined && first ? [{ network: first.network, ip: report.ip }] : undefined
}

/**
 * The check on the addresses a node reports for a task on user networks (pure). They go into every agent's DNS
 * answers and VIP rules, so each must be a canonical IPv4 inside the reporting node's slice of that network, on a
 * network the task is on; `ip` (the task's address on its first network) must be that network's. A report without
 * any address only moves the state. Null: the report may be stored.
 */
export function checkNetworkAddresses(
  report: Pick<TaskReport, 'ip' | 'addresses'>, task: Pick<TaskRecord, 'networks'>, nodeId: string,
  network: (id: string) => NetworkRecord | undefined,
): string | null {
  const on = task.networks ?? []
  const addresses = reportedAddresses(report, task) ?? []
  for (const a of addresses) {
    if (!on.some((n) => n.network === a.network)) return `network ${JSON.stringify(a.network)} is not one of the task's networks`
    if (!isIpv4(a.ip)) return `task address ${JSON.stringify(a.ip)} is not a dotted-quad IPv4 address`
    const n = network(a.network)
    const slice = n?.slices[nodeId]
    if (!slice) return `the node holds no slice of network "${n?.spec.name ?? a.network}"`
    if (!addressIn(a.ip, slice)) return `task address ${a.ip} is outside the node's slice ${slice} of network "${n?.spec.name}"`
  }
  if (report.ip !== undefined) {
    const first = on[0]
    const mine = addresses.find((a) => a.network === first?.network)?.ip
    if (mine === undefined || mine !== report.ip) return `task address ${JSON.stringify(report.ip)} must be the task's address on its first network${first ? ` "${first.name}"` : ''}`
  }
  return null
}
