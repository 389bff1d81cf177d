import { Command } from 'commander'
import { join } from 'node:path'
import { CONTROL_SOCKET, controlGet } from '../agent/control.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import type { MemberInfo } from '../src/gossip/index.ts'
import type { OverlayStatus } from '../src/overlay/index.ts'
import { formatAgo, table } from './table.ts'

interface StatusReply {
  node: string
  address: string
  members: MemberInfo[]
  overlay?: OverlayStatus
}

export function statusCommand(): Command {
  return new Command('status')
    .description('show the cluster as the local agent sees it: every member, its address, state and incarnation')
    .option('--json', 'print JSON for scripts')
    .option('--data-dir <dir>', 'the agent\'s data dir (default /var/lib/mesh, env MESH_DATA_DIR)')
    .addHelpText('after', '\nExample:\n  mesh status\n  mesh status --json | jq \'.members[] | select(.state != "alive")\'')
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      const dir = opts.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR
      const status = await controlGet<StatusReply>(join(dir, CONTROL_SOCKET), '/v1/status')
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`)
        return
      }
      const members = [...status.members].sort((a, b) => a.name.localeCompare(b.name))
      const alive = members.filter((m) => m.state === 'alive').length
      process.stdout.write(`Node: ${status.node} (${status.address})   Members: ${members.length}, ${alive} alive\n\n`)
      process.stdout.write(table(['NAME', 'ADDRESS', 'STATE', 'INCARNATION', 'LAST CHANGE', 'TAGS'], members.map((m) => [
        m.name + (m.name === status.node ? ' *' : ''), m.address, m.state, String(m.incarnation), formatAgo(m.sinceChangeMs),
        Object.entries(m.tags).filter(([k]) => !k.startsWith('mesh.')).map(([k, v]) => `${k}=${v}`).join(','),
      ])))
      if (status.overlay) process.stdout.write(`\n${formatOverlay(status.overlay)}`)
    })
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

export function formatOverlay(o: OverlayStatus, nowS = Date.now() / 1000): string {
  if (!o.enabled) return `Overlay: off (${o.reason ?? 'disabled'})\n`
  const head = `Overlay: ${o.subnet ?? 'no subnet'}${o.held ? '' : ' (claiming)'}   gateway ${o.gateway ?? '-'}   ` +
    `${o.ifname} (${o.kind === 'kernel' ? 'kernel WireGuard' : 'wireguard-go'}, MTU ${o.mtu})\n\n`
  return head + table(['PEER', 'SUBNET', 'ENDPOINT', 'LAST HANDSHAKE', 'RX', 'TX'], o.peers.map((p) => [
    p.node, p.subnet, p.endpoint, p.lastHandshakeS > 0 ? formatAgo(Math.max(0, nowS - p.lastHandshakeS) * 1000) : 'never',
    formatBytes(p.rxBytes), formatBytes(p.txBytes),
  ]))
}
