import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import type { NodeRecord, TaskRecord } from '../src/api/index.ts'
import { managerClient, type ApiClient } from './client.ts'
import { listOptions, renderInspect, renderList, type ListFlags } from './format/list.ts'
import { SERVICE_FILTERS, TASK_FILTERS, serviceList, taskList, type ServiceView } from './views.ts'

/**
 * `mesh service ls|ps|inspect|rm`: the reading commands and rm, as docker's (`-q`, `--filter`, `--format`; inspect
 * prints an array). A service is named by its name, its full id or a unique prefix of its id (what `ls -q` prints),
 * so `mesh service ls -q | xargs mesh service rm` works.
 */

type Out = (text: string) => void
const stdout: Out = (s) => void process.stdout.write(s)

/**
 * The ids of the services `refs` name: an exact id, then a name, then a unique id prefix (docker's order). A ref
 * matching nothing is passed on as it is, for the manager to answer `service "x" not found`.
 */
export async function resolveServices(client: ApiClient, refs: readonly string[]): Promise<string[]> {
  const all = await client.request<ServiceView[]>('GET', '/v1/services')
  return refs.map((ref) => {
    const exact = all.find((s) => s.id === ref) ?? all.find((s) => s.spec.name === ref)
    if (exact) return exact.id
    const byPrefix = ref === '' ? [] : all.filter((s) => s.id.startsWith(ref))
    if (byPrefix.length > 1) throw new ConfigError(`service "${ref}" is ambiguous (${byPrefix.length} matches found): give more of its id, or its name`)
    return byPrefix[0]?.id ?? ref
  })
}

export async function hostsOf(client: ApiClient): Promise<Map<string, string>> {
  const nodes = await client.request<NodeRecord[]>('GET', '/v1/nodes')
  return new Map(nodes.map((n) => [n.id, n.hostname]))
}

export async function listServices(client: ApiClient, f: ListFlags, out: Out = stdout): Promise<void> {
  out(renderList(serviceList(await client.request<ServiceView[]>('GET', '/v1/services')), f))
}

export async function listServiceTasks(client: ApiClient, refs: readonly string[], f: ListFlags, out: Out = stdout, now = Date.now()): Promise<void> {
  const ids = await resolveServices(client, refs)
  const [hosts, ...lists] = await Promise.all([hostsOf(client), ...ids.map((id) => client.request<TaskRecord[]>('GET', `/v1/tasks?service=${encodeURIComponent(id)}`))])
  out(renderList(taskList(lists.flat(), { hosts, now }), f))
}

/** Every object `refs` name, fetched one by one; the ones found are printed before the first error is thrown. */
export async function inspectAll(refs: readonly string[], get: (ref: string) => Promise<unknown>, format: string | undefined, out: Out = stdout): Promise<void> {
  const found: unknown[] = []
  let failure: unknown
  for (const ref of refs) {
    try {
      found.push(await get(ref))
    } catch (err) {
      failure ??= err
    }
  }
  if (found.length > 0 || failure === undefined) out(renderInspect(found, format))
  if (failure !== undefined) throw failure
}

export function serviceListCommands(cmd: Command, client: () => ApiClient = managerClient): void {
  listOptions(cmd.command('ls').alias('list').description('list services'), SERVICE_FILTERS)
    .addHelpText('after', '\nExamples:\n  mesh service ls --filter mode=global --format \'{{.Name}}\\t{{.Replicas}}\'\n  mesh service ls -q | xargs mesh service rm')
    .action((f: ListFlags) => listServices(client(), f))

  listOptions(cmd.command('ps').description('list the tasks of one or more services').argument('<service...>'), TASK_FILTERS)
    .addHelpText('after', '\nExample:\n  mesh service ps web --filter desired-state=running')
    .action((refs: string[], f: ListFlags) => listServiceTasks(client(), refs, f))

  cmd.command('inspect').description('show services as a JSON array (or --format per service)').argument('<service...>')
    .option('-f, --format <format>', 'json | TEMPLATE, e.g. \'{{.Spec.Name}} {{.Vip}}\'')
    .action(async (refs: string[], f: { format?: string }) => {
      const c = client()
      const ids = await resolveServices(c, refs)
      // `now` is the manager's clock for convergence waits, not part of the service: inspect leaves it out.
      await inspectAll(ids, async (id) => withoutNow(await c.request<Record<string, unknown>>('GET', `/v1/services/${encodeURIComponent(id)}`)), f.format)
    })
}

/** `mesh service rm SERVICE…`: by name, id or unique id prefix; prints each argument as given, as docker. */
export async function removeServices(client: ApiClient, refs: readonly string[], out: Out = stdout): Promise<void> {
  const ids = await resolveServices(client, refs)
  for (const [i, id] of ids.entries()) {
    await client.request('DELETE', `/v1/services/${encodeURIComponent(id)}`)
    out(`${refs[i]}\n`)
  }
}

/** A service as `service inspect` shows it: the API view without the manager's `now` (a convergence aid). */
export function withoutNow(view: Record<string, unknown>): Record<string, unknown> {
  const { now: _now, ...rest } = view
  return rest
}
