import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../src/base/errors.ts'
import { STACK_LABEL, type RegistryAuth, type ServiceRecord, type ServiceSpec, type TaskRecord } from '../src/api/types.ts'
import { imageWithoutDigest } from '../src/api/image-ref.ts'
import {
  RESOLVE_IMAGE_MODES, StackError, loadStack, planStack, stackServices, type LoadedStack, type ResolveImageMode, type StackFile,
} from '../src/stack/index.ts'
import { managerClient } from './client.ts'
import { registryAuthFor } from './registry-auth.ts'
import { printWarnings, type ServiceAnswer } from './service-flags.ts'
import { formatAgo, table } from './table.ts'

/**
 * `mesh stack …` (docker stack): deploy compose v3 files as services, list stacks, their services and tasks, remove
 * them. Loading, validation and planning are src/stack (pure); this file reads the files and talks to the manager
 * API: GET /v1/services, POST /v1/services, POST /v1/services/:id/update, DELETE /v1/services/:id, GET /v1/tasks.
 */

type ServiceView = ServiceRecord & { running: number; desired: number }

/** The part of ManagerClient the stack commands use (a fake in tests). */
export interface StackClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}

export interface StackIo {
  out: (text: string) => void
  err: (text: string) => void
}

const stdio: StackIo = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) }
const many = (v: string, p: string[] = []) => p.concat(v)

/** Reads `-c` files (`-` = stdin). */
export function readComposeFiles(names: readonly string[], read: (path: string | number) => string = (p) => readFileSync(p, 'utf8')): StackFile[] {
  return names.map((name) => {
    try {
      return { name: name === '-' ? 'stdin' : name, text: read(name === '-' ? 0 : name) }
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new ConfigError(`cannot read compose file ${name}: ${e.code === 'ENOENT' ? 'no such file' : e.code ?? e.message}`)
    }
  })
}

export interface DeployOptions {
  stack: string
  files: readonly StackFile[]
  detach?: boolean
  env?: Record<string, string | undefined>
  cwd?: string
  readFile?: (path: string) => string
  /** How long to wait for convergence. Default 5 minutes. */
  timeoutMs?: number
  /** Poll interval while waiting. Default 500 ms. */
  pollMs?: number
  /** `--with-registry-auth`: the pull credentials to send with each created or updated service. */
  registryAuth?: (image: string) => RegistryAuth | undefined
  /** `--resolve-image`: when the manager pins tags to digests (src/stack/plan.ts). Default `always`. */
  resolveImage?: ResolveImageMode
}

/**
 * Load and validate every file, plan against the manager, then remove, update and create services — nothing is
 * sent before the whole stack has passed. Unless detached, wait until the changed services converge.
 */
export async function deployStack(client: StackClient, o: DeployOptions, io: StackIo = stdio): Promise<LoadedStack> {
  const loaded = loadStack({
    stack: o.stack, files: o.files, env: o.env ?? process.env, cwd: o.cwd ?? process.cwd(),
    readFile: o.readFile ?? ((p) => readFileSync(p, 'utf8')),
  })
  for (const w of loaded.warnings) io.err(`warning: ${w}\n`)
  const current = await client.request<ServiceView[]>('GET', '/v1/services')
  const resolveImage = o.resolveImage ?? 'always'
  const plan = planStack(o.stack, loaded.services, current, resolveImage)
  for (const r of plan.remove) {
    io.out(`Removing service ${r.name}\n`)
    await client.request('DELETE', `/v1/services/${encodeURIComponent(r.id)}`)
  }
  const withAuth = (spec: ServiceSpec, body: Record<string, unknown>) => {
    const auth = o.registryAuth?.(spec.image)
    return auth ? { ...body, registryAuth: auth } : body
  }
  const query = resolveImage === 'never' ? '?resolveImage=never' : ''
  const warn = (a: { warnings?: unknown }) => printWarnings(a, io.err)
  for (const u of plan.update) {
    io.out(`Updating service ${u.spec.name} (id: ${u.id.slice(0, 12)})\n`)
    warn(await client.request<ServiceAnswer>('POST', `/v1/services/${encodeURIComponent(u.id)}/update${query}`, withAuth(u.spec, u.body)))
  }
  // Unchanged services whose tag the manager resolves again (with the credentials it keeps): updated only when the
  // tag now names another digest.
  const refreshed: string[] = []
  for (const r of plan.refresh) {
    const a = await client.request<ServiceAnswer>('POST', `/v1/services/${encodeURIComponent(r.id)}/update`, r.body)
    if (a.version > r.version) {
      io.out(`Updating service ${r.name} (id: ${r.id.slice(0, 12)})\n`)
      refreshed.push(r.name)
    }
    warn(a)
  }
  for (const spec of plan.create) {
    io.out(`Creating service ${spec.name}\n`)
    warn(await client.request<ServiceAnswer>('POST', `/v1/services${query}`, withAuth(spec, { ...spec })))
  }
  const unchanged = plan.unchanged.length - refreshed.length
  if (unchanged > 0 && plan.create.length + plan.update.length + plan.remove.length + refreshed.length === 0) {
    io.out(`Stack ${o.stack} is up to date (${unchanged} service${unchanged === 1 ? '' : 's'})\n`)
  }
  const changed = [...plan.update.map((u) => u.spec.name), ...refreshed, ...plan.create.map((s) => s.name)]
  if (!o.detach && changed.length > 0) await converge(client, changed, io, o.timeoutMs ?? 300_000, o.pollMs ?? 500)
  return loaded
}

function targetOf(s: ServiceView): number {
  return 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired
}

/** Wait until every named service runs its target number of tasks and no rolling update is in flight. */
async function converge(client: StackClient, names: readonly string[], io: StackIo, timeoutMs: number, pollMs: number): Promise<void> {
  const start = Date.now()
  let last = ''
  for (;;) {
    const all = await client.request<ServiceView[]>('GET', '/v1/services')
    const mine = names.map((n) => all.find((s) => s.spec.name === n)).filter((s): s is ServiceView => s !== undefined)
    let ok = 0
    let total = 0
    const pending: ServiceView[] = []
    for (const s of mine) {
      const target = targetOf(s)
      total += target
      ok += Math.min(s.running, target)
      const rolling = ['updating', 'rollback_started'].includes(s.updateStatus?.state ?? '')
      const settled = target > 0 || Date.now() - start > 1500
      if (!(settled && !rolling && s.running === target && s.desired === target)) pending.push(s)
      if (s.updateStatus?.state === 'paused' || s.updateStatus?.state === 'rollback_paused') {
        throw new StackError(`service "${s.spec.name}": update paused: ${s.updateStatus.message} (see mesh service ps ${s.spec.name})`)
      }
    }
    const line = `overall progress: ${ok} out of ${total} tasks`
    if (line !== last) {
      io.out(`${line}\n`)
      last = line
    }
    if (pending.length === 0) {
      io.out(`verify: ${mine.length === 1 ? 'Service' : `${mine.length} services`} converged\n`)
      return
    }
    if (Date.now() - start > timeoutMs) {
      const s = pending[0] as ServiceView
      const tasks = await client.request<TaskRecord[]>('GET', `/v1/tasks?service=${encodeURIComponent(s.id)}`)
      const bad = tasks.find((t) => t.desiredState === 'running' && (['rejected', 'failed'].includes(t.status.state) || (t.status.state === 'pending' && t.status.message)))
      const why = bad ? `: ${bad.status.err || bad.status.message || bad.status.state}` : ''
      throw new StackError(`service "${s.spec.name}" did not converge in ${Math.round(timeoutMs / 1000)} s${why} (see mesh stack ps ${String(s.spec.labels[STACK_LABEL])})`)
    }
    await new Promise((r) => setTimeout(r, pollMs))
  }
}

function ports(s: ServiceSpec): string {
  return s.ports.map((p) => `*:${p.published}->${p.target}/${p.protocol}${p.mode === 'host' ? ' (host)' : ''}`).join(', ')
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

export async function listStacks(client: StackClient, json: boolean, io: StackIo = stdio): Promise<void> {
  const all = await client.request<ServiceView[]>('GET', '/v1/services')
  const counts = new Map<string, number>()
  for (const s of all) {
    const ns = s.spec.labels[STACK_LABEL]
    if (ns !== undefined) counts.set(ns, (counts.get(ns) ?? 0) + 1)
  }
  const rows = [...counts].sort(([a], [b]) => (a < b ? -1 : 1))
  if (json) return io.out(`${JSON.stringify(rows.map(([name, services]) => ({ name, services })), null, 2)}\n`)
  io.out(table(['NAME', 'SERVICES'], rows.map(([n, c]) => [n, String(c)])))
}

export async function listStackServices(client: StackClient, stack: string, json: boolean, io: StackIo = stdio): Promise<void> {
  const mine = stackServices(stack, await client.request<ServiceView[]>('GET', '/v1/services'))
  if (json) return io.out(`${JSON.stringify(mine, null, 2)}\n`)
  if (mine.length === 0) return io.err(`Nothing found in stack: ${stack}\n`)
  io.out(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], mine.map((s) => [
    s.id.slice(0, 12), s.spec.name, 'global' in s.spec.mode ? 'global' : 'replicated', `${s.running}/${targetOf(s)}`, imageWithoutDigest(s.spec.image), ports(s.spec),
  ])))
}

export async function listStackTasks(client: StackClient, stack: string, json: boolean, io: StackIo = stdio): Promise<void> {
  const [services, tasks, nodes] = await Promise.all([
    client.request<ServiceView[]>('GET', '/v1/services'),
    client.request<TaskRecord[]>('GET', '/v1/tasks'),
    client.request<{ id: string; hostname: string }[]>('GET', '/v1/nodes'),
  ])
  const ids = new Set(stackServices(stack, services).map((s) => s.id))
  const mine = tasks.filter((t) => ids.has(t.serviceId))
  if (json) return io.out(`${JSON.stringify(mine, null, 2)}\n`)
  if (mine.length === 0) return io.err(`Nothing found in stack: ${stack}\n`)
  const host = new Map(nodes.map((n) => [n.id, n.hostname]))
  const slotOf = (t: TaskRecord) => String(t.slot || t.nodeId)
  mine.sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : 0) || a.slot - b.slot || slotOf(a).localeCompare(slotOf(b)) || b.createdAt - a.createdAt)
  let prev = ''
  io.out(table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], mine.map((t) => {
    const name = `${t.serviceName}.${t.slot || host.get(t.nodeId) || t.nodeId.slice(0, 12)}`
    const older = name === prev
    prev = name
    return [
      t.id.slice(0, 12), older ? ` \\_ ${name}` : name, imageWithoutDigest(t.spec.image), host.get(t.nodeId) ?? '', cap(t.desiredState),
      `${cap(t.status.state)} ${formatAgo(Math.max(0, Date.now() - t.status.timestamp))}`,
      t.status.err ?? (['rejected', 'failed'].includes(t.status.state) ? t.status.message : ''),
    ]
  })))
}

export async function removeStacks(client: StackClient, stacks: readonly string[], io: StackIo = stdio): Promise<void> {
  const all = await client.request<ServiceView[]>('GET', '/v1/services')
  for (const stack of stacks) {
    const mine = stackServices(stack, all)
    if (mine.length === 0) {
      io.err(`Nothing found in stack: ${stack}\n`)
      continue
    }
    for (const s of mine) {
      io.out(`Removing service ${s.spec.name}\n`)
      await client.request('DELETE', `/v1/services/${encodeURIComponent(s.id)}`)
    }
  }
}

const DEPLOY_HELP = `
Compose v3 files (version "3" or "3.x", or none) are validated against docker/cli's compose schema; a key that
does not belong where it stands is an error naming the file and key path, and nothing is deployed. Keys mesh does
not implement (build, depends_on, secrets, …) are listed in one warning. \${VAR} and \${VAR:-default} are taken
from the environment. Redeploying updates only the services whose spec changed and removes the stack's services
that are no longer in the files. The manager pins each image tag to its registry digest; a redeploy asks again
(--resolve-image always) and rolls out a service whose tag now names another digest; changed: only when the file
names another image; never: tags are stored as they are. See docs/stacks.md.

Examples:
  mesh stack deploy -c docker-compose.yml getstartedlab
  mesh stack deploy -c docker-compose.yml -c prod.yml --detach getstartedlab
  TAG=v2 mesh stack deploy -c docker-compose.yml getstartedlab     # image: myapp:\${TAG:-latest}`

export function stackCommand(): Command {
  const cmd = new Command('stack').description('deploy compose v3 files as a stack of services (docker stack)')
  const client = () => managerClient()

  cmd.command('deploy').alias('up').description('deploy or update a stack from compose files').argument('<stack>')
    .requiredOption('-c, --compose-file <file>', 'compose file; repeat to override (later files win); - for stdin', many)
    .option('-d, --detach', 'return once the services are created/updated, without waiting for the tasks')
    .option('--prune', 'accepted for docker compatibility: mesh always removes services no longer in the files')
    .option('--with-registry-auth', 'send the registry credentials for each image (from ~/.docker/config.json) to the nodes')
    .option('--resolve-image <when>', 'pin image tags to registry digests: always | changed | never', 'always')
    .addHelpText('after', DEPLOY_HELP)
    .action(async (stack: string, f: { composeFile: string[]; detach?: boolean; withRegistryAuth?: boolean; resolveImage: string }) => {
      if (!(RESOLVE_IMAGE_MODES as readonly string[]).includes(f.resolveImage)) {
        throw new ConfigError(`--resolve-image "${f.resolveImage}": want always, changed or never`)
      }
      await deployStack(client(), {
        stack, files: readComposeFiles(f.composeFile), detach: f.detach ?? false, resolveImage: f.resolveImage as ResolveImageMode,
        ...(f.withRegistryAuth ? { registryAuth: (image: string) => registryAuthFor(image) } : {}),
      })
    })

  cmd.command('config').description('validate compose files and print the services they make, as JSON (no manager needed)')
    .argument('[stack]', 'stack name used for prefixes', 'stack')
    .requiredOption('-c, --compose-file <file>', 'compose file (repeatable)', many)
    .addHelpText('after', '\nExample:\n  mesh stack config -c docker-compose.yml -c prod.yml getstartedlab')
    .action((stack: string, f: { composeFile: string[] }) => {
      const loaded = loadStack({ stack, files: readComposeFiles(f.composeFile), env: process.env, cwd: process.cwd(), readFile: (p) => readFileSync(p, 'utf8') })
      for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`)
      const { warnings: _, ...rest } = loaded
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`)
    })

  cmd.command('ls').description('list stacks').option('--json', 'JSON output')
    .action((f: { json?: boolean }) => listStacks(client(), f.json ?? false))
  cmd.command('services').description('list the services of a stack').argument('<stack>').option('--json', 'JSON output')
    .addHelpText('after', '\nExample:\n  mesh stack services getstartedlab')
    .action((stack: string, f: { json?: boolean }) => listStackServices(client(), stack, f.json ?? false))
  cmd.command('ps').description('list the tasks of a stack').argument('<stack>').option('--json', 'JSON output')
    .addHelpText('after', '\nExample:\n  mesh stack ps getstartedlab')
    .action((stack: string, f: { json?: boolean }) => listStackTasks(client(), stack, f.json ?? false))
  cmd.command('rm').alias('down').description('remove stacks (their services and tasks)').argument('<stack...>')
    .addHelpText('after', '\nExample:\n  mesh stack rm getstartedlab')
    .action((stacks: string[]) => removeStacks(client(), stacks))
  return cmd
}
