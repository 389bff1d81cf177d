import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import type { ServiceRecord, ServiceSpecRequest } from '../src/api/index.ts'
import { managerClient } from './client.ts'
import { converge } from './converge.ts'
import { applySpecFlags, many, printWarnings, resolveQuery, specOptions, type ServiceAnswer, type SpecFlags } from './service-flags.ts'
import { registryAuthFor } from './registry-auth.ts'
import { serviceLogsCommand } from './service-logs.ts'
import { removeServices, serviceListCommands } from './service-list.ts'
import { shortId } from './views.ts'

/** `mesh service …`: create, ls, ps, inspect, scale, update, rollback, rm, logs — docker's shapes, over the manager API. */

export function serviceCommand(): Command {
  const cmd = new Command('service').description('manage services (run on a manager, or set MESH_HOST and MESH_CERT_PATH)')
    .enablePositionalOptions()
  const client = () => managerClient()

  specOptions(cmd.command('create').description('create a service').argument('<image>').argument('[command...]')
    .requiredOption('--name <name>', 'service name')
    .passThroughOptions(), false)
    .addHelpText('after', '\nExample:\n  mesh service create --name web --replicas 3 -p 8080:80 mesh/busybox httpd -f -p 80')
    .action(async (image: string, command: string[], f: SpecFlags & { name: string }) => {
      const spec = applySpecFlags<ServiceSpecRequest>({ name: f.name, image }, f as unknown as SpecFlags & Record<string, unknown>, false)
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

  serviceListCommands(cmd, client)

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

  cmd.command('rm').alias('remove').description('remove services (by name, ID or unique ID prefix)').argument('<service...>')
    .action((refs: string[]) => removeServices(client(), refs))
  return cmd
}
