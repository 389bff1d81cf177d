import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { imageWithoutDigest, type ServiceRecord, type ServiceSpecRequest, type TaskRecord } from '../src/api/index.ts'
import { managerClient } from './client.ts'
import { converge } from './converge.ts'
import { applySpecFlags, many, printWarnings, resolveQuery, specOptions, type ServiceAnswer, type SpecFlags } from './service-flags.ts'
import { registryAuthFor } from './registry-auth.ts'
import { serviceLogsCommand } from './service-logs.ts'
import { formatAgo, table } from './table.ts'

/** `mesh service …`: create, ls, ps, inspect, scale, update, rollback, rm, logs — docker's shapes, over the manager API. */

type ServiceView = ServiceRecord & { running: number; desired: number }

function shortId(id: string): string {
  return id.slice(0, 12)
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
      const s = await c.request<ServiceAnswer>('POST', `/v1/services${resolveQuery(f)}`, body)
      printWarnings(s)
      process.stdout.write(`${shortId(s.id)}\n`)
      if (!f.detach) await converge(c, f.name)
    })

  cmd.command('ls').description('list services').option('--json', 'JSON output').action(async (f: { json?: boolean }) => {
    const list = await client().request<ServiceView[]>('GET', '/v1/services')
    if (f.json) return void process.stdout.write(`${JSON.stringify(list, null, 2)}\n`)
    process.stdout.write(table(['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'], list.map((s) => [
      shortId(s.id), s.spec.name, 'global' in s.spec.mode ? 'global' : 'replicated', `${s.running}/${s.desired}`, imageWithoutDigest(s.spec.image),
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
        shortId(t.id), `${t.serviceName}.${t.slot || host.get(t.nodeId) || ''}`, imageWithoutDigest(t.spec.image), host.get(t.nodeId) ?? '',
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
    printWarnings(await c.request<ServiceAnswer>('POST', `/v1/services/${encodeURIComponent(name)}/update${resolveQuery(f, true)}`, auth ? { ...spec, registryAuth: auth } : spec))
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
