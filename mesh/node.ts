import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import type { NodeRecord } from '../src/api/types.ts'
import { managerClient } from './client.ts'
import { table } from './table.ts'

/** `mesh node …` and `mesh token …` (docker node / docker swarm join-token). */
export function nodeCommand(): Command {
  const cmd = new Command('node').description('manage the cluster\'s nodes (on a manager)')
  const client = () => managerClient()
  cmd.command('ls').description('list nodes').option('--json', 'JSON output').action(async (f: { json?: boolean }) => {
    const nodes = await client().request<NodeRecord[]>('GET', '/v1/nodes')
    if (f.json) return void process.stdout.write(`${JSON.stringify(nodes, null, 2)}\n`)
    process.stdout.write(table(['ID', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'ROLE', 'ADDRESS', 'LABELS'], nodes.map((n) => [
      n.id.slice(0, 12), n.hostname, n.state === 'ready' ? 'Ready' : n.state === 'down' ? 'Down' : 'Unknown', cap(n.availability),
      n.role === 'manager' ? 'Manager' : 'Worker', n.addr, Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(','),
    ])))
  })
  cmd.command('inspect').argument('<node>').description('show a node as JSON').action(async (n: string) => {
    process.stdout.write(`${JSON.stringify(await client().request('GET', `/v1/nodes/${encodeURIComponent(n)}`), null, 2)}\n`)
  })
  cmd.command('update').argument('<node>').description('change availability or labels')
    .option('--availability <a>', 'active | pause | drain')
    .option('--label-add <K=V>', 'add a label (repeatable)', (v: string, p: string[] = []) => p.concat(v))
    .option('--label-rm <K>', 'remove a label (repeatable)', (v: string, p: string[] = []) => p.concat(v))
    .action(async (n: string, f: { availability?: string; labelAdd?: string[]; labelRm?: string[] }) => {
      const labelAdd: Record<string, string> = {}
      for (const l of f.labelAdd ?? []) {
        const i = l.indexOf('=')
        if (i <= 0) throw new ConfigError(`--label-add "${l}": want KEY=VALUE`)
        labelAdd[l.slice(0, i)] = l.slice(i + 1)
      }
      await client().request('PATCH', `/v1/nodes/${encodeURIComponent(n)}`, {
        ...(f.availability ? { availability: f.availability } : {}), labelAdd, labelRm: f.labelRm ?? [],
      })
      process.stdout.write(`${n}\n`)
    })
  for (const [name, role] of [['promote', 'manager'], ['demote', 'worker']] as const) {
    cmd.command(name).argument('<node...>').description(`make nodes ${role}s`).action(async (nodes: string[]) => {
      for (const n of nodes) {
        await client().request('PATCH', `/v1/nodes/${encodeURIComponent(n)}`, { role })
        process.stdout.write(`Node ${n} is now a ${role}.\n`)
      }
    })
  }
  cmd.command('rm').argument('<node...>').description('remove nodes').option('-f, --force', 'remove even if ready')
    .action(async (nodes: string[], f: { force?: boolean }) => {
      for (const n of nodes) {
        await client().request('DELETE', `/v1/nodes/${encodeURIComponent(n)}${f.force ? '?force=true' : ''}`)
        process.stdout.write(`${n}\n`)
      }
    })
  return cmd
}

export function tokenCommand(): Command {
  const cmd = new Command('token').description('show or rotate join tokens (on a manager)')
  const role = (r: string) => {
    if (r !== 'worker' && r !== 'manager') throw new ConfigError(`"${r}": want worker or manager`)
    return r
  }
  cmd.command('show').argument('<worker|manager>').option('-q, --quiet', 'only the token').action(async (r: string, f: { quiet?: boolean }) => {
    const t = await managerClient().request<{ worker: string; manager: string }>('GET', '/v1/tokens')
    const tok = t[role(r) as 'worker' | 'manager']
    process.stdout.write(f.quiet ? `${tok}\n` : `To add a ${r} to this cluster, run on it:\n\n    MESH_JOIN_TOKEN=${tok} mesh agent --join <this manager's address>\n`)
  })
  cmd.command('rotate').argument('<worker|manager>').action(async (r: string) => {
    const t = await managerClient().request<{ token: string }>('POST', `/v1/tokens/${role(r)}/rotate`)
    process.stdout.write(`Rotated the ${r} join token. New token:\n\n    ${t.token}\n`)
  })
  return cmd
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
