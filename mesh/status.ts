import { Command } from 'commander'
import { controlGet, type AgentStatus, type DataPlaneStatus, type OverlayStatus } from '../src/api/index.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { agentTarget } from './client.ts'
import { formatAgo, table } from './table.ts'

export function statusCommand(): Command {
  return new Command('status')
    .description('show the cluster as the local agent sees it: members, overlay peers, service VIPs (every tcp/udp port, serving tasks), published ports with their endpoints (health, open connections, bytes) and the DNS')
    .option('--json', 'print JSON for scripts')
    .option('--data-dir <dir>', `the agent's data dir (default ${DEFAULT_DATA_DIR}, env MESH_DATA_DIR)`)
    .addHelpText('after', '\nExample:\n  mesh status\n  mesh status --json | jq \'.members[] | select(.state != "alive")\'')
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      const status = await controlGet<AgentStatus>(agentTarget('mesh status', opts.dataDir), '/v1/status')
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
        return
      }
      const members = [...status.members].sort((a, b) => a.name.localeCompare(b.name))
      const alive = members.filter((m) => m.state === 'alive').length
      process.stdout.write(`Node: ${status.node} (${status.address})   Members: ${members.length}, ${alive} alive\n`)
      if (status.gossipKeys) process.stdout.write(`${formatGossipKeys(status.gossipKeys)}\n`)
      process.stdout.write('\n')
      process.stdout.write(table(['NAME', 'ADDRESS', 'STATE', 'INCARNATION', 'LAST CHANGE', 'TAGS'], members.map((m) => [
        m.name + (m.name === status.node ? ' *' : ''), m.address, m.state, String(m.incarnation), formatAgo(m.sinceChangeMs),
        Object.entries(m.tags).filter(([k]) => !k.startsWith('mesh.')).map(([k, v]) => `${k}=${v}`).join(','),
      ])))
      if (status.overlay) process.stdout.write(`\n${formatOverlay(status.overlay)}`)
      if (status.dataPlane) process.stdout.write(`\n${formatDataPlane(status.dataPlane)}`)
    })
}

/** One line: whether gossip is encrypted, how many keys, and the primary's fingerprint (never a key). */
export function formatGossipKeys(k: NonNullable<AgentStatus['gossipKeys']>): string {
  if (!k.encrypted) return 'Gossip: NOT encrypted (--gossip-plaintext)'
  const primary = k.keys.find((x) => x.primary)?.fingerprint ?? '?'
  return `Gossip: encrypted, ${k.keys.length} key${k.keys.length === 1 ? '' : 's'} installed, primary ${primary}`
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** `kernel WireGuard`, or `wireguard-go 0.0.20230223 GSO/GRO, UDP buffers 14.0 MiB/14.0 MiB` with what is known. */
export function formatWireGuard(o: OverlayStatus): string {
  if (o.kind === 'kernel') return 'kernel WireGuard'
  const w = o.wireguard
  if (!w || w.kind !== 'userspace') return 'wireguard-go'
  const parts = [`wireguard-go${w.version ? ` ${w.version}` : ''}`]
  if (w.gso !== null) parts.push(w.gso ? 'GSO/GRO' : 'no GSO/GRO')
  if (w.udpRcvBufBytes !== null && w.udpSndBufBytes !== null) {
    parts.push(`UDP buffers ${formatBytes(w.udpRcvBufBytes)}/${formatBytes(w.udpSndBufBytes)}`)
  }
  return parts.join(', ')
}

export function formatOverlay(o: OverlayStatus, nowS = Date.now() / 1000): string {
  if (!o.enabled) return `Overlay: off (${o.reason ?? 'disabled'})\n`
  const head = `Overlay: ${o.subnet ?? 'no subnet'}${o.held ? '' : ' (claiming)'}   gateway ${o.gateway ?? '-'}   ` +
    `${o.ifname} (${formatWireGuard(o)}, MTU ${o.mtu})\n\n`
  return head + table(['PEER', 'SUBNET', 'ENDPOINT', 'LAST HANDSHAKE', 'RX', 'TX'], o.peers.map((p) => [
    p.node, p.subnet, p.endpoint, p.lastHandshakeS > 0 ? formatAgo(Math.max(0, nowS - p.lastHandshakeS) * 1000) : 'never',
    formatBytes(p.rxBytes), formatBytes(p.txBytes),
  ]))
}

/** What a VIP does with tcp/udp on any port (the PORTS column). */
const VIP_PORTS: Record<string, string> = { all: 'all tcp/udp', refused: 'refused (no serving task)', none: '-' }

/** VIPs (every port balanced, or refused), published ports on this node and where they send traffic; the DNS. */
export function formatDataPlane(d: DataPlaneStatus): string {
  const down = d.downNodes.length > 0 ? `   nodes out of rotation (gossip): ${d.downNodes.join(', ')}` : ''
  const why = d.ingress.modeReason ? ` (${d.ingress.modeReason})` : ''
  const unprobed = (d.ingress.downNodes ?? []).length > 0 ? `   nodes out of the kernel rules (node check): ${(d.ingress.downNodes ?? []).join(', ')}` : ''
  let out = `Ingress: ${d.ingress.mode}${why}${unprobed}   catalog revision ${d.catalogRevision}, ${d.services} service(s)${down}\n`
  if (d.vips.length > 0) {
    out += `\n${table(['SERVICE', 'VIP', 'PORTS', 'SERVING'], d.vips.map((v) => [
      v.service, v.vip ?? v.endpointMode, VIP_PORTS[v.ports] ?? '-', `${v.serving}/${v.endpoints}`,
    ]))}`
  }
  if (d.ingress.ports.length === 0) out += '\n  no published ports\n'
  for (const p of d.ingress.ports) {
    const path = p.path ? `   via ${p.path}${p.pathReason ? ` (${p.pathReason})` : ''}` : ''
    out += `\n${p.service}  ${p.published}/${p.protocol} → ${p.target}${p.proxyProtocol ? ` (PROXY ${p.proxyProtocol})` : ''}${path}   open ${p.open}, ` +
      `in ${formatBytes(p.bytesIn)}, out ${formatBytes(p.bytesOut)}, errors ${p.errors}, retries ${p.retries}\n`
    out += table(['TASK', 'NODE', 'ENDPOINT', 'STATE', 'HEALTH', 'OPEN', 'CONNECTIONS', 'ERRORS', 'IN', 'OUT'], p.endpoints.map((e) => [
      e.taskName, e.node, `${e.ip}:${e.port}`, e.ejected ? `ejected ${Math.ceil(e.ejectedForMs / 1000)}s` : e.state, e.health,
      String(e.open), String(e.connections), String(e.errors), formatBytes(e.bytesIn), formatBytes(e.bytesOut),
    ]))
  }
  if (d.dns) {
    out += `\nDNS: ${d.dns.listen.map((l) => `${l.host}:${l.port}`).join(', ')}   domain ${d.dns.domain}   TTL ${d.dns.ttlSec}s   ` +
      `upstreams ${d.dns.upstreams.join(', ') || 'none'}   answered ${d.dns.answered}, forwarded ${d.dns.forwarded}` +
      `${d.dns.udp ? `   udp ${d.dns.udp}` : ''}` +
      `${d.dns.workers ? `   workers ${d.dns.workers.length} (answered ${d.dns.workers.map((w) => (w.running ? String(w.answered) : `${w.answered} down`)).join(' / ')})` : ''}\n`
  }
  return out
}
