import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { parseCpus, parseDuration, parseKeyValue, parseMemory, parseMount, parsePublish } from '../src/api/spec.ts'
import { taskSpecDiffers, type ManagerClient, type Resources, type RestartPolicy, type ServiceRecord, type ServiceSpecRequest, type TaskRecord, type UpdateConfig } from '../src/api/index.ts'
import { managerClient } from './client.ts'
import { registryAuthFor } from './registry-auth.ts'
import { serviceLogsCommand } from './service-logs.ts'
import { formatAgo, table } from './table.ts'

/** `mesh service …`: create, ls, ps, inspect, scale, update, rollback, rm, logs — docker's shapes, over the manager API. */

type ServiceView = ServiceRecord & { running: number; desired: number }

interface SpecFlags {
  replicas?: string
  mode?: string
  publish?: string[]
  constraint?: string[]
  env?: string[]
  label?: string[]
  mount?: string[]
  limitCpu?: string
  limitMemory?: string
  reserveCpu?: string
  reserveMemory?: string
  restartCondition?: string
  restartDelay?: string
  restartMaxAttempts?: string
  restartWindow?: string
  updateParallelism?: string
  updateDelay?: string
  updateOrder?: string
  updateMonitor?: string
  updateFailureAction?: string
  endpointMode?: string
  image?: string
  withRegistryAuth?: boolean
  detach?: boolean
  json?: boolean
}

const many = (v: string, p: string[] = []) => p.concat(v)

function specOptions(c: Command, forUpdate: boolean): Command {
  const add = forUpdate ? '-add' : ''
  return c
    .option('--replicas <n>', 'number of tasks (replicated mode)')
    .option(forUpdate ? '--publish-add <spec>' : '-p, --publish <spec>', 'publish a port: 8080:80[/udp] or published=8080,target=80[,protocol=udp][,mode=host][,proxy-protocol=v1|v2] (repeatable)', many)
    .option(`--constraint${add} <expr>`, 'placement constraint, e.g. node.role==manager, node.labels.zone!=a (repeatable)', many)
    .option(`--env${add} <KEY=VALUE>`, 'environment variable (repeatable)', many)
    .option(`--label${add} <KEY=VALUE>`, 'service label (repeatable)', many)
    .option(`--mount${add} <spec>`, 'type=bind|volume,source=…,target=…[,readonly] (repeatable)', many)
    .option('--limit-cpu <cpus>', 'CPU limit, e.g. 0.5')
    .option('--limit-memory <size>', 'memory limit, e.g. 50M')
    .option('--reserve-cpu <cpus>', 'CPU reservation (placement)')
    .option('--reserve-memory <size>', 'memory reservation (placement)')
    .option('--restart-condition <cond>', 'none | on-failure | any')
    .option('--restart-delay <dur>', 'delay between restarts, e.g. 5s')
    .option('--restart-max-attempts <n>', 'restarts before giving up (0 = unlimited)')
    .option('--restart-window <dur>', 'window for counting restarts')
    .option('--update-parallelism <n>', 'tasks updated at once (0 = all)')
    .option('--update-delay <dur>', 'delay between update batches')
    .option('--update-order <order>', 'stop-first | start-first')
    .option('--update-monitor <dur>', 'how long a new task is watched for failure, e.g. 5s')
    .option('--update-failure-action <action>', 'pause | continue | rollback')
    .option('--endpoint-mode <mode>', 'vip | dnsrr')
    .option('--with-registry-auth', 'send the registry credentials for the image (from ~/.docker/config.json) to the nodes')
    .option('-d, --detach', 'return at once instead of waiting for the tasks to converge')
}

function intOf(text: string, what: string, min = 0): number {
  if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`${what} "${text}": want a whole number`)
  const n = Number(text)
  if (n < min) throw new ConfigError(`${what} must be ≥ ${min}`)
  return n
}

/**
 * Apply flags to a spec request: create starts from `{name, image}` and sends only what the flags set (the manager
 * fills Docker's defaults, once); update starts from the current spec and sends it whole.
 */
export function applySpecFlags<T extends ServiceSpecRequest>(spec: T, f: SpecFlags & Record<string, unknown>, forUpdate: boolean): T {
  const s = structuredClone(spec)
  const list = (k: string) => (f[k] as string[] | undefined) ?? []
  const pub = forUpdate ? 'publishAdd' : 'publish'
  if (f.replicas !== undefined) {
    if (s.mode && !('replicated' in s.mode)) throw new ConfigError('--replicas only applies to replicated services')
    s.mode = { replicated: { replicas: intOf(f.replicas, `service "${s.name}": replicas`, 0) } }
  }
  const ports = list(pub).map(parsePublish)
  if (ports.length > 0) s.ports = [...(s.ports ?? []), ...ports]
  const constraints = list(forUpdate ? 'constraintAdd' : 'constraint')
  if (constraints.length > 0) s.constraints = [...(s.constraints ?? []), ...constraints]
  for (const e of list(forUpdate ? 'envAdd' : 'env')) {
    const [k] = parseKeyValue(e, '--env')
    s.env = forUpdate ? (s.env ?? []).filter((x) => x.split('=')[0] !== k) : (s.env ?? []) // --env-add replaces a variable, as docker's does
    s.env.push(e)
  }
  for (const l of list(forUpdate ? 'labelAdd' : 'label')) { const [k, v] = parseKeyValue(l, '--label'); s.labels = { ...s.labels, [k]: v } }
  const mounts = list(forUpdate ? 'mountAdd' : 'mount').map(parseMount)
  if (mounts.length > 0) s.mounts = [...(s.mounts ?? []), ...mounts]
  if (forUpdate) {
    for (const p of list('publishRm')) s.ports = (s.ports ?? []).filter((x) => String(x.published) !== p.split(':')[0])
    for (const c of list('constraintRm')) s.constraints = (s.constraints ?? []).filter((x) => x.replace(/\s/g, '') !== c.replace(/\s/g, ''))
    for (const e of list('envRm')) s.env = (s.env ?? []).filter((x) => x.split('=')[0] !== e)
    if (f.image !== undefined) s.image = f.image
  }
  const resources = (which: 'limits' | 'reservations', v: Partial<Resources>): void => {
    s.resources = { ...s.resources, [which]: { ...s.resources?.[which], ...v } }
  }
  if (f.limitCpu !== undefined) resources('limits', { nanoCpus: parseCpus(f.limitCpu, '--limit-cpu') })
  if (f.limitMemory !== undefined) resources('limits', { memoryBytes: parseMemory(f.limitMemory, '--limit-memory') })
  if (f.reserveCpu !== undefined) resources('reservations', { nanoCpus: parseCpus(f.reserveCpu, '--reserve-cpu') })
  if (f.reserveMemory !== undefined) resources('reservations', { memoryBytes: parseMemory(f.reserveMemory, '--reserve-memory') })
  const restart = (v: Partial<RestartPolicy>): void => { s.restartPolicy = { ...s.restartPolicy, ...v } }
  const update = (v: Partial<UpdateConfig>): void => { s.updateConfig = { ...s.updateConfig, ...v } }
  if (f.restartCondition !== undefined) {
    if (!['none', 'on-failure', 'any'].includes(f.restartCondition)) throw new ConfigError(`--restart-condition "${f.restartCondition}": want none, on-failure or any`)
    restart({ condition: f.restartCondition as RestartPolicy['condition'] })
  }
  if (f.restartDelay !== undefined) restart({ delayMs: parseDuration(f.restartDelay, '--restart-delay') })
  if (f.restartMaxAttempts !== undefined) restart({ maxAttempts: intOf(f.restartMaxAttempts, '--restart-max-attempts') })
  if (f.restartWindow !== undefined) restart({ windowMs: parseDuration(f.restartWindow, '--restart-window') })
  if (f.updateParallelism !== undefined) update({ parallelism: intOf(f.updateParallelism, '--update-parallelism') })
  if (f.updateDelay !== undefined) update({ delayMs: parseDuration(f.updateDelay, '--update-delay') })
  if (f.updateMonitor !== undefined) update({ monitorMs: parseDuration(f.updateMonitor, '--update-monitor') })
  if (f.updateOrder !== undefined) {
    if (f.updateOrder !== 'stop-first' && f.updateOrder !== 'start-first') throw new ConfigError(`--update-order "${f.updateOrder}": want stop-first or start-first`)
    update({ order: f.updateOrder })
  }
  if (f.updateFailureAction !== undefined) {
    if (!['pause', 'continue', 'rollback'].includes(f.updateFailureAction)) throw new ConfigError(`--update-failure-action "${f.updateFailureAction}": want pause, continue or rollback`)
    update({ failureAction: f.updateFailureAction as UpdateConfig['failureAction'] })
  }
  if (f.endpointMode !== undefined) {
    if (f.endpointMode !== 'vip' && f.endpointMode !== 'dnsrr') throw new ConfigError(`--endpoint-mode "${f.endpointMode}": want vip or dnsrr`)
    s.endpointMode = f.endpointMode
  }
  return s
}

function shortId(id: string): string {
  return id.slice(0, 12)
}

/** Wait until the service's tasks converge, printing `overall progress: N out of M tasks` as it changes. */
async function converge(client: ManagerClient, name: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now()
  let last = ''
  for (;;) {
    const s = await client.request<ServiceView>('GET', `/v1/services/${encodeURIComponent(name)}`)
    const tasks = await client.request<TaskRecord[]>('GET', `/v1/tasks?service=${encodeURIComponent(name)}`)
    const want = tasks.filter((t) => t.desiredState === 'running')
    const ok = want.filter((t) => t.status.state === 'running').length
    // Right after an update the orchestrator has not started rolling yet: tasks still running the old spec count as not done.
    const outdated = want.filter((t) => taskSpecDiffers(t.spec, s.spec)).length
    const rolling = ['updating', 'rollback_started'].includes(s.updateStatus?.state ?? '')
    const line = `overall progress: ${ok} out of ${'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired} tasks`
    const problems = want.filter((t) => ['rejected', 'failed'].includes(t.status.state) || (t.status.state === 'pending' && t.status.message))
    if (line !== last) {
      process.stdout.write(`${line}\n`)
      last = line
    }
    const target = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : s.desired
    const settled = target > 0 || Date.now() - start > 1500
    if (settled && !rolling && outdated === 0 && ok === target && want.length === target && s.desired === target) {
      process.stdout.write('verify: Service converged\n')
      return
    }
    if (s.updateStatus?.state === 'paused' || s.updateStatus?.state === 'rollback_paused') {
      throw new ConfigError(`service "${name}": update paused: ${s.updateStatus.message}`)
    }
    if (Date.now() - start > timeoutMs) {
      const why = problems[0] ? `: ${problems[0].status.message || problems[0].status.err || problems[0].status.state}` : ''
      throw new ConfigError(`service "${name}" did not converge in ${timeoutMs / 1000} s${why} (see mesh service ps ${name})`)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}

export function serviceCommand(): Command {
  const cmd = new Command('service').description('manage services (run on a manager, or set MESH_HOST and MESH_CERT_PATH)')
    .enablePositionalOptions()
  const client = () => managerClient()

  specOptions(cmd.command('create').description('create a service').argument('<image>').argument('[command...]')
    .requiredOption('--name <name>', 'service name')
    .option('--mode <mode>', 'replicated | global', 'replicated')
    .passThroughOptions(), false)
    .addHelpText('after', '\nExample:\n  mesh service create --name web --replicas 3 -p 8080:80 mesh/busybox httpd -f -p 80')
    .action(async (image: string, command: string[], f: SpecFlags & { name: string }) => {
      if (f.mode !== 'replicated' && f.mode !== 'global') throw new ConfigError(`--mode "${f.mode}": want replicated or global`)
      const spec = applySpecFlags<ServiceSpecRequest>({ name: f.name, image, ...(f.mode === 'global' ? { mode: { global: {} } } : {}) },
        f as unknown as SpecFlags & Record<string, unknown>, false)
      const body: Record<string, unknown> = { ...spec }
      if (command.length > 0) body.command = command
      if (f.withRegistryAuth) {
        const auth = registryAuthFor(image)
        if (auth) body.registryAuth = auth
      }
      const c = client()
      const s = await c.request<ServiceRecord>('POST', '/v1/services', body)
      process.stdout.write(`${shortId(s.id)}\n`)
      if (!f.detach) await converge(c, f.name)
    })

  cmd.command('ls').description('list services').option('--json', 'JSON output').action(async (f: { json?: boolean }) => {
    const list = await client().request<ServiceView[]>('GET', '/v1/services')
    if (f.json) return void process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
    process.stdout.write(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], list.map((s) => [
      shortId(s.id), s.spec.name, 'global' in s.spec.mode ? 'global' : 'replicated', `${s.running}/${s.desired}`, s.spec.image,
      s.spec.ports.map((p) => `*:${p.published}->${p.target}/${p.protocol}`).join(', '),
    ])))
  })

  cmd.command('ps').description('list the tasks of a service').argument('<service>').option('--json', 'JSON output')
    .action(async (name: string, f: { json?: boolean }) => {
      const c = client()
      const [tasks, nodes] = await Promise.all([
        c.request<TaskRecord[]>('GET', `/v1/tasks?service=${encodeURIComponent(name)}`),
        c.request<{ id: string; hostname: string }[]>('GET', '/v1/nodes'),
      ])
      if (f.json) return void process.stdout.write(`${JSON.stringify(tasks, null, 2)}\n`)
      const host = new Map(nodes.map((n) => [n.id, n.hostname]))
      const sorted = [...tasks].sort((a, b) => a.slot - b.slot || b.createdAt - a.createdAt)
      process.stdout.write(table(['ID', 'NAME', 'IMAGE', 'NODE', 'DESIRED STATE', 'CURRENT STATE', 'ERROR'], sorted.map((t) => [
        shortId(t.id), `${t.serviceName}.${t.slot || host.get(t.nodeId) || ''}`, t.spec.image, host.get(t.nodeId) ?? '',
        t.desiredState, `${cap(t.status.state)} ${formatAgo(Math.max(0, Date.now() - t.status.timestamp))}${t.status.state === 'preparing' && t.status.message ? ` (${t.status.message})` : ''}`,
        t.status.err ?? (['rejected', 'failed', 'pending'].includes(t.status.state) ? t.status.message : ''),
      ])))
    })

  cmd.command('inspect').description('show a service as JSON').argument('<service>').action(async (name: string) => {
    process.stdout.write(`${JSON.stringify(await client().request('GET', `/v1/services/${encodeURIComponent(name)}`), null, 2)}\n`)
  })

  cmd.command('scale').description('set replicas: mesh service scale web=6 [api=2 …]').argument('<service=replicas...>')
    .option('-d, --detach', 'do not wait').action(async (pairs: string[], f: { detach?: boolean }) => {
      const c = client()
      const parsed = pairs.map((p) => {
        const m = /^([^=]+)=(-?\d+)$/.exec(p)
        if (!m) throw new ConfigError(`"${p}": want SERVICE=REPLICAS, e.g. web=6`)
        const n = Number(m[2])
        if (n < 0) throw new ConfigError(`service "${m[1]}": replicas must be ≥ 0`)
        return [m[1] as string, n] as const
      })
      for (const [name, replicas] of parsed) {
        await c.request('POST', `/v1/services/${encodeURIComponent(name)}/scale`, { replicas })
        process.stdout.write(`${name} scaled to ${replicas}\n`)
        if (!f.detach) await converge(c, name)
      }
    })

  const upd = specOptions(cmd.command('update').description('update a service (rolling update)').argument('<service>')
    .option('--image <image>', 'new image')
    .option('--publish-rm <published>', 'remove a published port', many)
    .option('--constraint-rm <expr>', 'remove a constraint', many)
    .option('--env-rm <KEY>', 'remove an environment variable', many), true)
  upd.action(async (name: string, f: SpecFlags & Record<string, unknown>) => {
    const c = client()
    const cur = await c.request<ServiceRecord>('GET', `/v1/services/${encodeURIComponent(name)}`)
    const spec = applySpecFlags(cur.spec, f, true)
    // Without --with-registry-auth the manager keeps the credentials it has (it never shows them).
    const auth = f.withRegistryAuth ? registryAuthFor(spec.image) : undefined
    await c.request('POST', `/v1/services/${encodeURIComponent(name)}/update`, auth ? { ...spec, registryAuth: auth } : spec)
    process.stdout.write(`${name}\n`)
    if (!f.detach) await converge(c, name)
  })

  cmd.command('rollback').description('go back to the previous spec').argument('<service>').option('-d, --detach', 'do not wait')
    .action(async (name: string, f: { detach?: boolean }) => {
      const c = client()
      await c.request('POST', `/v1/services/${encodeURIComponent(name)}/rollback`)
      process.stdout.write(`${name}: rollback started\n`)
      if (!f.detach) await converge(c, name)
    })

  cmd.addCommand(serviceLogsCommand())

  cmd.command('rm').description('remove services').argument('<service...>').action(async (names: string[]) => {
    const c = client()
    for (const n of names) {
      await c.request('DELETE', `/v1/services/${encodeURIComponent(n)}`)
      process.stdout.write(`${n}\n`)
    }
  })
  return cmd
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
