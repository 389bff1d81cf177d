import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { ConfigError } from '../src/base/errors.ts'
import { STACK_LABEL, type RegistryAuth, type ServiceSpec, type TaskRecord } from '../src/api/types.ts'
import {
  RESOLVE_IMAGE_MODES, StackError, loadStack, planStack, stackServices, type LoadedStack, type ResolveImageMode, type StackFile,
} from '../src/stack/index.ts'
import { managerClient } from './client.ts'
import { convergeServices } from './converge.ts'
import { registryAuthFor } from './registry-auth.ts'
import { listOptions, renderList, type ListFlags } from './format/list.ts'
import { SERVICE_FILTERS, TASK_FILTERS, serviceList, taskList } from './views.ts'
import type { ServiceView } from './service-mode.ts'
import { printWarnings, type ServiceAnswer } from './service-flags.ts'
import { applyObjects, planObjects, removeObjects } from './stack-objects.ts'

/**
 * `mesh stack …` (docker stack): deploy compose v3 files as services, list stacks, their services and tasks, remove
 * them. Loading, validation and planning are src/stack (pure); this file reads the files and talks to the manager
 * API: GET /v1/services, POST /v1/services, POST /v1/services/:id/update, DELETE /v1/services/:id, GET /v1/tasks;
 * the stack's secrets and configs through mesh/stack-objects.ts.
 */


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
  /** `--prune`: remove the stack's services that are no longer in the files (default: leave them, as docker). */
  prune?: boolean
  env?: Record<string, string | undefined>
  cwd?: string
  readFile?: (path: string) => string
  /** Reads a secret's or config's `file:` (absolute path). Default readFileSync. */
  readBytes?: (path: string) => Uint8Array
  /** How long to wait for convergence. Default 5 minutes. */
  timeoutMs?: number
  /** Poll interval while waiting. Default 500 ms. */
  pollMs?: number
  /** The pause between polls (tests advance a fake manager clock). Default setTimeout. */
  sleep?: (ms: number) => Promise<void>
  /** `--with-registry-auth`: the pull credentials to send with each created or updated service. */
  registryAuth?: (image: string) => RegistryAuth | undefined
  /** `--resolve-image`: when the manager pins tags to digests (src/stack/plan.ts). Default `always`. */
  resolveImage?: ResolveImageMode
}

/**
 * Load and validate every file, read the values of the stack's secrets and configs, plan them and the services
 * against the manager, then create the new secrets and configs, remove services (only with `prune`), update and
 * create services — nothing is sent before the whole stack has passed (a missing external secret refuses it all).
 * Unless detached, wait until the changed services converge.
 */
export async function deployStack(client: StackClient, o: DeployOptions, io: StackIo = stdio): Promise<LoadedStack> {
  const loaded = loadStack({
    stack: o.stack, files: o.files, env: o.env ?? process.env, cwd: o.cwd ?? process.cwd(),
    readFile: o.readFile ?? ((p) => readFileSync(p, 'utf8')),
  })
  for (const w of loaded.warnings) io.err(`warning: ${w}\n`)
  const objects = await planObjects(client, loaded, o.readBytes ?? ((p) => readFileSync(p)))
  const current = await client.request<ServiceView[]>('GET', '/v1/services')
  const resolveImage = o.resolveImage ?? 'always'
  const plan = planStack(o.stack, loaded.services, current, { prune: o.prune ?? false, resolveImage })
  await applyObjects(client, objects, io.out, io.err)
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
  if (!o.detach && changed.length > 0) {
    await convergeServices(client, changed, {
      out: io.out, timeoutMs: o.timeoutMs ?? 300_000, pollMs: o.pollMs ?? 500, ...(o.sleep ? { sleep: o.sleep } : {}),
      error: (m) => new StackError(m), see: (s) => `mesh stack ps ${String(s.spec.labels[STACK_LABEL])}`,
    })
  }
  return loaded
}

/** `--json` as a boolean (the old signature, scripts and tests) or the full list flags. */
const flagsOf = (f: boolean | ListFlags): ListFlags => (typeof f === 'boolean' ? { json: f } : f)

export async function listStacks(client: StackClient, flags: boolean | ListFlags, io: StackIo = stdio): Promise<void> {
  const all = await client.request<ServiceView[]>('GET', '/v1/services')
  const counts = new Map<string, number>()
  for (const s of all) {
    const ns = s.spec.labels[STACK_LABEL]
    if (ns !== undefined) counts.set(ns, (counts.get(ns) ?? 0) + 1)
  }
  const rows = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, services]) => ({ name, services }))
  io.out(renderList({
    items: rows, columns: ['Name', 'Services'], quietField: 'Name',
    fields: (r) => ({ Name: r.name, Services: String(r.services) }),
  }, flagsOf(flags)))
}

export async function listStackServices(client: StackClient, stack: string, flags: boolean | ListFlags, io: StackIo = stdio): Promise<void> {
  const f = flagsOf(flags)
  const mine = stackServices(stack, await client.request<ServiceView[]>('GET', '/v1/services'))
  if (mine.length === 0 && !f.json) return io.err(`Nothing found in stack: ${stack}\n`)
  io.out(renderList(serviceList(mine), f))
}

export async function listStackTasks(client: StackClient, stack: string, flags: boolean | ListFlags, io: StackIo = stdio, now = Date.now()): Promise<void> {
  const f = flagsOf(flags)
  const [services, tasks, nodes] = await Promise.all([
    client.request<ServiceView[]>('GET', '/v1/services'),
    client.request<TaskRecord[]>('GET', '/v1/tasks'),
    client.request<{ id: string; hostname: string }[]>('GET', '/v1/nodes'),
  ])
  const ids = new Set(stackServices(stack, services).map((s) => s.id))
  const mine = tasks.filter((t) => ids.has(t.serviceId))
  if (mine.length === 0 && !f.json) return io.err(`Nothing found in stack: ${stack}\n`)
  io.out(renderList(taskList(mine, { hosts: new Map(nodes.map((n) => [n.id, n.hostname])), now }), f))
}

export async function removeStacks(client: StackClient, stacks: readonly string[], io: StackIo = stdio): Promise<void> {
  const all = await client.request<ServiceView[]>('GET', '/v1/services')
  for (const stack of stacks) {
    const mine = stackServices(stack, all)
    for (const s of mine) {
      io.out(`Removing service ${s.spec.name}\n`)
      await client.request('DELETE', `/v1/services/${encodeURIComponent(s.id)}`)
    }
    // After the services, so none uses them any more (docker stack rm's order).
    const objects = await removeObjects(client, stack, io.out)
    if (mine.length + objects === 0) io.err(`Nothing found in stack: ${stack}\n`)
  }
}

const DEPLOY_HELP = `
Compose v3 files (version "3" or "3.x", or none) are validated against docker/cli's compose schema; a key that
does not belong where it stands is an error naming the file and key path, and nothing is deployed. Keys mesh does
not implement (build, depends_on, …) are listed in one warning. Top-level secrets: and configs: with file: are
created as <stack>_<name> before the services; external: true ones must exist, or nothing is deployed. \${VAR} and \${VAR:-default} are taken
from the environment. Redeploying updates only the services whose spec changed; the stack's services that are no
longer in the files stay as they are unless --prune removes them (as docker). The manager pins each image tag to
its registry digest; a redeploy asks again (--resolve-image always) and rolls out a service whose tag now names
another digest; changed: only when the file names another image; never: tags are stored as they are. See
docs/stacks.md.

Examples:
  mesh stack deploy -c docker-compose.yml getstartedlab
  mesh stack deploy -c docker-compose.yml -c prod.yml --detach getstartedlab
  mesh stack deploy --prune -c docker-compose.yml getstartedlab    # also remove services dropped from the file
  TAG=v2 mesh stack deploy -c docker-compose.yml getstartedlab     # image: myapp:\${TAG:-latest}`

export function stackCommand(): Command {
  const cmd = new Command('stack').description('deploy compose v3 files as a stack of services (docker stack)')
  const client = () => managerClient()

  cmd.command('deploy').alias('up').description('deploy or update a stack from compose files').argument('<stack>')
    .requiredOption('-c, --compose-file <file>', 'compose file; repeat to override (later files win); - for stdin', many)
    .option('-d, --detach', 'return once the services are created/updated, without waiting for the tasks')
    .option('--prune', 'remove the services of the stack that are no longer in the files')
    .option('--with-registry-auth', 'send the registry credentials for each image (from ~/.docker/config.json) to the nodes')
    .option('--resolve-image <when>', 'pin image tags to registry digests: always | changed | never', 'always')
    .addHelpText('after', DEPLOY_HELP)
    .action(async (stack: string, f: { composeFile: string[]; detach?: boolean; prune?: boolean; withRegistryAuth?: boolean; resolveImage: string }) => {
      if (!(RESOLVE_IMAGE_MODES as readonly string[]).includes(f.resolveImage)) {
        throw new ConfigError(`--resolve-image "${f.resolveImage}": want always, changed or never`)
      }
      await deployStack(client(), {
        stack, files: readComposeFiles(f.composeFile), detach: f.detach ?? false, prune: f.prune ?? false, resolveImage: f.resolveImage as ResolveImageMode,
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

  listOptions(cmd.command('ls').alias('list').description('list stacks'), [], { quietWhat: 'stack names' })
    .action((f: ListFlags) => listStacks(client(), f))
  listOptions(cmd.command('services').description('list the services of a stack').argument('<stack>'), SERVICE_FILTERS)
    .addHelpText('after', '\nExample:\n  mesh stack services getstartedlab')
    .action((stack: string, f: ListFlags) => listStackServices(client(), stack, f))
  listOptions(cmd.command('ps').description('list the tasks of a stack').argument('<stack>'), TASK_FILTERS)
    .addHelpText('after', '\nExample:\n  mesh stack ps getstartedlab')
    .action((stack: string, f: ListFlags) => listStackTasks(client(), stack, f))
  cmd.command('rm').alias('down').description('remove stacks (their services and tasks, then their own secrets and configs)').argument('<stack...>')
    .addHelpText('after', '\nExample:\n  mesh stack rm getstartedlab')
    .action((stacks: string[]) => removeStacks(client(), stacks))
  return cmd
}
