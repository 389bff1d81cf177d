import { Command } from 'commander'
import type { ClusterInfo } from '../src/api/info.ts'
import { managerClient, type ApiClient } from './client.ts'
import { renderInspect } from './format/list.ts'

/**
 * `mesh info` (docker info's Swarm part), from GET /v1/info: the cluster, its managers, nodes and tasks by state,
 * services, the overlay and VIP ranges, the published ports, the CA, gossip encryption, versions. `--format` over
 * the answer's fields (`{{.ClusterId}}`, `{{json .TasksByState}}`; case-insensitive).
 */
export function renderInfo(i: ClusterInfo, format?: string): string {
  if (format !== undefined) return renderInspect([i], format)
  const byState = (m: Record<string, number>) => {
    const parts = Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${n} ${k}`)
    return parts.length > 0 ? ` (${parts.join(', ')})` : ''
  }
  const row = (k: string, v: string) => ` ${`${k}:`.padEnd(17)}${v}\n`
  const ports = i.publishedPorts.map((p) => `${p.published}/${p.protocol} → ${p.service}:${p.target}${p.mode === 'host' ? ' (host)' : ''}`)
  return 'Cluster:\n' +
    row('Cluster ID', i.clusterId) +
    row('Managers', `${i.managers.length}${i.managers.length ? ` (${i.managers.map((m) => `${m.hostname} ${m.addr} ${m.state}`).join(', ')})` : ''}`) +
    row('Nodes', `${i.nodes}${byState(i.nodesByState)}`) +
    row('Services', String(i.services)) +
    row('Tasks', `${i.tasks}${byState(i.tasksByState)}`) +
    row('Overlay range', i.overlayRange) +
    row('VIP range', i.vipRange) +
    row('Published ports', ports.length ? ports.join(', ') : 'none') +
    row('CA', `sha256:${i.digest}, expires ${i.caExpiresAt}${i.caRotating ? ' (rotating)' : ''}`) +
    row('Gossip', i.gossipEncrypted ? 'encrypted' : 'not encrypted') +
    row('Version', `mesh ${i.version}, API ${i.apiVersion}`)
}

export function infoCommand(client: () => ApiClient = managerClient): Command {
  return new Command('info').description('show the cluster: managers, nodes, services, tasks, ranges, ports, CA, versions (on a manager)')
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.ClusterId}}\'')
    .action(async (f: { format?: string }) => {
      process.stdout.write(renderInfo(await client().request<ClusterInfo>('GET', '/v1/info'), f.format))
    })
}
