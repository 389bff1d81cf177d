import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import type { NodeRecord, NodeView, TaskRecord } from '../src/api/types.ts'
import type { ClusterInfo } from '../src/api/info.ts'
import { managerClient, type ApiClient } from './client.ts'
import { listOptions, renderList, type ListFlags } from './format/list.ts'
import { hostsOf, inspectAll } from './service-list.ts'
import { NODE_FILTERS, TASK_FILTERS, nodeList, taskList } from './views.ts'

/** `mesh node …` and `mesh token …` (docker node / docker swarm join-token). */
export function nodeCommand(): Command {
  const cmd = new Command('node').description('manage the cluster\'s nodes (on a manager)')
  const client = () => managerClient()
  listOptions(cmd.command('ls').alias('list').description('list nodes'), NODE_FILTERS)
    .addHelpText('after', '\nExample:\n  mesh node ls --filter role=worker --format \'{{.Hostname}} {{.Status}}\'')
    .action((f: ListFlags) => listNodes(client(), f))
  listOptions(cmd.command('ps').description('list the tasks on nodes (default: this manager\'s own node, docker\'s self)').argument('[node...]'), TASK_FILTERS)
    .addHelpText('after', '\nExamples:\n  mesh node ps\n  mesh node ps node2 --filter desired-state=running')
    .action((refs: string[], f: ListFlags) => listNodeTasks(client(), refs, f))
  cmd.command('inspect').argument('<node...>', 'hostname, ID or self').description('show nodes as a JSON array (or --format per node)')
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.Hostname}} {{.Spec.Role}}\'')
    .action(async (refs: string[], f: { format?: string }) => {
      const c = client()
      const ids = await resolveNodes(c, refs)
      await inspectAll(ids, (id) => c.request('GET', `/v1/nodes/${encodeURIComponent(id)}`), f.format)
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
  // docker's lines. With a managed etcd the manager adds or removes the node's etcd member; a SQLite cluster, the
  // last manager, or a removal that would cost the quorum is refused with one line (src/manager/manager-members.ts).
  const said = { promote: (n: string) => `Node ${n} promoted to a manager in the swarm.\n`, demote: (n: string) => `Manager ${n} demoted in the swarm.\n` }
  for (const [name, role] of [['promote', 'manager'], ['demote', 'worker']] as const) {
    cmd.command(name).argument('<node...>').description(`make nodes ${role}s`).action(async (nodes: string[]) => {
      for (const n of nodes) {
        await client().request('PATCH', `/v1/nodes/${encodeURIComponent(n)}`, { role })
        process.stdout.write(said[name](n))
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
  cmd.command('show').description('print the join command (or, with -q, the token) for a worker or a manager').argument('<worker|manager>').option('-q, --quiet', 'only the token').action(async (r: string, f: { quiet?: boolean }) => {
    const t = await managerClient().request<{ worker: string; manager: string }>('GET', '/v1/tokens')
    const tok = t[role(r) as 'worker' | 'manager']
    process.stdout.write(f.quiet ? `${tok}\n` : `To add a ${r} to this cluster, run on it:\n\n    MESH_JOIN_TOKEN=${tok} mesh agent --join <this manager's address>\n`)
  })
  cmd.command('rotate').description('replace a join token: the old one stops working at once').argument('<worker|manager>').action(async (r: string) => {
    const t = await managerClient().request<{ token: string }>('POST', `/v1/tokens/${role(r)}/rotate`)
    process.stdout.write(`Rotated the ${r} join token. New token:\n\n    ${t.token}\n`)
  })
  return cmd
}

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)

export async function listNodes(client: ApiClient, f: ListFlags, out: Out = stdout): Promise<void> {
  const [nodes, info] = await Promise.all([
    client.request<NodeView[]>('GET', '/v1/nodes'),
    client.request<ClusterInfo>('GET', '/v1/info').catch(() => undefined), // only for the `*` on self
  ])
  out(renderList(nodeList(nodes, info?.self?.id), f))
}

/**
 * The node ids `refs` name: `self` is the manager's own node (docker's), then an exact id, a hostname, a unique id
 * prefix. A ref matching nothing is passed on for the manager to answer `node "x" not found`.
 */
export async function resolveNodes(client: ApiClient, refs: readonly string[]): Promise<string[]> {
  const nodes = await client.request<NodeRecord[]>('GET', '/v1/nodes')
  let self: string | undefined
  const out: string[] = []
  for (const ref of refs) {
    if (ref === 'self') {
      self ??= (await client.request<ClusterInfo>('GET', '/v1/info')).self?.id
      if (!self) throw new ConfigError('node "self": the manager has not registered its own node yet')
      out.push(self)
      continue
    }
    const exact = nodes.find((n) => n.id === ref) ?? nodes.find((n) => n.hostname === ref)
    const byPrefix = exact ? [exact] : nodes.filter((n) => ref !== '' && n.id.startsWith(ref))
    if (byPrefix.length > 1) throw new ConfigError(`node "${ref}" is ambiguous (${byPrefix.length} matches found): give more of its id, or its hostname`)
    out.push(byPrefix[0]?.id ?? ref)
  }
  return out
}

/** `mesh node ps [NODE…]`: the tasks on the nodes (default `self`), as `service ps` shows them. */
export async function listNodeTasks(client: ApiClient, refs: readonly string[], f: ListFlags, out: Out = stdout, now = Date.now()): Promise<void> {
  const ids = await resolveNodes(client, refs.length > 0 ? refs : ['self'])
  const [hosts, ...lists] = await Promise.all([hostsOf(client), ...ids.map((id) => client.request<TaskRecord[]>('GET', `/v1/tasks?node=${encodeURIComponent(id)}`))])
  out(renderList(taskList(lists.flat(), { hosts, now }), f))
}
