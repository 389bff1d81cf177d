import { Command } from 'commander'
import { join } from 'node:path'
import { CONTROL_SOCKET, controlGet } from '../agent/control.ts'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import type { MemberInfo } from '../src/gossip/index.ts'
import { formatAgo, table } from './table.ts'

interface StatusReply {
  node: string
  address: string
  members: MemberInfo[]
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
        Object.entries(m.tags).map(([k, v]) => `${k}=${v}`).join(','),
      ])))
    })
}
